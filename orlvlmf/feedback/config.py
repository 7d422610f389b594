"""Config of the labeling stage: which pairs are asked about, who answers, and the label store.

The ``feedback`` node of a run config selects a backend by name; its other keys are checked
against the backend's dataclass below::

    feedback: {name: scripted, tie_threshold: 0.0, noise: flip, flip_p: 0.25}
    feedback: {name: litellm, model: gpt-4o, api_key_env: OPENAI_API_KEY, concurrency: 8}

Secrets never appear here: ``api_key_env`` holds the *name* of an environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from orlvlmf.config.structured import checked, env_var_name, one_of, ranged


@dataclass
class PairsConfig:
    """Pairs of frames sampled from the dataset for preference queries.

    Each transition ``i`` is shown by its next observation ``o'_i`` (the frame the reward model
    scores by default).  Both frames are drawn uniformly over transitions; two frames of one
    episode must be at least ``min_gap`` steps apart; pairs whose two images are byte-identical
    are skipped.  The sampler is prefix-stable: the first K pairs do not depend on ``num_queries``.
    """

    num_queries: int = ranged(2000, ge=1)
    min_gap: int = ranged(10, ge=0)  # minimum time gap between two frames of one episode
    seed: int = ranged(0, ge=0)
    image_key: str = "image"  # observation shown to the labeler
    skip_identical: bool = True


@dataclass
class LabelStoreConfig:
    """SQLite label store; ``shared_path`` lets several runs reuse identical queries.

    Without ``shared_path`` the store lives at ``<run_dir>/.cache/label_store.sqlite``: it
    outlives config changes of the label stage (a raised budget keeps the answers paid for).
    """

    shared_path: Optional[str] = None


@dataclass
class ScriptedConfig:
    """Scripted teacher from ground-truth reward (no network).

    label = 0 if r0 - r1 > tie_threshold, 1 if r1 - r0 > tie_threshold, else -1.

    Noise (applied to non-tie labels; deterministic per query given ``noise_seed``):
      * ``flip``: flip with probability ``flip_p``;
      * ``proximity``: flip with probability p(d) = flip_p * exp(-d / proximity_scale), where
        d = |r0 - r1| / (max r - min r) is the reward gap relative to the dataset's reward range.
        Close states (d -> 0) are flipped with probability ``flip_p``; far ones almost never.
    """

    tie_threshold: float = ranged(0.0, ge=0)
    noise: str = "none"  # none | flip | proximity
    flip_p: float = ranged(0.0, ge=0, le=1)
    proximity_scale: float = ranged(0.1, gt=0)
    noise_seed: int = ranged(0, ge=0)


@dataclass
class ChatConfig:
    """How labeling asks a chat backend (every VLM backend's config extends this).

    Prompts (:mod:`orlvlmf.feedback.prompts`): ``prompt_version``, ``two_stage`` (an analysis,
    then a label line; else one call), frames sent at ``image_size`` px.  Scheduling:
    ``concurrency`` calls in flight; each call has ``timeout_s`` and up to ``max_retries`` retries,
    the first waiting ``backoff_s`` * U(0.5, 1.5), doubling up to ``max_backoff_s`` (or what the
    server's Retry-After says).  Budget caps (``max_queries``, ``max_cost_usd``) count what the
    label store recorded as spent plus this invocation (``budget_scope: store``), or this
    invocation alone (``budget_scope: invocation``); answers already in the store cost nothing
    (:mod:`orlvlmf.feedback.labeling.budget`).
    """

    prompt_version: str = "v1"
    two_stage: bool = True
    image_size: int = ranged(224, ge=8, le=2048)
    concurrency: int = ranged(8, ge=1)
    timeout_s: float = ranged(60.0, gt=0)
    max_retries: int = ranged(5, ge=0)
    backoff_s: float = ranged(1.0, ge=0)  # first retry waits backoff_s * U(0.5, 1.5), doubling up to max_backoff_s
    max_backoff_s: float = ranged(60.0, ge=0)
    max_queries: Optional[int] = ranged(None, ge=1)
    max_cost_usd: Optional[float] = ranged(None, gt=0)
    budget_scope: str = checked("store", one_of("store", "invocation"))


@dataclass
class LiteLLMConfig(ChatConfig):
    """A VLM reached through litellm (any model string litellm accepts), asked as
    :class:`ChatConfig` says.

    ``api_base`` points at an OpenAI-compatible server (``model: openai/<name>``, vLLM, Ollama).
    ``api_key_env`` names the environment variable holding the key (None: litellm's own
    provider variables, e.g. GEMINI_API_KEY).  Cost comes from litellm's price table, or from
    ``input_usd_per_mtok`` / ``output_usd_per_mtok`` when set.
    """

    model: str = "gpt-4o"
    api_base: Optional[str] = None
    api_key_env: Optional[str] = checked(None, env_var_name)  # the variable's NAME, never the key
    temperature: float = ranged(0.0, ge=0, le=2)
    max_tokens: int = ranged(600, ge=1)
    input_usd_per_mtok: Optional[float] = ranged(None, ge=0)
    output_usd_per_mtok: Optional[float] = ranged(None, ge=0)


@dataclass
class SimulatedVLMConfig:
    """A VLM simulated from ground-truth reward: the noise real VLMs show, seeded (no network).

    With d = |r_1 - r_2| / (max r - min r) the reward gap of the two shown frames (Image 1, Image 2)
    and closeness c(d) = exp(-d / proximity_scale) (1 for equal rewards, -> 0 for far ones), one
    query is answered by (see :mod:`orlvlmf.feedback.backends.simulated_vlm` for the exact rule):

    * abstain: -1 with probability ``abstain_p`` * c(d);
    * else unsure with probability ``unsure_p`` * c(d): "Image 1" (0) with probability
      ``position_bias``, else "Image 2" (1) — 0.5 is a fair guess, 1.0 always names the first;
    * else sure: the noiseless label (``tie_threshold`` as the scripted teacher), wrong with
      probability 1 - (1 - ``flip_p`` * c(d)) (1 - ``error_p``): proximity flips and a fixed
      error rate.

    Every draw derives from (pair key, ``seed``): a query gets the same answer on every run, and
    the two orders (A, B) and (B, A) are two queries with independent draws.
    """

    tie_threshold: float = ranged(0.0, ge=0)
    proximity_scale: float = ranged(0.1, gt=0)
    abstain_p: float = ranged(0.0, ge=0, le=1)
    unsure_p: float = ranged(0.0, ge=0, le=1)
    position_bias: float = ranged(0.5, ge=0, le=1)
    flip_p: float = ranged(0.0, ge=0, le=1)
    error_p: float = ranged(0.0, ge=0, le=1)
    seed: int = ranged(0, ge=0)
