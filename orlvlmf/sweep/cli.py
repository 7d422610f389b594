"""CLI glue of ``orlvlmf sweep`` (wired into :mod:`orlvlmf.cli` with :func:`add_parser`)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep", help="run a table of tasks × qualities × methods × seeds (e.g. --config table1.yaml)",
        description="Run every cell of a SWEEP config (configs/table1.yaml, configs/table2.yaml; not a "
                    "run config) through the stages, sharing datasets, labels and reward models; "
                    "finished cells are skipped, interrupted ones resume. Writes table.md, table.csv "
                    "and plots/<task>.png under <out_dir>/<name>/.")
    p.add_argument("--config", "-c", required=True, help="sweep config: a YAML path or a shipped name")
    p.add_argument("--protocol", help="protocol to use (default: the config's)")
    p.add_argument("--tasks", nargs="+", help="only these tasks")
    p.add_argument("--qualities", nargs="+", help="only these dataset qualities")
    p.add_argument("--methods", nargs="+", help="only these methods")
    p.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    p.add_argument("--dry-run", action="store_true", help="list the cells that would run, run nothing")
    p.add_argument("--table-only", action="store_true",
                   help="rewrite the tables (selected cells + every finished one), run nothing")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing cell")
    p.add_argument("--executor", choices=("inprocess", "ray"), default="inprocess",
                   help="inprocess (default): cells one after another in this process; ray: the stage "
                        "graph as Ray tasks (needs orlvlmf[ray]) on this machine or --address")
    p.add_argument("--address", help="with --executor ray: the Ray cluster to join (e.g. auto, "
                                     "10.0.0.5:6379); default: start Ray on this machine")
    p.add_argument("--max-parallel", type=int, metavar="N",
                   help="with --executor ray: at most N stage tasks at once (default: as many as the "
                        "cluster's resources allow)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value",
                   help="overrides of the sweep config (e.g. out_dir=/data/sweeps); put them before "
                        "--tasks/--qualities/--methods/--seeds, which take every word after them")
    p.set_defaults(func=cmd_sweep)
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    from orlvlmf.report.summary import sweep_summary
    from orlvlmf.sweep.config import load_sweep_config
    from orlvlmf.sweep.cells import filter_cells, sweep_dir
    from orlvlmf.sweep.results import table_cells
    from orlvlmf.sweep.runner import run_sweep
    from orlvlmf.sweep.tables import write_outputs

    overrides = list(args.overrides) + ([f"protocol={args.protocol}"] if args.protocol else [])
    cfg, file = load_sweep_config(args.config, overrides)
    keep = filter_cells(args.tasks, args.qualities, args.methods, args.seeds, cfg=cfg)
    if args.table_only:
        out = write_outputs(cfg, table_cells(cfg, file, keep), sweep_dir(cfg))
        print("\n".join(f"{k}: {v}" for k, v in out.items()))
        return 0
    summary = run_sweep(cfg, file, only=keep, dry_run=args.dry_run, fail_fast=args.fail_fast,
                        executor=args.executor, address=args.address, max_parallel=args.max_parallel)
    print(sweep_summary(cfg.name, sweep_dir(cfg), len(summary.ran), len(summary.skipped),
                        len(summary.failed), summary.outputs))
    return 1 if summary.failed else 0
