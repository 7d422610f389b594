"""Durable SQLite label store: one row per query, committed as each answer arrives.

A query is identified by its ``query_key`` = sha256(pair key, backend identity, task text), where
the pair key hashes both images' bytes and their order and the backend identity holds the backend,
model, prompt version and every option that changes the answer.  Rows have a ``status``:

* ``answered`` — final; never asked again (the label may be -1);
* ``stage1``  — the analysis of a two-stage query is stored, the label call is still due
  (a resumed run sends only the label call);
* ``failed``  — retries exhausted (or only empty replies came back); asked again by the next run.

An ``answered`` row of a chat backend whose reply text is empty (an older orlvlmf kept such
replies as final -1 answers) is turned into ``failed`` when the store is opened, so it is asked
again.

The database runs in WAL mode: an answer committed before a ``kill -9`` is on disk.  Several
processes may share one store file (``labels.shared_path``); SQLite's locking serialises their
writes, they reuse each other's stored answers, and table ``claims`` keeps them from sending the
same query at once: a process claims a query before its first call (:meth:`LabelStore.claim`) and
releases it with the answer.  A claim is a lease: the holder renews it while it works, and it is
void once it expires or, on the same host, once the holder's pid is gone (a killed process
blocks nobody).  A write that fails (a full disk) raises :class:`StoreError` naming the file.
Table ``sessions`` keeps one row per labeling invocation (counts, cost, stop reason); table
``batches`` one row per provider batch (``feedback.batch``): its ``tag`` (written *before* the
batch is created, so a run killed while creating it can find it by tag), the provider's batch id,
the step (``vision`` / ``label`` / ``single``), the query keys it holds and whether its results
were stored (``submitting`` -> ``submitted`` -> ``done``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from orlvlmf.pipeline.lock import pid_alive

SCHEMA_VERSION = 1

QUERY_COLUMNS: tuple[str, ...] = (
    "query_key", "pair_key", "idx0", "idx1", "image_key", "backend", "model", "prompt_version",
    "task", "status", "stage1_text", "stage2_text", "label", "clean", "latency_s",
    "prompt_tokens", "completion_tokens", "cost_usd", "calls", "retries", "error",
    "session_id", "created_at", "updated_at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS queries (
    query_key TEXT PRIMARY KEY,
    pair_key TEXT NOT NULL,
    idx0 INTEGER, idx1 INTEGER,
    image_key TEXT,
    backend TEXT, model TEXT, prompt_version TEXT, task TEXT,
    status TEXT NOT NULL,
    stage1_text TEXT, stage2_text TEXT,
    label INTEGER, clean INTEGER,
    latency_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL,
    calls INTEGER DEFAULT 0, retries INTEGER DEFAULT 0,
    error TEXT,
    session_id INTEGER,
    created_at REAL, updated_at REAL
);
CREATE INDEX IF NOT EXISTS queries_pair ON queries (pair_key);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    backend TEXT, model TEXT,
    started REAL, updated REAL, finished REAL,
    requested INTEGER DEFAULT 0, cached INTEGER DEFAULT 0, sent INTEGER DEFAULT 0,
    answered INTEGER DEFAULT 0, failed INTEGER DEFAULT 0, retries INTEGER DEFAULT 0,
    calls INTEGER DEFAULT 0, cost_usd REAL DEFAULT 0, seconds REAL, stop_reason TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    tag TEXT PRIMARY KEY, batch_id TEXT, step TEXT, backend TEXT, model TEXT,
    status TEXT NOT NULL, provider_status TEXT, requests INTEGER, query_keys TEXT,
    session_id INTEGER, created_at REAL, updated_at REAL
);
CREATE TABLE IF NOT EXISTS claims (
    query_key TEXT PRIMARY KEY,
    owner TEXT NOT NULL, host TEXT, pid INTEGER,
    expires REAL NOT NULL
);
"""

BATCH_COLUMNS: tuple[str, ...] = ("tag", "batch_id", "step", "backend", "model", "status",
                                  "provider_status", "requests", "query_keys", "session_id",
                                  "created_at", "updated_at")

# answered rows of a chat backend (calls > 0) whose reply was empty: asked again (see the docstring)
_EMPTY_ANSWERS = """
UPDATE queries SET status='failed', label=NULL, clean=NULL,
    stage1_text=CASE WHEN trim(coalesce(stage1_text, ''))='' THEN NULL ELSE stage1_text END,
    error='empty reply kept as an answer by an older orlvlmf: asked again'
WHERE status='answered' AND calls > 0
  AND (trim(coalesce(stage1_text, ''))='' OR (stage2_text IS NOT NULL AND trim(stage2_text)=''))
"""

HOST = socket.gethostname()

SESSION_FIELDS = ("requested", "cached", "sent", "answered", "failed", "retries", "calls",
                  "cost_usd", "seconds", "stop_reason")


class StoreError(RuntimeError):
    """The label store file is unusable or cannot be written; the message names the file."""


def _busy(err: Exception) -> bool:
    """Another connection holds the database (it waits ``timeout`` first): not a write failure."""
    return "locked" in str(err) or "busy" in str(err)


class LabelStore:
    """Read and write one store file (one thread at a time; open one per process)."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise StoreError(f"label store {self.path} does not exist")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=60,
                                        check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=60,
                                        check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        try:
            version = self._setup(readonly)
        except sqlite3.OperationalError as err:
            self.conn.close()
            raise self._write_error(err) from None
        except sqlite3.DatabaseError as err:
            self.conn.close()
            raise StoreError(f"{self.path}: not a usable label store ({err}); move it away or "
                             f"point labels.shared_path elsewhere") from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            self.conn.close()
            raise StoreError(f"{self.path}: label store schema version {version and version[0]} "
                             f"is not {SCHEMA_VERSION}; this orlvlmf cannot read it")

    def _setup(self, readonly: bool, patience_s: float = 60.0):
        """WAL mode, the tables, the migrations; the schema version.  Processes opening one new
        store at once may find it locked (switching to WAL is not covered by the busy timeout):
        they try again for ``patience_s``."""
        deadline = time.time() + patience_s
        while True:
            try:
                if not readonly:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                    self.conn.executescript(_SCHEMA)
                    self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                      (str(SCHEMA_VERSION),))
                    self.conn.execute(_EMPTY_ANSWERS)
                return self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            except sqlite3.OperationalError as err:
                if not _busy(err) or time.time() > deadline:
                    raise
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()

    def _write_error(self, err: Exception) -> StoreError:
        """A failed write as a :class:`StoreError` naming the file (and, when the disk is full,
        the free space and what to do)."""
        if "full" not in str(err):
            return StoreError(f"cannot write the label store {self.path} ({err})")
        try:
            st = os.statvfs(self.path.parent)
            free = f"; {st.f_bavail * st.f_frsize / 2**20:.1f} MiB free there"
        except OSError:
            free = ""
        return StoreError(f"cannot write the label store {self.path} ({err}{free}). Free disk "
                          f"space (or point labels.shared_path elsewhere) and run again: stored "
                          f"answers are kept and reused")

    @contextmanager
    def _writing(self):
        """Turn sqlite's write failures (full disk, I/O error) into a :class:`StoreError`."""
        try:
            yield
        except sqlite3.OperationalError as err:
            if _busy(err):
                raise
            raise self._write_error(err) from None

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------
    def lookup(self, keys: Iterable[str]) -> dict[str, dict]:
        """Rows (as dicts) of the given query keys that exist, by key."""
        out: dict[str, dict] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT * FROM queries WHERE query_key IN ({','.join('?' * len(chunk))})"
            for row in self.conn.execute(q, chunk):
                out[row["query_key"]] = dict(row)
        return out

    def rows(self, where: str = "", params: Sequence[Any] = ()) -> list[dict]:
        sql = "SELECT * FROM queries" + (f" WHERE {where}" if where else "") + " ORDER BY rowid"
        return [dict(r) for r in self.conn.execute(sql, params)]

    def sessions(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM sessions ORDER BY id")]

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.conn.execute("SELECT COUNT(*) FROM queries").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM queries WHERE status=?", (status,)).fetchone()[0]

    # -- writing ------------------------------------------------------------------------------
    def _upsert_sql(self, cols: Sequence[str], protect_answered: bool) -> str:
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in ("query_key", "created_at"))
        guard = " WHERE queries.status != 'answered'" if protect_answered else ""
        return (f"INSERT INTO queries ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                f"ON CONFLICT(query_key) DO UPDATE SET {updates}{guard}")

    def put(self, row: Mapping[str, Any], release: str | None = None) -> None:
        """Insert or update one row and commit (an ``answered`` row is never overwritten);
        ``release``: drop ``release``'s claim on the query in the same transaction."""
        self.put_many([row], release=release)

    def put_many(self, rows: Sequence[Mapping[str, Any]], release: str | None = None) -> None:
        """Insert or update rows in one transaction; ``answered`` rows are never overwritten."""
        if not rows:
            return
        now = time.time()
        by_cols: dict[tuple[str, ...], list[tuple]] = {}
        for r in rows:
            unknown = set(r) - set(QUERY_COLUMNS)
            if unknown:
                raise StoreError(f"unknown store column(s) {sorted(unknown)}")
            r = {"created_at": now, "updated_at": now, **r}
            cols = tuple(c for c in QUERY_COLUMNS if c in r)
            by_cols.setdefault(cols, []).append(tuple(r[c] for c in cols))
        with self._transaction():
            for cols, values in by_cols.items():
                self.conn.executemany(self._upsert_sql(cols, protect_answered=True), values)
            if release is not None:
                self.conn.executemany("DELETE FROM claims WHERE query_key=? AND owner=?",
                                      [(r["query_key"], release) for r in rows])

    @contextmanager
    def _transaction(self):
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any error; write failures
        raise :class:`StoreError`."""
        with self._writing():
            self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            with self._writing():
                self.conn.execute("COMMIT")
        except BaseException as err:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(err, sqlite3.OperationalError) and not _busy(err):
                raise self._write_error(err) from None
            raise

    # -- claims on queries in flight (several processes sharing the store) --------------------
    def claim(self, query_key: str, owner: str, lease_s: float) -> str:
        """Claim ``query_key`` for ``owner`` for ``lease_s`` seconds before asking it.

        Returns ``"claimed"`` (ask it), ``"answered"`` (another process stored its answer: reuse
        it) or ``"busy"`` (another live process has it in flight: wait, then look again).
        """
        now = time.time()
        with self._transaction():
            row = self.conn.execute("SELECT status FROM queries WHERE query_key=?", (query_key,)).fetchone()
            if row is not None and row[0] == "answered":
                return "answered"
            held = self.conn.execute("SELECT owner, host, pid, expires FROM claims WHERE query_key=?",
                                     (query_key,)).fetchone()
            if held is not None and held[0] != owner and held[3] > now and not (
                    held[1] == HOST and held[2] is not None and (
                        int(held[2]) == os.getpid() or not pid_alive(int(held[2])))):
                return "busy"  # (a claim of this pid under another owner: a dead earlier holder)
            self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                              (query_key, owner, HOST, os.getpid(), now + lease_s))
        return "claimed"

    def renew_claims(self, owner: str, lease_s: float) -> None:
        """Extend every claim of ``owner`` to ``lease_s`` seconds from now (the holder is alive)."""
        with self._transaction():
            self.conn.execute("UPDATE claims SET expires=? WHERE owner=?", (time.time() + lease_s, owner))

    def release_claims(self, owner: str, keys: Iterable[str] | None = None) -> None:
        """Drop ``owner``'s claims (all, or those of ``keys``)."""
        with self._transaction():
            if keys is None:
                self.conn.execute("DELETE FROM claims WHERE owner=?", (owner,))
            else:
                self.conn.executemany("DELETE FROM claims WHERE query_key=? AND owner=?",
                                      [(k, owner) for k in keys])

    # -- what was spent -------------------------------------------------------------------------
    def spent(self) -> tuple[float, int]:
        """(USD recorded, queries asked of a chat backend) over the whole store: what the budget
        caps count when they are cumulative (``budget_scope: store``)."""
        usd, asked = self.conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(calls > 0), 0) FROM queries").fetchone()
        return float(usd), int(asked)

    def finished_costs(self, model: str) -> tuple[float, int]:
        """(USD, count) of the finished (answered or failed) priced queries of ``model``."""
        usd, n = self.conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), COUNT(*) FROM queries WHERE model=? AND calls > 0 "
            "AND cost_usd IS NOT NULL AND status IN ('answered', 'failed')", (model,)).fetchone()
        return float(usd), int(n)

    def rekey(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Move rows from an old query key to a new one (identity changes); returns rows moved.
        A row already under the new key wins."""
        pairs = list(pairs)
        if not pairs:
            return 0
        with self._transaction():
            cur = self.conn.executemany(
                "UPDATE OR IGNORE queries SET query_key=? WHERE query_key=? AND NOT EXISTS "
                "(SELECT 1 FROM queries q WHERE q.query_key=?)", [(new, old, new) for old, new in pairs])
        return cur.rowcount

    # -- sessions -----------------------------------------------------------------------------
    def start_session(self, backend: str, model: str, requested: int, cached: int) -> int:
        now = time.time()
        with self._writing():
            cur = self.conn.execute(
                "INSERT INTO sessions (backend, model, started, updated, requested, cached) "
                "VALUES (?, ?, ?, ?, ?, ?)", (backend, model, now, now, requested, cached))
        return int(cur.lastrowid)

    def update_session(self, session_id: int, finished: bool = False, **fields: Any) -> None:
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise StoreError(f"unknown session field(s) {sorted(unknown)}")
        now = time.time()
        sets = ", ".join([f"{k}=?" for k in fields] + ["updated=?"] + (["finished=?"] if finished else []))
        values = list(fields.values()) + [now] + ([now] if finished else [])
        with self._writing():
            self.conn.execute(f"UPDATE sessions SET {sets} WHERE id=?", values + [session_id])

    # -- provider batches -----------------------------------------------------------------------
    def put_batch(self, tag: str, **fields: Any) -> None:
        """Insert or update the row of the batch ``tag`` (``query_keys``: a list) and commit."""
        import json

        unknown = set(fields) - set(BATCH_COLUMNS)
        if unknown:
            raise StoreError(f"unknown batch column(s) {sorted(unknown)}")
        if "query_keys" in fields:
            fields["query_keys"] = json.dumps(list(fields["query_keys"]))
        row = {"tag": tag, "created_at": time.time(), "updated_at": time.time(), **fields}
        cols = list(row)
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in ("tag", "created_at"))
        with self._transaction():
            self.conn.execute(f"INSERT INTO batches ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                              f"ON CONFLICT(tag) DO UPDATE SET {updates}", [row[c] for c in cols])

    def batches(self, open_only: bool = False) -> list[dict]:
        """Batch rows (``query_keys`` as a list), oldest first; ``open_only``: not yet ``done``."""
        import json

        sql = "SELECT * FROM batches" + (" WHERE status != 'done'" if open_only else "") + " ORDER BY rowid"
        try:
            rows = [dict(r) for r in self.conn.execute(sql)]
        except sqlite3.OperationalError:  # a read-only store written before batches existed
            return []
        for r in rows:
            r["query_keys"] = json.loads(r["query_keys"] or "[]")
        return rows

    # -- export -------------------------------------------------------------------------------
    def snapshot(self, dst: str | Path, keys: Iterable[str] | None = None,
                 session_ids: Iterable[int] | None = None) -> Path:
        """Copy rows (all, or those of ``keys``) and sessions into a new single-file store."""
        dst = Path(dst)
        dst.unlink(missing_ok=True)
        out = sqlite3.connect(str(dst), isolation_level=None)
        try:
            out.execute("PRAGMA journal_mode=DELETE")
            out.executescript(_SCHEMA)
            out.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            rows = list(self.lookup(keys).values()) if keys is not None else self.rows()
            sess = self.sessions()
            if session_ids is not None:
                wanted = set(session_ids)
                sess = [s for s in sess if s["id"] in wanted]
            out.execute("BEGIN")
            if rows:
                cols = list(rows[0])
                out.executemany(f"INSERT INTO queries ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", [tuple(r[c] for c in cols) for r in rows])
            if sess:
                cols = list(sess[0])
                out.executemany(f"INSERT INTO sessions ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", [tuple(s[c] for c in cols) for s in sess])
            wanted_keys = None if keys is None else {r["query_key"] for r in rows}
            batch_rows = [b for b in self.batches()
                          if wanted_keys is None or wanted_keys & set(b["query_keys"])]
            if batch_rows:
                import json

                cols = list(batch_rows[0])
                out.executemany(f"INSERT INTO batches ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [tuple(json.dumps(b[c]) if c == "query_keys" else b[c] for c in cols)
                                 for b in batch_rows])
            out.execute("COMMIT")
        finally:
            out.close()
        return dst
