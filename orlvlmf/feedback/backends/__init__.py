"""Built-in feedback backends (importing this registers them; it stays light: litellm is
imported only when the litellm backend is opened).

* ``scripted`` — a teacher: GT-reward labels with noise models (:mod:`.scripted`);
* ``litellm``  — a chat backend: any VLM litellm reaches (:mod:`.vlm`);
* ``simulated_vlm`` — a chat backend answering from GT reward with a real VLM's kinds of noise
  (position bias, proximity-dependent abstentions and flips), free and offline (:mod:`.simulated_vlm`).

Third-party backends register in entry-point group ``orlvlmf.feedback``: a class built as
``cls(**options)`` with the interface described in :mod:`.base` (a teacher or a chat backend;
labeling, :mod:`orlvlmf.feedback.labeling`, does the rest).
"""

from __future__ import annotations

from typing import Any, Mapping

from orlvlmf.feedback.backends import scripted as _scripted  # noqa: F401 - registers "scripted"
from orlvlmf.feedback.backends import simulated_vlm as _simulated  # noqa: F401 - registers "simulated_vlm"
from orlvlmf.feedback.backends import vlm as _vlm  # noqa: F401 - registers "litellm"


def make_backend(node: Mapping[str, Any]):
    """Build the backend a ``feedback: {name: ..., ...}`` config node selects."""
    from orlvlmf.registry import REGISTRY

    node = dict(node)
    name = node.pop("name", None)
    if not name:
        raise ValueError(f"feedback.name is required (one of {', '.join(REGISTRY.names('feedback'))})")
    return REGISTRY.create("feedback", name, **node)
