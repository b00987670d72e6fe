"""`hare sft`: supervised fine-tuning into a HARE chat model, full or LoRA, on the pretraining engine.

    hare sft --model runs/pre/final --data chats.jsonl --out runs/chat
    hare sft --config configs/sft/hare-chat.yaml --model BASE --data a.jsonl b.jsonl --out runs/chat
    torchrun --standalone --nproc_per_node 2 -m hare sft … --lora      # LoRA r=16, α=32 (Octopus v2)

Conversations (OpenAI, Alpaca, ShareGPT or Firefly JSONL, or a hub dataset) are rendered with the
HARE chat template and trained with loss on assistant replies only, each including its closing
`<round_end>\\n`. A base model whose tokenizer lacks HARE's tokens gets them: embeddings grow to
the next multiple of 64 and the new rows start at the mean of the existing ones. Everything else —
distribution, checkpoints, exact resume, metrics — is the one trainer's (`hare/train/trainer.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import check_range, check_share, load_config, option
from hare.errors import HareError
from hare.io.extras import import_extra
from hare.model.tokenizer import DEFAULT_SYSTEM_PROMPT, check_functional_tokens
from hare.train.batches import check_seq_len
from hare.train.loop import LogConfig, TrainConfig
from hare.train.optim import OptimConfig, ScheduleConfig
from hare.train.trainer import RunArgs, RunConfig

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class SFTModelConfig:
    path: str = option("", "base checkpoint directory to fine-tune")
    functional_tokens: int = option(0, "ensure this many <api_i> tool tokens (+ <api_end>) exist")
    call_token_weight: float = option(1.0, "count each <api_i> and <api_end> target this many times in the loss: "
                                           "a call's function is one token of its ~30, the rest copied values")
    freeze_layers: int = option(0, "keep the embeddings and the lowest N decoder layers fixed and train the rest "
                                   "(backward stops at layer N: a pretrained base tunes faster on a CPU)")
    cache_frozen_gib: float = option(4.0, "with freeze_layers: memory for the frozen layers' outputs, computed once "
                                          "per row and reused every later epoch (0: recompute each time)")

    def validate(self) -> None:
        check_functional_tokens("model.functional_tokens", self.functional_tokens)
        check_range("model.call_token_weight", self.call_token_weight, 0, 100, above=True, fix="1 counts them as "
                    "any other token")


@dataclass(frozen=True)
class SFTDataConfig:
    paths: list[str] = option(default_factory=list, help="JSONL(.gz) files or hub dataset names")
    format: str = option("auto", "auto, openai, alpaca, sharegpt or firefly")
    seq_len: int = option(2048, "longest training sequence in tokens")
    truncate: bool = option(True, "drop trailing turns of over-long conversations (else: error)")
    pack: bool = option(False, "pack several conversations per sequence (no attention across them)")
    system: str = option(DEFAULT_SYSTEM_PROMPT, "system prompt for conversations that have none")
    epochs: float = option(0.0, "train this many passes over the data (0: use train.max_steps)")
    val_fraction: float = option(0.0, "hold out every round(1/x)-th conversation for validation loss (0: none)")
    val_paths: list[str] = option(default_factory=list, help="conversation files used only for validation loss")
    seed: int = option(0, "seed of the per-epoch shuffle")

    def validate(self) -> None:
        """With the config (as pretraining's `data` section does), not after the data and the model are loaded."""
        check_seq_len(self.seq_len)
        check_range("data.epochs", self.epochs, 0, fix="0 trains for train.max_steps")
        check_share("data.val_fraction", self.val_fraction)


@dataclass(frozen=True)
class LoraSettings:
    enabled: bool = option(False, "train LoRA adapters instead of all weights")
    r: int = option(16, "LoRA rank")
    alpha: int = option(32, "LoRA scaling numerator (scale = alpha / r)")
    dropout: float = option(0.05, "dropout on the LoRA path")
    target_modules: list[str] = option(default_factory=lambda: list(LORA_TARGETS), help="layers that get adapters")
    merge: bool = option(True, "export merged plain HF weights (else the PEFT adapter next to the base)")

    def validate(self) -> None:
        """peft and torch would only fail on these later, with their own traceback."""
        check_range("lora.r", self.r, 1, 4096)
        check_range("lora.alpha", self.alpha, 0, above=True)
        check_range("lora.dropout", self.dropout, 0, 1, below=True)
        if not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise HareError("lora.target_modules must name at least one layer, e.g. [q_proj, v_proj]")


def _sft_optim() -> OptimConfig:
    return OptimConfig(lr=2e-5, weight_decay=0.0)


def _sft_schedule() -> ScheduleConfig:
    return ScheduleConfig(name="cosine", warmup_steps=10, min_lr_ratio=0.0)


@dataclass(frozen=True)
class SFTConfig(RunConfig):
    model: SFTModelConfig = field(default_factory=SFTModelConfig)
    data: SFTDataConfig = field(default_factory=SFTDataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    # Fine-tuning's defaults for the shared sections: a low lr, no decay, validation only at the end.
    out: str = "runs/sft"
    optim: OptimConfig = field(default_factory=_sft_optim)
    schedule: ScheduleConfig = field(default_factory=_sft_schedule)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(global_batch_tokens=16 * 2048))
    log: LogConfig = field(default_factory=lambda: LogConfig(eval_every_steps=0))


@dataclass
class SFTArgs(RunArgs):
    config: str | None = option(None, "YAML recipe, e.g. configs/sft/tiny-cpu.yaml")
    model: str | None = option(None, "base checkpoint directory (sets model.path)")
    data: list[str] | None = option(None, "conversation files or hub datasets (sets data.paths)")
    format: str | None = option(None, "input format: auto, openai, alpaca, sharegpt, firefly (sets data.format)")
    lora: bool = option(False, "LoRA fine-tuning (sets lora.enabled)")
    merge: bool | None = option(None, "with --lora: export merged weights (default) or, --no-merge, the adapter")


def resolve(args: SFTArgs) -> SFTConfig:
    import json
    import re

    # `--data a.jsonl train.max_steps=5`: argparse's nargs="+" swallows the overrides; give them back.
    override = re.compile(r"^[a-z_]+(\.[a-z_]+)+=")
    moved = [x for x in args.data or [] if override.match(x)]
    args.data = [x for x in args.data or [] if not override.match(x)] or None
    args.overrides = [*moved, *args.overrides]
    pairs: list[tuple[str, Any]] = [("model.path", args.model), ("out", args.out), ("data.format", args.format),
                                    ("data.paths", json.dumps(args.data) if args.data else None),
                                    ("lora.enabled", "true" if args.lora else None),
                                    ("lora.merge", None if args.merge is None else str(args.merge).lower())]
    cfg = load_config(SFTConfig, args.config, [*run_length(args.overrides), *(f"{k}={v}" for k, v in pairs if v)])
    if args.merge is not None and not cfg.lora.enabled:
        raise HareError(f"--{'' if args.merge else 'no-'}merge says how LoRA adapters are exported, and this run "
                        "trains all weights: add --lora, or drop the flag")
    return cfg


def run_length(overrides: list[str]) -> list[str]:
    """A run is as long as `data.epochs` says, or, with `data.epochs=0`, `train.max_steps`. A
    `train.max_steps=N` on the command line is what the user asked for, so it wins over a recipe's
    `data.epochs` (the shipped tiny recipe sets one): `data.epochs=0` is added. Both on the command line
    is a contradiction, refused rather than one silently ignored."""
    steps = any(x.startswith("train.max_steps=") for x in overrides)
    epochs = [x.split("=", 1)[1] for x in overrides if x.startswith("data.epochs=")]
    if steps and epochs and epochs[-1].strip() not in ("0", "0.0"):
        raise HareError("train.max_steps and data.epochs both set the run's length; give one of them "
                        "(data.epochs=0 trains for train.max_steps)")
    return [*overrides, "data.epochs=0"] if steps and not epochs else overrides


def add_hare_tokens(model: PreTrainedModel, tok: PreTrainedTokenizerFast, functional_tokens: int) -> int:
    """Give a base model HARE's chat (and tool) tokens and template; returns how many tokens were added.

    A foreign base that brings a chat template of its own (an instruct model such as SmolLM2, whose
    ChatML turns its instruction tuning answers to) keeps that template and gets only the tool
    tokens: HARE's `<round_start>`/`<round_end>` would be untrained rows where trained ones exist.
    A base without a template gets HARE's template and its two tokens."""
    import torch

    from hare.model.presets import padded_vocab_size
    from hare.model.tokenizer import CHAT_TEMPLATE, ROUND_END, ROUND_START, added_tokens, is_hare_vocabulary

    native = bool(tok.chat_template) and not is_hare_vocabulary(tok)
    wanted = [t for t in added_tokens(functional_tokens) if not (native and t in (ROUND_START, ROUND_END))]
    missing = [t for t in wanted if t not in tok.get_vocab()]
    if missing:
        tok.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tok) > rows:
        with torch.no_grad():
            old_in = model.get_input_embeddings().weight.mean(dim=0)
            old_out = model.get_output_embeddings().weight.mean(dim=0)
            model.resize_token_embeddings(padded_vocab_size(len(tok)), mean_resizing=False)
            model.get_input_embeddings().weight[rows:] = old_in
            model.get_output_embeddings().weight[rows:] = old_out
    if native:
        return len(missing)
    tok.chat_template = CHAT_TEMPLATE
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    round_end = tok.convert_tokens_to_ids(ROUND_END)
    model.generation_config.eos_token_id = [round_end, *(e for e in eos if e != round_end)]
    return len(missing)


def init_token_rows(model: PreTrainedModel, tok: PreTrainedTokenizerFast, texts: dict[str, str]) -> None:
    """Add to each token's row the mean embedding of the text that names it (Octopus' functional tokens:
    the function's name), so it means something before the first step. Adding, not replacing, keeps
    the rows apart: means of similar texts are nearly parallel, and functional tokens that start
    alike train alike (with descriptions as the text, 20 Android functions began at cosine ~0.9)."""
    import torch

    with torch.no_grad():
        for table in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
            for token, text in texts.items():
                ids = tok(text, add_special_tokens=False).input_ids
                table[tok.convert_tokens_to_ids(token)] += table[ids].mean(dim=0)


def merged_weights(full: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    """Fold LoRA adapters into plain weights: W + scale · B·A, under the base model's own names."""
    merged = {}
    for key, value in full.items():
        if ".lora_" in key:
            continue
        if key.endswith(".base_layer.weight"):
            stem = key.removesuffix(".base_layer.weight")
            a, b = full[f"{stem}.lora_A.default.weight"], full[f"{stem}.lora_B.default.weight"]
            merged[f"{stem}.weight"] = value + scale * (b.float() @ a.float()).to(value.dtype)
        else:
            merged[key.replace(".base_layer.", ".")] = value
    return merged


def load_samples(cfg: SFTConfig, tok: PreTrainedTokenizerFast) -> tuple[list[Any], list[Any], dict[str, int]]:
    """Training rows (packed or one conversation each), held-out rows, and counts for the log."""
    from hare.train.sft_data import Limits, fit_to_length, pack, read_conversations

    if not cfg.data.paths:
        raise HareError("no SFT data: pass --data FILE… (JSONL conversations) or set data.paths")
    limits = Limits(cfg.data.seq_len, cfg.data.truncate)

    def read(paths: list[str]) -> tuple[list[Any], int]:
        """The samples that fit, and how many conversations were read (streamed: only the samples are kept)."""
        samples, found = [], 0
        for source in paths:
            for where, messages in read_conversations(source, cfg.data.format):
                found += 1
                if (sample := fit_to_length(tok, messages, cfg.data.system, limits, where)) is not None:
                    samples.append(sample)
        return samples, found

    samples, found = read(cfg.data.paths)
    if not found:
        raise HareError(f"no conversation in {', '.join(cfg.data.paths)}: the data is empty; write one JSON "
                        'conversation per line, e.g. {"messages": [{"role": "user", …}, {"role": "assistant", …}]}')
    if not samples:
        raise HareError(f"none of the {found} conversations in {', '.join(cfg.data.paths)} fits data.seq_len="
                        f"{cfg.data.seq_len}, not even its first exchange; raise data.seq_len")
    every = round(1 / cfg.data.val_fraction) if cfg.data.val_fraction else 0
    held_out = [[s] for i, s in enumerate(samples) if every and i % every == every - 1]
    held_out += [[s] for s in read(cfg.data.val_paths)[0]]
    samples = [s for i, s in enumerate(samples) if not (every and i % every == every - 1)]
    if not samples:
        raise HareError("data.val_fraction leaves no conversation to train on; lower it or add data")
    rows = pack(samples, cfg.data.seq_len) if cfg.data.pack else [[s] for s in samples]
    return rows, held_out, {"conversations": len(samples), "held_out": len(held_out), **limits.stats}


def train(cfg: SFTConfig, resume: bool = False, print_config: bool = False,
          token_init: dict[str, str] | None = None, extra: Callable[[Path], None] | None = None) -> Path | None:
    """Fine-tune; `token_init` maps new tokens to explaining text, `extra(dir)` adds files to exports."""
    import functools

    from hare.model.load import check_checkpoint_dir, load_model
    from hare.model.tokenizer import save_tokenizer
    from hare.train.frozen_trunk import FrozenTrunk, supports
    from hare.train.sft_data import collate
    from hare.train.trainer import Trainer, check_shapes

    if not cfg.model.path or check_checkpoint_dir(cfg.model.path) is None:
        raise HareError("pass --model DIR: the local base checkpoint to fine-tune")
    trainer = Trainer("sft", cfg, resume)
    model, tok = load_model(cfg.model.path, device="cpu", dtype="float32")
    added = add_hare_tokens(model, tok, cfg.model.functional_tokens)  # grows embeddings to fit
    rows, held_out, stats = load_samples(cfg, tok)
    # the step's shape before a length is derived from it (a global batch under one row had divided by zero)
    check_shapes(cfg.train, cfg.data.seq_len, model.config, trainer.d.world)
    step_rows = trainer.rows_per_step(cfg.data.seq_len)
    if cfg.data.epochs > 0:
        trainer.settle(max_steps=max(1, math.ceil(cfg.data.epochs * len(rows) / step_rows)))
    if print_config:
        return trainer.print_config()
    if token_init:
        init_token_rows(model, tok, token_init)
    lora_config = None
    if cfg.model.freeze_layers:
        freeze_lower(model, cfg.model.freeze_layers, first_new_row=len(tok) - added)
    if cfg.lora.enabled:  # new or re-initialised token rows must train, or they mean nothing
        lora_config = _apply_lora(model, cfg.lora, train_embeddings=added > 0 or bool(token_init),
                                  first_layer=cfg.model.freeze_layers)
    trunk = None
    # A run of at most an epoch (and the few rows its last step wraps around to) reuses too little to keep.
    revisits = trainer.cfg.train.max_steps * step_rows >= len(rows) + step_rows
    if cfg.model.freeze_layers and cfg.model.cache_frozen_gib > 0 and revisits and supports(
            model, cfg.train.parallel, cfg.train.compile):
        trunk = FrozenTrunk(model, cfg.model.freeze_layers, int(cfg.model.cache_frozen_gib * 2**30))

    def export(directory: Path, full: dict[str, torch.Tensor]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if cfg.lora.enabled and not cfg.lora.merge:
            _save_adapter(directory, full, lora_config, cfg.model.path)
        else:
            weights = with_new_rows(merged_weights(full, cfg.lora.alpha / cfg.lora.r) if cfg.lora.enabled else full)
            model.save_pretrained(directory, state_dict=weights)  # drops a tied lm_head, as transformers does
        model.generation_config.save_pretrained(directory)
        save_tokenizer(tok, directory)
        if extra is not None:
            extra(directory)

    describe = (f"{_count(stats['conversations'], 'conversation')} ({stats['held_out']} held out, "
                f"{stats['truncated']} truncated, {stats['dropped']} "
                f"dropped as too long) in {_count(len(rows), 'sequence')}"
                f"{' (each step repeats them)' if len(rows) < step_rows else ''}, "
                f"{'LoRA r=' + str(cfg.lora.r) if cfg.lora.enabled else 'full fine-tuning'}"
                f"{', layers ' + str(cfg.model.freeze_layers) + '+ trained' if cfg.model.freeze_layers else ''}"
                f"{' (frozen outputs kept for later epochs)' if trunk else ''}"
                f"{', ' + str(added) + ' tokens added' if added else ''}")
    return trainer.fit(model, rows, functools.partial(collate, pad_id=tok.pad_token_id), cfg.data.seq_len,
                       cfg.data.seed, export, held_out=held_out, describe=describe, trunk=trunk,
                       target_weights=call_weights(model, tok, cfg.model.call_token_weight))


def call_weights(model: PreTrainedModel, tok: PreTrainedTokenizerFast, weight: float) -> torch.Tensor | None:
    """The loss's weight of each output row: `weight` for the functional tokens and `<api_end>`, 1 for the rest
    (None when that is all ones). A tool reply's function is one token among the ~30 of its call, so unweighted
    nearly all of the gradient goes to copying values. Measured on SmolLM2 (docs/tool-calling-measurements.md):
    a weight of 2 raised held-out and hand-written accuracy on three data draws and lowered the quickstart's held-out
    set on its own draw, hence the default of 1."""
    import torch

    from hare.model.tokenizer import answer_end_ids, call_token_ids

    ids = call_token_ids(tok) + answer_end_ids(tok)
    if weight == 1 or not ids:
        return None
    weights = torch.ones(model.get_output_embeddings().weight.shape[0])
    weights[ids] = weight
    return weights


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def freeze_lower(model: PreTrainedModel, layers: int, first_new_row: int) -> None:
    """Train only the decoder layers from `layers` up, the final norm and the output rows of new tokens.

    Nothing below layer `layers` needs a gradient then, so backward stops there: with 20 of a 30-layer
    base frozen a step costs about half. Tied embeddings are untied first — the new tokens' output
    rows must learn while their input rows, read at the bottom, stay fixed (a trainable input row
    would pull the backward through every frozen layer again). Those output rows train as a parameter of
    their own beside the frozen matrix (`NEW_ROWS`, which the loss reads and `with_new_rows` folds back):
    as rows of the whole matrix, every step's AdamW update and every checkpoint carried the vocabulary."""
    import torch

    from hare.train.loss import NEW_ROWS

    total = len(model.model.layers)
    if not 0 < layers < total:
        raise HareError(f"model.freeze_layers must be between 1 and {total - 1} for this {total}-layer model, "
                        f"got {layers}")
    if model.config.tie_word_embeddings:
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
        model.config.tie_word_embeddings = False
    for p in model.parameters():
        p.requires_grad_(False)
    for p in [*model.model.layers[layers:].parameters(), *model.model.norm.parameters()]:
        p.requires_grad_(True)
    head = model.lm_head
    head.register_parameter(NEW_ROWS, torch.nn.Parameter(head.weight[first_new_row:].detach().clone()))


def with_new_rows(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's weights with `freeze_lower`'s trained output rows in place of the output matrix's last rows."""
    from hare.train.loss import NEW_ROWS

    key = f"lm_head.{NEW_ROWS}"
    if key not in weights:
        return weights
    weights = dict(weights)
    rows = weights.pop(key)
    head = weights["lm_head.weight"].clone()
    head[head.shape[0] - rows.shape[0]:] = rows
    return {**weights, "lm_head.weight": head}


def _apply_lora(model: PreTrainedModel, lora: LoraSettings, train_embeddings: bool, first_layer: int = 0) -> Any:
    """Inject LoRA layers in place (peft), on the layers from `first_layer` up; new token rows need
    trainable embeddings to mean anything (with frozen lower layers, `freeze_lower` has made the
    output rows trainable already)."""
    peft = import_extra("peft", "train", "LoRA")
    from hare.train.loss import NEW_ROWS

    new_rows = getattr(model.get_output_embeddings(), NEW_ROWS, None)
    for p in model.parameters():
        p.requires_grad_(False)
    layers = list(range(first_layer, len(model.model.layers))) if first_layer else None
    config = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=lora.target_modules, layers_to_transform=layers)
    try:
        peft.inject_adapter_in_model(config, model)
    except ValueError as err:  # peft's NoMatchingPeftModuleError is one: a name no layer has ("qproj")
        from torch import nn

        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise HareError(f"lora.target_modules={list(lora.target_modules)} ({str(err).splitlines()[0][:120]}); "
                        f"this model's linear layers are named {', '.join(names)}") from None
    if new_rows is not None:
        new_rows.requires_grad_(True)
    elif train_embeddings:
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            module.weight.requires_grad_(True)
    return config


def _save_adapter(directory: Path, full: dict[str, torch.Tensor], config: Any, base: str) -> None:
    """The PEFT adapter format: adapter_model.safetensors + adapter_config.json, loadable by peft."""
    from safetensors.torch import save_file

    adapter = {f"base_model.model.{k.replace('.default', '')}": v.contiguous()
               for k, v in full.items() if ".lora_" in k}
    save_file(adapter, directory / "adapter_model.safetensors", metadata={"format": "pt"})
    config.base_model_name_or_path = str(Path(base).resolve())
    config.task_type = "CAUSAL_LM"
    config.save_pretrained(directory)


def run(args: SFTArgs) -> Path | None:
    return train(resolve(args), resume=args.resume, print_config=args.print_config)
