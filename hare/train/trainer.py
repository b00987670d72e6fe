"""The one trainer behind every recipe: pretraining, SFT and tool SFT differ only in what they hand it.

A recipe (`pretrain.py`, `sft.py`, `tools/train.py`) builds its model, its rows and an export function;
`Trainer` owns everything else, in this order: the process group and the precision for this machine
(at construction), then in `fit` the run directory's newest checkpoint, the step shape, the wrapped
model, optimizer and schedule, progress (loss, lr, tokens/s, MFU), metrics, validation, checkpoints
every N steps and the final model, exported atomically to OUT/final.

Configs are frozen dataclasses. What a recipe derives (the precision `auto` picks, a run length from
`data.epochs`) replaces the config through `settle` before anything prints or runs, so `--print-config`
and OUT/config.yaml show the run that happens.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import check_range, check_seed, option, positional
from hare.errors import HareError
from hare.train.checkpoint import CheckpointConfig, is_step_entry
from hare.train.loop import LogConfig, TrainConfig
from hare.train.optim import OptimConfig, ScheduleConfig

if TYPE_CHECKING:
    import torch
    from torch import nn
    from transformers import PretrainedConfig, PreTrainedModel

    from hare.train.batches import GlobalBatches
    from hare.train.budget import StepBudget
    from hare.train.distributed import Dist
    from hare.train.frozen_trunk import FrozenTrunk

Export = Callable[[Path, dict[str, "torch.Tensor"]], None]
Collate = Callable[[list[Any]], dict[str, "torch.Tensor"]]


@dataclass(frozen=True)
class RunConfig:
    """The sections every recipe's config has; a recipe adds its own (model, data, lora)."""

    out: str = "runs/train"
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def validate(self) -> None:
        """What the sections cannot check themselves (`load_config` runs theirs first): the `train` section,
        whose values the trainer uses, and `out`, which must be able to become a run directory."""
        from hare.model.load import check_device

        check_train(self.train)
        check_device(self.train.device, "train.device")
        out = Path(self.out)
        blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise HareError(f"--out '{self.out}' cannot be a run directory: '{blocker}' is a file; "
                            "pass a new directory (or move the file away)")


def check_train(cfg: TrainConfig) -> None:
    """The `train` values a run is made of: below 1, a step size or length ends in a traceback (or no step) once
    the model is loaded, and a seed past 64 bits in one from torch."""
    check_range("train.max_steps", cfg.max_steps, 1)
    check_range("train.micro_batch_size", cfg.micro_batch_size, 1)
    check_range("train.global_batch_tokens", cfg.global_batch_tokens, 1)
    # a year at most: past ~1e306 the budget's seconds became inf and its step count an OverflowError
    check_range("train.max_minutes", cfg.max_minutes, 0, 525_600, fix="0: no time budget")
    check_seed("train.seed", cfg.seed)


@dataclass
class RunArgs:
    """The flags every training command has; a command adds the shortcuts for its own sections."""

    config: str | None = option(None, "YAML recipe (see configs/)")
    out: str | None = option(None, "run directory for checkpoints, metrics and the final model OUT/final (sets out)")
    resume: bool = option(False, "continue from the newest complete checkpoint in the run directory (with none "
                                 "there yet, e.g. a run stopped before its first save: start at step 0, and say so)")
    print_config: bool = option(False, "print the config this run would use, derived values settled, and exit")
    overrides: list[str] = positional("config overrides as section.key=value, e.g. train.max_steps=100")


class Trainer:
    """Owns a run of any recipe; see the module docstring for what it does and in which order."""

    def __init__(self, name: str, cfg: RunConfig, resume: bool = False) -> None:
        import torch

        from hare.model.precision import resolve
        from hare.train.distributed import init

        self.name, self.resume = name, resume  # name ("pretrain", "sft") prefixes the log lines
        self.d = init(cfg.train.device)
        precision, why = resolve(cfg.train.precision, self.d.device)
        self.precision = f"{precision} ({why})"
        self.cfg = cfg
        self.settle(precision=precision)
        # LoRA's initial matrices and dropout draw from torch's generator: seeded here, a run is the same
        # run whatever ran before it in this process (the quickstart trains twice in one).
        torch.manual_seed(cfg.train.seed)

    def settle(self, **train: Any) -> None:
        """Replace derived `train` values (a run length computed from the data) before the run starts."""
        self.cfg = dataclasses.replace(self.cfg, train=dataclasses.replace(self.cfg.train, **train))

    def rows_per_step(self, seq_len: int) -> int:
        return self.cfg.train.global_batch_tokens // seq_len

    def print_config(self) -> None:
        """`--print-config`: the settled config, then the process group is left as if the run had ended."""
        from hare.config import to_yaml
        from hare.train.distributed import shutdown

        if self.d.is_main:
            print(to_yaml(self.cfg), end="")
        shutdown()

    def fit(self, model: PreTrainedModel, rows: Sequence[Any], collate: Collate, seq_len: int, seed: int,
            export: Export, held_out: Sequence[Any] = (), describe: str = "",
            trunk: FrozenTrunk | None = None, target_weights: torch.Tensor | None = None) -> Path:
        """Train `model` on `rows` (`rows_per_step` a step, in an order shuffled by `seed` each epoch,
        batched by `collate`) to `train.max_steps`, validate on `held_out`, and return OUT/final, which
        `export` writes. `target_weights`: each vocabulary row's weight in the loss (`hare.train.loss`).

        Whatever happens — a finished run, a bad batch, Ctrl-C — the progress bar, the metrics writer and
        a one-rank process group are closed on the way out (torchrun's stays for the process's next run), so a
        failed step leaves a run directory that the next `--resume` continues from its newest checkpoint, and a
        caller in the same process can start again."""
        from hare.train.batches import GlobalBatches
        from hare.train.distributed import shutdown

        try:
            cfg = self.cfg
            found = find_checkpoint(cfg.out, self.resume)
            accum = check_shapes(cfg.train, seq_len, model.config, self.d.world)
            step_rows = self.rows_per_step(seq_len)
            run = _Run(self, prepare(model, cfg.train, self.d, trunk, target_weights), model.config, seq_len, export,
                       GlobalBatches(rows, step_rows, seed, collate), held_out, collate)
            steps = (f"{step_rows} per step ({accum} micro-batch{'es' if accum > 1 else ''} of "
                     f"{cfg.train.micro_batch_size} × {self.d.world} rank{'s' if self.d.world > 1 else ''})")
            return run.go(found, f"{describe}, {steps}, {self.precision}")
        finally:
            shutdown()


def prepare(model: PreTrainedModel, cfg: TrainConfig, d: Dist, trunk: FrozenTrunk | None = None,
            target_weights: torch.Tensor | None = None) -> nn.Module:
    """Move, transform and wrap the model for training; the result's forward returns the loss (its
    decoder's frozen lower part through `trunk`'s store, if given; its targets weighted by `target_weights`).

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
    weights = None if target_weights is None else target_weights.to(d.device)
    return wrap(CausalLMLoss(model, compile=cfg.compile, trunk=trunk, target_weights=weights), cfg.parallel, d,
                layers=list(model.model.layers))


def find_checkpoint(out: str, resume: bool) -> Path | None:
    """The checkpoint to resume from; a run directory with checkpoints is never silently reused."""
    from hare.io.atomic import writable_parent
    from hare.train import checkpoint

    writable_parent(Path(out))  # before the model is compiled and trained, not at the first write (`out` is not made)
    found = checkpoint.latest(out)
    if found and not resume:
        raise HareError(f"'{out}' already holds checkpoints ({found.name}); pass --resume to continue, "
                        "or a new --out")
    if not resume:
        _check_new(Path(out))
    return found


# What a run writes into OUT (`data`: the conversations of `hare tools train`), besides step-N/ and temporaries.
RUN_ENTRIES = frozenset({"config.yaml", "metrics.jsonl", "final", "data"})
_RUN_ENTRY = re.compile(r"^soup-\d+$")  # a soup's parts


def _check_new(out: Path) -> None:
    """A new run writes config.yaml, metrics.jsonl and final/ into OUT: one there already would be replaced (a
    finished run, without a word) or mixed with the user's own files (an --out that was another folder)."""
    from hare.io.atomic import check_only

    if not out.is_dir():
        return
    if (out / "final").exists():
        raise HareError(f"'{out}' already holds a finished run (final/); choose a new --out, or delete it to "
                        "train again")
    check_only(out, lambda name: name in RUN_ENTRIES or is_step_entry(name) or bool(_RUN_ENTRY.match(name)),
               "a training run", "choose a new or empty --out")


def check_shapes(cfg: TrainConfig, seq_len: int, model_config: PretrainedConfig, world: int) -> int:
    """Reject bad step shapes before any work; returns the micro-batches per rank per step."""
    from hare.train.batches import check_seq_len

    check_train(cfg)
    check_seq_len(seq_len)
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


class _Run:
    """One `fit`: the wrapped model and its batches, from the first step to the exported final model."""

    def __init__(self, trainer: Trainer, model: nn.Module, model_config: PretrainedConfig, seq_len: int,
                 export: Export, batches: GlobalBatches, held_out: Sequence[Any], collate: Collate) -> None:
        self.name, self.cfg, self.d, self.resume = trainer.name, trainer.cfg, trainer.d, trainer.resume
        self.model, self.model_config, self.seq_len, self.export = model, model_config, seq_len, export
        self.batches, self.held_out, self.collate = batches, held_out, collate
        self.out = Path(self.cfg.out)
        self.writer: Any = None
        self.bar: Any = None

    def go(self, found: Path | None, describe: str) -> Path:
        from tqdm import tqdm

        from hare.config import to_yaml
        from hare.train.metrics import MetricsWriter

        cfg = self.cfg
        try:
            optimizer, scheduler, start, budget = self._restore(found)
            if self.d.is_main:
                self.out.mkdir(parents=True, exist_ok=True)
                (self.out / "config.yaml").write_text(to_yaml(cfg))
                self.writer = MetricsWriter(self.out, cfg.log.tensorboard, start)
                if self.resume and found is None:
                    print(f"{self.name}: no checkpoint in '{self.out}' yet, starting from step 0")
                print(f"{self.name}: {describe}, from step {start}: {budget.describe()}"
                      f"{' (resumed from ' + found.name + ')' if found else ''}")
            self.bar = tqdm(total=budget.total, initial=start, unit="step", dynamic_ncols=True,
                            disable=not (self.d.is_main and cfg.log.progress))
            return self._train(optimizer, scheduler, start, budget)
        finally:
            if self.bar is not None:
                self.bar.close()
            if self.writer is not None:
                self.writer.close()

    def _restore(self, found: Path | None) -> tuple[Any, Any, int, StepBudget]:
        """Optimizer, schedule and the run's length, from the checkpoint `found` if there is one; and the
        step to start at."""
        from hare.train import checkpoint
        from hare.train.budget import StepBudget
        from hare.train.optim import build_optimizer, build_scheduler

        optimizer = build_optimizer(self.model, self.cfg.optim, fused=True)
        budget = StepBudget(self.cfg.train.max_steps, self.cfg.train.max_minutes, self.cfg.schedule)
        scheduler = build_scheduler(optimizer, lambda: budget.total, self.cfg.schedule)
        if not found:
            return optimizer, scheduler, 0, budget
        state = checkpoint.load(found, self.model, optimizer, self.d)  # after the schedule, which sets the lr
        scheduler.load_state_dict(state["scheduler"])
        budget.restore(state.get("budget"))
        return optimizer, scheduler, state["step"], budget

    def _evaluate(self, step: int, summary: dict[str, Any]) -> None:
        from hare.train.loop import evaluate

        if not self.held_out:
            return
        log = self.cfg.log
        loss = summary["val_loss"] = evaluate(self.model, self.held_out, self.collate, log.eval_batches,
                                              self.cfg.train.micro_batch_size, self.cfg.train.precision, self.d)
        if self.writer:
            self.writer.write({"kind": "val", "step": step, "loss": loss, "ppl": math.exp(min(loss, 50))})
            self.bar.write(f"step {step}: val loss {loss:.4f}, ppl {math.exp(min(loss, 50)):.2f}")

    def _train(self, optimizer: Any, scheduler: Any, start: int, budget: StepBudget) -> Path:
        import torch

        from hare.config import to_yaml
        from hare.io.atomic import atomic_output
        from hare.train import checkpoint
        from hare.train.distributed import barrier
        from hare.train.loop import count_flops, fit
        from hare.train.metrics import flops_per_token, peak_flops

        cfg, d, model = self.cfg, self.d, self.model
        compute_dtype = torch.bfloat16 if cfg.train.precision == "bf16" else torch.float32
        peak, source = (cfg.log.peak_flops, "log.peak_flops") if cfg.log.peak_flops else peak_flops(d.device,
                                                                                                       compute_dtype)
        flops = flops_per_token(self.model_config, self.seq_len)  # PaLM's estimate, where counting cannot see
        if not cfg.train.compile and cfg.train.parallel != "fsdp2":
            first = self.batches.micro_batches(start, d.rank, d.world, cfg.train.micro_batch_size)[0]
            flops = count_flops(model, first, cfg.train.precision, d)
        summary: dict[str, Any] = {"started": time.time(), "tokens": 0, "mfu": [], "peak": peak, "measured": peak,
                                   "source": source}

        def on_step(p: Any) -> None:
            # A step that beats the peak shows it was measured low (a busy moment): the peak is raised to
            # what the step achieved, so MFU never reads above 100 %.
            summary["peak"] = max(summary["peak"], p.flops_per_s)
            mfu = p.flops_per_s / summary["peak"]
            summary.update(tokens=summary["tokens"] + p.tokens, loss=p.loss)
            summary["mfu"].append(mfu)
            if self.bar.total != budget.total:
                self.bar.total = budget.total
                if budget.fixed:
                    self.bar.write(f"{self.name}: step {p.step}: {budget.describe()} at the recent pace")
            if self.writer:
                self.writer.write({"kind": "train", "step": p.step, "loss": p.loss, "lr": p.lr,
                                   "grad_norm": p.grad_norm, "step_tokens": p.tokens, "tokens_per_s": p.tokens_per_s,
                                   "mfu": mfu, "flops_per_token": flops, "epoch": self.batches.epoch_of(p.step)})
            self.bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.2e}", tok_s=f"{p.tokens_per_s:,.0f}",
                                 mfu=f"{mfu:.1%}")
            self.bar.update(1)
            if cfg.log.eval_every_steps and p.step % cfg.log.eval_every_steps == 0 and p.step < budget.total:
                self._evaluate(p.step, summary)
            if cfg.checkpoint.every_steps and p.step % cfg.checkpoint.every_steps == 0:
                state = {"scheduler": scheduler.state_dict(), "budget": budget.state(), "config": to_yaml(cfg)}
                checkpoint.save(self.out, p.step, model, optimizer, state, d, cfg.checkpoint.keep_last, self.export)

        fit(model, self.batches, optimizer, scheduler, cfg.train, cfg.optim.grad_clip, d, start, flops, on_step, budget)
        self.bar.close()
        self._evaluate(budget.total, summary)
        final = self.out / "final"
        full = checkpoint.full_state_dict(model)
        if d.is_main:
            with atomic_output(final, replace=True) as tmp:
                self.export(tmp, full)
            _print_summary(self.name, summary, budget.total - start, final)
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
