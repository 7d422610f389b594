"""Checks every episode passes before it is written: bad data stops the import, not the labeler.

One error names where the episode came from (file, episode), the key and what is wrong, before
anything is paid for: NaN / inf in observations, actions or rewards, integer images outside
0–255, float images that are not in [0, 1] or [0, 255].
"""

from __future__ import annotations

import numpy as np

from orlvlmf.data.errors import DatasetError


def check_finite(key: str, values: np.ndarray, where: str) -> None:
    """Raise :class:`DatasetError` if a float array holds NaN or inf."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating) and not np.issubdtype(values.dtype,
                                                                            np.complexfloating):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f"frame/step {first[0]}" + (f", index {first[1:]}" if len(first) > 1 else "")
        raise DatasetError(
            f"{where}: key '{key}' has {int(bad.sum())} non-finite value(s) (NaN or inf), the "
            f"first at {at}. Fix or drop this episode in the source; nothing was imported")


def as_uint8_images(frames: np.ndarray, where: str, key: str = "image") -> np.ndarray:
    """Frames as uint8 (F, H, W, 3): uint8 as is, other ints within 0–255, floats in [0, 1]
    (scaled by 255) or [0, 255]; anything else is an error (never clipped silently)."""
    img = np.asarray(frames)
    if img.ndim != 4 or img.shape[-1] != 3:
        raise DatasetError(f"{where}: key '{key}' must be frames (F, H, W, 3), got shape {img.shape}")
    if img.dtype == np.uint8:
        return img
    if img.dtype == bool or not np.issubdtype(img.dtype, np.number):
        raise DatasetError(f"{where}: key '{key}' has dtype {img.dtype}; images must be uint8, "
                           f"integers in 0–255 or floats in [0, 1]")
    if img.size == 0:
        return img.astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        lo, hi = int(img.min()), int(img.max())
        if lo < 0 or hi > 255:
            raise DatasetError(f"{where}: key '{key}' is an integer image with values in [{lo}, {hi}], "
                               f"outside 0–255; convert it to uint8 in the source")
        return img.astype(np.uint8)
    check_finite(key, img, where)
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > 255:
        raise DatasetError(f"{where}: key '{key}' is a float image with values in [{lo:.4g}, "
                           f"{hi:.4g}]; expected [0, 1] or [0, 255]")
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.round(img * scale).astype(np.uint8)
