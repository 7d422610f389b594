import pytest

from orlvlmf.feedback.parsing import parse_label, parse_last_line


@pytest.mark.parametrize("text,label", [
    ("0", 0), ("1", 1), ("-1", -1), (" 1\n", 1), ("`0`", 0), ("**1**", 1), ("'-1'", -1),
    ("1.", 1), ("\u22121", -1),
])
def test_clean_replies(text, label):
    assert parse_label(text) == (label, True)


@pytest.mark.parametrize("text", [
    "", None, "2", "Image 1", "1 because the drawer is open", "0 or 1", "10", "-", "1\n0", "one",
])
def test_anything_else_is_minus_one_and_flagged(text):
    assert parse_label(text) == (-1, False)


def test_single_call_reads_last_line():
    assert parse_last_line("Image 1 shows a closed drawer.\nImage 2 an open one.\n\n1\n") == (1, True)
    assert parse_last_line("Image 1 is better, so 0") == (-1, False)
    assert parse_last_line("") == (-1, False)
