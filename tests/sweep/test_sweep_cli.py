import argparse

import pytest

from orlvlmf.sweep.cli import add_parser
from tests.sweep.helpers import CALLS, write_sweep  # registers the fake stages


def run_cli(argv):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", *argv])
    return args.func(args)


def test_dry_run_filters_and_table_only(tmp_path, capsys):
    CALLS.clear()
    path = write_sweep(tmp_path)
    assert run_cli(["--config", str(path), "--dry-run", "--methods", "one", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("would run") == 2 and "_two_" not in out
    assert not (tmp_path / "out/tiny/results").exists()

    assert run_cli(["--config", str(path), "--qualities", "expert"]) == 0
    assert "4 cells ran" in capsys.readouterr().out
    assert CALLS["collect:expert"] == 1 and "collect:random" not in CALLS
    (tmp_path / "out/tiny/table.md").unlink()
    assert run_cli(["--config", str(path), "--table-only"]) == 0
    md = (tmp_path / "out/tiny/table.md").read_text()
    assert "| toy | expert | -105.00 (5.00) | -205.00 (5.00) |" in md
    assert "| toy | random | – | – |" in md

    # a later part of the sweep leaves the whole table behind: its own cells and the finished ones
    (tmp_path / "out/tiny/table.md").unlink()
    assert run_cli(["--config", str(path), "--qualities", "random", "--methods", "one"]) == 0
    md = (tmp_path / "out/tiny/table.md").read_text()
    assert "| toy | expert | -105.00 (5.00) | -205.00 (5.00) |" in md
    assert "| toy | random | -155.00 (5.00) | – |" in md
    # --table-only with a filter still shows every finished cell
    assert run_cli(["--config", str(path), "--table-only", "--qualities", "expert"]) == 0
    assert "| toy | random | -155.00 (5.00) | – |" in (tmp_path / "out/tiny/table.md").read_text()

    # a column with one seed of two finished says so, also when another part of the sweep writes the table
    assert run_cli(["--config", str(path), "--qualities", "random", "--methods", "two", "--seeds", "0"]) == 0
    assert run_cli(["--config", str(path), "--table-only", "--qualities", "expert"]) == 0
    assert "| toy | random | -155.00 (5.00) | -250.00 (0.00) [1/2 seeds] |" in \
        (tmp_path / "out/tiny/table.md").read_text()


def test_cli_override_and_bad_config(tmp_path):
    from orlvlmf.config import ConfigError

    path = write_sweep(tmp_path)
    with pytest.raises(ConfigError, match="protocol 'nope'"):
        run_cli(["--config", str(path), "--protocol", "nope"])
    with pytest.raises(ConfigError, match="--methods out_dir=/x: not in the sweep's methods"):
        run_cli(["--config", str(path), "--dry-run", "--methods", "one", "out_dir=/x"])
    assert run_cli(["--config", str(path), f"out_dir={tmp_path / 'elsewhere'}", "--seeds", "0"]) == 0
    assert (tmp_path / "elsewhere/tiny/table.md").is_file()
    with pytest.raises(ConfigError, match="--address and --max-parallel go with --executor ray"):
        run_cli(["--config", str(path), "--max-parallel", "2"])
    with pytest.raises(SystemExit):  # argparse: invalid choice
        run_cli(["--config", str(path), "--executor", "dask"])
