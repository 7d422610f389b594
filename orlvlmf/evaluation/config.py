"""Config of the evaluation stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EvaluationConfig:
    """Policy rollouts (mean action) in the env plugin.

    Episode ``i`` is reset with seed ``seed + i`` (the same episodes for every run seed and every
    method).  The first ``save_videos`` rollouts are also written as GIFs of ``video_size``
    pixels (``videos/``; shown in the report and TensorBoard; 0: none).
    """

    episodes: int = 10
    seed: int = 1000
    save_videos: int = 2
    video_size: int = 128
    video_fps: int = 20
