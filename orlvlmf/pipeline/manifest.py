"""The run manifest: which stage produced which artifacts from which inputs.

``runs/<name>/manifest.json`` maps a stage key (``collect``, ``reward@seed1``) to
``fingerprint`` (hash of the stage's config sections, version and input artifact hashes),
``outputs`` (artifact → content hash, size, mtime) and a ``summary``.  Content hashes are
recomputed only when an artifact's size or mtime changed since it was recorded — or, with
``verify`` (``orlvlmf fit --verify``), once for every artifact, so a file damaged in place with
its size and mtime unchanged is caught.

Every file of a run is written with one mode (``0666`` less the umask, ``0644`` usually);
:func:`atomic_write_text` included (``mkstemp`` alone would leave ``0600``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def canonical_hash(obj: Any) -> str:
    """sha256 of the canonical JSON form of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def _stat(path: Path) -> tuple[int, int]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return sum(p.stat().st_size for p in files), max((p.stat().st_mtime_ns for p in files), default=0)
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def content_hash(path: Path) -> str:
    """sha256 over a file's bytes, or over a directory's relative names and file bytes."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f is not path:
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # the mode open() would give, as for every other file
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_npz(path: str | Path, arrays: dict[str, Any]) -> Path:
    """``np.savez`` with fixed zip timestamps: the same arrays give the same bytes (and hash)."""
    import io
    import zipfile

    import numpy as np

    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())
    return path


class Manifest:
    def __init__(self, run_dir: Path, verify: bool = False):
        self.path = Path(run_dir) / MANIFEST
        self.verify = verify  # hash every artifact again (once), whatever its size and mtime
        self._verified: set[str] = set()
        self.data: dict[str, Any] = {"stages": {}}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    def get(self, key: str) -> dict | None:
        return self.data["stages"].get(key)

    def put(self, key: str, record: dict) -> None:
        self.data["stages"][key] = record
        self.save()

    def drop(self, key: str) -> None:
        if self.data["stages"].pop(key, None) is not None:
            self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True))

    @staticmethod
    def describe_output(path: Path, known: dict | None = None) -> dict:
        """Hash record of an artifact, reusing ``known`` when size and mtime are unchanged."""
        size, mtime = _stat(path)
        if known and known.get("size") == size and known.get("mtime") == mtime:
            return dict(known)
        return {"sha256": content_hash(path), "size": size, "mtime": mtime}

    def outputs_intact(self, run_dir: Path, key: str) -> dict[str, dict] | None:
        """Current hash records of a stage's outputs if all exist and match the manifest."""
        rec = self.get(key)
        if not rec:
            return None
        current = {}
        for rel, known in rec["outputs"].items():
            p = run_dir / rel
            if not p.exists():
                return None
            now = self.describe_output(p, None if self.verify and rel not in self._verified else known)
            self._verified.add(rel)
            if now["sha256"] != known["sha256"]:
                return None
            current[rel] = now
        if current != rec["outputs"]:  # refresh stat info after e.g. a copy
            rec["outputs"] = current
            self.save()
        return current

    def damaged(self, run_dir: Path, key: str) -> list[str]:
        """Outputs of ``key`` whose bytes no longer hash to what the manifest recorded (each
        file hashed again, whatever its size and mtime): damaged in place, or replaced."""
        rec = self.get(key) or {"outputs": {}}
        return [rel for rel, known in rec["outputs"].items()
                if (run_dir / rel).exists() and content_hash(run_dir / rel) != known["sha256"]]
