"""`hare bench decode` and HARE's decode path: correct tokens, well-formed rows (no timing assertions)."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import PARROT_QUESTION

from hare.decode import PackedLinear, greedy_decode, pack_linears


def test_packed_static_cache_decode_gives_transformers_greedy_tokens(parrot_dir):
    from hare.model.load import load_model

    reference, tok = load_model(str(parrot_dir), "cpu", "bfloat16")
    fast, _ = load_model(str(parrot_dir), "cpu", "bfloat16")
    packed = pack_linears(fast)
    if packed:  # CPUs without oneDNN bf16 kernels keep plain linears; the loop is still HARE's
        assert packed == 15 and isinstance(fast.lm_head, PackedLinear)
    prompt = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION}], tokenize=True,
                                     add_generation_prompt=True, return_dict=False)
    with torch.inference_mode():  # the parrot's answer, up to and including the <round_end> that stops it
        expected = reference.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False,
                                      pad_token_id=0)[0, len(prompt):].tolist()
    assert expected[-1] == tok.convert_tokens_to_ids("<round_end>")
    seen: list[int] = []
    assert greedy_decode(fast, prompt, len(expected), on_token=seen.append) == expected == seen


@pytest.mark.gguf
def test_bench_decode_prints_a_row_per_engine(micro_dir, capsys):
    pytest.importorskip("llama_cpp")
    from hare.bench.decode import BenchDecodeConfig, run

    result = run(BenchDecodeConfig(model=str(micro_dir), new_tokens=4, rounds=1))
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (.+?) \| ([\d,.]+) MB \| ([\d,.]+) \| ([\d,.]+) \| ([\d.]+) \|$", out, re.M)
    assert [r[0] for r in rows] == list(result) and len(rows) == 4
    assert rows[0][0] == "transformers bf16" and rows[1][0].startswith("HARE") and rows[3][0] == "llama.cpp q4_k_m"
    for row in result.values():
        assert row["tokens_per_s"] > 0 and row["weight_bytes"] > 0
        assert row["fraction_of_bound"] == pytest.approx(row["tokens_per_s"] / row["bound_tokens_per_s"])
    bf16, q8, q4 = (result[name]["weight_bytes"] for name in (rows[0][0], rows[2][0], rows[3][0]))
    assert q4 < q8 < bf16  # each path is bounded by its own weight bytes
    assert re.search(r"copy bandwidth [\d.]+ GB/s", out)
