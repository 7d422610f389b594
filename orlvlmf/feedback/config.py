"""Config of the labeling stage: which pairs are asked about, who answers, and the label store.

The ``feedback`` node of a run config selects a backend by name; its other keys are checked
against the backend's dataclass below::

    feedback: {name: scripted, tie_threshold: 0.0, noise: flip, flip_p: 0.25}
    feedback: {name: litellm, model: gpt-4o, api_key_env: OPENAI_API_KEY, concurrency: 8}
    feedback: {name: simulated_vlm, position_bias: 0.3, unsure_p: 0.5, both_orders: true}

Secrets never appear here: ``api_key_env`` holds the *name* of an environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from orlvlmf.config.structured import checked, env_var_name, one_of, ranged


@dataclass
class PairsConfig:
    """Pairs of frames sampled from the dataset for preference queries.

    ``num_queries`` counts paid queries, the unit a VLM bills: with ``feedback.both_orders`` each
    pair is two queries, so ``num_queries / 2`` pairs are asked and the cost stays the same.

    Each transition ``i`` is shown by its next observation ``o'_i`` (the frame the reward model
    scores by default).  Both frames are drawn uniformly over transitions; two frames of one
    episode must be at least ``min_gap`` steps apart; pairs whose two images are byte-identical
    are skipped.  The sampler is prefix-stable: the first K pairs do not depend on ``num_queries``.
    """

    num_queries: int = ranged(2000, ge=1)  # paid queries (with feedback.both_orders: 2 per pair)
    min_gap: int = ranged(10, ge=0)  # minimum time gap between two frames of one episode
    seed: int = ranged(0, ge=0)
    image_key: str = "image"  # observation shown to the labeler
    skip_identical: bool = True
    # uniform: the sampler's first pairs | disagreement: rounds of the pairs the reward ensemble
    # disagrees on most (std of P) | bald: the same rounds scored by mutual information
    # (orlvlmf.feedback.active); the "disagreement:" options below serve both
    strategy: str = "uniform"
    initial_queries: int = ranged(500, ge=1)  # disagreement: round 0 (uniform pairs), in queries
    round_queries: int = ranged(250, ge=1)  # disagreement: queries per later round
    pool_size: int = ranged(5000, ge=1)  # disagreement: candidate pairs scored per round
    round_epochs: int = ranged(5, ge=1)  # disagreement: epochs of the brief reward fit before each round
    round_ensemble: int = ranged(3, ge=2)  # disagreement: members of that fit (>= 2: their spread is the score)
    explore_fraction: float = ranged(0.0, ge=0, le=1)  # disagreement: share of each later round drawn at random


@dataclass
class LabelStoreConfig:
    """SQLite label store; ``shared_path`` lets several runs reuse identical queries.

    Without ``shared_path`` the store lives at ``<run_dir>/.cache/label_store.sqlite``: it
    outlives config changes of the label stage (a raised budget keeps the answers paid for).
    """

    shared_path: Optional[str] = None


@dataclass
class QueryConfig:
    """How each pair is asked (shared by every built-in backend's config).

    ``both_orders``: ask each pair as (A, B) and as (B, A), two stored queries; answers that name
    the same frame give the label, all others (contradictions, abstentions) a tie (-1), which
    reward training drops or, with ``reward.ties: half``, trains as 0.5
    (:mod:`orlvlmf.feedback.orders`).  Answers to (A, B) stored by a one-order run are reused.
    """

    both_orders: bool = False


@dataclass
class ScriptedConfig(QueryConfig):
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
class ChatConfig(QueryConfig):
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

    ``batch``: send the queries through the provider's batch API (OpenAI, Azure, or an
    OpenAI-compatible server with files + batches endpoints such as vLLM: ``model: openai/...``,
    ``azure/...``, ``hosted_vllm/...``) at batch prices (litellm's ``*_batches`` prices, or the
    configured ones); the batch is polled every ``batch_poll_s`` seconds and resumed, not
    resubmitted, after a restart (:mod:`orlvlmf.feedback.labeling.batch`).
    """

    model: str = "gpt-4o"
    api_base: Optional[str] = None
    api_key_env: Optional[str] = checked(None, env_var_name)  # the variable's NAME, never the key
    temperature: float = ranged(0.0, ge=0, le=2)
    max_tokens: int = ranged(600, ge=1)
    input_usd_per_mtok: Optional[float] = ranged(None, ge=0)
    output_usd_per_mtok: Optional[float] = ranged(None, ge=0)
    batch: bool = False
    batch_poll_s: float = ranged(30.0, gt=0)
    batch_window: str = "24h"  # the provider's completion window


@dataclass
class SimulatedVLMConfig(ChatConfig):
    """A VLM simulated from ground-truth reward: the noise real VLMs show, seeded (no network).

    A chat backend like ``litellm`` (the same dialogue, store, budget and two-stage bookkeeping;
    its calls cost nothing), answering from the GT reward as follows.

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
    the two orders (A, B) and (B, A) are two queries with independent draws -- which flatters
    asking both orders: a real VLM's hard pairs tend to be hard in both orders.
    ``order_correlation`` is the share of pairs whose two orders share every draw (the same
    abstention, the same unsure guess of a *position*, the same flip): 1.0 is the pessimistic case
    where asking both orders can only turn errors into ties, never catch a flip.
    """

    tie_threshold: float = ranged(0.0, ge=0)
    proximity_scale: float = ranged(0.1, gt=0)
    abstain_p: float = ranged(0.0, ge=0, le=1)
    unsure_p: float = ranged(0.0, ge=0, le=1)
    position_bias: float = ranged(0.5, ge=0, le=1)
    flip_p: float = ranged(0.0, ge=0, le=1)
    error_p: float = ranged(0.0, ge=0, le=1)
    order_correlation: float = ranged(0.0, ge=0, le=1)
    seed: int = ranged(0, ge=0)
