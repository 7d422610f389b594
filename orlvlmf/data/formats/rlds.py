"""``rlds``: RLDS / TFDS TFRecord shards (Open X-Embodiment), read without TensorFlow.

A TFDS dataset folder (``<name>/<version>/``) holds ``features.json``, ``dataset_info.json`` and
shards ``<name>-<split>.tfrecord-XXXXX-of-YYYYY``.  Each record is one episode, a
``tf.train.Example`` whose step features are flattened along the steps:
``steps/observation/<key>`` (images as one encoded JPEG/PNG per step), ``steps/action``
(T × A floats), ``steps/reward``, ``steps/is_first``, ``steps/is_last``, ``steps/is_terminal``,
``steps/language_instruction``.  Records are framed and parsed with the ``tfrecord`` package
(its TFRecord framing and ``Example`` protobuf; no TensorFlow); shapes come from ``features.json``
when present, else from the flat length over the step count.

Keys are named without the ``steps/`` prefix (``observation/image``, ``action``).  Step t holds
o_t and the action taken there, so T steps give T frames and T − 1 transitions (the last action
is dropped); ``reward`` (kept as ground truth) is r_t of a_t; ``is_terminal`` of step t + 1 makes
transition t terminal.  The task sentence is the episodes' ``language_instruction``.
Only the ``train`` split is read when the folder has one (all shards otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from orlvlmf.data.dataset import DatasetError
from orlvlmf.data.importer import (DatasetReader, ImportOptions, ImportSource, KeyInfo,
                                   SourceEpisode, decode_images, mapped_episode,
                                   optional_import)
from orlvlmf.registry import register

STEPS = "steps/"
_TEXT = ("language_instruction", "natural_language_instruction")


def _spec_from_features(node: dict, prefix: str = "") -> dict[str, dict]:
    """Flatten a TFDS ``features.json`` into ``{"steps/observation/image": spec}``."""
    out: dict[str, dict] = {}
    if "featuresDict" in node:
        for name, sub in node["featuresDict"].get("features", {}).items():
            out.update(_spec_from_features(sub, f"{prefix}{name}/"))
    elif "sequence" in node:
        out.update(_spec_from_features(node["sequence"].get("feature", {}), prefix))
    elif "image" in node:
        out[prefix.rstrip("/")] = {"kind": "image", **node["image"]}
    elif "tensor" in node:
        out[prefix.rstrip("/")] = {"kind": "tensor", **node["tensor"]}
    elif "text" in node:
        out[prefix.rstrip("/")] = {"kind": "text"}
    return out


def _shards(root: Path) -> tuple[Path, list[Path]]:
    if not root.is_dir():
        raise DatasetError(f"dataset.path {root} is not a TFDS/RLDS dataset folder")
    folders = sorted({p.parent for p in root.rglob("*.tfrecord*")})
    if not folders:
        raise DatasetError(f"{root}: no TFRecord shards (*.tfrecord*) found")
    if len(folders) > 1:
        raise DatasetError(f"{root}: shards in several folders ({', '.join(map(str, folders[:4]))}); "
                           f"point dataset.path at one dataset version folder")
    folder = folders[0]
    shards = sorted(folder.glob("*.tfrecord*"))
    train = [p for p in shards if "-train.tfrecord" in p.name]
    return folder, train or shards


def _records(path: Path) -> Iterator[Any]:
    reader = optional_import("tfrecord.reader", "rlds")
    example_pb2 = optional_import("tfrecord.example_pb2", "rlds")
    try:
        for raw in reader.tfrecord_iterator(str(path)):
            yield example_pb2.Example.FromString(bytes(raw))
    except Exception as err:
        raise DatasetError(f"{path}: not a readable TFRecord file ({type(err).__name__}: {err})") from None


def _values(feature) -> list | np.ndarray:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return list(feature.bytes_list.value)
    if kind == "float_list":
        return np.asarray(feature.float_list.value, np.float32)
    if kind == "int64_list":
        return np.asarray(feature.int64_list.value, np.int64)
    return []


def _is_image_bytes(b: bytes) -> bool:
    return b[:3] == b"\xff\xd8\xff" or b[:8] == b"\x89PNG\r\n\x1a\n"


@register("datasets", "rlds")
class RLDSReader(DatasetReader):
    """Import RLDS / TFDS TFRecord shards (``dataset.path`` = the dataset's version folder)."""

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        optional_import("tfrecord", "rlds")
        folder, shards = _shards(Path(path))
        fj = folder / "features.json"
        specs = _spec_from_features(json.loads(fj.read_text())) if fj.is_file() else {}
        first = next(iter(_records(shards[0])), None)
        if first is None:
            raise DatasetError(f"{shards[0]}: no records")
        feats = first.features.feature
        T = _steps(feats, str(shards[0]))
        available: dict[str, KeyInfo] = {}
        for name, feat in feats.items():
            if not name.startswith(STEPS):
                continue
            short = name[len(STEPS):]
            spec = specs.get(name, {})
            vals = _values(feat)
            if spec.get("kind") == "image" or (isinstance(vals, list) and vals and _is_image_bytes(vals[0])):
                dims = tuple(int(d) for d in spec.get("shape", {}).get("dimensions", []))
                available[short] = KeyInfo("image", dims, "uint8", spec.get("encodingFormat", "encoded"))
            elif isinstance(vals, np.ndarray) and len(vals) % T == 0 and len(vals):
                dims = tuple(int(d) for d in spec.get("shape", {}).get("dimensions", [])) or \
                    ((len(vals) // T,) if len(vals) // T > 1 else ())
                available[short] = KeyInfo("vector", dims, spec.get("dtype", str(vals.dtype)))
            else:
                available[short] = KeyInfo("text" if isinstance(vals, list) else "other")
        info_path = folder / "dataset_info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        meta: dict[str, Any] = {"rlds_name": info.get("name"), "rlds_version": info.get("version"),
                                "shards": [p.name for p in shards]}
        tasks: set[str] = set()
        counts = [int(x) for s in info.get("splits", []) if s.get("name") == "train"
                  for x in s.get("shardLengths", [])]

        def episodes(keys: dict[str, Any]) -> Iterator[SourceEpisode]:
            e = 0
            for shard in shards:
                for n, ex in enumerate(_records(shard)):
                    where = f"{shard}: record {n} (episode {e})"
                    yield _episode(ex.features.feature, keys, where, options.image_size, tasks)
                    e += 1
            meta["tasks"] = sorted(tasks)
            if len(tasks) == 1:
                meta["task_text"] = next(iter(tasks))

        return ImportSource(Path(path), available, meta, sum(counts) or None, episodes,
                            key_help="step features without the 'steps/' prefix")


def _steps(feats, where: str) -> int:
    for flag in ("is_first", "is_last", "is_terminal"):
        if STEPS + flag in feats:
            return len(_values(feats[STEPS + flag]))
    raise DatasetError(f"{where}: no steps/is_first (an RLDS episode marks its steps with it)")


def _episode(feats, keys: dict[str, Any], where: str, size: int | None, tasks: set) -> SourceEpisode:
    T = _steps(feats, where)

    def get(name: str) -> np.ndarray:
        full = STEPS + name
        if full not in feats:
            raise DatasetError(f"{where}: key '{name}' missing from this episode")
        vals = _values(feats[full])
        if isinstance(vals, list):
            return decode_images(vals, size, where, name)
        if len(vals) % T:
            raise DatasetError(f"{where}: key '{name}' has {len(vals)} values for {T} steps")
        return vals.reshape(T, -1)

    for t in _TEXT:
        if STEPS + t in feats:
            texts = _values(feats[STEPS + t])
            if texts:
                text = texts[0].decode("utf-8", "replace").strip()
                if text:
                    tasks.add(text)
    terminal = (get("is_terminal").reshape(-1).astype(bool)[1:] if STEPS + "is_terminal" in feats
                else None)
    return mapped_episode(get, keys, where, terminals=terminal)
