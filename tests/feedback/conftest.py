"""Fixtures for the feedback tests: a tiny 'bar' dataset and the fake VLM server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from feedback_helpers import make_bar_dataset  # noqa: E402


@pytest.fixture
def bar_dataset(tmp_path) -> Path:
    return make_bar_dataset(tmp_path / "dataset.h5")


@pytest.fixture
def fake_server():
    from fake_vlm_server import FakeVLMServer

    servers = []

    def start(**kw) -> FakeVLMServer:
        s = FakeVLMServer(**kw).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
