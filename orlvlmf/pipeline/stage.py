"""What a pipeline stage is, and what it sees while it runs.

A stage reads config sections and upstream artifacts and writes its own artifacts.  It never
writes into the run directory directly: it writes into ``ctx.output(name)`` (a staging path) and
the runner moves finished artifacts into place, so an interrupted stage leaves nothing that looks
complete.  A stage that can resume keeps its checkpoints in ``ctx.work_dir``, which survives an
interruption as long as the stage's inputs are unchanged.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("orlvlmf")

#: CPU threads an executor gave this process (set by the sweep's Ray tasks to their ``num_cpus``).
THREADS_ENV = "ORLVLMF_NUM_THREADS"


def torch_threads(configured: int) -> int:
    """Threads a stage's torch work may use: what the executor gave this process
    (``$ORLVLMF_NUM_THREADS``), else ``configured`` (``trainer.num_threads``); at least 1.

    The executor's number wins so that tasks placed side by side do not oversubscribe the cores,
    and it is read from the environment rather than the config so that the stages' fingerprints
    do not depend on where they ran.
    """
    given = os.environ.get(THREADS_ENV)
    return max(1, int(given) if given else int(configured or 1))


class StageError(RuntimeError):
    """A stage cannot run (missing input, bad data, bad settings); the message says what to do."""


@dataclass
class StageContext:
    """Everything a running stage may touch."""

    cfg: DictConfig
    run_dir: Path
    stage: str
    seed: int | None
    staging_dir: Path
    work_dir: Path
    inputs: dict[str, Path] = field(default_factory=dict)
    artifacts_dir: Path | None = None

    def output(self, name: str) -> Path:
        """Path to write artifact ``name`` to; it is moved into place when the stage succeeds."""
        path = self.staging_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def input(self, name: str) -> Path:
        """Final path of an upstream artifact (``stage/artifact`` or a bare artifact name)."""
        if name in self.inputs:
            return self.inputs[name]
        matches = [p for k, p in self.inputs.items() if k.split("/", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        raise StageError(
            f"stage '{self.stage}' asked for input '{name}', which is not among its inputs "
            f"({', '.join(self.inputs) or 'none'})"
        )

    def log(self, message: str) -> None:
        log.info("[%s] %s", self.stage, message)

    def resumable(self, checkpoint: Path) -> bool:
        """Whether an interrupted run left ``checkpoint`` (in the work dir) and it can be read.

        A checkpoint that cannot be read (truncated by a full disk, ...) is set aside with a
        warning — with everything else the interrupted run left in the work dir — so the stage
        starts over instead of failing on it for good.  The check reads the archive ``torch.save``
        writes and verifies every member's CRC, without unpickling it (the fit loads it next).
        """
        checkpoint = Path(checkpoint)
        if not checkpoint.exists():
            return False
        try:
            with zipfile.ZipFile(checkpoint) as archive:
                damaged = archive.testzip()
            if damaged is not None:
                raise zipfile.BadZipFile(f"member {damaged} fails its CRC check")
            return True
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is set aside
            stem = f"{self.work_dir.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}"
            aside = self.work_dir.with_name(stem)
            n = 1
            while aside.exists():  # set aside twice within a second
                aside, n = self.work_dir.with_name(f"{stem}-{n}"), n + 1
            os.replace(self.work_dir, aside)
            self.work_dir.mkdir(parents=True)
            log.warning("[%s] the checkpoint %s cannot be read (%s: %s); set aside in %s, starting "
                        "over", self.stage, checkpoint, type(err).__name__, str(err)[:200], aside)
            return False

    def set_torch_threads(self) -> int:
        """torch's CPU threads: :func:`torch_threads` of ``trainer.num_threads`` (1 without a
        trainer section); stages that compute with torch call it before they start."""
        import torch

        n = torch_threads(OmegaConf.select(self.cfg, "trainer.num_threads", default=1))
        torch.set_num_threads(n)
        return n

    def torch_device(self) -> str:
        """Where a stage's own torch work (scoring frames) runs: :func:`device_of_accelerator` of
        ``trainer.accelerator`` (the one Lightning trains on)."""
        return device_of_accelerator(OmegaConf.select(self.cfg, "trainer.accelerator", default="cpu"))


def device_of_accelerator(accelerator: str) -> str:
    """The torch device of a Lightning ``accelerator`` name: ``gpu`` / ``cuda`` -> ``cuda``, ``auto``
    -> ``cuda`` when one is available, anything else (``cpu``) -> ``cpu``."""
    import torch

    name = str(accelerator).lower()
    if name in ("gpu", "cuda") or (name == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


class Stage:
    """Base class of pipeline stages; register subclasses with ``@register("stages", NAME)``.

    Class attributes
        sections: config sections (dotted) whose content decides whether the stage must rerun
            (or override :meth:`config_sections` when they depend on the config)
        inputs: upstream ``stage/artifact`` names it reads (or override :meth:`input_refs`)
        outputs: artifact names it writes (files or directories under its staging dir)
        per_seed: run once per entry of ``seeds`` (artifacts under ``seed_<k>/``)
        version: bump when the stage's behaviour changes so old artifacts are redone
        simulator_optional: ``fit`` skips the stage (one line) when the simulator it needs is
            missing, instead of refusing the run (see :meth:`missing_simulator`)
        resume_note: what an interrupted run keeps elsewhere (the label store's answers), said
            when a rerun finds no checkpoint in the work dir and starts over
    """

    sections: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    per_seed: ClassVar[bool] = False
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    simulator_optional: ClassVar[bool] = False
    resume_note: ClassVar[str] = ""

    def missing_simulator(self, cfg: DictConfig) -> str | None:
        """Why this stage cannot run with ``cfg`` for lack of a simulator (None: it can)."""
        return None

    def config_sections(self, cfg: DictConfig) -> tuple[str, ...]:
        """Config sections this run depends on; override when they depend on the config."""
        return tuple(self.sections)

    def input_refs(self, cfg: DictConfig) -> tuple[str, ...]:
        """Upstream artifacts this run needs; override when they depend on the config."""
        return tuple(self.inputs)

    def run(self, ctx: StageContext) -> dict[str, Any] | None:
        """Do the work; return a small summary dict (shown as one line, kept in the manifest)."""
        raise NotImplementedError
