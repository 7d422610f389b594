"""The HTML gallery, opened in a real headless browser."""

import re

from browser import console_errors, open_page
from feedback_helpers import run_vlm
from orlvlmf.feedback.gallery import write_gallery


def test_gallery_renders_all_images_in_headless_chromium(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12)
    out = write_gallery(tmp_path / "s.sqlite", bar_dataset, tmp_path / "g" / "gallery.html", n=8, seed=1)
    page = out.read_text()
    assert page.count("<img ") == 16 and page.count("data:image/png;base64,") == 16
    assert not re.search(r"src=['\"]https?:", page)  # self-contained
    assert "red bar covering" in page and "agrees with GT" in page
    assert "Label:" in page and "Stage-1 analysis" in page
    decoded, total, log = open_page(out, tmp_path / "profile")
    assert (decoded, total) == (16, 16) and not console_errors(log)
    assert res.answered.all()


def test_the_browser_check_sees_a_broken_image_and_a_script_error(tmp_path):
    from orlvlmf.feedback.gallery import IMAGE_CHECK_SCRIPT

    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><img src='missing.png'><script>notDefined();</script>"
                    + IMAGE_CHECK_SCRIPT + "</body></html>")
    decoded, total, log = open_page(page, tmp_path / "profile")
    assert (decoded, total) == (0, 1) and console_errors(log)


def test_gallery_skips_rows_of_another_dataset(bar_dataset, tmp_path, fake_server):
    from feedback_helpers import make_bar_dataset

    srv = fake_server()
    run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=6)
    other = make_bar_dataset(tmp_path / "other.h5", seed=5)
    out = write_gallery(tmp_path / "s.sqlite", other, tmp_path / "g.html", n=6)
    assert out.read_text().count("<img ") == 0
