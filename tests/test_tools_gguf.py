"""Tool calls on llama.cpp: a tool model exported to GGUF is called through llama-cpp-python under the
same grammar and gives the torch path's calls; the .gguf file alone is the whole tool model."""

from __future__ import annotations

import json

import pytest
from conftest import TOOL_RECORDS, write_records

from hare.cli import main
from hare.errors import HareError
from hare.export.gguf import ExportGgufConfig
from hare.export.gguf import run as export
from hare.tools.call import load_caller
from hare.tools.decoder import ToolCaller

pytestmark = pytest.mark.gguf
QUERIES = [r["query"] for r in TOOL_RECORDS] + ["what is the capital of France",
                                               "set the volume to 3 and take a selfie"]


@pytest.mark.parametrize(("fixture", "kind", "unseen_exact"), [
    ("tool_model", "f16", True), ("foreign_tool_model", "f16", False), ("tool_model", "q8_0", True)])
def test_the_gguf_makes_the_calls_the_torch_model_makes(fixture, kind, unseen_exact, request, tmp_path):
    """HARE's Mistral/sentencepiece model and a Llama/byte-level-BPE one with tied embeddings and a
    ChatML template: the same answers, token for token, from llama.cpp's logits as from torch's. The Llama
    fixture (random init, 700 tokens, 8 requests learnt) is unsure of requests it never saw: there two of its
    tokens can lie within f16 rounding of each other (" selfie" and " selfiE", both spans of the request read
    without case), so on those it must make the same calls by name, and the same answers on what it learnt."""
    model = request.getfixturevalue(fixture)
    gguf = export(ExportGgufConfig(model=str(model), out=str(tmp_path / "tool.gguf"), type=kind))
    torch_caller = ToolCaller.load(str(model), device="cpu", dtype="float32")
    llama_caller = load_caller(str(gguf))
    assert type(llama_caller).__name__ == "LlamaToolCaller"
    learnt = {r["query"] for r in TOOL_RECORDS}
    for query in QUERIES:
        on_torch, on_llama = torch_caller(query), llama_caller(query)
        if unseen_exact or query in learnt:
            assert on_llama.calls == on_torch.calls and on_llama.raw == on_torch.raw, query
        else:
            assert [c["name"] for c in on_llama.calls] == [c["name"] for c in on_torch.calls], query
    for record in TOOL_RECORDS:  # memorised: the exact calls, q8_0 included
        assert llama_caller(record["query"]).calls == record["calls"], record["query"]


def test_the_gguf_file_alone_is_the_tool_model(tool_model, tmp_path, capsys):
    """No directory beside it: tokenizer, tools.json and tool_words.json ride inside the file."""
    alone = tmp_path / "alone"
    alone.mkdir()
    export(ExportGgufConfig(model=str(tool_model), out=str(alone / "tool.gguf"), type="q8_0"))
    capsys.readouterr()
    assert main(["tools", "call", "--model", str(alone / "tool.gguf"), TOOL_RECORDS[0]["query"]]) in (0, None)
    assert json.loads(capsys.readouterr().out) == TOOL_RECORDS[0]["calls"]
    assert [p.name for p in alone.iterdir()] == ["tool.gguf"]
    spelling = load_caller(str(alone / "tool.gguf")).spelling  # and the words slips are read as
    assert spelling is not None and spelling.counts == json.loads((tool_model / "tool_words.json").read_text())
    reordered = tmp_path / "reordered.json"  # the spec it carries is the one a --spec must match
    reordered.write_text(json.dumps(json.loads((tool_model / "tools.json").read_text())[::-1]))
    with pytest.raises(HareError, match="is not the API spec"):
        load_caller(str(alone / "tool.gguf"), spec=str(reordered))


def test_a_gguf_without_a_spec_or_a_file_is_refused_clearly(micro_dir, tool_model, tmp_path):
    """A model exported from a directory without tools.json (hare-micro has functional tokens, no spec)
    needs --spec, and then, untrained, still answers only valid calls under the grammar; a missing
    file is named."""
    plain = export(ExportGgufConfig(model=str(micro_dir), out=str(tmp_path / "plain.gguf"), type="f16"))
    with pytest.raises(HareError, match="carries no tools.json; pass --spec"):
        load_caller(str(plain))
    untrained = load_caller(str(plain), spec=str(tool_model / "tools.json"))
    for query in ("take a selfie", "", "<api_0>(camera='front')<api_end>", "volume 999 ☃ ünï", "x" * 300):
        result = untrained(query)  # the grammar holds on llama.cpp's logits too: always a valid answer
        assert isinstance(result.calls, list) and result.raw.endswith("<api_end>"), (query, result.raw)
    with pytest.raises(HareError, match="not found"):
        load_caller(str(tmp_path / "missing.gguf"))


def test_serve_on_llama_cpp_answers_tool_requests_like_the_transformers_backend(foreign_tool_model, tmp_path):
    """`hare serve --backend llama.cpp` on a Llama/BPE tool model's GGUF: tools requests get the calls
    (OpenAI `tool_calls`), an unknown tool is a 400, and plain chat goes through the model's own ChatML
    template (carried in the file), not HARE's."""
    pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")
    from fastapi.testclient import TestClient

    from hare.serve.app import build_app
    from hare.serve.backends import build_engine
    from hare.serve.config import ServeConfig
    from hare.tools.spec import load_spec

    gguf = export(ExportGgufConfig(model=str(foreign_tool_model), out=str(tmp_path / "tool.gguf"), type="f16"))
    cfg = ServeConfig(model=str(gguf), backend="llama.cpp", ui=False)
    engine = build_engine(cfg)
    try:
        assert engine.functional_tokens >= 3 and "<|im_start|>" in engine.chat_tokenizer.chat_template
        client = TestClient(build_app(engine, cfg))
        tools = [f.to_openai() for f in load_spec(foreign_tool_model / "tools.json")]
        for record in TOOL_RECORDS:
            reply = client.post("/v1/chat/completions", json={
                "messages": [{"role": "user", "content": record["query"]}], "tools": tools}).json()
            choice = reply["choices"][0]
            if record["calls"]:
                assert choice["finish_reason"] == "tool_calls", reply
                calls = [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                         for c in choice["message"]["tool_calls"]]
                assert calls == record["calls"], record["query"]
        stranger = {"type": "function", "function": {"name": "order_pizza", "parameters": {"type": "object"}}}
        response = client.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "hi"}], "tools": [stranger]})
        assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_tool"
        prompt = engine.chat_prompt([{"role": "user", "content": "hi"}])
        assert engine.chat_tokenizer.decode(prompt).startswith("<|im_start|>user\nhi<|im_end|>")
        chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                         "max_tokens": 4, "temperature": 0})
        assert chat.status_code == 200 and chat.json()["usage"]["completion_tokens"] <= 4
    finally:
        engine.close()


def test_bench_tools_puts_every_runtime_side_by_side(tool_model, tmp_path, capsys):
    from hare.bench.tools import BenchToolsConfig
    from hare.bench.tools import run as bench

    data = write_records(tmp_path / "val.jsonl", TOOL_RECORDS)
    with pytest.raises(HareError, match="unknown type 'q3'"):
        bench(BenchToolsConfig(model=str(tool_model), data=str(data), types=["q3"]))
    rows = bench(BenchToolsConfig(model=str(tool_model), data=str(data), types=["q8_0"], torch_dtypes=["float32"],
                                  latency_queries=2))
    assert [r["runtime"] for r in rows] == ["torch float32", "llama.cpp q8_0"]
    assert all(r["exact_call_accuracy"] == 1.0 and r["latency_ms_p50"] > 0 for r in rows)  # memorised
    assert rows[1]["weight_bytes"] < 0.4 * rows[0]["weight_bytes"]  # 8.5 bits a weight against 32
    assert rows[0]["forced_tokens"] > 0 and rows[0]["chosen_tokens"] > 0  # argument names come forced
    assert "| llama.cpp q8_0 | 100.0 % | 100.0 % |" in capsys.readouterr().out


def test_plain_chat_on_the_tool_gguf_never_samples_a_call_token(tool_model, tmp_path):
    """Served without tools, the GGUF tool model writes text as the torch path does: its call tokens are
    banned from plain generation on llama.cpp too (unbanned, it answers "<api_1> (camera=' front')…")."""
    import asyncio

    from hare.generate import generate_ids
    from hare.model.args import SamplingArgs
    from hare.model.load import load_model
    from hare.model.tokenizer import call_token_ids
    from hare.serve.backends import LlamaCppEngine

    gguf = export(ExportGgufConfig(model=str(tool_model), out=str(tmp_path / "tool.gguf"), type="f16"))
    model, tok = load_model(str(tool_model), "cpu", "float32")
    engine = LlamaCppEngine(str(gguf), "tool", max_waiting=1, threads=1)
    greedy = SamplingArgs(temperature=0, max_new_tokens=10)

    async def served(ids: list[int]) -> str:
        return "".join([piece.text async for piece in engine.generate(ids, greedy)])

    try:
        assert sorted(engine.call_ids) == sorted(call_token_ids(tok))
        for query in ("take a selfie", "set volume to 5", "tell me a joke"):  # the last ends at once, at <api_end>
            ids = engine.chat_prompt([{"role": "user", "content": query}])
            text = asyncio.run(served(ids))
            assert "<api" not in text and text == tok.decode(generate_ids(model, tok, ids, greedy),
                                                             skip_special_tokens=True), query
    finally:
        engine.close()
