"""How a cell's overrides and stages are put together (see :mod:`orlvlmf.sweep.cells`)."""

from __future__ import annotations

from typing import Any

from orlvlmf.pipeline.runner import load_stage
from orlvlmf.sweep.schema import SweepConfigError


def layered_overrides(items: list[str], base: Any) -> list[str]:
    """``items`` applied in order as separate layers, in one flat list for ``load_config``.

    ``load_config`` merges all overrides as one mapping, so ``policy.encoder=...`` (for the task's
    IQL) followed by ``policy.name=bc`` would leave the IQL option in the BC node.  Here, an item
    that changes a component's name (``X.name=N`` or ``X={name: N, ...}``) drops the earlier items
    under ``X.``, the same replacement the loader applies between files.
    """
    import yaml
    from omegaconf import OmegaConf

    out: list[str] = []
    names: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        key = key.strip()
        comp, new_name = None, None
        if key.endswith(".name"):
            comp, new_name = key[: -len(".name")], yaml.safe_load(raw)
        elif raw.strip().startswith("{"):
            value = yaml.safe_load(raw)
            if isinstance(value, dict) and "name" in value:
                comp, new_name = key, value["name"]
        if comp is not None:
            old = names.get(comp, OmegaConf.select(base, f"{comp}.name", default=None))
            if new_name != old:
                out = [o for o in out if not o.partition("=")[0].strip().startswith(comp + ".")
                       and o.partition("=")[0].strip() != comp]
            names[comp] = new_name
        out.append(item)
    return out


def complete_stages(stages: list[str], run_cfg: Any) -> list[str]:
    """``stages`` with the upstream stages their inputs need inserted before them (in order).

    E.g. a train stage whose inputs include ``relabel/rewards.npz`` under this config pulls in
    ``label → reward → relabel``; the sweep cache makes that free when another method of the same
    task/quality trains the same reward model.
    """
    out: list[str] = []

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in out:
            return
        if name in chain:
            raise SweepConfigError(f"stages {' → '.join(chain + (name,))} form a cycle")
        for ref in load_stage(name).input_refs(run_cfg):
            add(ref.split("/", 1)[0], chain + (name,))
        out.append(name)

    for name in stages:
        add(name, ())
    return out
