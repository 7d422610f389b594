"""One GPU check: IQL steps/s, reward-model training and scoring throughput, and the quickstart's
stages on CUDA, each part against the same machine's CPU measured in the same run where it is cheap.

Parts (``--parts``, all by default; each is timed and reported on its own, a failing part is
reported and the next one runs):

* ``iql``       — ``benchmarks/iql.py`` on ``cuda`` (ours in a Lightning Trainer, ours bare, the eager
  reference) and on the CPU with ``--cpu-threads`` threads; ratio of ``ours_fit`` steps/s.
* ``reward``    — the reward stage's LightningModule (:class:`orlvlmf.reward.module.RewardModel`,
  the quickstart's encoder: ResNet-10t at 64 px, augmentation on) trained on random frames:
  labeled pairs per second of training, K = 1 and K = 3 members, fp32 and bf16-mixed on CUDA, K = 1
  fp32 on the CPU; then frames per second of scoring (what ``relabel`` does) on both.
* ``quickstart`` — the quickstart's label → reward → relabel → train → report stages through
  ``orlvlmf fit`` with ``trainer.accelerator=gpu`` on a dataset of the quickstart's size and shapes
  (200 episodes × 500 steps, state 39, 64 px images, 4-d actions) made of synthetic frames whose
  true reward is visible in the image (a bar's length), so the scripted teacher and the reward model
  have something to learn.  Without a simulator on the GPU machine, ``collect`` becomes the import of
  that file and ``evaluate`` is skipped; the stage seconds come from the run's summary.

Usage: ``python benchmarks/gpu.py [--out DIR] [--parts iql reward quickstart] [--smoke]``.
Ends with one JSON line (also written to ``DIR/gpu.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def device_info() -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info |= {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1),
                 "capability": f"{p.major}.{p.minor}", "cuda": torch.version.cuda}
    return info


# -- IQL ---------------------------------------------------------------------------------------
def part_iql(args) -> dict:
    import iql

    steps, rounds = (20, 2) if args.smoke else (500, 5)
    out = {}
    for dev, threads, st in (("cuda", 1, steps), ("cpu", args.cpu_threads, steps // 2 or 1)):
        if dev == "cuda" and not args.cuda:
            continue
        out[dev] = iql.main(["--device", dev, "--threads", str(threads), "--steps", str(st),
                             "--rounds", str(rounds), "--warmup", "10" if args.smoke else "50",
                             "--transitions", "20000" if args.smoke else "100000"])
    if "cuda" in out:
        out["ours_fit_cuda_vs_cpu"] = round(out["cuda"]["steps_per_s"]["ours_fit"]
                                            / out["cpu"]["steps_per_s"]["ours_fit"], 2)
    return out


# -- reward model --------------------------------------------------------------------------------
def _pairs(n_pairs: int, n_frames: int, size: int):
    import torch

    from orlvlmf.reward.data import PreferenceTensors

    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (n_frames, size, size, 3), dtype=np.uint8))
    seg = torch.from_numpy(rng.integers(0, n_frames, (2, n_pairs, 1)))
    target = torch.from_numpy(rng.integers(0, 2, n_pairs).astype(np.float32))
    return PreferenceTensors(frames, seg[0], seg[1], target, np.arange(n_pairs))


def _clock(cuda: bool) -> float:
    """``time.perf_counter()`` once the GPU's queued work is done (when timing CUDA)."""
    if cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def _fit_seconds(data, ensemble: int, accelerator: str, precision: str, epochs: int) -> float:
    """Seconds of ``epochs`` training epochs (the first, warm-up epoch excluded)."""
    import lightning as L

    from orlvlmf.reward.data import pair_loader
    from orlvlmf.reward.module import RewardModel

    marks: list[float] = []

    class Clock(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            marks.append(_clock(accelerator != "cpu"))

        def on_train_end(self, trainer, module):
            marks.append(_clock(accelerator != "cpu"))

    spec = {"encoder": {"name": "resnet", "model": "resnet10t"}, "obs_shape": list(data.frames.shape[1:]),
            "ensemble": ensemble, "head_hidden": [], "observation": "image", "seed": 0}
    module = RewardModel(spec, lr=1e-3, augment=True, lr_schedule="cosine")
    tr = L.Trainer(max_epochs=epochs + 1, accelerator=accelerator, devices=1, precision=precision,
                   logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Clock()])
    tr.fit(module, pair_loader(data, 64, shuffle=True))
    return marks[-1] - marks[1]


def _score_rate(ensemble: int, device: str, frames: np.ndarray, bf16: bool) -> float:
    from orlvlmf.reward.inference import score_batches
    from orlvlmf.reward.model import RewardNet

    net = RewardNet({"name": "resnet", "model": "resnet10t"}, frames.shape[1:], ensemble=ensemble,
                    observation="image").to(device)
    read = lambda a, b: frames[a:b]  # noqa: E731
    score_batches(net, read, min(len(frames), 1024), 256, bf16=bf16)  # warm-up
    t0 = _clock(device != "cpu")
    score_batches(net, read, len(frames), 256, bf16=bf16)  # ends with results copied to the host
    return len(frames) / (time.perf_counter() - t0)


def part_reward(args) -> dict:
    import torch

    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    n_pairs = 128 if args.smoke else 1600  # the quickstart: 2000 labels, 20% held out
    data = _pairs(n_pairs, 2 * n_pairs, 64)
    epochs = 1 if args.smoke else 3
    cpu_pairs = max(64, n_pairs // 4)
    out: dict = {"pairs_per_epoch": n_pairs, "epochs_timed": epochs, "cpu_pairs_per_epoch": cpu_pairs,
                 "cpu_epochs_timed": 1, "pairs_per_s": {}}
    runs = [("cpu", "32-true", 1)]
    if args.cuda:
        runs = [("gpu", "32-true", 1), ("gpu", "bf16-mixed", 1), ("gpu", "32-true", 3)] + runs
    torch.set_num_threads(args.cpu_threads)
    for accel, precision, k in runs:
        # the CPU reference trains on a quarter of the pairs for one epoch (same batch size, same
        # per-pair work)
        d, ep = (data, epochs) if accel != "cpu" else (data.subset(np.arange(cpu_pairs)), 1)
        s = _fit_seconds(d, k, accel, precision, ep)
        out["pairs_per_s"][f"{accel}_{precision}_K{k}"] = round(len(d) * ep / s, 1)
    frames = np.random.default_rng(1).integers(0, 256, (2048 if args.smoke else 20000, 64, 64, 3),
                                               dtype=np.uint8)
    out["score_frames_per_s"] = {"cpu_K1": round(_score_rate(1, "cpu", frames[:2048], False), 1)}
    if args.cuda:
        out["score_frames_per_s"] |= {"cuda_K1": round(_score_rate(1, "cuda", frames, False), 1),
                                      "cuda_K1_bf16": round(_score_rate(1, "cuda", frames, True), 1),
                                      "cuda_K3": round(_score_rate(3, "cuda", frames, False), 1)}
        p = out["pairs_per_s"]
        out["train_cuda_vs_cpu"] = round(p["gpu_32-true_K1"] / p["cpu_32-true_K1"], 1)
        s = out["score_frames_per_s"]
        out["score_cuda_vs_cpu"] = round(s["cuda_K1"] / s["cpu_K1"], 1)
    out["cpu_threads"] = args.cpu_threads
    return out


# -- the quickstart's stages ------------------------------------------------------------------------
def bar_dataset(path: Path, episodes: int, steps: int, size: int = 64, seed: int = 0) -> Path:
    """Episodes whose frame shows a red bar of random-walk length L_t; true reward L_{t+1} / size."""
    from orlvlmf.data.dataset import DatasetWriter

    rng = np.random.default_rng(seed)
    cols = np.arange(size)
    with DatasetWriter(path, metadata={"task_text": "make the red bar as long as possible"}) as w:
        for _ in range(episodes):
            actions = rng.uniform(-1, 1, (steps, 4)).astype(np.float32)
            length = np.clip(rng.integers(0, size) + np.cumsum(np.r_[0, np.round(2 * actions[:, 0])]),
                             0, size).astype(np.int64)
            img = np.zeros((steps + 1, size, size, 3), np.uint8)
            img[:, size // 2 - 6:size // 2 + 6, :, 0] = np.where(cols[None, None, :] < length[:, None, None],
                                                                  220, 0)
            state = rng.normal(size=(steps + 1, 39)).astype(np.float32)
            state[:, 0] = length / size
            w.add_episode(observations={"image": img, "state": state}, actions=actions,
                          reward=length[1:] / size, success=length[1:] >= size - 2)
    return path


def part_quickstart(args) -> dict:
    work = Path(args.out) / "quickstart"
    work.mkdir(parents=True, exist_ok=True)
    episodes, steps = (6, 50) if args.smoke else (200, 500)
    t0 = time.perf_counter()
    h5 = bar_dataset(work / "bars.h5", episodes, steps)
    made = time.perf_counter() - t0
    cfg = work / "quickstart_gpu.yaml"
    cfg.write_text("\n".join([
        f"extends: {ROOT / 'configs' / 'base.yaml'}",
        "name: quickstart_gpu", f"run_dir: {work / 'runs'}", "env: null",
        f"dataset: {{source: file, path: {h5}, observations: [state, image], image_size: 64}}",
        f"pairs: {{num_queries: {200 if args.smoke else 2000}}}",
        "reward: {observation: image, encoder: {name: resnet, model: resnet10t}, ensemble: 1, "
        f"max_epochs: {1 if args.smoke else 6}}}",
        "relabel: {normalize: minmax}",
        f"train: {{steps: {200 if args.smoke else 15000}, eval_every: 5000, eval_episodes: 10}}",
        f"trainer: {{accelerator: {'gpu' if args.cuda else 'cpu'}, num_threads: {args.cpu_threads}, "
        "progress: false}",
        "evaluation: {save_videos: 0}", ""]))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "orlvlmf.cli", "fit", "--config", str(cfg)],
                          cwd=work, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(ROOT)] + [x for x in [os.environ.get("PYTHONPATH")] if x])})
    wall = time.perf_counter() - t0
    (work / "fit.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    out: dict = {"dataset_seconds": round(made, 1), "fit_wall_s": round(wall, 1), "rc": proc.returncode,
                 "transitions": episodes * steps}
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-3000:]
        return out
    out["stdout_tail"] = proc.stdout[-2500:]
    run = work / "runs" / "quickstart_gpu"
    manifest = json.loads((run / "manifest.json").read_text())
    out["stages"] = {k: v.get("summary", {}) for k, v in manifest.get("stages", {}).items()
                     if isinstance(v, dict)}
    return out


PARTS = {"iql": part_iql, "reward": part_reward, "quickstart": part_quickstart}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT", "gpu_bench"))
    p.add_argument("--parts", nargs="*", default=list(PARTS), choices=list(PARTS))
    p.add_argument("--cpu-threads", type=int, default=2, help="CPU reference threads (our dev machine: 2)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    args = p.parse_args(argv)
    import torch

    args.cuda = torch.cuda.is_available()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    result: dict = {"benchmark": "gpu", "info": device_info(), "smoke": args.smoke}
    for name in args.parts:
        t0 = time.perf_counter()
        try:
            result[name] = PARTS[name](args)
        except Exception as err:  # one part's failure is a result too; the next part still runs
            result[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-3000:]}
        result[name]["part_seconds"] = round(time.perf_counter() - t0, 1)
        (Path(args.out) / "gpu.json").write_text(json.dumps(result, indent=1))
        print(f"[gpu] {name} done in {result[name]['part_seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
