"""Training checkpoints: a plain HF model directory plus the full training state, written atomically.

Layout of `OUT/step-00001000/`:
  model/         the weights for users: a Hugging Face checkpoint (vanilla transformers loads it), or
                 for LoRA runs the merged model — written by the job's `export` function
  state/         model and AdamW state through `torch.distributed.checkpoint` (each rank writes its
                 own shards); resume reads only this, so it never depends on HF key names
  rng-R.pt       each rank's random states: torch's CPU generator, every CUDA device's, Python's
                 `random` and NumPy's — whatever in the step draws (dropout, LoRA dropout, sampling)
                 then draws the same after a resume as in an uninterrupted run
  trainer.json   step, scheduler state, counters and the resolved config — written last

Everything is written into `step-N.tmp/`, which rank 0 renames to `step-N/` after all ranks are done;
`latest()` only accepts directories that have `trainer.json`. A kill or a full disk mid-save therefore
leaves a `.tmp` directory that resume ignores (and the next save removes), never a half checkpoint.
The data position needs no saving: batches are a pure function of the step (see `batches.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import shutil
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import check_range, option
from hare.errors import HareError, first_line
from hare.io.atomic import follow_umask
from hare.train.distributed import Dist, barrier

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def is_step_entry(name: str) -> bool:
    """A step checkpoint's directory, or one still being written (`step-N.tmp`)."""
    return bool(_STEP_DIR.match(name.removesuffix(".tmp")))


def kill_point(where: str, step: int) -> None:
    """Test hook: with `HARE_KILL_AT=WHERE:STEP` in the environment (`step:6` after step 6 is logged and
    checkpointed, `checkpoint:8` halfway through writing step 8's checkpoint), this process SIGKILLs
    itself there, so a resume test interrupts a run at a known moment instead of racing it."""
    if os.environ.get("HARE_KILL_AT") == f"{where}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def step_dir(out: Path, step: int) -> Path:
    return out / f"step-{step:08d}"


def latest(out: str | Path) -> Path | None:
    """The newest complete checkpoint under `out`, if any."""
    out = Path(out)
    if not out.is_dir():
        return None
    done = [p for p in out.iterdir() if _STEP_DIR.match(p.name) and (p / "trainer.json").is_file()]
    return max(done, key=lambda p: p.name, default=None)


@dataclass(frozen=True)
class CheckpointConfig:
    every_steps: int = option(1000, "save a resumable checkpoint every this many steps (0: only at the end)")
    keep_last: int = option(3, "how many step checkpoints to keep (older ones are deleted; at least 1)")

    def validate(self) -> None:
        check_range("checkpoint.every_steps", self.every_steps, 0, fix="0 saves only the final model")
        check_range("checkpoint.keep_last", self.keep_last, 1,
                    fix="0 would delete each checkpoint as soon as it is written, leaving nothing to --resume "
                        "from; to save none, set checkpoint.every_steps=0")


# What torch says of a state file it cannot read at all (cut short, overwritten), as opposed to one that holds
# another model's tensors.
UNREADABLE = ("failed reading", "corrupted", "unexpected EOF", "end of file")
PREFIX = "lm."  # the HF model's parameters inside the training module (loss.CausalLMLoss)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Collective: the HF model's unsharded weights on CPU (FSDP2 shards gathered, wrappers' prefixes dropped)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {key.removeprefix(PREFIX): value for key, value in full.items()}


def save(
    out: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    d: Dist,
    keep_last: int,
    export: Callable[[Path, dict[str, torch.Tensor]], None],
) -> Path:
    """Collective: every rank must call it. `export(dir, full_state)` writes `model/` on rank 0."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    final = step_dir(out, step)
    tmp = final.with_name(final.name + ".tmp")
    if d.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(d)
    full = full_state_dict(model)
    state = {"model": get_model_state_dict(model), "optimizer": get_optimizer_state_dict(model, optimizer)}
    with warnings.catch_warnings():  # one process without a group is a supported case, not a problem
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.save(state, checkpoint_id=str(tmp / "state"))
    torch.save(rng_state(), tmp / f"rng-{d.rank}.pt")
    if d.is_main:
        export(tmp / "model", full)
    kill_point("checkpoint", step)  # weights and optimizer written, trainer.json not yet: incomplete
    barrier(d)
    if d.is_main:
        record = {"format_version": FORMAT_VERSION, "step": step, **trainer_state}
        (tmp / "trainer.json").write_text(json.dumps(record, indent=2) + "\n")
        follow_umask(tmp)
        if final.is_dir() and not (final / "trainer.json").is_file():  # one `latest` skipped: no checkpoint
            shutil.rmtree(final)  # (its trainer.json lost); the rename had failed on it, a traceback
        tmp.rename(final)
        complete = sorted(p for p in out.iterdir() if _STEP_DIR.match(p.name))
        for old in complete[: max(0, len(complete) - keep_last)]:
            shutil.rmtree(old)
    barrier(d)
    return final


def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, d: Dist) -> dict[str, Any]:
    """Restore weights, optimizer and this rank's RNG from `path`; returns trainer.json."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.api import CheckpointException
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        get_optimizer_state_dict,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    state = {"model": get_model_state_dict(model), "optimizer": get_optimizer_state_dict(model, optimizer)}
    damaged = (f"checkpoint '{path}' is damaged ({{}}); delete that step-* directory to resume from the one "
               "before it, or train into a new --out")
    try:
        # DCP logs each failed read with its traceback (on the root logger) before it raises: the error below says
        # it in one line, and the tracebacks had buried it.
        with warnings.catch_warnings(), _logging_off():
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
            dcp.load(state, checkpoint_id=str(path / "state"))
    except CheckpointException as err:  # a BaseException: no `except Exception` would stop it
        failures = [f[0] if isinstance(f, tuple) else f for f in err.failures.values()]
        # first_line: a shard of garbage fails with a bare EOFError, whose text is empty (the message read "()")
        reasons = sorted({first_line(f) if isinstance(f, BaseException) else str(f) for f in failures})
        unreadable = [first_line(f) for f in failures if isinstance(f, EOFError | pickle.UnpicklingError)] + \
            [r for r in reasons if any(mark in r for mark in UNREADABLE)]
        metadata = next((m for r in reasons if (m := re.search(r"global metadata read failed: ([^;]+)", r))), None)
        if metadata:  # its index of every tensor: garbage there had read as another model's checkpoint
            raise HareError(damaged.format(f"state/.metadata cannot be read: {metadata[1]}")) from None
        if unreadable:  # a file cut short is not another config's
            raise HareError(damaged.format(first_line(unreadable[0]).split(". ")[0])) from None
        raise HareError(f"checkpoint '{path}' does not fit this run's model ({'; '.join(reasons)}); it was "
                        "written with another model config or an older HARE: resume with the config that "
                        "wrote it, or train into a new --out") from None
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optimizer"])
    rng = path / f"rng-{d.rank}.pt"
    try:
        if rng.is_file():
            set_rng_state(torch.load(rng, weights_only=False))
        trainer = json.loads((path / "trainer.json").read_text())
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:  # cut short, not JSON
        raise HareError(damaged.format(first_line(err))) from None
    missing = [key for key in ("step", "scheduler") if not isinstance(trainer, dict) or key not in trainer]
    if missing:
        raise HareError(damaged.format(f"trainer.json lacks {', '.join(missing)}"))
    return trainer


@contextlib.contextmanager
def _logging_off() -> Iterator[None]:
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def rng_state() -> dict[str, Any]:
    import random

    import numpy as np
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any] | torch.Tensor) -> None:
    """Restore `rng_state()`'s record (or, from older checkpoints, the CPU generator's tensor alone)."""
    import random

    import numpy as np
    import torch

    if isinstance(state, torch.Tensor):
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
