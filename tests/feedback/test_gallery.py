"""The HTML gallery, opened in a real headless browser."""

import re
import shutil
import subprocess

import pytest

from feedback_helpers import run_vlm
from orlvlmf.feedback.gallery import write_gallery

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--virtual-time-budget=10000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no headless browser found: this test needs chromium (install it with "
                "`apt-get install -y chromium`); it checks that the label gallery renders its images")


def test_gallery_renders_all_images_in_headless_chromium(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12)
    out = write_gallery(tmp_path / "s.sqlite", bar_dataset, tmp_path / "g" / "gallery.html", n=8, seed=1)
    page = out.read_text()
    assert page.count("<img ") == 16 and page.count("data:image/png;base64,") == 16
    assert not re.search(r"src=['\"]https?:", page)  # self-contained
    assert "red bar covering" in page and "agrees with GT" in page
    assert "Label:" in page and "Stage-1 analysis" in page
    dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--dump-dom", out.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'data-images-decoded="(\d+)"', dom.stdout)
    assert m, f"the page script did not run (stderr: {dom.stderr[-2000:]})"
    assert m.group(1) == "16" and 'data-images-total="16"' in dom.stdout
    assert res.answered.all()


def test_gallery_skips_rows_of_another_dataset(bar_dataset, tmp_path, fake_server):
    from feedback_helpers import make_bar_dataset

    srv = fake_server()
    run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=6)
    other = make_bar_dataset(tmp_path / "other.h5", seed=5)
    out = write_gallery(tmp_path / "s.sqlite", other, tmp_path / "g.html", n=6)
    assert out.read_text().count("<img ") == 0
