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
    from transformers import PreTrainedModel, PreTrainedTokenizerFast



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


def start_model(cfg: ModelConfig, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A new model from a preset, or an existing checkpoint (fp32 master weights either way)."""
    from hare.model.init import build_model
    from hare.model.load import check_checkpoint_dir, load_model

    if cfg.init_from is None:
        return build_model(cfg.preset, cfg.functional_tokens, seed)
    if check_checkpoint_dir(cfg.init_from) is None:
        raise HareError(f"model.init_from '{cfg.init_from}' is not a local checkpoint directory")
    return load_model(cfg.init_from, device="cpu", dtype="float32")


def train(cfg: PretrainConfig, resume: bool = False) -> Path:
    """Train per `cfg` (on this rank); returns the directory of the final HF checkpoint."""
    from hare.data.shards import check_tokenizer, load_meta, open_split
    from hare.model.tokenizer import save_tokenizer
    from hare.train import job
    from hare.train.batches import GlobalBatches, Windows, collate_windows
    from hare.train.distributed import init
    from hare.train.loop import evaluate

    if not cfg.data.path:
        raise HareError("no training data: pass --data DIR (a directory written by `hare data pack`)")
    d = init(cfg.train.device)
    precision = job.choose_precision(cfg.train, d)
    found = job.find_checkpoint(cfg.out, resume)
    meta = load_meta(cfg.data.path)
    hf_model, tok = start_model(cfg.model, cfg.train.seed)
    check_tokenizer(meta, tok, cfg.data.path)
    accum = job.check_shapes(cfg.train, cfg.data.seq_len, hf_model.config, d.world)
    train_windows = Windows(open_split(cfg.data.path, "train"), cfg.data.seq_len)
    val_windows = Windows(open_split(cfg.data.path, "val"), cfg.data.seq_len)
    global_seqs = cfg.train.global_batch_tokens // cfg.data.seq_len
    model = job.prepare(hf_model, cfg.train, d)

    def export(directory: Path, full: dict[str, Any]) -> None:
        hf_model.save_pretrained(directory, state_dict=full)
        save_tokenizer(tok, directory)

    def validation() -> float:
        return evaluate(model, val_windows, collate_windows, cfg.log.eval_batches, cfg.train.micro_batch_size,
                        cfg.train.precision, d)

    return job.run(job.Job(
        name="pretrain", cfg=cfg, model=model, model_config=hf_model.config, seq_len=cfg.data.seq_len,
        batches=GlobalBatches(train_windows, global_seqs, cfg.data.seed), export=export,
        evaluate=validation if len(val_windows) else None,  # no held-out sequence: no validation
        describe=f"{len(train_windows):,} sequences of {cfg.data.seq_len} tokens, {global_seqs} per step "
                 f"({accum} micro-batches of {cfg.train.micro_batch_size} × {d.world} ranks), {precision}",
    ), d, found, resume)


def run(args: PretrainArgs) -> Path | None:
    cfg = resolve(args)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return None
    return train(cfg, resume=args.resume)
