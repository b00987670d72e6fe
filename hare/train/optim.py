"""AdamW with decoupled weight decay on matrices only, and the learning-rate schedules.

Norm weights and biases are excluded from weight decay (they are 1-D): decaying a norm's gain toward 0
fights the normalisation. Schedules are pure functions of the step, so resuming needs only the step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hare.config import check_range, option
from hare.errors import HareError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class OptimConfig:
    lr: float = option(5e-4, "peak learning rate (HARE README: 5e-4; the paper says 3e-4)")
    betas: tuple[float, float] = option((0.9, 0.95), "AdamW betas")
    eps: float = option(1e-8, "AdamW epsilon")
    weight_decay: float = option(0.1, "decoupled weight decay for weight matrices (not norms/biases)")
    grad_clip: float = option(1.0, "clip the global gradient norm to this; 0 disables")

    def validate(self) -> None:
        """Checked with the config, not by AdamW at the first step, which a nan or negative lr would reach
        only after the model and data are loaded (and an inf lr passes AdamW and trains to nan)."""
        check_range("optim.lr", self.lr, 0)
        if len(self.betas) != 2:
            raise HareError(f"optim.betas must be two numbers, e.g. [0.9, 0.95], got {list(self.betas)}")
        for beta in self.betas:
            check_range("optim.betas", beta, 0, 1, below=True)
        check_range("optim.eps", self.eps, 0)
        check_range("optim.weight_decay", self.weight_decay, 0)
        check_range("optim.grad_clip", self.grad_clip, 0, fix="0 disables clipping")


@dataclass(frozen=True)
class ScheduleConfig:
    name: Literal["cosine", "constant", "wsd"] = option("cosine", "warmup then cosine / constant / warmup-stable-decay")
    warmup_steps: int = option(2000, "linear warmup steps from 0 to the peak lr")
    min_lr_ratio: float = option(0.1, "final lr as a fraction of the peak (cosine and wsd)")
    decay_fraction: float = option(0.2, "wsd: the last fraction of steps that decays linearly")

    def validate(self) -> None:
        check_range("schedule.warmup_steps", self.warmup_steps, 0)
        check_range("schedule.min_lr_ratio", self.min_lr_ratio, 0, 1)
        check_range("schedule.decay_fraction", self.decay_fraction, 0, 1, above=True)


def build_optimizer(model: nn.Module, cfg: OptimConfig, fused: bool = False) -> torch.optim.Optimizer:
    import torch

    cfg.validate()
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=fused or None)


def lr_factor(step: int, total: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based) of `total`."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.name == "constant":
        return 1.0
    floor = cfg.min_lr_ratio
    if cfg.name == "cosine":
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    decay_steps = max(1, round(total * cfg.decay_fraction))
    decay_start = total - decay_steps
    if step < decay_start:
        return 1.0
    return 1.0 - (1 - floor) * (step - decay_start + 1) / decay_steps


def build_scheduler(
    optimizer: torch.optim.Optimizer, total: int | Callable[[], int], cfg: ScheduleConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    """`total` is the number of steps, or a function giving it at each step (a run whose end a time
    budget decides, `hare.train.budget`)."""
    import torch

    cfg.validate()
    steps = total if callable(total) else lambda: total
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, steps(), cfg))
