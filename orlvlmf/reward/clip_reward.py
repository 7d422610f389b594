"""CLIP reward baseline (Rocamonde et al. 2023; the paper's "CLIP Reward" column).

    r_i = cos(f_img(o'_i), f_txt(goal)) = <f_img, f_txt> / (||f_img|| · ||f_txt||)

``f_img`` / ``f_txt`` are an open_clip model's image and text towers, ``goal`` a short sentence
per task (:data:`CLIP_SENTENCES`, from the reference implementation; ``clip.sentence`` overrides
it).  The result is the ``clip`` reward column (:mod:`orlvlmf.reward.column`), which the train
stage reads like the learned one.  Config: :class:`orlvlmf.reward.config.ClipRewardConfig`.

Weights, in order: ``weights`` (a local open_clip checkpoint file), else the ``pretrained`` tag's
file found in the local Hugging Face hub cache (never downloaded here), else
:class:`ClipWeightsError` saying how to provide them.  ``model_config`` builds a custom
(e.g. tiny, randomly initialised) ``open_clip.CLIP`` instead; tests use that.

Light module: torch / open_clip are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.reward.config import ClipRewardConfig

#: Goal sentences of the reference implementation's CLIP baseline, by env name.
CLIP_SENTENCES = {
    "drawer-open": "The drawer is opened.",
    "soccer": "The soccer ball is in the goal.",
    "cartpole": "pole vertically upright on top of the cart.",
    "rope": "The blue rope is straightened.",
}
HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
WEIGHTS_ENV = "ORLVLMF_CLIP_WEIGHTS"


class ClipWeightsError(RuntimeError):
    """No CLIP weights can be had offline; the message says how to provide them."""


def goal_sentence(cfg: ClipRewardConfig, env_name: str | None) -> str:
    if cfg.sentence:
        return str(cfg.sentence)
    if env_name in CLIP_SENTENCES:
        return CLIP_SENTENCES[env_name]
    raise ValueError(f"no default CLIP goal sentence for env '{env_name}' (known: "
                     f"{', '.join(CLIP_SENTENCES)}); set clip.sentence, e.g. 'The door is open.'")


def _hub_cached_file(model: str, tag: str) -> str | None:
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    pcfg = open_clip.get_pretrained_cfg(model, tag) or {}
    repo = str(pcfg.get("hf_hub", "")).strip("/")
    if not repo:
        return None
    for name in HUB_FILES:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def load_clip(cfg: ClipRewardConfig):
    """(model in eval mode, tokenizer, identity string of the weights)."""
    import os

    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable
    from orlvlmf.pipeline.manifest import canonical_hash, content_hash

    ensure_torchvision_importable()
    import open_clip

    if cfg.model_config is not None:
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

        mc = dict(cfg.model_config)
        model = CLIP(int(mc["embed_dim"]), CLIPVisionCfg(**mc.get("vision_cfg", {})),
                     CLIPTextCfg(**mc.get("text_cfg", {})), quick_gelu=bool(mc.get("quick_gelu", False)))
        ident = "custom:" + canonical_hash(mc)[:16]
        weights = cfg.weights or None
        if weights:
            import torch

            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
            ident += ":" + content_hash(Path(weights))[:16]
        else:
            ident += ":random-init"
    else:
        weights = cfg.weights or os.environ.get(WEIGHTS_ENV) or None
        source = "clip.weights" if cfg.weights else WEIGHTS_ENV
        if weights and not Path(weights).is_file():
            raise ClipWeightsError(f"{source}={weights} is not a file: point it at an open_clip "
                                   f"checkpoint of {cfg.model} (e.g. open_clip_pytorch_model.bin)")
        if not weights and cfg.pretrained:
            weights = _hub_cached_file(cfg.model, cfg.pretrained)
        if not weights:
            raise ClipWeightsError(
                f"no CLIP weights for {cfg.model} (pretrained '{cfg.pretrained}') are available "
                f"offline. Either set clip.weights (or the environment variable {WEIGHTS_ENV}) to a "
                f"local open_clip checkpoint file, or fill the Hugging Face cache once on a machine "
                f"with network: python -c \"import open_clip; open_clip.create_model('{cfg.model}', "
                f"pretrained='{cfg.pretrained}')\"")
        pcfg = open_clip.get_pretrained_cfg(cfg.model, cfg.pretrained or "") or {}
        model = open_clip.create_model(cfg.model, pretrained=str(weights),
                                       force_quick_gelu=bool(pcfg.get("quick_gelu", False)))
        ident = f"{cfg.model}:{content_hash(Path(weights))[:16]}"
    if cfg.model_config is None:
        tokenizer = open_clip.get_tokenizer(cfg.model)
    else:  # CLIP's BPE vocabulary (text_cfg.vocab_size 49408) at the custom context length
        ctx_len = int(dict(cfg.model_config).get("text_cfg", {}).get("context_length", 77))
        tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=ctx_len)
    model.eval()
    return model, tokenizer, ident



def image_size_of(model: Any) -> int:
    size = getattr(model.visual, "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def preprocess_images(images: np.ndarray, size: int):
    """uint8 (B, H, W, 3) → float (B, 3, size, size): /255, bicubic resize, CLIP mean/std."""
    import torch
    import torch.nn.functional as F
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    x = torch.as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_scores(model: Any, tokenizer: Any, sentence: str, batches) -> np.ndarray:
    """Cosine similarity of every image (an iterable of uint8 (B, H, W, 3) batches) to ``sentence``."""
    import torch
    import torch.nn.functional as F

    size = image_size_of(model)
    out = []
    with torch.inference_mode():
        text = F.normalize(model.encode_text(tokenizer([sentence])).float(), dim=-1)
        for images in batches:
            feats = F.normalize(model.encode_image(preprocess_images(images, size)).float(), dim=-1)
            out.append((feats @ text.T).squeeze(-1).cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def dataset_clip_scores(ds: Any, model: Any, tokenizer: Any, sentence: str,
                        cfg: ClipRewardConfig) -> np.ndarray:
    """(N,) CLIP reward of every transition of ``ds`` (its ``score`` frame), in dataset order."""
    if cfg.score not in ("next", "current"):
        raise ValueError(f"clip.score must be 'next' or 'current', got '{cfg.score}'")
    if cfg.batch_size <= 0:
        raise ValueError(f"clip.batch_size must be > 0, got {cfg.batch_size}")
    get = ds.next_observations if cfg.score == "next" else ds.observations
    n, bs = ds.num_transitions, int(cfg.batch_size)
    return clip_scores(model, tokenizer, sentence,
                       (get(cfg.observation, np.arange(i, min(i + bs, n))) for i in range(0, n, bs)))


def write_clip_rewards(path: str | Path, ds: Any, cfg: ClipRewardConfig, env_name: str | None,
                       model: Any = None, tokenizer: Any = None, ident: str | None = None) -> dict:
    """Score ``ds`` with CLIP and write the ``clip`` reward column (``rewards.npz``); returns a summary."""
    from orlvlmf.pipeline.manifest import canonical_hash
    from orlvlmf.reward.column import normalization, write_rewards

    sentence = goal_sentence(cfg, env_name)
    if cfg.observation not in ds.observation_keys:
        raise ValueError(f"clip.observation '{cfg.observation}' is not in {ds.path} (it has "
                         f"{', '.join(ds.observation_keys)}); collect images or set clip.observation")
    if model is None:
        model, tokenizer, ident = load_clip(cfg)
    raw = dataset_clip_scores(ds, model, tokenizer, sentence, cfg)
    shift, mult = normalization(raw, cfg.normalize, ds.episode_index, float(cfg.scale),
                                setting="clip.normalize")
    write_rewards(path, raw, np.zeros_like(raw), method=cfg.normalize, shift=shift, mult=mult,
                  score=cfg.score, observation=cfg.observation, ckpt_sha256=str(ident),
                  config_hash=canonical_hash({"clip": cfg.__dict__, "sentence": sentence}))
    return {"transitions": int(len(raw)), "sentence": sentence, "clip_mean": float(raw.mean()),
            "clip_std": float(raw.std()), "weights": str(ident)}
