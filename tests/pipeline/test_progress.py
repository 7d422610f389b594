"""The one progress helper: when bars show, and the per-item tick."""

import sys

from orlvlmf.pipeline.progress import Progress, progress_enabled, ticked


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def test_bars_only_when_asked_for_and_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert not progress_enabled(True)
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert progress_enabled(True) and not progress_enabled(False)


def test_ticked_ticks_after_each_loop_body():
    seen = []
    for item in ticked(range(3), lambda: seen.append("tick")):
        seen.append(item)
    assert seen == [0, "tick", 1, "tick", 2, "tick"]
    assert list(ticked("ab", None)) == ["a", "b"]


def test_a_disabled_bar_does_nothing():
    with Progress(3, "x", enabled=False) as bar:
        bar.advance()
    assert bar.bar is None
