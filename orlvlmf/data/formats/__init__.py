"""Dataset formats: one module per format, holding its reader (registry kind ``datasets``) and,
where we write it too, its writer.

| ``dataset.source`` | module | reads | writes (``orlvlmf export``) |
|---|---|---|---|
| ``episodes`` | episodes.py | a directory of per-episode ``.npz`` / ``.h5`` files | – |
| ``lerobot`` | lerobot.py | LeRobot v2.0 / v2.1 / v3.0 (parquet + mp4) | v3.0 |
| ``robomimic`` | robomimic.py | robomimic HDF5 (``data/demo_<i>``) | ``--format hdf5`` |
| ``rlds`` | rlds.py | RLDS / TFDS TFRecord shards (Open X-Embodiment) | – |
| ``minari`` | minari.py | a Minari dataset | ``--format minari`` |

The shared import loop (key mapping, resizing, checks) is ``orlvlmf.data.importer``.  These
modules import their heavy dependencies (pyarrow, av, h5py, minari) inside functions.
"""

from __future__ import annotations

import os

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.data.formats import episodes, lerobot, minari, rlds, robomimic  # noqa: F401 - registers
from orlvlmf.data.importer import ImportOptions


def read_any(source: str, path: str | os.PathLike, out: str | os.PathLike,
             options: ImportOptions | None = None, **kw) -> OfflineDataset:
    """Import ``path`` with reader ``source`` (options: ``ImportOptions`` fields) and open it."""
    from orlvlmf.registry import REGISTRY

    REGISTRY.create("datasets", source).read(path, out, options or ImportOptions(**kw))
    return OfflineDataset.open(out)
