"""The tool pipeline on a foreign base: byte-level BPE instead of SentencePiece, its own chat template."""

from __future__ import annotations

import json

import pytest
from conftest import TOOL_RECORDS

from hare.tools.calls import render
from hare.tools.spec import load_spec

ANDROID = load_spec("android")


@pytest.fixture(scope="module")
def foreign_tok(foreign_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(foreign_dir)


@pytest.mark.parametrize("value", ["San Francisco", "Ana", "the Premier League", "Min-jun Park", "Zyxwv Qrst"])
def test_string_values_tokenize_as_in_the_query_on_byte_level_bpe(foreign_tok, value):
    """The leading-space rule holds for byte-level BPE too: 'Ġ' marks word starts as '▁' does."""
    call = render([{"name": "get_weather_forecast", "arguments": {"location": value}}], ANDROID)
    query_ids = foreign_tok(f"what's the weather in {value}", add_special_tokens=False).input_ids
    call_ids = foreign_tok(call, add_special_tokens=False).input_ids
    value_ids = foreign_tok(f" {value}", add_special_tokens=False).input_ids
    assert query_ids[-len(value_ids):] == value_ids
    assert any(call_ids[i:i + len(value_ids)] == value_ids for i in range(len(call_ids)))


def test_call_grammar_accepts_every_target_over_a_byte_level_vocabulary(foreign_tok):
    from hare.model.tokenizer import added_tokens
    from hare.tools.data import ToolDataConfig, generate
    from hare.tools.grammar import CallGrammar

    foreign_tok.add_special_tokens({"additional_special_tokens": added_tokens()[2:]})
    grammar = CallGrammar(ANDROID, foreign_tok)
    assert grammar.pieces[foreign_tok.convert_tokens_to_ids("<|im_end|>")] is None  # its control tokens stay out
    for r in generate(ToolDataConfig(per_function=4, irrelevant=10, parallel=10, seed=5))["val"]:
        text = ""
        for token in foreign_tok(render(r["calls"], ANDROID), add_special_tokens=False).input_ids:
            text += grammar.pieces[token]
            assert grammar.allows(text), text
        assert grammar.pattern.fullmatch(text), text


def test_sft_labels_a_native_template_reply_and_its_end_of_turn(foreign_tok):
    from hare.train.sft_data import encode

    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"},
                {"role": "user", "content": "bye"}, {"role": "assistant", "content": "see you"}]
    sample = encode(foreign_tok, messages, "Be brief.")
    labelled = foreign_tok.decode([t for t in sample.labels if t != -100])
    assert labelled == "hello there<|im_end|>\nsee you<|im_end|>\n"
    assert foreign_tok.decode(sample.ids).startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


def test_tool_model_on_a_foreign_base_keeps_its_template_and_answers_exactly(foreign_dir, foreign_tool_model):
    from safetensors import safe_open
    from transformers import AutoTokenizer

    from hare.tools.decoder import ToolCaller

    tok = AutoTokenizer.from_pretrained(foreign_tool_model)
    assert tok.chat_template == AutoTokenizer.from_pretrained(foreign_dir).chat_template
    assert "<round_start>" not in tok.get_vocab() and "<api_2>" in tok.get_vocab()
    assert not (foreign_tool_model / "tokenizer.model").exists()  # Mistral's sentencepiece would misdescribe it
    with safe_open(foreign_tool_model / "model.safetensors", "pt") as f, \
            safe_open(foreign_dir / "model.safetensors", "pt") as g:
        low, top = "model.layers.0.mlp.up_proj.weight", "model.layers.2.mlp.up_proj.weight"
        assert f.get_tensor(low).equal(g.get_tensor(low)) and not f.get_tensor(top).equal(g.get_tensor(top))
        base_rows = g.get_tensor("model.embed_tokens.weight").shape[0]
        head = f.get_tensor("lm_head.weight")  # untied: the new output rows learnt, the old ones did not
        assert head[:base_rows].equal(g.get_tensor("model.embed_tokens.weight"))
    caller = ToolCaller.load(str(foreign_tool_model), device="cpu")
    for record in TOOL_RECORDS:
        assert caller(record["query"]).calls == record["calls"], record["query"]
    assert json.loads((foreign_tool_model / "tools.json").read_text())[0]["function"]["name"] == "take_a_photo"
