"""The manifest's hashes and records against independent sha256 / os.stat computations."""

import hashlib
import json
import os
from pathlib import Path

from orlvlmf.pipeline.manifest import Manifest, atomic_write_text, canonical_hash, content_hash


def test_canonical_hash_is_sha256_of_sorted_compact_json():
    ref = hashlib.sha256(b'{"a":[1,2],"b":{"c":"x","d":"/p"}}').hexdigest()
    assert canonical_hash({"b": {"d": Path("/p"), "c": "x"}, "a": [1, 2]}) == ref  # key order, Path
    assert canonical_hash({"a": [2, 1], "b": {"c": "x", "d": "/p"}}) != ref


def test_content_hash_of_files_and_folders(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc" * 1000)
    assert content_hash(f) == hashlib.sha256(b"abc" * 1000).hexdigest()
    d = tmp_path / "videos"
    (d / "sub").mkdir(parents=True)
    (d / "b.gif").write_bytes(b"BB")
    (d / "sub" / "a.gif").write_bytes(b"A")
    ref = hashlib.sha256(b"b.gif\0BB" + b"sub/a.gif\0A").hexdigest()  # sorted relative names + bytes
    assert content_hash(d) == ref
    (d / "b.gif").rename(d / "c.gif")  # same bytes under another name: another hash
    assert content_hash(d) != ref


def test_describe_output_rehashes_only_what_changed(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    (d / "x").write_bytes(b"12345")
    (d / "y").write_bytes(b"6789")
    rec = Manifest.describe_output(d)
    st = [os.stat(d / n) for n in ("x", "y")]
    assert rec == {"sha256": content_hash(d), "size": 9, "mtime": max(s.st_mtime_ns for s in st)}
    stale = {**rec, "sha256": "recorded"}  # same size and mtime: the record is trusted, not rehashed
    assert Manifest.describe_output(d, stale)["sha256"] == "recorded"
    os.utime(d / "x", ns=(st[0].st_atime_ns, st[0].st_mtime_ns + 10**9))
    assert Manifest.describe_output(d, stale)["sha256"] == rec["sha256"]  # touched: hashed again
    assert Manifest.describe_output(d, {**stale, "size": 8})["sha256"] == rec["sha256"]


def test_records_persist_and_refresh_their_stat_info(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("data")
    m = Manifest(tmp_path)
    m.put("collect", {"fingerprint": "f", "outputs": {"a.txt": Manifest.describe_output(out)}})
    st = out.stat()
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))  # e.g. a copy: same bytes
    current = m.outputs_intact(tmp_path, "collect")
    assert current["a.txt"]["mtime"] == st.st_mtime_ns + 5 * 10**9
    on_disk = json.loads((tmp_path / "manifest.json").read_text())["stages"]["collect"]
    assert on_disk["outputs"]["a.txt"]["mtime"] == current["a.txt"]["mtime"]  # refreshed and saved
    out.write_text("other")
    assert m.outputs_intact(tmp_path, "collect") is None
    m.drop("collect")
    assert json.loads((tmp_path / "manifest.json").read_text())["stages"] == {}
    assert Manifest(tmp_path).get("collect") is None


def test_atomic_write_makes_folders_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "b" / "config.yaml"
    atomic_write_text(target, "x: 1\n")
    assert target.read_text() == "x: 1\n" and os.listdir(target.parent) == ["config.yaml"]
