"""`hare pretrain`: pretrain a HARE model from a preset, or continue pretraining a checkpoint.

    hare pretrain --config configs/pretrain/tiny-cpu.yaml --data runs/packed --out runs/pre
    torchrun --nproc_per_node 8 -m hare pretrain --config configs/pretrain/hare-1.1b.yaml \
        --data /data/packed --out /ckpt/hare train.parallel=fsdp2
    hare pretrain … --resume           # continue from the newest complete checkpoint in --out

Configuration resolves as: YAML file → `section.key=value` overrides → validated dataclass
(`--print-config` shows the result). The global batch is fixed in tokens; gradient accumulation is
derived from it, the micro-batch size and the number of ranks, so a recipe means the same training
on 1 CPU or 16 GPUs. Every input is checked before the first step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import load_config, option, positional, to_yaml
from hare.errors import HareError
from hare.model.tokenizer import DEFAULT_FUNCTIONAL_TOKENS
from hare.train.batches import DataConfig
from hare.train.checkpoint import CheckpointConfig
from hare.train.loop import LogConfig, TrainConfig
from hare.train.optim import OptimConfig, ScheduleConfig

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

    from hare.train.distributed import Dist


@dataclass
class ModelConfig:
    preset: str = option("hare-tiny", "preset to build from scratch (ignored with init_from)")
    init_from: str | None = option(None, "HF checkpoint directory to continue pretraining from")
    functional_tokens: int = option(DEFAULT_FUNCTIONAL_TOKENS, "number of <api_i> tokens of a new model")


@dataclass
class PretrainConfig:
    out: str = "runs/pretrain"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)


@dataclass
class PretrainArgs:
    config: str | None = option(None, "YAML recipe, e.g. configs/pretrain/hare-1.1b.yaml")
    data: str | None = option(None, "packed data directory (sets data.path)")
    out: str | None = option(None, "run directory for checkpoints, metrics and the final model (sets out)")
    init_from: str | None = option(None, "continue pretraining this HF checkpoint (sets model.init_from)")
    resume: bool = option(False, "continue from the newest complete checkpoint in the run directory")
    print_config: bool = option(False, "print the resolved config and exit")
    overrides: list[str] = positional("config overrides as section.key=value, e.g. train.max_steps=100")


def resolve(args: PretrainArgs) -> PretrainConfig:
    shortcuts = [f"{key}={value}" for key, value in
                 (("data.path", args.data), ("out", args.out), ("model.init_from", args.init_from)) if value]
    return load_config(PretrainConfig, args.config, [*args.overrides, *shortcuts])


def accumulation_steps(cfg: PretrainConfig, world: int) -> int:
    """Micro-batches per rank per step, derived from the global token batch."""
    per_pass = cfg.data.seq_len * cfg.train.micro_batch_size * world
    if cfg.train.global_batch_tokens % per_pass:
        raise HareError(
            f"train.global_batch_tokens={cfg.train.global_batch_tokens} is not divisible by seq_len × "
            f"micro_batch_size × ranks = {cfg.data.seq_len} × {cfg.train.micro_batch_size} × {world} = {per_pass}; "
            "choose a global batch that is a multiple of it"
        )
    return cfg.train.global_batch_tokens // per_pass


def start_model(cfg: ModelConfig, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A new model from a preset, or an existing checkpoint (fp32 master weights either way)."""
    import torch
    from transformers import AutoModelForCausalLM

    from hare.model.init import build_model
    from hare.model.load import check_checkpoint_dir, check_vocab, load_tokenizer

    if cfg.init_from is None:
        return build_model(cfg.preset, cfg.functional_tokens, seed)
    if check_checkpoint_dir(cfg.init_from) is None:
        raise HareError(f"model.init_from '{cfg.init_from}' is not a local checkpoint directory")
    tok = load_tokenizer(cfg.init_from)
    model = AutoModelForCausalLM.from_pretrained(cfg.init_from, dtype=torch.float32)
    check_vocab(model, tok, cfg.init_from)
    return model, tok


def validate(cfg: PretrainConfig, model: PreTrainedModel, world: int) -> int:
    """Reject bad settings before any work; returns the accumulation steps."""
    if cfg.train.max_steps < 1 or cfg.train.micro_batch_size < 1 or cfg.data.seq_len < 2:
        raise HareError("need train.max_steps >= 1, train.micro_batch_size >= 1 and data.seq_len >= 2")
    if cfg.data.seq_len > model.config.max_position_embeddings:
        raise HareError(
            f"data.seq_len={cfg.data.seq_len} exceeds the model's max_position_embeddings="
            f"{model.config.max_position_embeddings}; lower data.seq_len"
        )
    if cfg.train.fp8_emulate and not cfg.train.fp8:
        raise HareError("train.fp8_emulate only applies with train.fp8=true")
    return accumulation_steps(cfg, world)


def prepare(model: PreTrainedModel, cfg: TrainConfig, d: Dist) -> nn.Module:
    """Move, transform and wrap the model for training; the result's forward returns the loss.

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
    return wrap(CausalLMLoss(model, compile=cfg.compile), cfg.parallel, d, layers=list(model.model.layers))


def train(cfg: PretrainConfig, resume: bool = False) -> Path:
    """Train per `cfg` (on this rank); returns the directory of the final HF checkpoint."""
    import torch
    from tqdm import tqdm

    from hare.data.shards import check_tokenizer, load_meta, open_split
    from hare.model.load import save_checkpoint
    from hare.model.tokenizer import save_tokenizer
    from hare.train import checkpoint
    from hare.train.batches import GlobalBatches, Windows
    from hare.train.distributed import barrier, init, shutdown
    from hare.train.loop import evaluate, fit
    from hare.train.metrics import MetricsWriter, flops_per_token, peak_flops
    from hare.train.optim import build_optimizer, build_scheduler

    if not cfg.data.path:
        raise HareError("no training data: pass --data DIR (a directory written by `hare data pack`)")
    d = init(cfg.train.device)
    out = Path(cfg.out)
    found = checkpoint.latest(out)
    if found and not resume:
        raise HareError(f"'{out}' already holds checkpoints ({found.name}); pass --resume to continue, or a new --out")
    meta = load_meta(cfg.data.path)
    hf_model, tok = start_model(cfg.model, cfg.train.seed)
    check_tokenizer(meta, tok, cfg.data.path)
    accum = validate(cfg, hf_model, d.world)
    train_windows = Windows(open_split(cfg.data.path, "train"), cfg.data.seq_len)
    val_windows: Windows | None = Windows(open_split(cfg.data.path, "val"), cfg.data.seq_len)
    if not len(val_windows):  # type: ignore[arg-type]
        val_windows = None  # no held-out split (or too short for one sequence): skip validation
    global_seqs = cfg.train.global_batch_tokens // cfg.data.seq_len
    batches = GlobalBatches(train_windows, global_seqs, cfg.data.seed)

    model = prepare(hf_model, cfg.train, d)
    optimizer = build_optimizer(model, cfg.optim, fused=True)
    scheduler = build_scheduler(optimizer, cfg.train.max_steps, cfg.schedule)
    start = 0
    if found:
        state = checkpoint.load(found, model, optimizer, d)
        scheduler.load_state_dict(state["scheduler"])
        start = state["step"]
    compute_dtype = torch.bfloat16 if cfg.train.precision == "bf16" else torch.float32
    peak = cfg.log.peak_flops or peak_flops(d.device, compute_dtype)
    fpt = flops_per_token(hf_model.config, cfg.data.seq_len)

    def export(directory: Path, full: dict[str, Any]) -> None:
        hf_model.save_pretrained(directory, state_dict=full)
        save_tokenizer(tok, directory)

    writer = None
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(to_yaml(cfg))
        writer = MetricsWriter(out, cfg.log.tensorboard)
        if resume and not found:
            print(f"pretrain: no checkpoint in '{out}' yet, starting from step 0")
        print(f"pretrain: {len(train_windows):,} sequences of {cfg.data.seq_len} tokens, "
              f"{global_seqs} per step ({accum} micro-batches of {cfg.train.micro_batch_size} × {d.world} ranks), "
              f"steps {start}→{cfg.train.max_steps}{' (resumed from ' + found.name + ')' if found else ''}")
    bar = tqdm(total=cfg.train.max_steps, initial=start, disable=not (d.is_main and cfg.log.progress),
               unit="step", dynamic_ncols=True)
    summary: dict[str, Any] = {"started": time.time(), "tokens": 0, "mfu": []}

    def run_eval(step: int) -> None:
        if val_windows is None:
            return
        loss = evaluate(model, val_windows, cfg.log.eval_batches, cfg.train.micro_batch_size,
                        cfg.train.precision, d)
        summary["val_loss"] = loss
        if writer:
            writer.write({"kind": "val", "step": step, "loss": loss, "ppl": float(torch.tensor(loss).exp())})
            bar.write(f"step {step}: val loss {loss:.4f}, ppl {torch.tensor(loss).exp().item():.2f}")

    def on_step(p: Any) -> None:
        summary.update(tokens=summary["tokens"] + cfg.train.global_batch_tokens, loss=p.loss)
        summary["mfu"].append(p.mfu)
        if writer:
            writer.write({"kind": "train", "step": p.step, "loss": p.loss, "lr": p.lr, "grad_norm": p.grad_norm,
                          "tokens": p.step * cfg.train.global_batch_tokens, "tokens_per_s": p.tokens_per_s,
                          "mfu": p.mfu, "epoch": batches.epoch_of(p.step)})
        bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.2e}", tok_s=f"{p.tokens_per_s:,.0f}", mfu=f"{p.mfu:.1%}")
        bar.update(1)
        if cfg.log.eval_every_steps and p.step % cfg.log.eval_every_steps == 0 and p.step < cfg.train.max_steps:
            run_eval(p.step)
        if cfg.checkpoint.every_steps and p.step % cfg.checkpoint.every_steps == 0:
            state = {"scheduler": scheduler.state_dict(), "config": to_yaml(cfg)}
            checkpoint.save(out, p.step, model, optimizer, state, d, cfg.checkpoint.keep_last, export)

    fit(model, batches, optimizer, scheduler, cfg.train, cfg.optim.grad_clip, d, start, fpt, peak, on_step)
    bar.close()
    run_eval(cfg.train.max_steps)
    final = out / "final"
    full = checkpoint.full_state_dict(model)
    if d.is_main:
        save_checkpoint(hf_model, tok, final, overwrite=True, state_dict=full)
        _print_summary(summary, cfg, start, final)
        writer.close()  # type: ignore[union-attr]
    barrier(d)
    shutdown()
    return final


def _print_summary(summary: dict[str, Any], cfg: PretrainConfig, start: int, final: Path) -> None:
    seconds = time.time() - summary["started"]
    steps = cfg.train.max_steps - start
    mfu = sum(summary["mfu"]) / max(1, len(summary["mfu"]))
    lines = [f"trained {steps} steps ({summary['tokens']:,} tokens) in {seconds:.1f} s: "
             f"{summary['tokens'] / max(seconds, 1e-9):,.0f} tokens/s, MFU {mfu:.1%}"]
    if "loss" in summary:
        lines.append(f"final train loss {summary['loss']:.4f}")
    if "val_loss" in summary:
        import math

        lines.append(f"val loss {summary['val_loss']:.4f} (ppl {math.exp(summary['val_loss']):.2f})")
    lines.append(f"model: {final}")
    print("; ".join(lines))


def run(args: PretrainArgs) -> Path | None:
    cfg = resolve(args)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return None
    return train(cfg, resume=args.resume)
