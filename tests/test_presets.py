"""Model presets: exact HARE-1.1B shape and size, small presets usable on CPU and by every GGUF type."""

from __future__ import annotations

import pytest
import torch

from hare.errors import HareError
from hare.model.presets import PRESETS, count_parameters, padded_vocab_size, preset_config
from hare.model.tokenizer import vocab_size_with_added_tokens


def _built_parameter_count(name: str, vocab: int) -> int:
    from transformers import MistralForCausalLM

    with torch.device("meta"):
        model = MistralForCausalLM(preset_config(name, vocab))
    return sum(p.numel() for p in model.parameters())


def test_hare_1_1b_matches_the_release():
    c = preset_config("hare-1.1b", 32000)
    assert (c.hidden_size, c.intermediate_size, c.num_hidden_layers) == (2048, 5632, 22)
    assert (c.num_attention_heads, c.num_key_value_heads) == (32, 8)
    assert (c.rms_norm_eps, c.rope_parameters["rope_theta"]) == (1e-5, 10000.0)
    assert (c.sliding_window, c.max_position_embeddings) == (4096, 32768)
    assert c.tie_word_embeddings is False
    # The published size with Mistral's bare 32,000-token vocabulary.
    assert count_parameters(c) == _built_parameter_count("hare-1.1b", 32000) == 1_123_117_056


def test_hare_1_1b_with_added_tokens():
    vocab = padded_vocab_size(vocab_size_with_added_tokens(20))
    assert vocab == 32064  # 32000 + <round_start>, <round_end>, 20 <api_i>, <api_end>, padded to 64
    assert count_parameters(preset_config("hare-1.1b", vocab)) == _built_parameter_count("hare-1.1b", vocab)
    assert count_parameters(preset_config("hare-1.1b", vocab)) == 1_123_117_056 + 2 * 64 * 2048


@pytest.mark.parametrize("name", ["hare-micro", "hare-tiny"])
def test_small_presets_fit_gguf_k_quants_and_cpu(name):
    p = PRESETS[name]
    assert p["hidden_size"] % 256 == 0 and p["intermediate_size"] % 256 == 0
    n = count_parameters(preset_config(name, 32064))
    assert n == _built_parameter_count(name, 32064)
    if name == "hare-tiny":
        assert 10e6 <= n <= 40e6


def test_padded_vocab_size():
    assert padded_vocab_size(32000) == 32000
    assert padded_vocab_size(32001) == 32064
    assert padded_vocab_size(32023) == 32064


def test_unknown_preset_names_the_choices():
    with pytest.raises(HareError, match="unknown preset 'hare-7b'.*hare-1.1b.*hare-micro"):
        preset_config("hare-7b", 32000)
