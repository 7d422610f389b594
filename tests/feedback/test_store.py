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


def test_bookkeeping_agrees_with_the_database_itself(tmp_path):
    """lookup (over more keys than one SQL chunk), count, timestamps, unknown columns, sessions
    and a whole-store snapshot, each checked against plain sqlite3 reads of the file."""
    import time

    path = tmp_path / "s.sqlite"
    statuses = ("answered", "failed", "stage1")
    t0 = time.time()
    with LabelStore(path) as s:
        s.put_many([row(f"k{i}", statuses[i % 3], label=i % 2) for i in range(1200)])
        t1 = time.time()
        got = s.lookup([f"k{i}" for i in range(1200)] + ["missing"])
        assert sorted(got) == sorted(f"k{i}" for i in range(1200))
        assert all(got[f"k{i}"]["status"] == statuses[i % 3] for i in range(1200))
        created = got["k1"]["created_at"]
        assert t0 <= created <= t1 and t0 <= got["k1"]["updated_at"] <= t1
        s.put(row("k1", "answered", label=1))  # an update keeps created_at, moves updated_at
        again = s.lookup(["k1"])["k1"]
        assert again["created_at"] == created and again["updated_at"] >= t1 and again["status"] == "answered"
        with pytest.raises(StoreError, match=r"unknown store column\(s\) \['labl'\]"):
            s.put_many([row("k9999", "answered"), row("k10000", "answered", labl=1)])
        assert s.lookup(["k9999"]) == {}  # refused before anything was written
        sid = s.start_session("scripted", "gt", requested=5, cached=2)
        s.update_session(sid, answered=3)
        first = s.sessions()[0]
        assert first["finished"] is None and t0 <= first["started"] <= first["updated"]
        s.update_session(sid, finished=True, stop_reason="done")
        last = s.sessions()[0]
        assert last["finished"] >= first["updated"] and (last["answered"], last["requested"]) == (3, 5)
        counts = {st: s.count(st) for st in statuses}
        total = s.count()
        snap = s.snapshot(tmp_path / "all.sqlite")  # no keys: every row
    con = sqlite3.connect(path)
    by_status = dict(con.execute("SELECT status, COUNT(*) FROM queries GROUP BY status").fetchall())
    assert counts == by_status and total == sum(by_status.values()) == 1200
    assert counts["answered"] == 401  # 400 + k1 answered since
    with LabelStore(snap, readonly=True) as copy:  # a readable store of the same schema version
        assert copy.count() == 1200 and copy.lookup(["k1"])["k1"]["label"] == 1


def test_failed_batch_writes_nothing_and_store_opens_anywhere(tmp_path):
    """A batch that fails midway is rolled back whole; the store makes its parent folders, works
    from another thread (the labeling scheduler's), and a read-only store refuses writes."""
    import threading

    path = tmp_path / "a" / "b" / "s.sqlite"
    with LabelStore(path) as s:
        s.put(row("kept", "answered", label=1))
        with pytest.raises(sqlite3.IntegrityError):  # pair_key is NOT NULL: the second row fails
            s.put_many([row("new1", "answered"), {"query_key": "new2", "status": "answered"}])
        assert s.lookup(["new1", "new2"]) == {} and s.count() == 1
        seen = []
        worker = threading.Thread(target=lambda: seen.append(sorted(s.lookup(["kept"]))))
        worker.start()
        worker.join()
        assert seen == [["kept"]]
    with LabelStore(path, readonly=True) as ro:
        assert ro.count("answered") == 1
        with pytest.raises(StoreError, match="readonly"):  # one clear error naming the file
            ro.put(row("x", "answered"))
