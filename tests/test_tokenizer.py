"""The HARE tokenizer: sentencepiece parity, added-token ids, the byte-exact chat template, saved files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sentencepiece

from hare.model.tokenizer import (
    API_END,
    DEFAULT_SYSTEM_PROMPT,
    ROUND_END,
    ROUND_START,
    build_tokenizer,
    functional_token,
    num_functional_tokens,
    save_tokenizer,
    sentencepiece_model_path,
)

FIXED = [
    "",
    " ",
    "   ",
    "Hello world",
    " leading space",
    "  two leading spaces and trailing  ",
    "The hare (Lepus europaeus) can run at 70 km/h.",
    "def fib(n: int) -> int:\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "\tindented\twith\ttabs\r\nand CRLF",
    "1234567890 3.14159 -42 1e-9 0x1F",
    "你好，世界。今日は良い天気です。안녕하세요",
    "emoji 🤖🦙🏳️‍🌈 and rare chars ⁇ \u200b \u00a0 ｆｕｌｌ",
    "Ünïcödé café naïve façade",
    "<s> and </s> written as text",
    '{"question": "2+2?", "options": ["3", "4"], "answer": "4"}',
    "a\n\n\nb",
]


def _random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    alphabet = list("abcXYZ \t\n  0189.,;:()[]{}<>_-+=/'\"#ßéü中文日本語한국어🙂🚀\u00a0") + ["def ", "    ", "▁"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def _whitespace_runs() -> list[str]:
    """Runs of 0–40 spaces in context: sentencepiece grows tied whitespace merges from the left."""
    return [pre + " " * n + post for n in range(41) for pre in ["", "x", "\n", "a b"]
            for post in ["", "skip", "\n", " y", "ö", "12"]]


def _source_texts() -> list[str]:
    """Real code and prose: this repository's own Python files and README."""
    root = Path(__file__).resolve().parents[1]
    return [p.read_text() for p in sorted(root.glob("hare/**/*.py")) + [root / "README.md"] if p.is_file()]


@pytest.fixture(scope="module")
def sp() -> sentencepiece.SentencePieceProcessor:
    return sentencepiece.SentencePieceProcessor(model_file=str(sentencepiece_model_path()))


@pytest.mark.parametrize("corpus", ["fixed", "random", "whitespace", "source"])
def test_ids_match_sentencepiece(tok, sp, corpus):
    texts = {"fixed": FIXED, "random": _random_texts(3000), "whitespace": _whitespace_runs(),
             "source": _source_texts()}[corpus]
    assert texts
    specials = set(tok.all_special_tokens) | {t for t in tok.get_vocab() if t.startswith("<") and t.endswith(">")}
    for text in texts:
        expected = sp.encode(text)
        # Like every HF tokenizer, ours parses special-token strings in text ("<s>", "<round_end>");
        # sentencepiece treats them as characters. With that parsing off, ids must agree everywhere.
        got = tok(text, add_special_tokens=False, split_special_tokens=True).input_ids
        assert got == expected, f"mismatch on {text!r}"
        assert tok.decode(got) == sp.decode(expected)
        if not any(s in text for s in specials):
            assert tok(text, add_special_tokens=False).input_ids == expected


def test_plain_encode_starts_with_bos(tok):
    assert tok("hello").input_ids[0] == 1
    assert tok.convert_ids_to_tokens([0, 1, 2]) == ["<unk>", "<s>", "</s>"]


def test_added_tokens_have_fixed_single_ids(tok):
    assert len(tok) == 32000 + 2 + 20 + 1
    assert tok.convert_tokens_to_ids([ROUND_START, ROUND_END]) == [32000, 32001]
    assert [tok.convert_tokens_to_ids(functional_token(i)) for i in range(20)] == list(range(32002, 32022))
    assert tok.convert_tokens_to_ids(API_END) == 32022
    for token in [ROUND_START, ROUND_END, functional_token(7), API_END]:
        ids = tok(f"x{token}y", add_special_tokens=False).input_ids
        assert tok.convert_tokens_to_ids(token) in ids
        assert len(ids) == 3, f"{token} must be one id between the text pieces: {ids}"
    assert num_functional_tokens(tok) == 20


@pytest.mark.parametrize("n", [0, 3, 64])
def test_number_of_functional_tokens_is_configurable(n):
    t = build_tokenizer(n)
    assert num_functional_tokens(t) == n
    assert len(t) == 32002 + (n + 1 if n else 0)
    if n:
        assert t.convert_tokens_to_ids(API_END) == 32002 + n


def test_template_inserts_default_system_prompt(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert text == f"<round_start>system\n{DEFAULT_SYSTEM_PROMPT}<round_end>\n<round_start>user\nHi<round_end>\n"


def test_template_multi_turn_with_system_and_generation_prompt(tok):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3+3?"},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<round_start>system\nBe brief.<round_end>\n"
        "<round_start>user\n2+2?<round_end>\n"
        "<round_start>assistant\n4.<round_end>\n"
        "<round_start>user\nAnd 3+3?<round_end>\n"
        "<round_start>assistant\n"
    )
    assert not tok.apply_chat_template(messages, tokenize=False).endswith("<round_start>assistant\n")


def test_template_rejects_unknown_roles(tok):
    with pytest.raises(Exception, match="HARE chat roles"):
        tok.apply_chat_template([{"role": "narrator", "content": "x"}], tokenize=False)


def test_generation_markers_cover_assistant_turns(tok):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"},
                {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    trained = tok.decode(marked)
    assert trained.startswith("Hello there<round_end>")
    assert "Goodbye<round_end>" in trained
    for untrained in ("Hi", "Bye", "system", "user", "assistant", DEFAULT_SYSTEM_PROMPT):
        assert untrained not in trained
    assert tok.convert_tokens_to_ids(ROUND_START) not in marked


def test_saved_folder_has_sentencepiece_and_added_tokens(tok, tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tok, tmp_path)
    assert (tmp_path / "tokenizer.model").read_bytes() == sentencepiece_model_path().read_bytes()
    added = json.loads((tmp_path / "added_tokens.json").read_text())
    assert added[ROUND_START] == 32000 and added[ROUND_END] == 32001 and added[API_END] == 32022
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    sample = FIXED[7] + ROUND_END + FIXED[10]
    assert loaded(sample).input_ids == tok(sample).input_ids
    assert loaded.chat_template == tok.chat_template
