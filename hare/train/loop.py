"""The training loop shared by every job: one `train_step`, one `evaluate`, one `fit`.

A step accumulates gradients over this rank's micro-batches (loss scaled by 1/accumulation so the
sum is a mean), lets DDP/FSDP2 average across ranks on the last micro-batch only, clips, and steps
optimizer and schedule. The loss is computed here, in fp32, from shifted targets, so it is the same
token-mean cross-entropy on every parallel layout.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hare.config import check_range, option
from hare.errors import HareError
from hare.train.checkpoint import kill_point, rng_state, set_rng_state
from hare.train.distributed import Dist, all_reduce_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hare.train.batches import GlobalBatches
    from hare.train.budget import StepBudget


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = option(1000, "optimizer steps to train for (with max_minutes: at most)")
    max_minutes: float = option(0.0, "wall-clock budget of the steps; the run ends when it is spent, its end "
                                     "fixed when the wsd decay begins (0: train.max_steps decides)")
    global_batch_tokens: int = option(2_097_152, "tokens per optimizer step over all ranks (HARE: 1024 × 2048)")
    micro_batch_size: int = option(8, "sequences per forward pass on each rank; accumulation makes up the rest")
    # `auto` by default: on a CPU with AVX2 alone bf16 matmuls ran at 0.7 GFLOP/s against fp32's 124 (AMD EPYC,
    # 2026-12-06), so a fixed bf16 made every recipe that did not name its precision crawl there.
    precision: Literal["auto", "bf16", "fp32"] = option(
        "auto", "auto: the faster of bf16 and fp32 on this machine (measured once per CPU; bf16 on a GPU that has "
                "it), bf16 (autocast, fp32 master weights) or fp32")
    parallel: Literal["ddp", "fsdp2"] = option("ddp", "replicate (DDP) or shard (FSDP2 fully_shard) the model")
    activation_checkpointing: bool = option(False, "recompute layer activations in backward to save memory")
    compile: bool = option(False, "torch.compile the model")
    fp8: bool = option(False, "torchao float8 training of the linear layers (GPUs with compute capability >= 8.9)")
    fp8_emulate: bool = option(False, "with fp8: emulate float8 matmuls so the fp8 path runs on CPU (slow; tests)")
    seed: int = option(0, "seed of the weight initialisation (LoRA adapters too) and of dropout")
    device: str = option("auto", "auto, cpu or cuda (each rank takes cuda:LOCAL_RANK)")


@dataclass(frozen=True)
class LogConfig:
    eval_every_steps: int = option(500, "validation loss every this many steps (0: only at the end)")
    eval_batches: int = option(10, "validation size in micro-batches (split over the ranks)")
    tensorboard: bool = option(False, "also write TensorBoard scalars to OUT/tensorboard")
    peak_flops: float = option(0.0, "per-device peak FLOP/s for MFU; 0 = GPU spec sheet or a matmul measured here")
    progress: bool = option(True, "show a progress bar")

    def validate(self) -> None:
        check_range("log.peak_flops", self.peak_flops, 0, fix="0 measures it here")  # negative: every MFU read 100 %
        # negative: `step % -1 == 0` held at every step, so a run validated after each one
        check_range("log.eval_every_steps", self.eval_every_steps, 0, fix="0 validates only at the end")
        check_range("log.eval_batches", self.eval_batches, 1, fix="the default is 10")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _sync_context(model: nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce on all but the last micro-batch (DDP and FSDP2)."""
    if hasattr(model, "no_sync") and not sync:
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(sync)
    return contextlib.nullcontext()


def train_step(
    model: nn.Module,
    micro_batches: list[dict[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    grad_clip: float,
    precision: str,
    d: Dist,
) -> tuple[float, float, int]:
    """One optimizer step over this rank's micro-batches.

    Every micro-batch's summed loss is divided by the number of counted targets in the whole global
    batch (all ranks), times the ranks that DDP/FSDP2 average over: the step then minimises the true
    token mean even when micro-batches hold different numbers of trained tokens (SFT masks, padding).
    Returns (global mean loss, gradient norm, input tokens processed over all ranks).
    """
    import torch

    from hare.train.loss import IGNORE

    batches = [{k: v.to(d.device, non_blocking=True) for k, v in b.items()} for b in micro_batches]
    counts = torch.tensor([sum(int((b["targets"] != IGNORE).sum()) for b in batches),
                           sum(b["input_ids"].numel() for b in batches)], device=d.device, dtype=torch.float64)
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(counts)
    divisor = (counts[0].clamp(min=1) / d.world).float()
    total = torch.zeros((), device=d.device)
    for i, batch in enumerate(batches):
        with _sync_context(model, i == len(batches) - 1), autocast(precision, d.device):
            loss = model(**batch, divisor=divisor)
        loss.backward()
        total += loss.detach()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0 else float("inf"))
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return all_reduce_mean(total, d).item(), float(norm), int(counts[1])


def evaluate(model: nn.Module, items: Any, collate: Callable[[list[Any]], dict[str, torch.Tensor]],
             batches: int, micro: int, precision: str, d: Dist) -> float:
    """Token-mean loss over the first `batches × micro` held-out items, whatever the number of ranks.

    Item j goes to rank j mod world; every rank runs the same number of forwards (FSDP2 needs
    matching collectives), filling a short last micro-batch with rows whose targets are ignored.
    """
    import math

    import torch

    from hare.train.loss import IGNORE

    total = min(batches * micro, len(items))
    mine = list(range(d.rank, total, d.world))
    forwards = math.ceil(math.ceil(total / d.world) / micro)
    sums = torch.zeros(2, device=d.device)  # (summed token losses, counted tokens)
    model.eval()
    with torch.no_grad():
        for b in range(forwards):
            chunk = mine[b * micro:(b + 1) * micro]
            batch = collate([items[j] for j in chunk + [0] * (micro - len(chunk))])
            batch["targets"] = batch["targets"].clone()  # pretraining targets share storage with the inputs
            batch["targets"][len(chunk):] = IGNORE
            batch = {k: v.to(d.device) for k, v in batch.items()}
            with autocast(precision, d.device):
                mean = model(**batch)
            counted = (batch["targets"] != IGNORE).sum()
            sums += torch.stack([mean * counted, counted.float()])
    model.train()
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(sums)
    return (sums[0] / sums[1].clamp(min=1)).item()


@dataclass
class Progress:
    """What `fit` reports after each step."""

    step: int
    loss: float
    lr: float
    grad_norm: float
    tokens: int  # input tokens of this step, all ranks
    tokens_per_s: float
    flops_per_s: float  # achieved per device: the step's FLOPs (`count_flops`) over its time


def count_flops(model: nn.Module, batch: dict[str, torch.Tensor], precision: str, d: Dist) -> float:
    """FLOPs per input token of a training forward and backward, as done rather than assumed.

    6·N (PaLM) holds for full training only: LoRA computes no weight gradients for frozen weights,
    frozen lower layers stop the backward pass, and the loss computes the output layer only where a
    target counts and its gradient only for trained rows; counted as 6·N, such runs showed MFU over
    100 %. So torch's `FlopCounterMode` counts one forward and backward of `batch`, matmuls and
    attention included, before training starts, and everything it changes is put back (gradients,
    random generators; the frozen-trunk store is bypassed): computed under the counter, a step rounds
    differently, and a resumed run must repeat an uninterrupted one bit for bit. That count includes
    the frozen layers' forward, which the frozen-trunk store skips after the first epoch."""
    from torch.utils.flop_counter import FlopCounterMode

    from hare.train.metrics import cpu_attention_flops

    loss_module = getattr(model, "module", model)
    trunk, loss_module.trunk = loss_module.trunk, None
    saved = rng_state()
    batch = {k: v.to(d.device) for k, v in batch.items()}
    try:
        with FlopCounterMode(display=False, custom_mapping=cpu_attention_flops()) as counter, \
                _sync_context(model, False), autocast(precision, d.device):
            model(**batch).backward()
    finally:
        loss_module.trunk = trunk
        set_rng_state(saved)
        for p in model.parameters():
            p.grad = None
    return counter.get_total_flops() / batch["input_ids"].numel()


def fit(
    model: nn.Module,
    batches: GlobalBatches,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    cfg: TrainConfig,
    grad_clip: float,
    d: Dist,
    start_step: int,
    flops_per_token: float,
    on_step: Callable[[Progress], None],
    budget: StepBudget,
) -> None:
    """Run steps `start_step … budget.total − 1`; `on_step` logs, evaluates and checkpoints."""
    import torch

    model.train()
    micro = cfg.micro_batch_size
    budget.start()
    step = start_step
    while step < budget.total:
        started = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        loss, norm, tokens = train_step(model, batches.micro_batches(step, d.rank, d.world, micro), optimizer,
                                        scheduler, grad_clip, cfg.precision, d)
        if not math.isfinite(loss):  # the same on every rank (all-reduced); no checkpoint is written of such weights
            raise HareError(f"the loss became {loss} at step {step + 1} (learning rate {lr:.3g}): the weights are no "
                            "longer numbers, so the run stops; lower optim.lr (or raise optim.eps) and --resume from "
                            "the last checkpoint")
        if d.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        tokens_per_s = tokens / seconds
        step += 1
        budget.after(step, d)
        on_step(Progress(step, loss, lr, norm, tokens, tokens_per_s, tokens_per_s * flops_per_token / d.world))
        kill_point("step", step)
