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

from hare.config import load_config, option
from hare.errors import HareError
from hare.model.tokenizer import DEFAULT_FUNCTIONAL_TOKENS, check_functional_tokens
from hare.train.batches import DataConfig
from hare.train.trainer import RunArgs, RunConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


@dataclass(frozen=True)
class ModelConfig:
    preset: str = option("hare-tiny", "preset to build from scratch (ignored with init_from)")
    init_from: str | None = option(None, "HF checkpoint directory to continue pretraining from")
    functional_tokens: int = option(DEFAULT_FUNCTIONAL_TOKENS, "number of <api_i> tokens of a new model")

    def validate(self) -> None:
        from hare.model.presets import check_preset

        check_functional_tokens("model.functional_tokens", self.functional_tokens)
        if not self.init_from:
            check_preset(self.preset)  # with the config, not after the data is opened


@dataclass(frozen=True)
class PretrainConfig(RunConfig):
    out: str = "runs/pretrain"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class PretrainArgs(RunArgs):
    config: str | None = option(None, "YAML recipe, e.g. configs/pretrain/hare-1.1b.yaml")
    data: str | None = option(None, "packed data directory (sets data.path)")
    init_from: str | None = option(None, "continue pretraining this HF checkpoint (sets model.init_from)")


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


def train(cfg: PretrainConfig, resume: bool = False, print_config: bool = False) -> Path | None:
    """Train per `cfg` (on this rank); returns the directory of the final HF checkpoint."""
    from hare.data.shards import check_tokenizer, load_meta, open_split
    from hare.model.tokenizer import save_tokenizer
    from hare.train.batches import Windows, collate_windows
    from hare.train.trainer import Trainer

    if not (cfg.data.path or print_config):
        raise HareError("no training data: pass --data DIR (a directory written by `hare data pack`)")
    trainer = Trainer("pretrain", cfg, resume)
    if print_config:
        return trainer.print_config()
    meta = load_meta(cfg.data.path)
    model, tok = start_model(cfg.model, cfg.train.seed)
    check_tokenizer(meta, tok, cfg.data.path)
    rows = Windows(open_split(cfg.data.path, "train"), cfg.data.seq_len)

    def export(directory: Path, full: dict[str, Any]) -> None:
        model.save_pretrained(directory, state_dict=full)
        save_tokenizer(tok, directory)

    return trainer.fit(model, rows, collate_windows, cfg.data.seq_len, cfg.data.seed, export,
                       held_out=Windows(open_split(cfg.data.path, "val"), cfg.data.seq_len),
                       describe=f"{len(rows):,} sequences of {cfg.data.seq_len} tokens")


def run(args: PretrainArgs) -> Path | None:
    return train(resolve(args), resume=args.resume, print_config=args.print_config)
