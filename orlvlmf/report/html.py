"""``report.md`` as a page a browser opens: ``report.html`` beside it, reading the same PNG / GIF files.

CommonMark with tables (markdown-it-py); raw HTML passes through (the config sits in a
``<details>`` block).  The page carries the gallery's image check, so a headless browser can tell
that every plot and rollout decoded.
"""

from __future__ import annotations

import html
from pathlib import Path

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}img{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 3px;border-radius:3px}
pre{background:#f6f6f6;padding:10px;border-radius:4px;overflow:auto;font-size:12px}
h1,h2,h3{margin-top:1.4em}details{margin:8px 0}.gifs img{width:200px;margin:0 8px 8px 0}
"""


def render_html(markdown_text: str, title: str) -> str:
    from markdown_it import MarkdownIt

    from orlvlmf.feedback.gallery import IMAGE_CHECK_SCRIPT

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown_text)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}{IMAGE_CHECK_SCRIPT}</body></html>")


def write_html(md_path: Path, title: str) -> Path:
    """``report.html`` next to ``md_path``."""
    out = Path(md_path).with_suffix(".html")
    out.write_text(render_html(Path(md_path).read_text(), title), encoding="utf-8")
    return out
