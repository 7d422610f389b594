"""Config of the evaluation stage."""

from __future__ import annotations

from dataclasses import dataclass

from orlvlmf.config.structured import ranged


@dataclass
class EvaluationConfig:
    """Policy rollouts (mean action) in the env plugin.

    Episode ``i`` is reset with seed ``seed + i`` (the same episodes for every run seed and every
    method).  The first ``save_videos`` rollouts are also written as GIFs of ``video_size``
    pixels (``videos/``; shown in the report and TensorBoard; 0: none).
    """

    episodes: int = ranged(10, ge=1)
    seed: int = ranged(1000, ge=0)
    save_videos: int = ranged(2, ge=0)
    video_size: int = ranged(128, ge=8, le=2048)
    video_fps: int = ranged(20, ge=1)
