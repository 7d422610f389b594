"""``orlvlmf`` command line: the whole pipeline (``fit``), each stage, and inspection commands.

Every run command takes ``--config FILE_OR_NAME`` and any number of ``key.path=value`` overrides.
Errors in configs, plugins, stages or data end the command with one line saying what is wrong
(exit code 2); set ``ORLVLMF_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

def stage_commands() -> dict[str, str]:
    """One command per registered stage (built-in or plugin): name → what it does and writes.

    The default pipeline's stages come first, in pipeline order; other stages follow by name.
    """
    from orlvlmf.config.schema import DEFAULT_STAGES
    from orlvlmf.registry import REGISTRY

    entries = sorted(REGISTRY.entries("stages"), key=lambda e: (
        DEFAULT_STAGES.index(e.name) if e.name in DEFAULT_STAGES else len(DEFAULT_STAGES), e.name))
    out = {}
    for entry in entries:
        stage = entry.load()
        out[entry.name] = f"{stage.description or entry.name}: {', '.join(stage.outputs)}"
    return out


def _runtime_defaults() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # OpenMP threads that spin while waiting collapse torch to ~1 step/s when the CPU is shared
    # (measured: IQL with 2 threads on an oversubscribed 2-core machine 1.3 → 20.5 steps/s).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", "-c", required=True,
        help="run config: a YAML path, or the name of a shipped config (see `orlvlmf configs`)",
    )
    p.add_argument("overrides", nargs="*", metavar="key.path=value",
                   help="dot-list overrides merged over the config, e.g. reward.max_epochs=5")


def _load(args: argparse.Namespace):
    from orlvlmf.config import load_config

    return load_config(args.config, args.overrides)


#: third-party loggers that talk at INFO on every call (litellm: two lines per API call; PyOpenGL:
#: "No OpenGL_accelerate module loaded"): WARNING and above unless --verbose
NOISY_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "httpx", "httpcore",
                 "OpenGL", "lightning", "lightning.pytorch", "lightning.fabric")
#: warnings every user would see that say nothing about their run (message regex, category)
NOISY_WARNINGS = ((r".*isinstance\(treespec, LeafSpec\)", Warning),)


VERBOSE_HELP = "also show other libraries' INFO logs and the known harmless warnings"


def configure_logging(verbose: bool) -> None:
    """orlvlmf's own lines at INFO on stderr; other libraries at WARNING (everything at INFO and
    every warning with ``--verbose``)."""
    import warnings

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("orlvlmf").setLevel(logging.INFO)
    if verbose:
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message, category in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


VERIFY_HELP = ("hash every artifact again instead of trusting an unchanged size and modification "
               "time (a file damaged in place is redone)")


def _pipeline(cfg, args: argparse.Namespace | None = None):
    from omegaconf import OmegaConf

    from orlvlmf.pipeline.runner import Pipeline
    from orlvlmf.pipeline.tensorboard import log_config

    pipe = Pipeline(cfg, verify=bool(getattr(args, "verify", False)))
    log_config(pipe.run_dir, OmegaConf.to_yaml(cfg, resolve=False))  # no secret: unresolved
    return pipe


def cmd_fit(args: argparse.Namespace) -> int:
    from orlvlmf.report.summary import fit_summary

    cfg = _load(args)
    pipe = _pipeline(cfg, args)
    results = pipe.run(force=args.force)
    ran = sum(r.status == "ran" for r in results)
    print(f"fit: {len(results)} stage runs ({ran} ran, {len(results) - ran} up to date) in {pipe.run_dir}")
    print(fit_summary(pipe.run_dir, list(cfg.seeds), up_to_date=len(results) - ran))
    return 0


def _stage_command(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        cfg = _load(args)
        if getattr(args, "dry_run", False):
            from orlvlmf.feedback.dry_run import dry_run
            from orlvlmf.pipeline.runner import run_dir_of

            print(dry_run(cfg, run_dir_of(cfg)))
            return 0
        _pipeline(cfg, args).run([name], force=args.force)
        return 0

    return run


def cmd_plugins(args: argparse.Namespace) -> int:
    from orlvlmf.registry import KINDS, REGISTRY

    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        entries = REGISTRY.entries(kind)
        print(f"{kind}:")
        if not entries:
            print("  (none)")
        for e in entries:
            print(f"  {e.name:<18} {e.dist:<22} {e.target}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    from orlvlmf.config.loader import shipped_config_dir, shipped_configs

    print(f"shipped configs ({shipped_config_dir()}):")
    for name in shipped_configs():
        print(f"  {name}")
    return 0


def cmd_show_config(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    print(OmegaConf.to_yaml(_load(args), resolve=False), end="")
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orlvlmf.pipeline.runner import run_dir_of

    cfg = _load(args)
    run_dir = run_dir_of(cfg)
    store = run_dir / "labels.sqlite"  # this run's rows (also when the live store is shared)
    if not store.exists():
        raise FileNotFoundError(f"no label store at {store}: run `orlvlmf label --config {args.config}` first")
    from orlvlmf.feedback.gallery import write_gallery
    from orlvlmf.feedback.summary import format_summary, summarize_store

    print(format_summary(summarize_store(store)))
    if args.html:
        out = write_gallery(store, run_dir / "dataset.h5", Path(args.html), n=args.n)
        print(f"gallery: {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from orlvlmf.export import export_run

    export_run(_load(args), args.format, args.out, seed=args.seed)
    return 0


def cmd_check_env(args: argparse.Namespace) -> int:
    import yaml

    from orlvlmf.env import EnvError
    from orlvlmf.env.check import check_env

    node = {"name": args.name}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EnvError(f"env option '{item}' must look like key=value (e.g. task=door-open-v3)")
        node[key] = yaml.safe_load(value)
    report = check_env(node, image_size=args.image_size, steps=args.steps, seed=args.seed)
    print("\n".join(report.lines()))
    print(f"check-env {args.name}: " + ("all checks passed" if report.ok else
                                        f"{len(report.failures)} check(s) failed"))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orlvlmf",
        description="Offline RL-VLM-F: VLM preference labels → learned reward → offline RL (IQL).",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--verbose", "-v", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stages = stage_commands()
    from orlvlmf.config.schema import DEFAULT_STAGES

    p = sub.add_parser("fit", help="run the whole pipeline: " + " → ".join(DEFAULT_STAGES),
                       description="Run every stage of the config in order; stages whose inputs and "
                       "config are unchanged are skipped, interrupted ones resume.")
    _add_config_args(p)
    p.add_argument("--force", action="store_true", help="redo every stage even if up to date")
    p.add_argument("--verify", action="store_true", help=VERIFY_HELP)
    p.set_defaults(func=cmd_fit)

    for name, text in stages.items():
        p = sub.add_parser(name, help=f"stage: {text}", description=f"Run one stage: {text}.")
        _add_config_args(p)
        p.add_argument("--force", action="store_true", help="redo the stage even if up to date")
        p.add_argument("--verify", action="store_true", help=VERIFY_HELP)
        if name == "label":
            p.add_argument("--dry-run", action="store_true",
                           help="print the queries, calls, tokens per call and price; send nothing")
        p.set_defaults(func=_stage_command(name))

    p = sub.add_parser("labels", help="summarise a run's label store; --html writes a gallery page")
    _add_config_args(p)
    p.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML gallery of queries")
    p.add_argument("-n", type=int, default=50, help="queries shown in the gallery (default 50)")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("export", help="write the dataset with its learned reward as LeRobot, Minari or HDF5",
                       description="Export the run's dataset with the learned reward (and its ensemble "
                       "std) so other offline-RL libraries can train on it.")
    _add_config_args(p)
    p.add_argument("--format", required=True, choices=["lerobot", "minari", "hdf5"],
                   help="lerobot: a LeRobot v3.0 folder; minari: a Minari datasets root; "
                   "hdf5: a robomimic-layout file")
    p.add_argument("--out", required=True, metavar="PATH", help="where to write (must not exist)")
    p.add_argument("--seed", type=int, help="whose learned reward (default: the config's first seed)")
    p.set_defaults(func=cmd_export)

    from orlvlmf.sweep.cli import add_parser as add_sweep_parser

    add_sweep_parser(sub)

    p = sub.add_parser("plugins", help="list registered components by kind, with their package")
    p.add_argument("--kind", help="only this kind")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("check-env", help="verify an env plugin: observations, images, actions, "
                       "determinism by seed, horizon")
    p.add_argument("name", help="registered env name (see `orlvlmf plugins --kind envs`)")
    p.add_argument("options", nargs="*", metavar="key=value", help="env options, e.g. task=door-open-v3")
    p.add_argument("--image-size", type=int, default=48, help="rendered image size (default 48)")
    p.add_argument("--steps", type=int, default=5, help="random steps per check (default 5)")
    p.add_argument("--seed", type=int, default=0, help="reset seed (default 0)")
    p.set_defaults(func=cmd_check_env)

    p = sub.add_parser("configs", help="list the shipped configs usable as --config NAME")
    p.set_defaults(func=cmd_configs)

    p = sub.add_parser("show-config", help="print the composed, checked config")
    _add_config_args(p)
    p.set_defaults(func=cmd_show_config)
    for p in sub.choices.values():  # `orlvlmf fit --verbose ...` as well as `orlvlmf --verbose fit ...`
        p.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def _version() -> str:
    from orlvlmf import __version__

    return f"orlvlmf {__version__}"


def _user_errors() -> tuple[type[BaseException], ...]:
    from orlvlmf.config import ConfigError
    from orlvlmf.pipeline.stage import StageError
    from orlvlmf.registry import RegistryError

    errors: list[type[BaseException]] = [ConfigError, RegistryError, StageError, FileNotFoundError]
    from orlvlmf.data.dataset import DatasetError
    from orlvlmf.export import ExportError
    from orlvlmf.env import EnvError

    return (*errors, DatasetError, EnvError, ExportError)


def main(argv: Sequence[str] | None = None) -> int:
    _runtime_defaults()
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except SystemExit as err:
        if type(err) is SystemExit:
            raise
        # Lightning turns SIGTERM into a SystemExit subclass with code 0: a killed run must not
        # look successful.  The interrupted stage was not recorded; a rerun resumes it.
        print("terminated (SIGTERM): finished stages are kept; rerun the same command to resume",
              file=sys.stderr)
        return 143
    except Exception as err:  # noqa: BLE001 - turned into one clear line below
        if os.environ.get("ORLVLMF_DEBUG") or not isinstance(err, _user_errors()):
            raise
        print(f"orlvlmf {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
