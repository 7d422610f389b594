"""Open a local HTML page in a real headless browser (Debian's chromium; `make test` installs it)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--virtual-time-budget=10000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no headless browser found: this test needs chromium (install it with "
                "`apt-get install -y chromium`); it checks that the HTML pages render their images")


def open_page(page: Path, profile: Path) -> tuple[int, int, str]:
    """(images decoded, images on the page, browser log) after loading ``page``.

    The page must carry the image-check script (``orlvlmf.feedback.gallery.IMAGE_CHECK_SCRIPT``);
    the log holds the page's console messages (an uncaught script error shows there).
    """
    dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
                          "--v=0", "--dump-dom", Path(page).resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    decoded = re.search(r'data-images-decoded="(\d+)"', dom.stdout)
    total = re.search(r'data-images-total="(\d+)"', dom.stdout)
    assert decoded and total, f"the page script did not run (stderr: {dom.stderr[-2000:]})"
    return int(decoded.group(1)), int(total.group(1)), dom.stderr


def console_errors(log: str) -> list[str]:
    """Script errors the page's console reported, from a chromium log (missing images are counted
    by the page's image check instead)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
