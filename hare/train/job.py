"""Running a training job: what pretraining and SFT share beyond the loop itself.

Given a prepared model, its batches and an export function, `run` builds optimizer and schedule,
resumes from the newest complete checkpoint, shows progress (loss, lr, tokens/s, MFU), writes
metrics, evaluates, checkpoints every N steps, and exports the final model atomically to OUT/final.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn
    from transformers import PretrainedConfig, PreTrainedModel

    from hare.train.batches import GlobalBatches
    from hare.train.distributed import Dist
    from hare.train.frozen_trunk import FrozenTrunk
    from hare.train.loop import TrainConfig

Export = Callable[[Path, dict[str, "torch.Tensor"]], None]


@dataclass
class Job:
    name: str  # "pretrain", "sft": prefixes the log lines
    cfg: Any  # the resolved config: out, train, optim, schedule, checkpoint, log sections
    model: nn.Module  # prepared (wrapped) training module; forward returns the loss
    model_config: PretrainedConfig
    batches: GlobalBatches
    seq_len: int
    export: Export  # writes the user-facing model directory from the full state dict (rank 0)
    evaluate: Callable[[], float] | None = None
    describe: str = ""


def prepare(model: PreTrainedModel, cfg: TrainConfig, d: Dist, trunk: FrozenTrunk | None = None) -> nn.Module:
    """Move, transform and wrap the model for training; the result's forward returns the loss (its
    decoder's frozen lower part through `trunk`'s store, if given).

    `torch.compile` applies in place to the decoder stack (`Module.compile`), so parameter names and
    checkpoints are the same with or without it.
    """
    from hare.train.distributed import wrap
    from hare.train.fp8 import apply_fp8
    from hare.train.loss import CausalLMLoss

    model.to(d.device)
    if cfg.activation_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if cfg.fp8:
        apply_fp8(model, d.device, cfg.fp8_emulate)
    if cfg.compile:
        model.model.compile()
    return wrap(CausalLMLoss(model, compile=cfg.compile, trunk=trunk), cfg.parallel, d, layers=list(model.model.layers))


def choose_precision(cfg: TrainConfig, d: Dist) -> str:
    """Settle `precision=auto` for this machine before anything runs; returns what the log should say."""
    from hare.train.precision import resolve

    cfg.precision, why = resolve(cfg.precision, d.device)  # type: ignore[assignment]
    return f"{cfg.precision} ({why})"


def find_checkpoint(out: str, resume: bool) -> Path | None:
    """The checkpoint to resume from; a run directory with checkpoints is never silently reused."""
    from hare.errors import HareError
    from hare.train import checkpoint

    found = checkpoint.latest(out)
    if found and not resume:
        raise HareError(f"'{out}' already holds checkpoints ({found.name}); pass --resume to continue, "
                        "or a new --out")
    return found


def check_shapes(cfg: TrainConfig, seq_len: int, model_config: PretrainedConfig, world: int) -> int:
    """Reject bad step shapes before any work; returns the micro-batches per rank per step."""
    from hare.errors import HareError

    if cfg.max_steps < 1 or cfg.micro_batch_size < 1 or seq_len < 2:
        raise HareError("need train.max_steps >= 1, train.micro_batch_size >= 1 and data.seq_len >= 2")
    if seq_len > model_config.max_position_embeddings:
        raise HareError(f"data.seq_len={seq_len} exceeds the model's max_position_embeddings="
                        f"{model_config.max_position_embeddings}; lower data.seq_len")
    if cfg.fp8_emulate and not cfg.fp8:
        raise HareError("train.fp8_emulate only applies with train.fp8=true")
    per_pass = seq_len * cfg.micro_batch_size * world
    if cfg.global_batch_tokens % per_pass:
        raise HareError(
            f"train.global_batch_tokens={cfg.global_batch_tokens} is not divisible by seq_len × "
            f"micro_batch_size × ranks = {seq_len} × {cfg.micro_batch_size} × {world} = {per_pass}; "
            "choose a global batch that is a multiple of it")
    return cfg.global_batch_tokens // per_pass


def run(job: Job, d: Dist, found: Path | None, resume: bool) -> Path:
    """Train `job` to `train.max_steps`; returns OUT/final.

    Whatever happens — a finished run, a bad batch, Ctrl-C — the progress bar, the metrics writer and
    the process group are closed on the way out, so a failed step leaves a run directory that the next
    `--resume` continues from its newest checkpoint, and a caller in the same process can start again."""
    from tqdm import tqdm

    from hare.config import to_yaml
    from hare.train.distributed import shutdown
    from hare.train.metrics import MetricsWriter

    bar = writer = None
    try:
        optimizer, scheduler, start = _restore(job, d, found)
        if d.is_main:
            out = Path(job.cfg.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.yaml").write_text(to_yaml(job.cfg))
            writer = MetricsWriter(out, job.cfg.log.tensorboard, start)
            if resume and not found:
                print(f"{job.name}: no checkpoint in '{out}' yet, starting from step 0")
            print(f"{job.name}: {job.describe}, steps {start}→{job.cfg.train.max_steps}"
                  f"{' (resumed from ' + found.name + ')' if found else ''}")
        bar = tqdm(total=job.cfg.train.max_steps, initial=start, disable=not (d.is_main and job.cfg.log.progress),
                   unit="step", dynamic_ncols=True)
        return _train(job, d, optimizer, scheduler, start, bar, writer)
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        shutdown()


def _restore(job: Job, d: Dist, found: Path | None) -> tuple[Any, Any, int]:
    """Optimizer and schedule, from the checkpoint `found` if there is one; and the step to start at."""
    from hare.train import checkpoint
    from hare.train.optim import build_optimizer, build_scheduler

    optimizer = build_optimizer(job.model, job.cfg.optim, fused=True)
    scheduler = build_scheduler(optimizer, job.cfg.train.max_steps, job.cfg.schedule)
    if not found:
        return optimizer, scheduler, 0
    state = checkpoint.load(found, job.model, optimizer, d)
    scheduler.load_state_dict(state["scheduler"])
    return optimizer, scheduler, state["step"]


def _train(job: Job, d: Dist, optimizer: Any, scheduler: Any, start: int, bar: Any, writer: Any) -> Path:
    import torch

    from hare.config import to_yaml
    from hare.io.atomic import atomic_output
    from hare.train import checkpoint
    from hare.train.distributed import barrier
    from hare.train.loop import count_flops, fit
    from hare.train.metrics import flops_per_token, peak_flops

    cfg, out = job.cfg, Path(job.cfg.out)
    compute_dtype = torch.bfloat16 if cfg.train.precision == "bf16" else torch.float32
    peak, source = (cfg.log.peak_flops, "log.peak_flops") if cfg.log.peak_flops else peak_flops(d.device,
                                                                                                   compute_dtype)
    flops = flops_per_token(job.model_config, job.seq_len)  # PaLM's estimate, where counting cannot see
    if not cfg.train.compile and cfg.train.parallel != "fsdp2":
        flops = count_flops(job.model, job.batches.micro_batches(start, d.rank, d.world, cfg.train.micro_batch_size)[0],
                            cfg.train.precision, d)
    summary: dict[str, Any] = {"started": time.time(), "tokens": 0, "mfu": [], "peak": peak, "measured": peak,
                               "source": source}

    def run_eval(step: int) -> None:
        if job.evaluate is None:
            return
        loss = summary["val_loss"] = job.evaluate()
        if writer:
            writer.write({"kind": "val", "step": step, "loss": loss, "ppl": math.exp(min(loss, 50))})
            bar.write(f"step {step}: val loss {loss:.4f}, ppl {math.exp(min(loss, 50)):.2f}")

    def on_step(p: Any) -> None:
        # A step that beats the peak shows it was measured low (a busy moment): the peak is raised to what
        # the step achieved, so MFU never reads above 100 %.
        summary["peak"] = max(summary["peak"], p.flops_per_s)
        mfu = p.flops_per_s / summary["peak"]
        summary.update(tokens=summary["tokens"] + p.tokens, loss=p.loss)
        summary["mfu"].append(mfu)
        if writer:
            writer.write({"kind": "train", "step": p.step, "loss": p.loss, "lr": p.lr, "grad_norm": p.grad_norm,
                          "step_tokens": p.tokens, "tokens_per_s": p.tokens_per_s, "mfu": mfu,
                          "flops_per_token": flops, "epoch": job.batches.epoch_of(p.step)})
        bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.2e}", tok_s=f"{p.tokens_per_s:,.0f}", mfu=f"{mfu:.1%}")
        bar.update(1)
        if cfg.log.eval_every_steps and p.step % cfg.log.eval_every_steps == 0 and p.step < cfg.train.max_steps:
            run_eval(p.step)
        if cfg.checkpoint.every_steps and p.step % cfg.checkpoint.every_steps == 0:
            state = {"scheduler": scheduler.state_dict(), "config": to_yaml(cfg)}
            checkpoint.save(out, p.step, job.model, optimizer, state, d, cfg.checkpoint.keep_last, job.export)

    fit(job.model, job.batches, optimizer, scheduler, cfg.train, cfg.optim.grad_clip, d, start, flops, on_step)
    bar.close()
    run_eval(cfg.train.max_steps)
    final = out / "final"
    full = checkpoint.full_state_dict(job.model)
    if d.is_main:
        with atomic_output(final, replace=True) as tmp:
            job.export(tmp, full)
        _print_summary(job.name, summary, cfg.train.max_steps - start, final)
    barrier(d)
    return final


def _print_summary(name: str, summary: dict[str, Any], steps: int, final: Path) -> None:
    seconds = time.time() - summary["started"]
    mfu = sum(summary["mfu"]) / max(1, len(summary["mfu"]))
    peak = summary["peak"]
    raised = " (raised to a step's achieved rate)" if peak > summary["measured"] else ""
    parts = [f"{name}: trained {steps} steps ({summary['tokens']:,} tokens) in {seconds:.1f} s: "
             f"{summary['tokens'] / max(seconds, 1e-9):,.0f} tokens/s, MFU {mfu:.1%} of {peak / 1e9:,.0f} "
             f"GFLOP/s per device ({summary['source']}{raised})"]
    if "loss" in summary:
        parts.append(f"final train loss {summary['loss']:.4f}")
    if "val_loss" in summary:
        parts.append(f"val loss {summary['val_loss']:.4f} (ppl {math.exp(min(summary['val_loss'], 50)):.2f})")
    parts.append(f"model: {final}")
    print("; ".join(parts))
