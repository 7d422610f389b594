"""Collection speed per env (transitions/s with images) and dataset random-access speed.

For each env plugin this rolls out uniformly random actions with ``state`` + ``image`` observations
at ``--size`` px (224 by default) in one process on one core, twice in the same run:

* ours: the env's own fast path (one ``mujoco.Renderer`` at the requested size, shadows and
  reflections off; PIL drawing for Cartpole);
* reference: the same steps rendered by the env's *default* renderer — gymnasium's
  ``MujocoRenderer`` for MetaWorld, ``mujoco.Renderer`` with MuJoCo's default scene flags for the
  rope.  Cartpole has no other renderer here (gymnasium's needs pygame), so it has no ratio.

ratio = ours transitions/s ÷ reference transitions/s.  Goal: ≥ 40 frames/s per core on MetaWorld.

Dataset: writes a dataset of ``--read-transitions`` incompressible 128 px frames, reopens it and
measures (a) the resident memory added by opening it (lazy: images stay on disk) and (b) the
time to read a random batch of 256 frames (unsorted, with repeats) with ``observations``
against a plain loop of single-frame h5py reads (the headline ratio,
``dataset_read_ratio_vs_plain_loop``), and with ``--with-fancy`` h5py fancy indexing,
interleaved over ``--read-repeats`` batches (see :func:`bench_dataset`).

    python benchmarks/collect.py [--size 224] [--steps 150] [--read-transitions 10000]
                                 [--read-repeats 20] [--envs ...]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

ENVS = {"cartpole": 300, "drawer-open": None, "soccer": None, "rope": 40}


def _reference_renderer(env, size):
    """A callable rendering the env's current state with its default renderer, or None."""
    if hasattr(env, "render_default"):
        return lambda: env.render_default(size)
    if env.env_id == "rope":
        import mujoco

        from orlvlmf.env import close_at_exit

        r = mujoco.Renderer(env.model, size, size)  # MuJoCo's default flags (shadows, reflections)
        close_at_exit(env)
        env._bench_renderer = r

        def render():
            r.update_scene(env.data, camera=env._cam)
            return r.render()

        return render
    return None


def _rollout(env, steps, render, seed=0):
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    t_render = 0.0
    t0 = time.perf_counter()
    for t in range(steps):
        if t and t % env.horizon == 0:
            env.reset(seed=seed + t)
        env.step(rng.uniform(-1, 1, env.action_dim))
        t1 = time.perf_counter()
        img = render()
        t_render += time.perf_counter() - t1
        assert img.shape[0] == img.shape[1]
    total = time.perf_counter() - t0
    return steps / total, 1000 * t_render / steps


def bench_env(name, size, steps):
    from orlvlmf.env import make_env

    # state only: the loop renders once per transition, with the renderer under test
    env = make_env(name, observations=("state",), image_size=size)
    try:
        ours = lambda: env.render(size)  # noqa: E731 - what observe() calls for "image"
        ours()  # warm up (creates the GL context)
        ref = _reference_renderer(env, size)
        if ref is not None:
            ref()
        sps, render_ms = _rollout(env, steps, ours)
        out = {"steps": steps, "image_size": size, "steps_per_s": round(sps, 1),
               "render_ms": round(render_ms, 2)}
        if ref is not None:
            rsps, rrender_ms = _rollout(env, steps, ref)
            out.update({"default_steps_per_s": round(rsps, 1),
                        "default_render_ms": round(rrender_ms, 2),
                        "ratio_vs_default": round(sps / rsps, 2)})
        else:
            out.update({"default_steps_per_s": None, "ratio_vs_default": None,
                        "note": "no default renderer available (gymnasium's needs pygame)"})
        return out
    finally:
        if getattr(env, "_bench_renderer", None) is not None:
            env._bench_renderer.close()
        env.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_dataset(n, size=128, batch=256, ep_len=500, reps=20, seed=0, fancy=False):
    """Random-batch reads through ``OfflineDataset.observations`` against a plain loop.

    Frames are uniform random bytes (incompressible: lzf stores them as they are, so a read costs
    what an uncompressed frame costs).  Each repetition draws a new batch of ``batch`` transitions
    (unsorted, with repeats) and reads it in a shuffled order: ours; the plain loop (one h5py read
    per requested frame, ``np.stack``); with ``fancy``, h5py fancy indexing of the sorted unique
    rows too (seconds per batch).  The h5py reads use a file opened with the same chunk cache as
    ours.  Figures are
    medians over the repetitions; ratio = plain-loop time ÷ our time, from the same run.
    """
    import h5py

    from orlvlmf.data.dataset import DatasetWriter, OfflineDataset

    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (256, size, size, 3), dtype=np.uint8)  # incompressible frames
    tmp = Path(tempfile.mkdtemp(prefix="orlvlmf-bench-"))
    path = tmp / "bench.h5"
    t0 = time.perf_counter()
    with DatasetWriter(path, {"env_id": "synthetic"}) as w:
        done = 0
        while done < n:
            T = min(ep_len, n - done)
            w.add_episode({"image": pool[rng.integers(0, len(pool), T + 1)],
                           "state": rng.normal(size=(T + 1, 8))}, rng.uniform(-1, 1, (T, 4)))
            done += T
    write_s = time.perf_counter() - t0
    raw_mb = n * size * size * 3 / 2**20
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    ds = OfflineDataset.open(path)
    open_s = time.perf_counter() - t0
    rss_open = _rss_mb() - rss0
    f = h5py.File(path, "r", rdcc_nbytes=32 << 20)  # the chunk cache OfflineDataset uses
    d = f["observations/image"]

    def ours(idx):
        return ds.observations("image", idx)

    def plain(idx):
        return np.stack([d[int(r)] for r in ds._rows[idx]])

    def fancy_indexing(idx):
        u, inv = np.unique(ds._rows[idx], return_inverse=True)
        return d[u][inv]

    ways = {"ours": ours, "plain_loop": plain}
    if fancy:
        ways["h5py_fancy"] = fancy_indexing
    warm = rng.integers(0, ds.num_transitions, batch)
    for fn in ways.values():
        fn(warm)
    times = {k: [] for k in ways}
    for _ in range(reps):
        idx = rng.integers(0, ds.num_transitions, batch)
        got = {}
        for k in rng.permutation(list(ways)):
            t0 = time.perf_counter()
            got[k] = ways[k](idx)
            times[k].append(1000 * (time.perf_counter() - t0))
        assert all(np.array_equal(got["ours"], g) for g in got.values())
    ms = {k: float(np.median(v)) for k, v in times.items()}
    f.close()
    file_mb = path.stat().st_size / 2**20
    ds.close()
    path.unlink()
    tmp.rmdir()
    out = {"transitions": n, "image_size": size, "frames": "uniform random bytes (incompressible)",
           "raw_image_mb": round(raw_mb, 1), "file_mb": round(file_mb, 1), "write_s": round(write_s, 1),
           "open_s": round(open_s, 3), "rss_added_by_open_mb": round(rss_open, 1),
           "batch": batch, "repeats": reps, "batch_read_ms": round(ms["ours"], 2),
           "plain_loop_read_ms": round(ms["plain_loop"], 2),
           "ratio_vs_plain_loop": round(ms["plain_loop"] / ms["ours"], 2)}
    if fancy:
        out.update({"h5py_fancy_read_ms": round(ms["h5py_fancy"], 2),
                    "ratio_vs_h5py_fancy": round(ms["h5py_fancy"] / ms["ours"], 2)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=150, help="steps per MetaWorld measurement")
    p.add_argument("--envs", nargs="*", default=list(ENVS))
    p.add_argument("--read-transitions", type=int, default=10000)
    p.add_argument("--read-repeats", type=int, default=20)
    p.add_argument("--with-fancy", action="store_true",
                   help="also time h5py fancy indexing (seconds per batch)")
    args = p.parse_args(argv)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    result = {"envs": {}}
    for name in args.envs:
        steps = ENVS.get(name) or args.steps
        r = bench_env(name, args.size, steps)
        result["envs"][name] = r
        print(f"{name:12s} {r['steps_per_s']:8.1f} transitions/s with {args.size}px images "
              f"(render {r['render_ms']} ms)"
              + (f"; default renderer {r['default_steps_per_s']} /s, ratio {r['ratio_vs_default']}"
                 if r.get("ratio_vs_default") else ""), flush=True)
    mw = [result["envs"][n]["steps_per_s"] for n in ("drawer-open", "soccer") if n in result["envs"]]
    if mw:
        result["metaworld_frames_per_s_per_core"] = round(min(mw), 1)
        result["metaworld_goal_40_met"] = bool(min(mw) >= 40)
    if args.read_transitions:
        d = bench_dataset(args.read_transitions, reps=args.read_repeats, fancy=args.with_fancy)
        result["dataset"] = d
        result["dataset_read_ratio_vs_plain_loop"] = d["ratio_vs_plain_loop"]  # the headline
        print(f"dataset random batch of {d['batch']} from {d['transitions']} x {d['image_size']}px "
              f"incompressible frames: {d['batch_read_ms']} ms vs plain loop {d['plain_loop_read_ms']} "
              f"ms: x{d['ratio_vs_plain_loop']} (median of {d['repeats']} interleaved"
              + (f"; h5py fancy indexing {d['h5py_fancy_read_ms']} ms, x{d['ratio_vs_h5py_fancy']}"
                 if "h5py_fancy_read_ms" in d else "")
              + f"); file {d['file_mb']} MB ({d['raw_image_mb']} MB raw), open {d['open_s']} s adds "
              f"{d['rss_added_by_open_mb']} MB RSS", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
