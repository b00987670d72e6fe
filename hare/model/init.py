"""`hare init`: write a randomly initialised HARE checkpoint from a preset.

The result is the starting point of `hare pretrain` and a stand-in model for tests and
size measurements (e.g. exporting the `hare-1.1b` preset to GGUF to see its phone footprint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hare.config import check_seed, option
from hare.model.tokenizer import DEFAULT_FUNCTIONAL_TOKENS, check_functional_tokens

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


@dataclass
class InitConfig:
    out: str = option(help="directory to create (written atomically)")
    preset: str = option("hare-micro", "model preset; `hare presets` lists them")
    functional_tokens: int = option(
        DEFAULT_FUNCTIONAL_TOKENS, "number of <api_i> tool-calling tokens added after <round_start>/<round_end>"
    )
    seed: int = option(0, "random seed of the weight initialisation")
    dtype: Literal["float32", "bfloat16"] = option("float32", "dtype the weights are stored in")
    overwrite: bool = option(False, "replace --out if it already exists")


def build_model(
    preset: str, functional_tokens: int = DEFAULT_FUNCTIONAL_TOKENS, seed: int = 0
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A freshly initialised model of `preset` and the matching HARE tokenizer."""
    import torch
    from transformers import GenerationConfig, MistralForCausalLM

    from hare.model.presets import padded_vocab_size, preset_config
    from hare.model.tokenizer import ROUND_END, build_tokenizer

    tok = build_tokenizer(functional_tokens)
    config = preset_config(preset, padded_vocab_size(len(tok)))
    torch.manual_seed(seed)
    model = MistralForCausalLM(config)
    # Chat models end turns with <round_end>; base models end documents with </s>. Stopping on
    # either makes one generation config right for both.
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=[tok.convert_tokens_to_ids(ROUND_END), tok.eos_token_id],
        pad_token_id=tok.pad_token_id,
        do_sample=True,
        temperature=0.8,  # the seed's demo settings
        top_p=0.8,
    )
    return model, tok


def run(cfg: InitConfig) -> Path:
    import torch

    from hare.model.load import save_checkpoint
    from hare.model.presets import count_parameters

    check_seed("--seed", cfg.seed)
    check_functional_tokens("--functional-tokens", cfg.functional_tokens)
    model, tok = build_model(cfg.preset, cfg.functional_tokens, cfg.seed)
    model.to(getattr(torch, cfg.dtype))
    out = save_checkpoint(model, tok, cfg.out, overwrite=cfg.overwrite)
    print(f"wrote {cfg.preset} ({count_parameters(model.config):,} parameters, {cfg.dtype}) to {out}")
    return out
