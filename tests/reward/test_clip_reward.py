import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.pipeline.manifest import Manifest
from orlvlmf.reward.clip_reward import ClipWeightsError, clip_scores, goal_sentence, load_clip, write_clip_rewards
from orlvlmf.reward.column import load_rewards
from orlvlmf.reward.config import ClipRewardConfig
from tests.reward.conftest import make_dataset

torch.set_num_threads(1)

TINY = {"embed_dim": 16,
        "vision_cfg": {"layers": 1, "width": 32, "head_width": 16, "patch_size": 8, "image_size": 32},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("clip") / "d.h5", episodes=3, horizon=10)


def test_scores_are_cosine_similarities_of_the_two_towers():
    torch.manual_seed(0)
    model, tok, ident = load_clip(ClipRewardConfig(model_config=TINY))
    assert ident.endswith("random-init")
    imgs = np.random.default_rng(0).integers(0, 255, (5, 24, 24, 3), dtype=np.uint8)
    got = clip_scores(model, tok, "The drawer is opened.", [imgs[:3], imgs[3:]])
    from orlvlmf.reward.clip_reward import preprocess_images

    with torch.no_grad():
        fi = model.encode_image(preprocess_images(imgs, 32))
        ft = model.encode_text(tok(["The drawer is opened."]))
    ref = torch.nn.functional.cosine_similarity(fi, ft.expand_as(fi), dim=-1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert got.shape == (5,) and np.all(np.abs(got) <= 1 + 1e-6)
    other = clip_scores(model, tok, "The soccer ball is in the goal.", [imgs])
    assert not np.allclose(other, got)


def test_goal_sentences():
    assert goal_sentence(ClipRewardConfig(), "drawer-open") == "The drawer is opened."
    assert goal_sentence(ClipRewardConfig(sentence="A door."), "drawer-open") == "A door."
    with pytest.raises(ValueError, match="clip.sentence"):
        goal_sentence(ClipRewardConfig(), "my-env")


def test_rewards_file_in_relabel_format(dataset, tmp_path):
    torch.manual_seed(0)
    cfg = ClipRewardConfig(model_config=TINY, batch_size=7, normalize="zscore")
    ds = OfflineDataset.open(dataset)
    out = write_clip_rewards(tmp_path / "rewards.npz", ds.without_ground_truth(), cfg, "drawer-open")
    col = load_rewards(tmp_path / "rewards.npz", ds.num_transitions)
    assert out["transitions"] == ds.num_transitions == 30
    assert abs(col.reward.mean()) < 1e-5 and abs(col.reward.std() - 1) < 1e-3
    assert col.provenance["norm_method"] == "zscore" and col.provenance["score"] == "next"
    torch.manual_seed(0)
    model, tok, _ = load_clip(cfg)
    frames = ds.next_observations("image", np.arange(ds.num_transitions))
    np.testing.assert_allclose(col.reward_raw, clip_scores(model, tok, "The drawer is opened.", [frames]),
                               atol=1e-5)


def test_local_weights_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    model, tok, _ = load_clip(ClipRewardConfig(model_config=TINY))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(2)
    again, _, ident = load_clip(ClipRewardConfig(model_config=TINY, weights=str(tmp_path / "w.pt")))
    imgs = np.full((2, 32, 32, 3), 90, np.uint8)
    np.testing.assert_allclose(clip_scores(again, tok, "x", [imgs]), clip_scores(model, tok, "x", [imgs]),
                               atol=1e-6)
    assert "random-init" not in ident


def test_no_weights_offline_says_how_to_provide_them(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("ORLVLMF_CLIP_WEIGHTS", raising=False)
    with pytest.raises(ClipWeightsError, match="clip.weights.*ORLVLMF_CLIP_WEIGHTS"):
        load_clip(ClipRewardConfig())
    with pytest.raises(ClipWeightsError, match="is not a file"):
        load_clip(ClipRewardConfig(weights=str(tmp_path / "missing.bin")))


def test_clip_reward_stage_through_the_pipeline(dataset, tmp_path):
    from orlvlmf.pipeline.runner import Pipeline

    cfg = OmegaConf.create({"name": "clip", "run_dir": str(tmp_path), "seeds": [0],
                            "env": {"name": "drawer-open"}, "trainer": {"num_threads": 1},
                            "clip": {"model_config": TINY}})
    run = tmp_path / "clip"
    run.mkdir()
    (run / "dataset.h5").write_bytes(dataset.read_bytes())
    Manifest(run).put("collect", {"fingerprint": "given", "summary": {},
                                  "outputs": {"dataset.h5": Manifest.describe_output(run / "dataset.h5")}})
    pipe = Pipeline(cfg, echo=lambda s: None)
    torch.manual_seed(0)
    (res,) = pipe.run_stage("clip_reward")
    assert res.status == "ran" and res.summary["sentence"] == "The drawer is opened."
    assert len(load_rewards(run / "rewards.npz", 30).reward) == 30
    (again,) = Pipeline(cfg, echo=lambda s: None).run_stage("clip_reward")
    assert again.status == "skipped"
