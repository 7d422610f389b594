"""Built-in sweep methods (table columns): stages + overrides on a task's run config.

Table I: ``iql_gt``, ``ours``, ``iql_avg``, ``bc``, ``diffusion``, ``gail``, ``clip``, and
``ours_vlm``: ours with labels from the simulated VLM (:class:`~orlvlmf.feedback.config.SimulatedVLMConfig`)
instead of the noiseless scripted teacher -- what a user with a real VLM can expect.
Table II (label noise; scripted teacher feeding the same reward → relabel → IQL pipeline):
``flip_0``, ``flip_25``, ``flip_50``, ``flip_75``, ``proximity``.
A sweep config's ``custom_methods`` adds columns or redefines these.
"""

from __future__ import annotations

from orlvlmf.sweep.schema import MethodSpec, SweepConfig, SweepConfigError

OURS_STAGES = ["collect", "label", "reward", "relabel", "train", "evaluate"]
OFFLINE_STAGES = ["collect", "train", "evaluate"]


#: The simulated VLM of the "Ours, VLM-like teacher" column (the label-quality benchmark's teacher):
#: position bias 0.3 when unsure, and proximity-dependent abstentions, guesses and flips.
VLM_LIKE = ["feedback.name=simulated_vlm", "feedback.position_bias=0.3", "feedback.unsure_p=0.5",
            "feedback.abstain_p=0.1", "feedback.flip_p=0.3", "feedback.proximity_scale=0.2"]


def _noise(p: float) -> list[str]:
    return ["feedback.name=scripted", "feedback.noise=flip", f"feedback.flip_p={p}"]


BUILTIN_METHODS: dict[str, MethodSpec] = {
    "iql_gt": MethodSpec(OFFLINE_STAGES, ["train.reward=ground_truth"], "IQL GT reward", "iql_gt"),
    "ours": MethodSpec(OURS_STAGES, [], "Offline RL-VLM-F (Ours)", "ours"),
    "ours_vlm": MethodSpec(OURS_STAGES, VLM_LIKE, "Ours, VLM-like teacher", None),
    "iql_avg": MethodSpec(OFFLINE_STAGES, ["train.reward=average"], "IQL Avg. Reward", "iql_avg"),
    # the imitation learners ignore the reward column; `average` only needs the dataset's GT reward
    "bc": MethodSpec(OFFLINE_STAGES, ["policy.name=bc", "train.reward=average"], "BC", "bc"),
    "diffusion": MethodSpec(OFFLINE_STAGES, ["policy.name=diffusion", "train.reward=average"],
                            "Diffusion Policy", "diffusion"),
    "gail": MethodSpec(OFFLINE_STAGES, ["policy.name=gail", "train.reward=average"], "GAIL", "gail"),
    "clip": MethodSpec(["collect", "clip_reward", "train", "evaluate"], ["train.reward=clip"],
                       "CLIP Reward", "clip"),
    "flip_0": MethodSpec(OURS_STAGES, _noise(0.0), "p = 0", None),
    "flip_25": MethodSpec(OURS_STAGES, _noise(0.25), "0.25", "flip_25"),
    "flip_50": MethodSpec(OURS_STAGES, _noise(0.5), "0.5", "flip_50"),
    "flip_75": MethodSpec(OURS_STAGES, _noise(0.75), "0.75", "flip_75"),
    # P(flip) = p · exp(−d / s), d the reward gap relative to the dataset's reward range
    "proximity": MethodSpec(OURS_STAGES, ["feedback.name=scripted", "feedback.noise=proximity",
                                          "feedback.flip_p=0.5", "feedback.proximity_scale=0.1"],
                            "Proximity based Flip", "proximity"),
}


def method_spec(name: str, cfg: SweepConfig | None = None) -> MethodSpec:
    if cfg is not None and name in cfg.custom_methods:
        spec = cfg.custom_methods[name]
    elif name in BUILTIN_METHODS:
        spec = BUILTIN_METHODS[name]
    else:
        import difflib

        known = sorted(set(BUILTIN_METHODS) | set(cfg.custom_methods if cfg else ()))
        hint = difflib.get_close_matches(name, known, n=1)
        raise SweepConfigError(f"unknown method '{name}'; methods: {', '.join(known)}"
                               + (f" (did you mean '{hint[0]}'?)" if hint else "")
                               + ". Define new ones under custom_methods")
    if not spec.stages:
        raise SweepConfigError(f"method '{name}' runs no stages")
    return spec


def label_of(name: str, cfg: SweepConfig | None = None) -> str:
    return method_spec(name, cfg).label or name
