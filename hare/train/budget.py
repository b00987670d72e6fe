"""How many steps a run takes: `train.max_steps`, or as many as fit in `train.max_minutes`.

A fixed number of steps is the wrong unit on machines that differ by 3× (bf16 on a CPU with AMX
against one without): the quickstart's tool fine-tune took 6 minutes on one and would take 18 on
the other. With a time budget the run times its own steps and sets its end from what is left; the
warmup-stable-decay schedule makes that sound, because its learning rate does not depend on the end
until the decay begins (MiniCPM's and DeepSeek's reason for it). So the end is re-estimated after
every step of the stable phase — from the median of the recent steps, which follows the speed-up
when the frozen-trunk store takes over in a second epoch — and fixed when the decay begins; a
constant schedule is never fixed, it stops when the time is spent. A cosine's shape depends on the
end from the first step, so it is refused with a budget. `train.max_steps` stays an upper bound.

The decided end and the time spent go into every checkpoint, so a resumed run continues the same
schedule (and spends only what is left of the budget). With several ranks the main rank decides and
broadcasts, so every rank runs the same number of steps.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from hare.errors import HareError

if TYPE_CHECKING:
    from hare.train.distributed import Dist
    from hare.train.optim import ScheduleConfig

WINDOW = 10  # recent steps whose median predicts the next ones
TIMED = 3  # steps timed before the end may be fixed (unless the time is spent)


class StepBudget:
    """The run's end (`total`), decided from `train.max_steps` or, with `train.max_minutes`, from time."""

    def __init__(self, max_steps: int, max_minutes: float, schedule: ScheduleConfig) -> None:
        if max_minutes and schedule.name == "cosine":
            raise HareError("train.max_minutes needs schedule.name=wsd or constant: a cosine schedule's shape "
                            "depends on the run's end from the first step, which a time budget decides later")
        self.limit = 60 * max_minutes
        self.upper, self.schedule = max_steps, schedule
        self.total, self.spent, self.fixed = max_steps, 0.0, not self.limit
        self.times: deque[float] = deque(maxlen=WINDOW)
        self.last: float | None = None
        self.warm = False  # this process's first step (allocations, caches) predicts nothing

    def state(self) -> dict[str, Any]:
        return {"total": self.total, "spent_s": self.spent, "fixed": self.fixed}

    def restore(self, state: dict[str, Any] | None) -> None:
        """A checkpoint's budget; one written without a time budget (or before there was one) leaves
        `train.max_steps`."""
        if state and self.limit:
            self.total, self.spent, self.fixed = state["total"], state["spent_s"], state["fixed"]

    def start(self) -> None:
        """The clock starts at the first step (loading and setup are not steps)."""
        self.last = time.perf_counter()

    def after(self, step: int, d: Dist) -> bool:
        """Count the time since the previous step (logging and checkpoints included) and, while the end is
        open, re-estimate it; `step` steps are done. True when this call fixed the end."""
        now = time.perf_counter()
        seconds, self.last = now - (now if self.last is None else self.last), now
        if not self.limit:
            return False
        self.spent += seconds
        if self.fixed:
            return False
        if self.warm:
            self.times.append(seconds)
        self.warm = True
        per_step = max(1e-6, statistics.median(self.times) if self.times else seconds)
        left = max(0, int((self.limit - self.spent) / per_step))
        self.total = _broadcast(min(self.upper, step + left), d)
        decaying = self.schedule.name == "wsd" and step + 1 >= self.decay_start() and len(self.times) >= TIMED
        if self.total <= step or decaying:
            self.fixed = True
            return True
        return False

    def decay_start(self) -> int:
        return self.total - max(1, round(self.total * self.schedule.decay_fraction))

    def describe(self) -> str:
        if not self.limit:
            return f"{self.total} steps"
        if self.fixed:
            return f"{self.total} steps (fitted to train.max_minutes={self.limit / 60:g})"
        return f"up to {self.upper} steps, as many as fit in train.max_minutes={self.limit / 60:g}"


def _broadcast(value: int, d: Dist) -> int:
    if d.world == 1:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], device=d.device)
    dist.broadcast(tensor, src=0)
    return int(tensor.item())
