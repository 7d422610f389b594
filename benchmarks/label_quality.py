"""Label quality per paid query: active selection and both image orders (issue 13 §5).

On drawer-open random data (the quickstart's ``configs/drawer.yaml``, ``--episodes`` episodes,
collected once under ``--work``; a held-out dataset of ``--heldout-episodes`` episodes collected
with another seed):

1. ``active_query_ratio``: paid queries needed to reach preference accuracy ``--target`` (0.9) on
   pairs no labeling asked, with the noiseless scripted teacher, ``pairs.strategy: disagreement`` /
   ``uniform`` (goal <= 0.6).  Each strategy labels ``max(--budgets)`` queries once through the label
   stage; a reward model (the config's ``reward`` section) is fitted on the first ``b`` labels for
   each budget ``b`` (both strategies are prefix-stable: the first ``b`` labels are what a run with
   ``num_queries = b`` asks) and scores every transition of both datasets (kept per fit, so new test
   pairs need no refit).  Two test sets of ``--heldout-pairs`` uniform pairs whose true rewards
   differ: ``heldout`` from the held-out episodes (``active_query_ratio``) and ``dataset`` from the
   training data itself, the transitions the reward relabels (``active_query_ratio_dataset``); with
   the default 20 held-out episodes of random data, none opens the drawer, so only the dataset set
   holds pairs with an opened drawer.  ``train_spearman_<strategy>``: Spearman of the fitted reward
   with the true reward over every fifth training transition; ``<test>_accuracy_<strategy>_by_gap``:
   accuracy per bin of the true gap (``gap_bin_edges``), per budget; ``asked_near_tie_share_<strategy>``
   / ``asked_top10_share_<strategy>``: where the labeling spent its queries, by group of rounds.
   The queries to the target are interpolated linearly between budgets; null when a strategy does
   not reach it.  Each seed labels
   its own pairs (``pairs.seed``) and fits with its own seed; the curves are means over seeds.
   ``--explore`` f draws that share of each disagreement round at random (``pairs.explore_fraction``).
   ``--strategies uniform bald`` scores the rounds by mutual information instead
   (``pairs.strategy: bald``; keys ``active_query_ratio_bald*``).
   Every accuracy is also reported on the pairs whose true rewards differ by at least
   ``--distinct-gap`` of the reward range (``*_distinct``): on drawer-open many pairs differ only by
   a slight hand move (18% of the held-out pairs by under 1% of the range), which 64 px frames
   barely show.
2. ``both_orders_gain``: with the simulated VLM (``--position-bias`` 0.3, proximity-dependent
   unsure answers / flips / abstentions on), the ground-truth accuracy of the labels used for
   training (decided labels; ties dropped) asking both orders minus asking one order, at the same
   ``--queries`` paid queries (one order: that many pairs; both: half as many pairs).  Goal >= 0.10.
   ``both_orders_gain_correlated``: the same with ``order_correlation`` 1 (both orders share every
   draw: the pessimistic case of a VLM whose hard pairs are hard in both orders).
3. downstream (unless ``--skip-downstream``): for one-order and both-order labels, the whole
   pipeline from the labels on (reward, relabel, IQL train, evaluate) per seed:
   ``reward_spearman_{one,both}`` (Spearman of the relabeled reward with the true reward over all
   transitions, mean over seeds) and ``iql_success_{one,both}`` (evaluation success rate, mean).

    python benchmarks/label_quality.py [--work runs/label_quality] [--episodes 100] [--seeds 0 1 2]
    python benchmarks/label_quality.py --smoke      # tiny sizes: checks the script runs

Ends with one JSON line.  Run it on an idle machine (``nice`` and other jobs change nothing but
time: no figure is a timing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MUJOCO_GL", "egl")


def log(msg: str) -> None:
    print(f"[label_quality {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def base_config(args, name: str, overrides: list[str] = ()):
    from orlvlmf.config import load_config

    return load_config("drawer.yaml", [f"name={name}", f"run_dir={args.work}",
                                       f"dataset.episodes={args.episodes}",
                                       f"trainer.num_threads={args.threads}", "trainer.progress=false",
                                       *args.set, *overrides])


def collect(args, name: str, overrides: list[str]) -> Path:
    from orlvlmf.pipeline.runner import Pipeline

    cfg = base_config(args, name, overrides)
    Pipeline(cfg, echo=log).run(["collect"])
    return Path(args.work) / name / "dataset.h5"


def label(args, name: str, dataset: Path, overrides: list[str]) -> tuple[dict, dict]:
    """Run the label stage on ``dataset`` (no copy); (its summary, pairs.npz as a dict)."""
    from orlvlmf.feedback.stage import LabelStage
    from orlvlmf.pipeline.stage import StageContext

    cfg = base_config(args, name, overrides)
    run_dir = Path(args.work) / name
    staging = run_dir / ".staging" / "label"
    staging.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(cfg=cfg, run_dir=run_dir, stage="label", seed=None, staging_dir=staging,
                       work_dir=run_dir / ".work" / "label", inputs={"collect/dataset.h5": dataset})
    t0 = time.perf_counter()
    summary = LabelStage().run(ctx)
    log(f"{name}: labeled in {time.perf_counter() - t0:.0f} s: {summary}")
    with np.load(staging / "pairs.npz") as z:
        return summary, {k: z[k] for k in ("idx0", "idx1", "label", "round")}


def relative_gap(reward: np.ndarray, idx0: np.ndarray, idx1: np.ndarray) -> np.ndarray:
    """|r_0 - r_1| of each pair as a fraction of the reward range of ``reward``."""
    return np.abs(reward[idx0] - reward[idx1]) / max(float(reward.max() - reward.min()), 1e-12)


def test_pairs(dataset: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(idx0, idx1, GT label, relative reward gap) of ``n`` uniform pairs of ``dataset`` whose true
    rewards differ; the gap |r_0 - r_1| is a fraction of the dataset's reward range."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends.scripted import gt_labels
    from orlvlmf.feedback.sampling import sample_pairs

    with OfflineDataset.open(dataset) as ds:
        p = sample_pairs(ds, n, min_gap=10, seed=seed)
        r = ds.ground_truth().reward
    y = gt_labels(r[p.idx0], r[p.idx1])
    gap = relative_gap(r, p.idx0, p.idx1)
    keep = y >= 0
    return p.idx0[keep], p.idx1[keep], y[keep], gap[keep]


def fit_scores(args, train_ds: Path, pairs: dict, n: int, held: Path, seed: int, tmp: Path,
               train_index: np.ndarray) -> dict[str, np.ndarray]:
    """Reward (as the relabel stage scores it, o'_i) by a model fitted on the first ``n`` labeled
    pairs: of every held-out transition (``heldout``) and of the training transitions
    ``train_index`` (``train``; scoring all 50k costs more than a small fit)."""
    from omegaconf import OmegaConf

    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.reward.data import Pairs
    from orlvlmf.reward.inference import score_batches
    from orlvlmf.reward.relabel import relabel_dataset
    from orlvlmf.reward.train import train_reward_model

    cfg = base_config(args, "lq_fit")
    reward = OmegaConf.to_container(cfg.reward, resolve=True)
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    shutil.rmtree(tmp, ignore_errors=True)
    with OfflineDataset.open(train_ds) as ds:
        net, _ = train_reward_model(ds.without_ground_truth(),
                                    Pairs(pairs["idx0"][:n], pairs["idx1"][:n], pairs["label"][:n]),
                                    reward, trainer=trainer, work_dir=tmp, tb_dir=tmp / "tb", seed=seed)
        read = lambda a, b: ds.next_observations(reward["observation"], train_index[a:b])  # noqa: E731
        scores = {"train_index": train_index, "train": score_batches(net, read, len(train_index))[0]}
    with OfflineDataset.open(held) as hds:
        scores["heldout"] = relabel_dataset(net, hds.without_ground_truth(), reward["observation"])[0]
    shutil.rmtree(tmp, ignore_errors=True)
    return scores


def cached_scores(args, train_ds: Path, pairs: dict, n: int, held: Path, seed: int, tmp: Path,
                  train_index: np.ndarray) -> dict[str, np.ndarray]:
    """``fit_scores``, kept in ``<work>/lq_fit/scores/<hash>.npz`` under a hash of everything the fit
    depends on (the first ``n`` labels, ``--set``, threads, dataset sizes, seed): a stopped run keeps
    the fits it finished, and pairs of the held-out data can be scored later without a refit.
    ``train`` comes back as the full (N,) column, NaN where not scored."""
    import hashlib

    h = hashlib.sha256(json.dumps([args.set, args.threads, args.episodes, args.heldout_episodes, seed, n]).encode())
    for a in (pairs["idx0"][:n], pairs["idx1"][:n], pairs["label"][:n]):
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    key = h.hexdigest()[:20]
    path = Path(args.work) / "lq_fit" / "scores" / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            got = {k: z[k] for k in z.files}
        got.setdefault("train_index", np.arange(len(got["train"])))  # files that scored every transition
        if not np.isin(train_index, got["train_index"]).all():
            got = None  # scored for other test pairs: fit again
    else:
        got = None
    if got is None:  # its own scratch folder: processes sharing --work never touch each other's fit
        got = fit_scores(args, train_ds, pairs, n, held, seed, tmp.with_name(f"{tmp.name}_{key}_{os.getpid()}"),
                         train_index)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{key}.{os.getpid()}.npz")
        np.savez(part, **got)
        os.replace(part, path)  # complete or absent
    train = np.full(int(got["train_index"].max()) + 1, np.nan, np.float32)
    train[got["train_index"]] = got["train"]
    return {"train": train, "heldout": got["heldout"]}


def queries_to(target: float, budgets: list[int], acc: list[float]) -> float | None:
    """Queries at which the accuracy curve first reaches ``target`` (linear between budgets)."""
    prev_b, prev_a = 0, None
    for b, a in zip(budgets, acc):
        if a >= target:
            if prev_a is None or prev_a >= a:
                return float(b)
            return prev_b + (target - prev_a) / (a - prev_a) * (b - prev_b)
        prev_b, prev_a = b, a
    return None


def explore_tag(args) -> str:
    """Run-name tag of ``--explore`` (none at 0: the first measurements' names)."""
    return f"_x{round(args.explore * 100)}" if args.explore else ""


def _suffix(seed: int) -> str:
    return "" if seed == 0 else f"_s{seed}"  # seed 0 keeps the run names of the first measurements


#: test sets of part 1: name -> (dataset, key of fit_scores, sampling seed of the pairs)
TEST_SETS = {"heldout": ("held", "heldout", 12345),  # other episodes (--heldout-episodes)
             "dataset": ("train", "train", 54321)}   # unlabeled pairs of the data the reward relabels


#: edges of the true-gap bins (share of the reward range) of ``*_by_gap``: < 1 %, 1-5 %, 5-20 %, >= 20 %
GAP_BIN_EDGES = (0.0, 0.01, 0.05, 0.2)


def gap_bins(gap: np.ndarray) -> list[np.ndarray]:
    """Masks of the pairs in each bin of :data:`GAP_BIN_EDGES` (the last bin is open)."""
    edges = [*GAP_BIN_EDGES, np.inf]
    return [(gap >= a) & (gap < b) for a, b in zip(edges[:-1], edges[1:])]


ROUND_GROUPS = (("round0", 0, 0), ("rounds1_2", 1, 2), ("rounds3_on", 3, 10**9))


def asked_pairs(labels: dict, reward: np.ndarray) -> dict:
    """Where each labeling spent its queries, per group of rounds (mean over seeds): the share of
    pairs whose true rewards differ by < 5 % of the range (near-ties), and of pairs holding a frame
    in the top 10 % of the true rewards.  Keys ``asked_<near_tie|top10>_share_<strategy>``."""
    top = float(np.quantile(reward, 0.9))
    shares: dict[str, dict[str, list[float]]] = {}
    for (strategy, _), p in labels.items():
        gap = relative_gap(reward, p["idx0"], p["idx1"])
        high = (reward[p["idx0"]] >= top) | (reward[p["idx1"]] >= top)
        for group, lo, hi in ROUND_GROUPS:
            m = (p["round"] >= lo) & (p["round"] <= hi)
            if m.any():
                for kind, x in (("near_tie", gap < 0.05), ("top10", high)):
                    shares.setdefault(f"asked_{kind}_share_{strategy}", {}).setdefault(group, []).append(
                        float(x[m].mean()))
    return {k: {g: round(float(np.mean(v)), 4) for g, v in d.items()} for k, d in shares.items()}


def part_active(args, train_ds: Path, held: Path) -> dict:
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.reward.train import correlations

    budgets = sorted(args.budgets)
    files = {"held": held, "train": train_ds}
    tests = {name: test_pairs(files[ds], args.heldout_pairs, seed) for name, (ds, _, seed) in TEST_SETS.items()}
    for name, test in tests.items():
        log(f"{name} test pairs: {len(test[0])} with a true preference, {int((test[3] >= args.distinct_gap).sum())} "
            f"of them differing by >= {args.distinct_gap:g} of the reward range")
    with OfflineDataset.open(train_ds) as ds:
        train_reward = ds.ground_truth().reward
    # training transitions to score: the dataset test pairs' frames and every 5th one (Spearman)
    spearman_index = np.arange(0, len(train_reward), 5)
    train_index = np.unique(np.concatenate([spearman_index, *tests["dataset"][:2]]))
    common = ["feedback.name=scripted", f"pairs.num_queries={budgets[-1]}"]
    rounds = [f"pairs.initial_queries={args.initial}", f"pairs.round_queries={args.round}",
              f"pairs.pool_size={args.pool}", f"pairs.round_epochs={args.round_epochs}",
              f"pairs.round_ensemble={args.round_ensemble}", f"pairs.explore_fraction={args.explore}"]
    strategies = {  # strategy: (run name, its overrides)
        "uniform": ("lq_uniform", ["pairs.strategy=uniform"]),
        "disagreement": (f"lq_active{explore_tag(args)}", ["pairs.strategy=disagreement", *rounds]),
        "bald": (f"lq_bald{explore_tag(args)}", ["pairs.strategy=bald", *rounds])}
    strategies = {k: v for k, v in strategies.items() if k in args.strategies}
    labels = {(strategy, seed): label(args, f"{name}{_suffix(seed)}", train_ds,
                                      common + over + [f"pairs.seed={seed}"])[1]
              for seed in args.seeds for strategy, (name, over) in strategies.items()}
    test_keys = {(a, b) for a, b in zip(*tests["dataset"][:2])} | {(b, a) for a, b in zip(*tests["dataset"][:2])}
    overlap = sum((a, b) in test_keys for p in labels.values() for a, b in zip(p["idx0"].tolist(), p["idx1"].tolist()))
    log(f"dataset test pairs asked by any labeling: {overlap}")
    asked = asked_pairs(labels, train_reward)
    # per_seed[curve][budget][seed]; curve = "<test>_<strategy>[_distinct]" or "spearman_<strategy>"
    per_seed: dict[str, list[list[float]]] = {}
    by_gap: dict[str, list[list[float | None]]] = {}  # key: [budget][gap bin]
    for b in budgets:
        for strategy in strategies:
            scores = [cached_scores(args, train_ds, labels[strategy, seed], b, held, seed,
                                    Path(args.work) / "lq_fit" / strategy, train_index) for seed in args.seeds]
            for name, (_, key, _) in TEST_SETS.items():
                idx0, idx1, y, gap = tests[name]
                right = [(s[key][idx1] > s[key][idx0]).astype(int) == y for s in scores]
                for part, mask in (("", slice(None)), ("_distinct", gap >= args.distinct_gap)):
                    per_seed.setdefault(f"{name}_{strategy}{part}", []).append([float(np.mean(r[mask])) for r in right])
                by_gap.setdefault(f"{name}_accuracy_{strategy}_by_gap", []).append(  # mean over seeds, per bin
                    [round(float(np.mean([r[m].mean() for r in right])), 4) if m.any() else None
                     for m in gap_bins(gap)])
            per_seed.setdefault(f"spearman_{strategy}", []).append(
                [correlations(s["train"][spearman_index], train_reward[spearman_index])["spearman"] for s in scores])
            log(f"{strategy}: {b} queries -> " + ", ".join(
                f"{curve.replace(f'_{strategy}', '')} {np.mean(per_seed[curve][-1]):.4f} "
                f"{np.round(per_seed[curve][-1], 4).tolist()}" for curve in per_seed if strategy in curve))
    curves = {key: [float(np.mean(accs)) for accs in rows] for key, rows in per_seed.items()}  # mean over seeds
    out = {"target_accuracy": args.target, "budgets": budgets, "distinct_gap": args.distinct_gap,
           "goal_active_query_ratio": 0.6, "explore_fraction": args.explore, "dataset_test_pairs_asked": overlap}
    for name, (idx0, _, _, gap) in tests.items():
        out[f"{name}_pairs"] = int(len(idx0))
        out[f"{name}_pairs_distinct"] = int((gap >= args.distinct_gap).sum())
        out[f"{name}_pairs_by_gap"] = [int(m.sum()) for m in gap_bins(gap)]
    out |= {"gap_bin_edges": list(GAP_BIN_EDGES), **by_gap, **asked}
    active = [s for s in strategies if s != "uniform"]
    if active:
        out["rounds"] = int(labels[active[0], args.seeds[0]]["round"].max()) + 1
    for curve in per_seed:  # heldout_uniform -> heldout_accuracy_uniform; spearman_uniform -> train_spearman_uniform
        name = f"train_{curve}" if curve.startswith("spearman_") else curve.replace("_", "_accuracy_", 1)
        out[name] = [round(a, 4) for a in curves[curve]]
        out[f"{name}_per_seed"] = np.round(per_seed[curve], 4).tolist()
    if "uniform" not in strategies:
        return out
    for strategy in active:  # active_query_ratio: disagreement, held-out episodes, all pairs
        for name in TEST_SETS:
            for part in ("", "_distinct"):
                q_uni = queries_to(args.target, budgets, curves[f"{name}_uniform{part}"])
                q_act = queries_to(args.target, budgets, curves[f"{name}_{strategy}{part}"])
                ratio = None if q_uni is None or q_act is None else round(q_act / q_uni, 4)
                tag = ("" if name == "heldout" else f"_{name}") + part
                if ratio is None:
                    log(f"{name}{part}: uniform or {strategy} did not reach accuracy {args.target} within "
                        f"{budgets[-1]} queries: raise --budgets or lower --target")
                named = "" if strategy == "disagreement" else f"_{strategy}"
                out |= {f"active_query_ratio{named}{tag}": ratio, f"queries_to_target_uniform{tag}": q_uni,
                        f"queries_to_target_{strategy}{tag}": q_act}
    return out


def simulated(args, correlation: float = 0.0) -> list[str]:
    return ["feedback.name=simulated_vlm", f"feedback.position_bias={args.position_bias}",
            f"feedback.unsure_p={args.unsure_p}", f"feedback.flip_p={args.flip_p}",
            f"feedback.abstain_p={args.abstain_p}", f"feedback.proximity_scale={args.proximity_scale}",
            f"feedback.order_correlation={correlation}", "feedback.concurrency=16",
            f"pairs.num_queries={args.queries}"]


def part_orders(args, train_ds: Path) -> dict:
    out = {}
    variants = {"one": simulated(args), "both": simulated(args) + ["feedback.both_orders=true"],
                "both_correlated": simulated(args, 1.0) + ["feedback.both_orders=true"],
                "one_correlated": simulated(args, 1.0)}
    for name, over in variants.items():
        s, pairs = label(args, f"lq_{name}", train_ds, over)
        out[f"gt_accuracy_{name}"] = s["gt_agreement"]
        out[f"labels_used_{name}"] = int(np.sum(pairs["label"] >= 0))
        if "order_consistency" in s:
            out[f"order_consistency_{name}"] = s["order_consistency"]
            out[f"first_image_rate_{name}"] = s["first_image_rate"]
    out["both_orders_gain"] = round(out["gt_accuracy_both"] - out["gt_accuracy_one"], 4)
    out["both_orders_gain_correlated"] = round(out["gt_accuracy_both_correlated"] - out["gt_accuracy_one_correlated"], 4)
    out["goal_both_orders_gain"] = 0.10
    return out


def part_downstream(args, train_ds: Path) -> dict:
    from orlvlmf.pipeline.runner import Pipeline

    out = {}
    for name, over in (("one", simulated(args)), ("both", simulated(args) + ["feedback.both_orders=true"])):
        cfg = base_config(args, f"lq_pipe_{name}", over + [
            "dataset.source=file", f"dataset.path={train_ds}", f"seeds=[{','.join(map(str, args.seeds))}]",
            f"train.steps={args.iql_steps}", f"train.eval_every={args.iql_steps}",
            f"evaluation.episodes={args.eval_episodes}"])
        results = Pipeline(cfg, echo=log).run(["collect", "label", "reward", "relabel", "train", "evaluate"])
        by = {r.key: r.summary for r in results}
        sp = [by[f"relabel@seed{s}"].get("gt_spearman") for s in args.seeds]
        su = [by[f"evaluate@seed{s}"]["success_rate"] for s in args.seeds]
        out[f"reward_spearman_{name}"] = round(float(np.mean(sp)), 4)
        out[f"iql_success_{name}"] = round(float(np.mean(su)), 4)
        out[f"reward_spearman_{name}_per_seed"] = [round(float(v), 4) for v in sp]
        out[f"iql_success_{name}_per_seed"] = [round(float(v), 4) for v in su]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="runs/label_quality", help="run directories (collect is reused)")
    ap.add_argument("--episodes", type=int, default=100, help="drawer-open random episodes (x 500 steps)")
    ap.add_argument("--heldout-episodes", type=int, default=20)
    ap.add_argument("--heldout-pairs", type=int, default=2000, help="pairs of each test set of part 1")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=2, help="trainer.num_threads")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides for every run (default: drawer.yaml), e.g. reward.ensemble=3")
    # 1. active selection
    ap.add_argument("--budgets", type=int, nargs="+", default=[250, 500, 750, 1000, 1500, 2000, 3000])
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--distinct-gap", type=float, default=0.05,
                    help="also score held-out pairs whose true rewards differ by >= this share of the range")
    ap.add_argument("--skip-active", action="store_true", help="skip part 1 (active selection)")
    ap.add_argument("--skip-orders", action="store_true", help="skip part 2 (both image orders)")
    ap.add_argument("--initial", type=int, default=250, help="pairs.initial_queries")
    ap.add_argument("--round", type=int, default=250, help="pairs.round_queries")
    ap.add_argument("--pool", type=int, default=5000, help="pairs.pool_size")
    ap.add_argument("--round-epochs", type=int, default=3)
    ap.add_argument("--round-ensemble", type=int, default=3)
    ap.add_argument("--strategies", nargs="+", choices=["uniform", "disagreement", "bald"],
                    default=["uniform", "disagreement"],
                    help="part 1's strategies (a ratio needs uniform and an active one)")
    ap.add_argument("--explore", type=float, default=0.0,
                    help="pairs.explore_fraction: share of each disagreement round drawn at random")
    # 2. both orders
    ap.add_argument("--queries", type=int, default=2000, help="paid queries of each labeling")
    ap.add_argument("--position-bias", type=float, default=0.3)
    ap.add_argument("--unsure-p", type=float, default=0.5)
    ap.add_argument("--flip-p", type=float, default=0.3)
    ap.add_argument("--abstain-p", type=float, default=0.1)
    ap.add_argument("--proximity-scale", type=float, default=0.2)
    # 3. downstream
    ap.add_argument("--skip-downstream", action="store_true")
    ap.add_argument("--iql-steps", type=int, default=15000)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    args = ap.parse_args()
    if args.smoke:
        args.episodes, args.heldout_episodes, args.heldout_pairs = 4, 2, 200
        args.budgets, args.initial, args.round, args.pool = [40, 80], 40, 20, 300
        args.round_epochs, args.queries, args.iql_steps, args.eval_episodes = 1, 200, 200, 2
        args.set = ["reward.max_epochs=2", "reward.encoder.image_size=32", "dataset.workers=1",
                    "dataset.horizon=100", *args.set]
        args.work = str(Path(args.work) / "smoke")
    t0 = time.perf_counter()
    train_ds = collect(args, "lq_data", [])
    held = collect(args, "lq_heldout", ["dataset.seed=1", f"dataset.episodes={args.heldout_episodes}"])
    result = {"benchmark": "label_quality", "episodes": args.episodes,
              "heldout_episodes": args.heldout_episodes, "seeds": args.seeds, "smoke": args.smoke,
              "overrides": args.set, "queries": args.queries,
              "simulated_vlm": {"position_bias": args.position_bias, "unsure_p": args.unsure_p,
                                "flip_p": args.flip_p, "abstain_p": args.abstain_p,
                                "proximity_scale": args.proximity_scale}}
    if not args.skip_orders:
        result |= part_orders(args, train_ds)
    if not args.skip_active:
        result |= part_active(args, train_ds, held)
    if not args.skip_downstream:
        result |= part_downstream(args, train_ds)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
