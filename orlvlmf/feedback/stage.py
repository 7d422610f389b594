"""The ``label`` stage: sample pairs, ask the feedback backend, write ``pairs.npz``.

Artifacts
    ``pairs.npz``: ``idx0, idx1`` (transition indices; the frames shown were their **next
    observations** o'_i, which the reward model scores by default), ``label`` (0: first
    better, 1: second better, -1: unsure or, with both orders, a tie; reward training drops -1
    or trains it as 0.5), ``round`` (the active-selection round that chose each pair; 0 for
    uniform pairs), ``observation`` ("next") and ``image_key``.  Failed queries are left out.
    ``labels.sqlite``: a snapshot of the store rows of this run's queries (and its sessions).

Which pairs: ``pairs.strategy`` ``uniform`` asks the sampler's first pairs; ``disagreement`` asks
in rounds where the reward ensemble disagrees most, ``bald`` in rounds where a label would tell most
about which member is right (:mod:`orlvlmf.feedback.active`; its round
log lives in the stage's work dir, so a killed run resumes its rounds).  ``pairs.num_queries``
counts paid queries: with ``feedback.both_orders`` each pair is two.

The summary (and TensorBoard ``tb/label``) reports label quality without ground truth -- the -1
rate and, with both orders, the order-consistency rate, the position bias (share of decided
answers naming Image 1) and the ties made of contradicting answers -- and with ground truth the
agreement of the labels with the noiseless scripted teacher (with both orders also that of the
(A, B) answers alone: one-order vs both-order accuracy on the same pairs).

The durable store is ``labels.shared_path`` when set, else ``<run_dir>/.cache/label_store.sqlite``:
it survives an interrupted stage *and* config changes (a raised budget, another concurrency),
so no paid answer is ever asked twice.  With ground truth in the dataset the stage audits the
labels against the noiseless scripted teacher and logs it to TensorBoard (``tb/label``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from orlvlmf.feedback.config import PairsConfig
from orlvlmf.feedback.sampling import ROUND_SCORES

from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import register

DEFAULT_STORE = Path(".cache") / "label_store.sqlite"
STRATEGIES = ("uniform", *ROUND_SCORES)  # all but uniform label in rounds (feedback.active)
ROUND_LOG = "rounds.json"


def store_path(cfg, run_dir: Path) -> Path:
    shared = cfg.labels.shared_path
    return Path(shared).expanduser() if shared else Path(run_dir) / DEFAULT_STORE


def task_text(cfg, dataset) -> str:
    """The goal sentence: ``cfg.task`` if set, else the dataset's (``task_text`` / ``task``)."""
    meta = dataset.metadata
    task = cfg.task or meta.get("task_text") or meta.get("task")
    if not task or not str(task).strip():
        several = meta.get("tasks") or []
        if len(several) > 1:
            shown = "; ".join(f"'{t}'" for t in several[:5]) + (" ..." if len(several) > 5 else "")
            raise StageError(f"the dataset {dataset.path} holds {len(several)} task sentences ({shown}): "
                             f"set task: \"<goal sentence>\" in the run config to say which one the "
                             f"labeler judges")
        raise StageError(f"no task text for the labeler: the dataset {dataset.path} has no "
                         f"'task_text' in its metadata; set task: \"<goal sentence>\" in the run config")
    return str(task).strip()


def pair_counts(pc, both_orders: bool) -> tuple[int, int, int]:
    """(pairs, pairs in round 0, pairs per later round) for ``pairs.*_queries`` paid queries."""
    per = 2 if both_orders else 1
    names = ("num_queries", "initial_queries", "round_queries") if pc.strategy != "uniform" \
        else ("num_queries",)
    for name in names:  # each >= 1: PairsConfig's declared ranges (checked by build / the loader)
        v = int(getattr(pc, name))
        if v % per:
            raise StageError(f"pairs.{name}={v} is odd, but feedback.both_orders asks every pair twice: "
                             f"use an even number of queries ({v - 1} or {v + 1})")
    return (int(pc.num_queries) // per, int(pc.initial_queries) // per, int(pc.round_queries) // per)


def check_pairs_config(pc) -> None:
    """One clear error for a bad ``pairs`` section, before any work."""
    if pc.strategy not in STRATEGIES:
        raise StageError(f"pairs.strategy must be one of {', '.join(STRATEGIES)}, got '{pc.strategy}'")
    # the numbers' ranges (round_ensemble >= 2: the members' disagreement scores the candidates)
    # are PairsConfig's, checked when the node is built


@dataclass
class LabelSettings:
    """What the ``pairs`` and ``feedback`` sections ask of the label stage, checked."""

    pairs: PairsConfig
    feedback: dict  # the feedback node as a plain dict
    backend: Any
    both_orders: bool
    num_pairs: int
    initial_pairs: int  # disagreement: round 0
    round_pairs: int  # disagreement: each later round


def label_settings(cfg) -> LabelSettings:
    """The label stage's settings from a run config; one clear error for a bad one, before any work."""
    from orlvlmf.config import build
    from orlvlmf.feedback.backends import make_backend

    pc = build(PairsConfig, cfg.pairs, "pairs", error=StageError)
    check_pairs_config(pc)
    options = OmegaConf.to_container(cfg.feedback, resolve=True)
    backend = make_backend(options)
    both = bool(options.get("both_orders", False))
    return LabelSettings(pc, options, backend, both, *pair_counts(pc, both))


def label_summary(res, stats) -> dict:
    """The stage's one-line summary: counts, cost, and label quality without ground truth."""
    from orlvlmf.feedback.orders import order_stats

    m = res.answered
    labels = res.label[m]
    out = {"queries": len(set(res.query_keys)),
           "answered": int(m.sum()) * (2 if res.both_orders else 1),  # queries of the labeled pairs
           "pairs": int(m.sum()), "cached": res.cached,
           "minus1_rate": round(float(np.mean(labels == -1)), 4) if len(labels) else None,
           "failed": stats.failed, "retries": stats.retries, "cost_usd": round(stats.cost_usd, 6),
           "queries_per_s": round(stats.answered / stats.seconds, 3) if stats.seconds > 0 else None}
    if res.both_orders:
        o = order_stats(res.answers[m, 0], res.answers[m, 1])
        out |= {"ties": int(np.sum(labels == -1)), "order_agree": o["agree"],
                "order_contradict": o["contradict"], "order_one_abstain": o["one_abstain"],
                "order_both_abstain": o["both_abstain"]}
        for key, name in (("consistency_rate", "order_consistency"), ("first_image_rate", "first_image_rate"),
                          ("minus1_rate", "answer_minus1_rate")):
            out[name] = None if o[key] is None else round(o[key], 4)
    return out


def rounds_reward_keys(cfg) -> list[str] | None:
    """The ``reward`` keys the disagreement rounds depend on: all but those the registered reward
    stage's brief fit sets itself (``brief_fit_sets``); None without a ``reward`` section."""
    from orlvlmf.registry import REGISTRY

    reward = OmegaConf.select(cfg, "reward", default=None)
    if not isinstance(reward, DictConfig):
        return None
    sets = getattr(REGISTRY.get("stages", "reward"), "brief_fit_sets", ())
    return [k for k in reward if k not in sets]


@register("stages", "label")
class LabelStage(Stage):
    sections = ("pairs", "feedback", "task", "labels")
    inputs = ("collect/dataset.h5",)
    outputs = ("labels.sqlite", "pairs.npz")
    description = "ask the feedback backend which of two frames better achieves the task"
    resume_note = "answers already in the label store are reused"

    def config_sections(self, cfg) -> tuple[str, ...]:
        # the rounds of an active strategy depend on the reward model that scores them
        if OmegaConf.select(cfg, "pairs.strategy", default="uniform") == "uniform":
            return self.sections
        keys = rounds_reward_keys(cfg)
        return self.sections + (("reward",) if keys is None else tuple(f"reward.{k}" for k in keys))

    def run(self, ctx: StageContext) -> dict:
        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.feedback.backends.base import LabelingAborted, PairSource
        from orlvlmf.feedback.labeling import label_pairs
        from orlvlmf.feedback.sampling import PairSamplingError, sample_pairs
        from orlvlmf.feedback.store import LabelStore, StoreError
        from orlvlmf.pipeline.manifest import write_npz

        cfg = ctx.cfg
        settings = label_settings(cfg)
        pc, backend, both = settings.pairs, settings.backend, settings.both_orders
        ds = OfflineDataset.open(ctx.input("collect/dataset.h5"))
        try:
            task = task_text(cfg, ds)
            # only a GT teacher may read ground truth; VLM backends get the hidden view
            view = ds if backend.needs_ground_truth else ds.without_ground_truth()
            source = PairSource(view, pc.image_key, task)
            path = store_path(cfg, ctx.run_dir)
            try:
                with LabelStore(path) as store:
                    try:
                        if pc.strategy == "uniform":
                            pairs = sample_pairs(ds, settings.num_pairs, pc.min_gap, pc.seed, pc.image_key,
                                                 pc.skip_identical)
                            res = label_pairs(pairs, source, backend, store, log=ctx.log, both_orders=both)
                            rounds = np.zeros(len(res.idx0), np.int64)
                        else:
                            res, rounds = self._label_in_rounds(ctx, settings, ds, source, store)
                    except PairSamplingError as err:
                        raise StageError(str(err)) from None
                    except LabelingAborted as err:
                        raise StageError(f"labeling aborted: {err}") from None
                    sessions = {res.session_id} | {r["session_id"] for r in store.lookup(res.query_keys).values()}
                    store.snapshot(ctx.output("labels.sqlite"), keys=res.query_keys,
                                   session_ids=sessions - {None})
            except StoreError as err:
                raise StageError(str(err)) from None
            st = res.stats
            n_ans = int(res.answered.sum())
            if st.stop_reason.startswith(("budget", "aborted")):
                scope = ("the caps count all this store has spent" if
                         cfg.feedback.get("budget_scope", "store") == "store" else
                         "the caps count this invocation only (feedback.budget_scope: invocation)")
                raise StageError(
                    f"labeling stopped early ({st.stop_reason}): {n_ans} of {len(res.answered)} "
                    f"pairs answered, kept in {path}. Raise feedback.max_queries / "
                    f"feedback.max_cost_usd ({scope}), or lower pairs.num_queries, and run the "
                    f"label stage again: stored answers are never asked twice")
            if n_ans == 0:
                raise StageError(f"no query was answered ({st.failed} failed; see the 'error' column "
                                 f"of {path}). Check the backend settings (feedback.*)")
            m = res.answered
            write_npz(ctx.output("pairs.npz"), {
                "idx0": res.idx0[m].astype(np.int64), "idx1": res.idx1[m].astype(np.int64),
                "label": res.label[m].astype(np.int64), "round": rounds[m].astype(np.int64),
                "observation": np.asarray("next"), "image_key": np.asarray(pc.image_key)})
            summary = label_summary(res, st)
            if both:
                ctx.log(f"both orders: {summary['order_agree']} pairs agree, {summary['ties']} ties "
                        f"({summary['order_contradict']} contradictions, {summary['order_one_abstain']} "
                        f"one -1, {summary['order_both_abstain']} both -1); order consistency "
                        f"{summary['order_consistency']}, first-image rate {summary['first_image_rate']}")
            if st.failed:
                ctx.log(f"{st.failed} queries failed after retries and are left out; rerun the "
                        f"stage with --force to ask them again (answered ones are reused)")
            from orlvlmf.feedback.audit import audit_pairs, format_audit

            audit = None
            tie = float(cfg.feedback.get("tie_threshold", 0.0) or 0.0)
            if ds.has_ground_truth:  # agreement with the noiseless scripted teacher
                gt = ds.ground_truth().reward
                audit = audit_pairs(res.idx0[m], res.idx1[m], res.label[m], gt, tie)
                ctx.log(format_audit(audit))
                summary["gt_agreement"] = _rounded(audit["overall"]["agreement"])
                if both:
                    one = audit_pairs(res.idx0[m], res.idx1[m], res.answers[m, 0], gt, tie)
                    summary["gt_agreement_one_order"] = _rounded(one["overall"]["agreement"])
                    ctx.log(f"agreement with noiseless GT labels: one order (A, B) "
                            f"{summary['gt_agreement_one_order']}, both orders {summary['gt_agreement']}")
            first = res.query_keys[::2] if res.both_orders else res.query_keys  # (A, B) asked first
            keys = [k for k, ok in zip(first, m) if ok]
            log_labels(ctx, ds, res.idx0[m], res.idx1[m], res.label[m], keys, audit, summary, pc.image_key, tie)
            return summary
        finally:
            ds.close()

    def _label_in_rounds(self, ctx, settings: LabelSettings, ds, source, store):
        """``pairs.strategy: disagreement`` or ``bald``: rounds scored by a brief reward fit (the
        reward stage's, found through the registry: feedback sits below reward)."""
        import shutil

        from orlvlmf.feedback.active import RoundPlan, label_in_rounds
        from orlvlmf.pipeline.manifest import canonical_hash
        from orlvlmf.registry import REGISTRY

        cfg, pc, backend, both = ctx.cfg, settings.pairs, settings.backend, settings.both_orders
        reward_cfg = OmegaConf.to_container(cfg.reward, resolve=True)
        trainer = OmegaConf.to_container(cfg.trainer, resolve=True) if "trainer" in cfg else {}
        scorer = getattr(REGISTRY.get("stages", "reward"), "score_pool", None)
        if scorer is None:
            raise StageError(f"pairs.strategy={pc.strategy} needs a reward stage that scores candidate "
                             "pairs (score_pool); the registered 'reward' stage has none")
        plan = RoundPlan(num_pairs=settings.num_pairs, initial=settings.initial_pairs,
                         batch=settings.round_pairs, pool=int(pc.pool_size),
                         seed=int(pc.seed), min_gap=int(pc.min_gap), image_key=pc.image_key,
                         skip_identical=bool(pc.skip_identical), explore=float(pc.explore_fraction),
                         strategy=pc.strategy,
                         extra={"both_orders": both, "backend": canonical_hash(backend.identity()),
                                "task": source.task,
                                "reward": canonical_hash({k: reward_cfg[k] for k in rounds_reward_keys(cfg)}),
                                "epochs": int(pc.round_epochs), "ensemble": int(pc.round_ensemble)})
        view = ds.without_ground_truth()
        ctx.set_torch_threads()

        def score(idx0, idx1, label, pool, k):
            fit_dir = Path(ctx.work_dir) / f"fit_round{k}"  # a killed fit resumes from here
            try:
                scores = scorer(view, idx0, idx1, label, pool, reward_cfg, trainer, fit_dir,
                                seed=int(pc.seed) + int(reward_cfg.get("seed", 0)) + k,
                                epochs=int(pc.round_epochs), ensemble=int(pc.round_ensemble))
            except ValueError as err:  # e.g. every label so far a tie with reward.ties=drop
                raise StageError(f"round {k} of active labeling: {err}") from None
            shutil.rmtree(fit_dir, ignore_errors=True)
            return scores

        return label_in_rounds(ds, source, backend, store, plan, Path(ctx.work_dir) / ROUND_LOG, score,
                               both_orders=both, log=ctx.log)


def _rounded(v):
    return None if v is None else round(v, 4)

def log_labels(ctx: StageContext, ds, idx0: np.ndarray, idx1: np.ndarray, labels: np.ndarray,
               keys: list[str], audit: dict | None, summary: dict, image_key: str, tie: float,
               shown: int = 8) -> None:
    """``tb/label``: label statistics against the number of labels so far (step = labels), the
    GT audit at the final count, and a grid of ``shown`` labeled pairs with the VLM's reason."""
    from orlvlmf.feedback.audit import log_audit
    from orlvlmf.feedback.gallery import LABEL_TEXT
    from orlvlmf.feedback.prompts import reason_line
    from orlvlmf.feedback.store import LabelStore
    from orlvlmf.pipeline import tensorboard as tb

    n = len(labels)
    ref = None
    if ds.has_ground_truth:
        from orlvlmf.feedback.backends.scripted import gt_labels

        r = ds.ground_truth().reward
        ref = gt_labels(r[idx0], r[idx1], tie)
    writer = tb.stage_writer(ctx.run_dir, "label")
    try:
        every = max(1, n // 50)
        for k in sorted(set(range(every, n + 1, every)) | {n}):
            lab = labels[:k]
            stats = {"minus1_rate": float(np.mean(lab == -1)), "image2_better_rate": float(np.mean(lab == 1))}
            if ref is not None:
                decided = (lab != -1) & (ref[:k] != -1)
                if decided.any():
                    stats["gt_agreement"] = float(np.mean(lab[decided] == ref[:k][decided]))
            tb.add_scalars(writer, "labels", stats, k)
        log_audit(audit, writer, n, extra=summary)
        if n == 0 or image_key not in ds.observation_keys or len(ds.observation_shape(image_key)) != 3:
            return  # the grid shows images (a teacher may compare states)
        chosen = np.sort(np.random.default_rng(0).choice(n, min(shown, n), replace=False))
        with LabelStore(ctx.output("labels.sqlite"), readonly=True) as store:
            rows = store.lookup([keys[i] for i in chosen])
        frames = ds.next_observations(image_key, np.stack([idx0[chosen], idx1[chosen]], 1))
        cards = []
        for f, i in zip(frames, chosen):
            text = LABEL_TEXT.get(int(labels[i]), str(labels[i]))
            if ref is not None:
                text += f"; GT: {LABEL_TEXT[int(ref[i])]}"
            reason = reason_line((rows.get(keys[i]) or {}).get("stage1_text"))
            cards.append((f[0], f[1], text + (f". Reason: {reason}" if reason else "")))
        writer.add_figure("labels/pairs", tb.pair_grid(cards, f"{len(cards)} of {n} labeled pairs"), n)
    finally:
        writer.close()
