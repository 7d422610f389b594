import sqlite3

import pytest

from orlvlmf.feedback.store import LabelStore, StoreError


def row(key, status, **kw):
    return {"query_key": key, "pair_key": "p" + key, "idx0": 1, "idx1": 2, "status": status, **kw}


def test_put_lookup_and_answered_rows_are_never_overwritten(tmp_path):
    path = tmp_path / "s.sqlite"
    with LabelStore(path) as s:
        s.put(row("a", "stage1", stage1_text="analysis", calls=1))
        s.put(row("a", "answered", stage1_text="analysis", stage2_text="1", label=1, calls=2))
        s.put(row("a", "failed", error="boom"))  # must not clobber the answer
        s.put(row("b", "failed", error="boom"))
        s.put(row("b", "answered", label=0))  # a failed query may be answered later
    with LabelStore(path) as s:
        got = s.lookup(["a", "b", "c"])
        assert set(got) == {"a", "b"}
        assert got["a"]["status"] == "answered" and got["a"]["label"] == 1 and got["a"]["error"] is None
        assert got["b"]["label"] == 0
        assert s.count("answered") == 2


def test_sessions_and_snapshot(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as s:
        sid = s.start_session("litellm", "m", requested=3, cached=1)
        s.put_many([row(k, "answered", label=0, session_id=sid) for k in "xyz"])
        s.update_session(sid, finished=True, answered=3, retries=2, stop_reason="done")
        with pytest.raises(StoreError, match="unknown session field"):
            s.update_session(sid, bogus=1)
        snap = s.snapshot(tmp_path / "snap.sqlite", keys=["x", "y"], session_ids=[sid])
    con = sqlite3.connect(snap)
    assert con.execute("SELECT COUNT(*) FROM queries").fetchone()[0] == 2
    assert con.execute("SELECT answered, retries, stop_reason FROM sessions").fetchone() == (3, 2, "done")
    assert not (tmp_path / "snap.sqlite-wal").exists()


def test_not_a_store_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable label store"):
        LabelStore(bad)
    with pytest.raises(StoreError, match="does not exist"):
        LabelStore(tmp_path / "missing.sqlite", readonly=True)
