"""Model presets: one explicit entry per name, in Hugging Face `MistralConfig` field names.

`hare-1.1b` is the released HARE-1.1B architecture. The small presets keep every weight width a
multiple of 256 so that all GGUF quantization types (K-quants use 256-wide super-blocks) apply.
The vocabulary is Mistral's 32,000 pieces plus HARE's added tokens, padded to a multiple of 64
(tensor-core and GGUF friendly); the extra rows are never produced by the tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hare.config import option
from hare.errors import HareError

if TYPE_CHECKING:
    from transformers import MistralConfig

VOCAB_MULTIPLE = 64

_COMMON: dict[str, Any] = {
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "initializer_range": 0.02,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

PRESETS: dict[str, dict[str, Any]] = {
    # The released HARE-1.1B (≈1.1 B parameters).
    "hare-1.1b": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 32768,
    },
    # The quickstart model: ≈24 M parameters, head dim 64 like hare-1.1b; ~2,000 tokens/s training on 2 CPU cores.
    "hare-tiny": {
        "hidden_size": 256,
        "intermediate_size": 1024,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
    },
    # For tests: the smallest model that still exercises GQA, several layers and K-quant widths.
    "hare-micro": {
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
    },
}


def padded_vocab_size(num_tokens: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """Round the tokenizer length up to the embedding size the model is built with."""
    return -(-num_tokens // multiple) * multiple


def check_preset(name: str) -> None:
    if name not in PRESETS:
        raise HareError(f"unknown preset '{name}'; choose one of: {', '.join(PRESETS)} (see `hare presets`)")


def preset_config(name: str, vocab_size: int) -> MistralConfig:
    """The `MistralConfig` of preset `name` with `vocab_size` embedding rows."""
    from transformers import MistralConfig

    check_preset(name)
    return MistralConfig(**_COMMON, **PRESETS[name], vocab_size=vocab_size)


def count_parameters(config: MistralConfig) -> int:
    """Exact parameter count of a Mistral model, computed from its config (no weights built)."""
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    attention = h * q + 2 * h * kv + q * h
    mlp = 3 * h * i
    layer = attention + mlp + 2 * h  # two RMSNorm weights
    embeddings = v * h * (1 if config.tie_word_embeddings else 2)
    return embeddings + config.num_hidden_layers * layer + h  # final norm


@dataclass
class PresetsConfig:
    functional_tokens: int = option(20, "number of <api_i> tool tokens the vocabulary is sized for")


def run(cfg: PresetsConfig) -> None:
    from hare.model.tokenizer import check_functional_tokens, vocab_size_with_added_tokens

    check_functional_tokens("--functional-tokens", cfg.functional_tokens)
    vocab = padded_vocab_size(vocab_size_with_added_tokens(cfg.functional_tokens))
    print(f"{'preset':<12} {'params':>15} {'hidden':>7} {'layers':>7} {'heads':>6} {'kv':>3} {'vocab':>6}")
    for name, p in PRESETS.items():
        n = count_parameters(preset_config(name, vocab))
        print(f"{name:<12} {n:>15,} {p['hidden_size']:>7} {p['num_hidden_layers']:>7} "
              f"{p['num_attention_heads']:>6} {p['num_key_value_heads']:>3} {vocab:>6}")
