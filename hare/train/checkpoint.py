"""Training checkpoints: a plain HF model directory plus the full training state, written atomically.

Layout of `OUT/step-00001000/`:
  model/         the fp32 master weights as a Hugging Face checkpoint (vanilla transformers loads it)
  optimizer/     AdamW state through `torch.distributed.checkpoint` (each rank writes its own shard)
  rng-R.pt       each rank's torch RNG state
  trainer.json   step, scheduler state, counters and the resolved config — written last

Everything is written into `step-N.tmp/`, which rank 0 renames to `step-N/` after all ranks are done;
`latest()` only accepts directories that have `trainer.json`. A kill or a full disk mid-save therefore
leaves a `.tmp` directory that resume ignores (and the next save removes), never a half checkpoint.
The data position needs no saving: batches are a pure function of the step (see `batches.py`).
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import option
from hare.train.distributed import Dist, barrier

if TYPE_CHECKING:
    import torch
    from torch import nn
    from transformers import PreTrainedTokenizerFast

FORMAT_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def step_dir(out: Path, step: int) -> Path:
    return out / f"step-{step:08d}"


def latest(out: str | Path) -> Path | None:
    """The newest complete checkpoint under `out`, if any."""
    out = Path(out)
    if not out.is_dir():
        return None
    done = [p for p in out.iterdir() if _STEP_DIR.match(p.name) and (p / "trainer.json").is_file()]
    return max(done, key=lambda p: p.name, default=None)


@dataclass
class CheckpointConfig:
    every_steps: int = option(1000, "save a resumable checkpoint every this many steps (0: only at the end)")
    keep_last: int = option(3, "how many step checkpoints to keep (older ones are deleted)")


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
    hf_model: nn.Module,
    tok: PreTrainedTokenizerFast,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    d: Dist,
    keep_last: int,
) -> Path:
    """Collective: every rank must call it. Returns the final checkpoint directory."""
    import torch
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    from hare.model.tokenizer import save_tokenizer

    final = step_dir(out, step)
    tmp = final.with_name(final.name + ".tmp")
    if d.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(d)
    full = full_state_dict(model)
    optim_state = get_optimizer_state_dict(model, optimizer)
    with warnings.catch_warnings():  # one process without a group is a supported case, not a problem
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.save({"optimizer": optim_state}, checkpoint_id=str(tmp / "optimizer"))
    torch.save(torch.get_rng_state(), tmp / f"rng-{d.rank}.pt")
    if d.is_main:
        hf_model.save_pretrained(tmp / "model", state_dict=full)
        save_tokenizer(tok, tmp / "model")
    barrier(d)
    if d.is_main:
        state = {"format_version": FORMAT_VERSION, "step": step, **trainer_state}
        (tmp / "trainer.json").write_text(json.dumps(state, indent=2) + "\n")
        tmp.rename(final)
        complete = sorted(p for p in out.iterdir() if _STEP_DIR.match(p.name))
        for old in complete[: max(0, len(complete) - keep_last)]:
            shutil.rmtree(old)
    barrier(d)
    return final


def load(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, d: Dist
) -> dict[str, Any]:
    """Restore weights, optimizer and this rank's RNG from `path`; returns trainer.json."""
    import torch
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_optimizer_state_dict,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    weights: dict[str, torch.Tensor] = {}
    for file in sorted((path / "model").glob("*.safetensors")):
        weights.update(load_file(file))
    weights = {PREFIX + key: value for key, value in weights.items()}
    set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))
    optim_state = get_optimizer_state_dict(model, optimizer)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load({"optimizer": optim_state}, checkpoint_id=str(path / "optimizer"))
    set_optimizer_state_dict(model, optimizer, optim_state)
    rng = path / f"rng-{d.rank}.pt"
    if rng.is_file():
        torch.set_rng_state(torch.load(rng))
    return json.loads((path / "trainer.json").read_text())
