"""Turn a VLM reply into a preference label: 0, 1 or -1.

A reply counts only when it is *cleanly* one of ``0``, ``1``, ``-1``: surrounding whitespace,
quotes, backticks, asterisks and one trailing period are ignored, and the Unicode minus ``−``
counts as ``-``.  Anything else (an explanation, two numbers, an empty reply) becomes -1; the raw
text is kept by the caller.  The single-call variant reads only the reply's last non-empty line.
"""

from __future__ import annotations

_STRIP = " \t\r\n\"'`*"
_VALID = {"0": 0, "1": 1, "-1": -1}


def parse_label(text: str | None) -> tuple[int, bool]:
    """``(label, clean)``: ``clean`` is False when the reply was not a clean 0 / 1 / -1."""
    if not text:
        return -1, False
    s = text.strip(_STRIP)
    if s.endswith("."):
        s = s[:-1].strip(_STRIP)
    s = s.replace("\u2212", "-").replace("\u2013", "-")
    if s in _VALID:
        return _VALID[s], True
    return -1, False


def parse_last_line(text: str | None) -> tuple[int, bool]:
    """Label from the last non-empty line (single-call replies end with the label line)."""
    if not text:
        return -1, False
    lines = [ln for ln in text.strip().splitlines() if ln.strip(_STRIP)]
    return parse_label(lines[-1]) if lines else (-1, False)
