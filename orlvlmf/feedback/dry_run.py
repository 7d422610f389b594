"""``orlvlmf label --dry-run``: what the label stage would ask and pay, with nothing sent.

Counts the pairs and queries the stage would ask (the same sampler, ``pairs.num_queries`` paid
queries, two per pair with ``feedback.both_orders``), the answers already in the store (free) and
the analyses already stored (only the label call is due), then estimates tokens and price with
:func:`orlvlmf.feedback.cost.estimate_cost`: the prices the backend states (``prices(batch)``:
litellm's table, its batch prices with ``feedback.batch``, or the configured ones), unknown
prices said to be unknown.  With an active ``pairs.strategy`` only round 0's pairs are known
before labeling; the later rounds' queries are counted as not yet answered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from orlvlmf.feedback.cost import LABEL_TOKENS, Prices, estimate_cost
from orlvlmf.pipeline.stage import StageError


def stored_rows(store_path: Path, keys: list[str]) -> dict[str, dict]:
    """The store's rows of ``keys`` (none when the store does not exist yet); read only."""
    from orlvlmf.feedback.store import LabelStore

    if not Path(store_path).is_file():
        return {}
    with LabelStore(store_path, readonly=True) as store:
        return store.lookup(keys)


def observed_output(rows: list[dict], two_stage: bool) -> dict | None:
    """Mean completion tokens of stored answers made without retries (None: no such answer).

    Two-stage answers store the sum of both calls: the analysis is that sum less a label line."""
    calls = 2 if two_stage else 1
    done = [r["completion_tokens"] for r in rows if r["status"] == "answered" and r["calls"] == calls
            and r["completion_tokens"]]
    if not done:
        return None
    mean = float(np.mean(done))
    return {"analysis": max(1.0, mean - LABEL_TOKENS), "label": LABEL_TOKENS} if two_stage else {"single": mean}


def dry_run(cfg, run_dir: Path) -> str:
    """The dry run's report for the label stage of ``cfg`` (see the module docstring)."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends.base import PairSource, is_chat_backend
    from orlvlmf.feedback.labeling import order_queries, query_key
    from orlvlmf.feedback.sampling import PairSamplingError, sample_pairs
    from orlvlmf.feedback.stage import label_settings, store_path, task_text

    settings = label_settings(cfg)
    pc, backend, both = settings.pairs, settings.backend, settings.both_orders
    n_pairs, n_initial = settings.num_pairs, settings.initial_pairs
    name = settings.feedback.get("name")
    if not is_chat_backend(backend):
        return (f"dry run: the {name} teacher answers {n_pairs * (2 if both else 1)} queries "
                f"({n_pairs} pairs) from the dataset at no cost; nothing is sent")
    ds_path = Path(run_dir) / "dataset.h5"
    if not ds_path.is_file():
        raise StageError(f"no dataset at {ds_path} to count pairs on: run `orlvlmf collect` with this "
                         f"config first (it imports or collects the data; nothing is paid)")
    c = backend.cfg
    with OfflineDataset.open(ds_path) as ds:
        task = task_text(cfg, ds)
        known = n_pairs if pc.strategy == "uniform" else min(n_initial, n_pairs)
        try:
            pairs = sample_pairs(ds, known, pc.min_gap, pc.seed, pc.image_key, pc.skip_identical)
        except PairSamplingError as err:
            raise StageError(str(err)) from None
        queries = order_queries(pairs, PairSource(ds, pc.image_key, task), both)
        frame_hw = tuple(ds.observation_shape(pc.image_key)[:2])
    identity = backend.identity()
    keys = [query_key(pk, identity, task) for pk in queries.pair_keys]
    rows = stored_rows(store_path(cfg, run_dir), keys)
    answered = sum(r["status"] == "answered" for r in rows.values())
    stage1 = sum(r["status"] == "stage1" for r in rows.values())
    batch = bool(getattr(c, "batch", False))
    stated = getattr(backend, "prices", None)
    prices = stated(batch) if stated else Prices(None, None, f"unknown: the {name} backend states no prices")
    same_model = stored_model_rows(store_path(cfg, run_dir), identity.get("backend"), backend.model)
    est = estimate_cost(backend.model, pairs=n_pairs, task=task, frame_hw=frame_hw,
                        image_size=c.image_size, prompt_version=c.prompt_version, two_stage=c.two_stage,
                        both_orders=both, answered=answered, stage1_stored=stage1,
                        max_tokens=int(getattr(c, "max_tokens", 600)), prices=prices,
                        observed_output=observed_output(same_model, c.two_stage))
    if batch:
        est.notes.append("through the provider's batch API (feedback.batch): batch prices")
    if pc.strategy != "uniform":
        est.notes.append(f"pairs.strategy={pc.strategy}: only round 0's {known} pairs are known before "
                         f"labeling; the later rounds' queries are counted as not yet answered")
    return est.format()


def stored_model_rows(store_path: Path, backend: str | None, model: str) -> list[dict]:
    """Rows the same backend and model answered before (for observed output lengths)."""
    from orlvlmf.feedback.store import LabelStore

    if not Path(store_path).is_file():
        return []
    with LabelStore(store_path, readonly=True) as store:
        return store.rows("backend=? AND model=? AND status='answered'", (backend, model))
