import pytest

from orlvlmf.feedback.prompts import PROMPTS, label_messages, vision_messages


def test_stage1_has_goal_and_two_separate_images_introduced_in_order():
    msgs = vision_messages("open the drawer.", "data:image/png;base64,AAA", "data:image/png;base64,BBB", "v1")
    parts = msgs[0]["content"]
    kinds = [p["type"] for p in parts]
    assert kinds == ["text", "image_url", "text", "image_url", "text"]
    assert "Image 1" in parts[0]["text"] and "open the drawer" in parts[0]["text"]
    assert parts[1]["image_url"]["url"].endswith("AAA") and parts[3]["image_url"]["url"].endswith("BBB")
    assert "Image 2" in parts[2]["text"]
    assert "open the drawer" in parts[4]["text"]


def test_stage2_is_text_only_with_the_analysis_and_the_label_rule():
    msgs = label_messages("open the drawer", "Image 2 shows the drawer {open}.", "v1")
    text = msgs[0]["content"]
    assert isinstance(text, str)
    assert "Image 2 shows the drawer {open}." in text
    assert "-1" in text and "0 if" in text and "1 if" in text


def test_single_call_variant_asks_for_a_last_label_line():
    parts = vision_messages("open the drawer", "u0", "u1", "v1", single=True)[0]["content"]
    assert "last line" in parts[-1]["text"]


def test_unknown_version_is_a_clear_error():
    with pytest.raises(ValueError, match="prompt_version 'v9'.*v1"):
        vision_messages("x", "a", "b", "v9")
    assert "v1" in PROMPTS


def test_reason_line_is_the_answer_to_the_last_question():
    from orlvlmf.feedback.prompts import reason_line

    analysis = ("1. Image 1 shows the drawer closed.\n2. Image 2 shows the drawer half open.\n"
                "3. Yes: Image 2 is closer to the goal, because   the drawer is pulled out.\n")
    assert reason_line(analysis) == "Yes: Image 2 is closer to the goal, because the drawer is pulled out."
    assert reason_line("**3.** The second image.") == "The second image."
    assert reason_line("Both look the same to me.\n-1") == "Both look the same to me."
    assert reason_line(None) == "" and reason_line("1") == ""
    assert len(reason_line("3. " + "word " * 100, width=40)) == 40
