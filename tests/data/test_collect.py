"""Collectors and the collect stage (cartpole: fast, no simulator)."""

import hashlib

import numpy as np
import pytest

from orlvlmf.config import load_config
from orlvlmf.data.collectors import episode_seeds
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.data.stage import collect_dataset
from orlvlmf.pipeline.runner import Pipeline
from orlvlmf.pipeline.stage import StageError

SMALL = dict(episodes=4, horizon=30, image_size=24)


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    collect_dataset("cartpole", a, quality="medium", seed=5, **SMALL)
    collect_dataset("cartpole", b, quality="medium", seed=5, **SMALL)
    collect_dataset("cartpole", c, quality="medium", seed=6, **SMALL)
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_parallel_collect_writes_the_same_dataset(tmp_path):
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    collect_dataset("cartpole", serial, quality="medium", seed=3, **SMALL)
    collect_dataset("cartpole", parallel, quality="medium", seed=3, workers=2, **SMALL)
    assert _sha(serial) == _sha(parallel)


def test_metadata_and_gt_summary(tmp_path):
    p = tmp_path / "d.h5"
    s = collect_dataset("cartpole", p, quality="random", seed=0, **SMALL)
    ds = OfflineDataset.open(p)
    m = ds.metadata
    assert m["env_id"] == "cartpole" and m["task_text"].startswith("to balance")
    assert m["collector"]["quality"] == "random" and "uniform" in m["collector"]["how"]
    assert m["image_size"] == 24 and m["seed"] == 0 and m["camera"]["name"] == "side"
    assert "numpy" in m["versions"] and "orlvlmf-cartpole" in m["versions"]
    gt = ds.ground_truth()
    rets = np.bincount(ds.episode_index, weights=gt.reward)
    assert m["gt_return_mean"] == pytest.approx(rets.mean(), rel=1e-5)
    assert s["gt_return_mean"] == pytest.approx(m["gt_return_mean"])
    assert ds.num_transitions == 4 * 30 and ds.timeouts.sum() == 4
    assert ds.observations("image", [0]).shape == (1, 24, 24, 3)


def test_quality_ordering_cartpole(tmp_path):
    means = {}
    for q in ("random", "medium", "expert"):
        means[q] = collect_dataset("cartpole", tmp_path / f"{q}.h5", quality=q, episodes=12,
                                   observations=("state",), seed=0)["gt_return_mean"]
    assert means["random"] < means["medium"] < means["expert"]


def test_episode_seeds_prefix_stable():
    assert episode_seeds(3, 5)[:2] == episode_seeds(3, 2)


def test_bad_quality(tmp_path):
    with pytest.raises(StageError, match="quality"):
        collect_dataset("cartpole", tmp_path / "x.h5", quality="great", **SMALL)
    assert not list(tmp_path.iterdir())


def test_interrupted_collect_leaves_nothing(tmp_path, monkeypatch):
    import orlvlmf.data.collectors as col

    real = col.rollout
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(col, "rollout", dying)
    with pytest.raises(KeyboardInterrupt):
        collect_dataset("cartpole", tmp_path / "d.h5", **SMALL)
    assert not list(tmp_path.iterdir())


def _cfg(tmp_path, *extra):
    return load_config("cartpole_random", [f"run_dir={tmp_path}", "dataset.episodes=3",
                                           "dataset.horizon=10", "dataset.image_size=16",
                                           "trainer.progress=false", *extra])


def test_collect_stage_through_pipeline(tmp_path):
    cfg = _cfg(tmp_path)
    res = Pipeline(cfg, echo=lambda s: None).run(["collect"])
    assert res[0].status == "ran" and res[0].summary["transitions"] == 30
    assert "gt_return_mean" in res[0].summary
    path = tmp_path / "cartpole_random" / "dataset.h5"
    assert OfflineDataset.open(path).num_episodes == 3
    again = Pipeline(cfg, echo=lambda s: None).run(["collect"])
    assert again[0].status == "skipped"


def test_collect_stage_file_source_and_missing_observation(tmp_path):
    src = tmp_path / "src.h5"
    collect_dataset("cartpole", src, observations=("state",), **SMALL)
    cfg = _cfg(tmp_path, "dataset.source=file", f"dataset.path={src}",
               "dataset.observations=[state]", "name=fromfile")
    res = Pipeline(cfg, echo=lambda s: None).run(["collect"])
    assert res[0].summary["transitions"] == 120
    cfg = _cfg(tmp_path, "dataset.source=file", f"dataset.path={src}",
               "dataset.observations=[state,point_cloud]", "name=bad")
    with pytest.raises(StageError, match=r"point_cloud.*only \['state'\]"):
        Pipeline(cfg, echo=lambda s: None).run(["collect"])
    cfg = _cfg(tmp_path, "dataset.source=file", "name=nopath")
    with pytest.raises(StageError, match="needs dataset.path"):
        Pipeline(cfg, echo=lambda s: None).run(["collect"])


def test_collect_stage_unknown_env(tmp_path):
    from orlvlmf.registry import RegistryError

    with pytest.raises(RegistryError, match="unknown env"):
        collect_dataset("no-such-env", tmp_path / "d.h5", **SMALL)


def test_collect_stage_observation_the_env_lacks(tmp_path):
    cfg = _cfg(tmp_path, "dataset.observations=[state,point_cloud]", "name=nopc")
    with pytest.raises(StageError, match="cannot observe.*point_cloud"):
        Pipeline(cfg, echo=lambda s: None).run(["collect"])
    assert not (tmp_path / "nopc" / "dataset.h5").exists()


def test_progress_bar_runs(tmp_path, capsys):
    s = collect_dataset("cartpole", tmp_path / "d.h5", progress=True, **SMALL)
    assert s["episodes"] == 4
    out = capsys.readouterr()
    assert "collect cartpole/random" in out.out + out.err


def test_new_goal_sentence_keeps_the_dataset_and_relabels(tmp_path):
    """``task`` (the goal sentence) is not in the collect fingerprint; the label stage's has it."""
    from orlvlmf.registry import REGISTRY

    cfg = _cfg(tmp_path, "task=to balance the pole")
    first = Pipeline(cfg, echo=lambda s: None).run(["collect"])
    assert first[0].status == "ran"
    path = tmp_path / "cartpole_random" / "dataset.h5"
    before = _sha(path)
    other = _cfg(tmp_path, "task=to keep the pole upright")
    again = Pipeline(other, echo=lambda s: None).run(["collect"])
    assert again[0].status == "skipped" and _sha(path) == before
    label = REGISTRY.create("stages", "label")
    assert "task" in label.sections
    fp = [Pipeline(c, echo=lambda s: None).fingerprint(label, "label", None, {}) for c in (cfg, other)]
    assert fp[0] != fp[1]


def test_collect_refuses_non_finite_values(tmp_path, monkeypatch):
    """A simulator that returns NaN stops the collect naming env, episode and key; nothing is
    written (issue 12: NaN states used to train a policy of non-finite weights)."""
    import orlvlmf.data.collectors as col
    from orlvlmf.data.dataset import DatasetError

    real = col.rollout
    calls = {"n": 0}

    def nan_state(*a, **k):
        ep = real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 3:
            ep.observations["state"][4, 1] = np.nan
        return ep

    monkeypatch.setattr(col, "rollout", nan_state)
    with pytest.raises(DatasetError, match=r"collect cartpole: episode 2: key 'state' has 1 non-finite"):
        collect_dataset("cartpole", tmp_path / "d.h5", **SMALL)
    assert not list(tmp_path.iterdir())


def test_file_source_refuses_non_finite_values(tmp_path):
    import h5py

    src = tmp_path / "src.h5"
    collect_dataset("cartpole", src, observations=("state",), **SMALL)
    with h5py.File(src, "a") as f:
        f["actions"][40, 0] = np.inf
    cfg = _cfg(tmp_path, "dataset.source=file", f"dataset.path={src}", "dataset.observations=[state]",
               "name=nan")
    with pytest.raises(StageError, match=r"src.h5: episode 1: key 'actions' has 1 non-finite"):
        Pipeline(cfg, echo=lambda s: None).run(["collect"])


def test_a_full_disk_while_collecting_is_one_line_and_nothing_half_written(tmp_path, small_disk):
    """Issue 12, item 10: a full disk used to end in 14 h5py tracebacks and a segfault (exit 139)."""
    import subprocess
    import sys

    disk = small_disk.mount(2048)
    out = subprocess.run([sys.executable, "-m", "orlvlmf.cli", "collect", "-c", "cartpole_random",
                          f"run_dir={disk}", "name=full", "dataset.episodes=40", "dataset.image_size=64",
                          "trainer.progress=false"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    err = [line for line in out.stderr.splitlines() if "error" in line.lower()]
    assert len(err) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "dataset.h5" in err[0] and "MiB free" in err[0] and "needs about" in err[0], err[0]
    staged = list((disk / "full").rglob("dataset.h5*"))
    assert staged == [], staged  # no partial file left taking the space
