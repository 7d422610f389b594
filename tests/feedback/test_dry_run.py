"""``orlvlmf label --dry-run``: queries, calls, tokens per call and price before anything is sent."""

import shutil


from feedback_helpers import make_bar_dataset
from orlvlmf.cli import main
from orlvlmf.feedback.store import LabelStore


def write_config(tmp_path, feedback: str, extra: str = "") -> str:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"name: dry\nrun_dir: {tmp_path / 'runs'}\ntask: make the red bar long\n"
                   f"pairs: {{num_queries: 40, min_gap: 2}}\nfeedback: {feedback}\n{extra}")
    return str(cfg)


def run_dir_with_dataset(tmp_path):
    run = tmp_path / "runs" / "dry"
    run.mkdir(parents=True)
    make_bar_dataset(run / "dataset.h5")
    return run


def test_dry_run_counts_prices_and_sends_nothing(tmp_path, capsys):
    run = run_dir_with_dataset(tmp_path)
    cfg = write_config(tmp_path, "{name: litellm, model: gpt-4o, api_key_env: NO_SUCH_KEY_SET, "
                                 "both_orders: true, image_size: 32}")
    assert main(["label", "--config", cfg, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "20 pairs, 40 queries (0 answered in the store), 40 to ask in 80 calls; nothing is sent" in out
    assert "stage 1 (vision): 40 calls" in out and "stage 2 (label): 40 calls" in out
    assert "price (litellm): $2.5 / $10 per million" in out and "about $" in out
    assert not (run / ".cache").exists()  # no store, no session row: nothing was started
    assert main(["label", "--config", cfg, "--dry-run", "feedback.batch=true"]) == 0
    assert "price (litellm batch): $1.25 / $5 per million" in capsys.readouterr().out


def test_dry_run_subtracts_stored_answers_and_says_unknown_prices(tmp_path, capsys, fake_server):
    from orlvlmf.feedback.stage import LabelStage
    from test_stage import make_ctx

    srv = fake_server()
    feedback = {"name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url, "image_size": 32}
    ctx, _ = make_ctx(tmp_path / "first", feedback=feedback, num=10)
    ctx.cfg.task = "make the red bar long"
    LabelStage().run(ctx)  # 10 answers in the store
    run = run_dir_with_dataset(tmp_path)
    (run / ".cache").mkdir()
    shutil.copy(ctx.run_dir / ".cache" / "label_store.sqlite", run / ".cache" / "label_store.sqlite")
    shutil.copy(ctx.inputs["collect/dataset.h5"], run / "dataset.h5")
    cfg = write_config(tmp_path, f"{{name: litellm, model: openai/fake-vlm, api_base: '{srv.url}', image_size: 32}}")
    n_logged = len(srv.log)
    assert main(["label", "--config", cfg, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "40 queries (10 answered in the store), 30 to ask in 60 calls" in out
    assert "output lengths: mean of stored answers" in out
    assert "price: unknown: litellm has no price for 'openai/fake-vlm'" in out and "cost unknown" in out
    assert len(srv.log) == n_logged  # nothing reached the endpoint
    with LabelStore(run / ".cache" / "label_store.sqlite", readonly=True) as s:
        assert len(s.sessions()) == 1  # the first run's only


def test_dry_run_of_a_teacher_and_without_a_dataset(tmp_path, capsys):
    cfg = write_config(tmp_path, "{name: scripted}")
    assert main(["label", "--config", cfg, "--dry-run"]) == 0
    assert "scripted teacher answers 40 queries (40 pairs) from the dataset at no cost" in capsys.readouterr().out
    cfg = write_config(tmp_path, "{name: litellm, model: gpt-4o}")
    assert main(["label", "--config", cfg, "--dry-run"]) == 2
    assert "run `orlvlmf collect` with this config first" in capsys.readouterr().err
    (tmp_path / "odd").mkdir()
    cfg = write_config(tmp_path / "odd", "{name: litellm, model: gpt-4o, both_orders: true}")
    (tmp_path / "odd" / "cfg.yaml").write_text((tmp_path / "odd" / "cfg.yaml").read_text().replace("40", "41"))
    assert main(["label", "--config", cfg, "--dry-run"]) == 2
    assert "pairs.num_queries=41 is odd" in capsys.readouterr().err
