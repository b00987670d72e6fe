"""`hare export gguf`: real llama.cpp (llama-cpp-python) runs the files and agrees with transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PARROT_ANSWER, PARROT_QUESTION, odd_width_checkpoint

from hare.errors import HareError
from hare.export.gguf import ExportGgufConfig, run

llama_cpp = pytest.importorskip("llama_cpp")
gguf = pytest.importorskip("gguf")
pytestmark = pytest.mark.gguf


def export(model: Path, out: Path, gguf_type: str) -> Path:
    return run(ExportGgufConfig(model=str(model), out=str(out), type=gguf_type))


def load_llama(path: Path) -> llama_cpp.Llama:
    return llama_cpp.Llama(str(path), n_ctx=512, logits_all=True, n_threads=2, verbose=False)


def held_out_ids(tok, n: int = 300) -> list[int]:
    """Synthetic documents the parrot never saw."""
    from hare.data.synth import make_doc
    from hare.data.synth.common import Context
    from hare.data.synth.mixture import load_mixture

    text = "\n\n".join(make_doc(1234, i, load_mixture(None), Context())["text"] for i in range(4))
    return tok(text).input_ids[:n]


@pytest.fixture(scope="module")
def parrot(parrot_dir):
    from hare.model.load import load_model

    return load_model(str(parrot_dir), "cpu", "float32")


@pytest.fixture(scope="module")
def f16_file(parrot_dir, tmp_path_factory) -> Path:
    return export(parrot_dir, tmp_path_factory.mktemp("gguf") / "parrot.f16.gguf", "f16")


def test_f16_greedy_continuation_equals_transformers(f16_file, parrot):
    model, tok = parrot
    prompt = tok("The hare ate").input_ids
    ids = list(prompt)
    with torch.inference_mode():  # plain argmax steps: no end-of-turn handling on either side
        for _ in range(16):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    expected = ids[len(prompt):]
    llm = load_llama(f16_file)
    got = []
    for token in llm.generate(prompt, temp=0.0, reset=True):
        got.append(token)
        if len(got) == 16:
            break
    assert got == expected


def test_f16_chat_uses_template_and_stops_on_round_end(f16_file, parrot):
    _, tok = parrot
    messages = [{"role": "user", "content": PARROT_QUESTION}]
    llm = load_llama(f16_file)
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == tok.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_dict=False)
    # llama-cpp-python renders the GGUF's own chat template and stops on its end-of-turn token.
    reply = llm.create_chat_completion(messages, temperature=0.0, max_tokens=40)["choices"][0]
    assert reply["message"]["content"].strip() == PARROT_ANSWER
    assert reply["finish_reason"] == "stop"


def test_f16_metadata(f16_file, tok):
    reader = gguf.GGUFReader(str(f16_file))
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.architecture"] == "llama"
    assert fields["tokenizer.ggml.bos_token_id"] == 1 and fields["tokenizer.ggml.eos_token_id"] == 2
    assert fields["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<round_end>")
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    assert len(tokens) == 32064 and tokens[32001] == "<round_end>" and tokens[32022] == "<api_end>"
    assert {types[i] for i in range(32000, 32023)} == {gguf.TokenType.CONTROL}
    assert types[32063] == gguf.TokenType.UNUSED and types[0] == gguf.TokenType.UNKNOWN
    template = fields["tokenizer.chat_template"]
    assert "endgeneration" not in template and "<round_start>assistant" in template
    assert fields["llama.rope.freq_base"] == pytest.approx(10000.0)


def argmax_agreement(llm: llama_cpp.Llama, model, ids: list[int]) -> float:
    """The share of positions of `ids` where llama.cpp and transformers predict the same next token."""
    with torch.inference_mode():
        expected = model(torch.tensor([ids])).logits[0].argmax(-1).numpy()
    llm.reset()
    llm.eval(ids)
    return float((np.asarray(llm.scores[: len(ids)]).argmax(-1) == expected).mean())


def test_q8_0_agrees_on_next_token_argmax(parrot_dir, parrot, tmp_path):
    model, tok = parrot
    llm = load_llama(export(parrot_dir, tmp_path / "parrot.q8_0.gguf", "q8_0"))
    assert argmax_agreement(llm, model, held_out_ids(tok)) >= 0.9


def test_q4_k_m_keeps_the_models_predictions(parrot_dir, parrot, f16_file, tmp_path):
    out = export(parrot_dir, tmp_path / "parrot.q4_k_m.gguf", "q4_k_m")
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(out)).tensors}
    assert {"Q4_K", "Q6_K"} <= types and "F16" not in types  # llama.cpp's Q4_K_M mix
    assert out.stat().st_size < 0.45 * f16_file.stat().st_size
    # Fidelity, not just output: on what the parrot memorised (its conversation) 4-bit weights still
    # predict transformers' tokens, and its answer survives; on unseen text most predictions do.
    model, tok = parrot
    llm = load_llama(out)
    conversation = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION},
                                            {"role": "assistant", "content": PARROT_ANSWER}], tokenize=True,
                                           return_dict=False)
    assert argmax_agreement(llm, model, list(conversation)) >= 0.9
    assert argmax_agreement(llm, model, held_out_ids(tok)) >= 0.6
    reply = llm.create_chat_completion([{"role": "user", "content": PARROT_QUESTION}], temperature=0.0,
                                       max_tokens=40)["choices"][0]["message"]["content"]
    assert reply.strip() == PARROT_ANSWER
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # the f16 intermediate is gone


def test_widths_a_type_cannot_take_are_refused_and_leave_nothing(tmp_path, capsys):
    model = odd_width_checkpoint(tmp_path / "odd", intermediate=100)  # not a multiple of 32
    for kind in ("q4_k_m", "q8_0"):
        with pytest.raises(HareError, match=rf"{kind} .*32-value blocks.*down_proj.weight .*100 .*one of f16, bf16"):
            export(model, tmp_path / "odd.gguf", kind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd"]  # no GGUF, no temporary file


def test_k_quants_store_rows_short_of_256_in_llama_cpps_fallback_type(tmp_path, capsys):
    """SmolLM2-like widths (a multiple of 32, not of 256): q4_k_m writes them in llama.cpp's 32-value
    fallback types and says so."""
    import gguf

    model = odd_width_checkpoint(tmp_path / "odd", intermediate=96)
    out = export(model, tmp_path / "odd.gguf", "q4_k_m")
    assert "fallback types" in capsys.readouterr().err
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors}
    assert types["blk.0.ffn_down.weight"] in ("Q5_0", "Q8_0")  # rows of 96: q4_K's or q6_K's fallback
    assert "Q4_K" in types.values() or "Q6_K" in types.values()  # rows of 256 keep their K-quant


def test_bad_requests_are_clear_errors(micro_dir, tmp_path, capsys):
    from hare.cli import main

    with pytest.raises(HareError, match="unsupported GGUF type 'q3_k'"):
        export(micro_dir, tmp_path / "x.gguf", "q3_k")
    out = tmp_path / "taken.gguf"
    out.write_bytes(b"keep me")
    assert main(["export", "gguf", "--model", str(micro_dir), "--out", str(out), "--type", "q8_0"]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["export", "gguf", "--model", str(micro_dir), "--out", str(out), "--type", "q8_0", "--force"]) == 0
    assert gguf.GGUFReader(str(out)).fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q8_0
    with pytest.raises(SystemExit):
        main(["export", "gguf", "--model", str(micro_dir), "--out", str(tmp_path / "y.gguf"), "--type", "q3_k"])
    assert "invalid choice: 'q3_k'" in capsys.readouterr().err
    (tmp_path / "runs").mkdir()  # --out a directory: refused before converting, the directory kept
    assert main(["export", "gguf", "--model", str(micro_dir), "--out", str(tmp_path / "runs"), "--force"]) == 2
    assert "'runs' is a directory" in capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    assert main(["export", "gguf", "--model", str(micro_dir), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err  # not "pass --force to replace it", which the next try refuses
    assert "is a directory" in err and "--force" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "taken.gguf"]
