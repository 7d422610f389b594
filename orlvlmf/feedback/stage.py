"""The ``label`` stage: sample pairs, ask the feedback backend, write ``pairs.npz``.

Artifacts
    ``pairs.npz``: ``idx0, idx1`` (transition indices; the frames shown were their **next
    observations** o'_i, which the reward model scores by default), ``label`` (0: first
    better, 1: second better, -1: unsure; reward training drops -1), ``observation`` ("next")
    and ``image_key``.  Failed queries are left out.
    ``labels.sqlite``: a snapshot of the store rows of this run's queries (and its sessions).

The durable store is ``labels.shared_path`` when set, else ``<run_dir>/.cache/label_store.sqlite``:
it survives an interrupted stage *and* config changes (a raised budget, another concurrency),
so no paid answer is ever asked twice.  With ground truth in the dataset the stage audits the
labels against the noiseless scripted teacher and logs it to TensorBoard (``tb/label``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import register

DEFAULT_STORE = Path(".cache") / "label_store.sqlite"


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


@register("stages", "label")
class LabelStage(Stage):
    sections = ("pairs", "feedback", "task", "labels")
    inputs = ("collect/dataset.h5",)
    outputs = ("labels.sqlite", "pairs.npz")
    description = "ask the feedback backend which of two frames better achieves the task"

    def run(self, ctx: StageContext) -> dict:
        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.feedback.backends import make_backend
        from orlvlmf.feedback.backends.base import LabelingAborted, PairSource
        from orlvlmf.feedback.labeling import label_pairs
        from orlvlmf.feedback.sampling import PairSamplingError, sample_pairs
        from orlvlmf.feedback.store import LabelStore, StoreError
        from orlvlmf.pipeline.manifest import write_npz

        cfg = ctx.cfg
        pc = cfg.pairs
        backend = make_backend(OmegaConf.to_container(cfg.feedback, resolve=True))
        ds = OfflineDataset.open(ctx.input("collect/dataset.h5"))
        try:
            task = task_text(cfg, ds)
            try:
                pairs = sample_pairs(ds, pc.num_queries, pc.min_gap, pc.seed, pc.image_key,
                                     pc.skip_identical)
            except PairSamplingError as err:
                raise StageError(str(err)) from None
            # only a GT teacher may read ground truth; VLM backends get the hidden view
            view = ds if backend.needs_ground_truth else ds.without_ground_truth()
            source = PairSource(view, pc.image_key, task)
            path = store_path(cfg, ctx.run_dir)
            try:
                with LabelStore(path) as store:
                    try:
                        res = label_pairs(pairs, source, backend, store, log=ctx.log)
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
                    f"queries answered, kept in {path}. Raise feedback.max_queries / "
                    f"feedback.max_cost_usd ({scope}), or lower pairs.num_queries, and run the "
                    f"label stage again: stored answers are never asked twice")
            if n_ans == 0:
                raise StageError(f"no query was answered ({st.failed} failed; see the 'error' column "
                                 f"of {path}). Check the backend settings (feedback.*)")
            m = res.answered
            write_npz(ctx.output("pairs.npz"), {
                "idx0": res.idx0[m].astype(np.int64), "idx1": res.idx1[m].astype(np.int64),
                "label": res.label[m].astype(np.int64), "observation": np.asarray("next"),
                "image_key": np.asarray(pc.image_key)})
            labels = res.label[m]
            summary = {"queries": len(m), "answered": n_ans, "cached": res.cached,
                       "minus1_rate": round(float(np.mean(labels == -1)), 4), "failed": st.failed,
                       "retries": st.retries, "cost_usd": round(st.cost_usd, 6),
                       "queries_per_s": round(st.answered / st.seconds, 3) if st.seconds > 0 else None}
            if st.failed:
                ctx.log(f"{st.failed} queries failed after retries and are left out; rerun the "
                        f"stage with --force to ask them again (answered ones are reused)")
            from orlvlmf.feedback.audit import audit_pairs, format_audit, log_audit

            audit = None
            if ds.has_ground_truth:  # agreement with the noiseless scripted teacher
                tie = float(cfg.feedback.get("tie_threshold", 0.0) or 0.0)
                audit = audit_pairs(res.idx0[m], res.idx1[m], labels, ds.ground_truth().reward, tie)
                ctx.log(format_audit(audit))
                summary["gt_agreement"] = (None if audit["overall"]["agreement"] is None
                                           else round(audit["overall"]["agreement"], 4))
            log_audit(audit, Path(ctx.run_dir) / "tb" / "label", extra=summary)
            return summary
        finally:
            ds.close()
