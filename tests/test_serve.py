"""The serving engine in-process: batched decoding equals one-at-a-time decoding, queues are bounded,
stop strings, the UI's history, and the tool-calling seam."""

from __future__ import annotations

import asyncio

import pytest
from conftest import wait_until

from hare.errors import HareError
from hare.generate import generate_ids
from hare.model.args import SamplingArgs

pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")


def _done(result):
    """A future already answered: what a stubbed engine's `submit_tools` returns."""
    from concurrent.futures import Future

    future = Future()
    future.set_result(result)
    return future


@pytest.fixture(scope="module")
def engine(micro_dir):
    from hare.serve.batching import build_transformers_engine

    engine = build_transformers_engine(str(micro_dir), "micro", "cpu", "auto", max_batch=2, max_waiting=3)
    yield engine
    engine.close()


async def _text(engine, ids: list[int], sampling: SamplingArgs, **kwargs) -> tuple[str, int, str]:
    text, tokens, reason = "", 0, None
    async for piece in engine.generate(ids, sampling, **kwargs):
        text, tokens, reason = text + piece.text, tokens + piece.tokens, piece.finish_reason or reason
    return text, tokens, reason


def test_batched_greedy_decoding_matches_generate(engine):
    """Prompts of different lengths decoded together (left padding, joins mid-flight) give exactly the
    tokens `transformers.generate` gives each one alone."""
    prompts = [engine.encode(text, bos=True) for text in ("The hare", "A fox ran over the hill and then", "Owls")]
    jobs = [(p, SamplingArgs(max_new_tokens=n, temperature=0)) for p, n in zip(prompts, (4, 12, 12), strict=True)]
    expected = [engine.decode(generate_ids(engine.model, engine.tok, p, s)) for p, s in jobs]

    async def together():
        return await asyncio.gather(*[_text(engine, p, s, ignore_eos=True) for p, s in jobs])

    # max_batch=2: the third request waits, then joins the second one mid-flight when
    # the first finishes, so both cache merging (unequal lengths) and row removal are exercised.
    results = asyncio.run(together())
    assert [r[0] for r in results] == expected
    assert [r[1:] for r in results] == [(4, "length"), (12, "length"), (12, "length")]


def test_a_long_prompt_is_prefilled_in_chunks_between_the_running_streams_tokens(micro_dir, monkeypatch):
    """A prompt is prefilled PREFILL_CHUNK columns a step, each chunk followed by a decode step of the streams
    already running (one forward for a whole 8,000-token prompt had held them ~90 s); its tokens and theirs
    are still exactly what `generate` gives each alone."""
    from hare.serve import batching

    monkeypatch.setattr(batching, "PREFILL_CHUNK", 4)
    engine = batching.build_transformers_engine(str(micro_dir), "micro", "cpu", "float32", max_batch=4, max_waiting=3)
    try:
        widths = []  # each forward's columns: a chunk of a prompt, or 1 for a decode step
        forward = engine.model.forward

        def counted(*args, **kwargs):
            widths.append(kwargs["input_ids"].shape[1])
            return forward(*args, **kwargs)

        engine.model.forward = counted
        short, long = engine.encode("The hare", bos=True), engine.encode("A fox ran over the hill " * 6, bos=True)
        assert len(short) <= 4 < 8 * 4 < len(long)
        greedy = [SamplingArgs(max_new_tokens=n, temperature=0) for n in (24, 6)]
        expected = [engine.decode(generate_ids(engine.model, engine.tok, p, s))
                    for p, s in zip((short, long), greedy, strict=True)]
        widths.clear()

        async def together() -> list[str]:
            running = engine.generate(short, greedy[0], ignore_eos=True)
            first = await anext(running)  # the short stream is decoding before the long prompt comes
            rest, (text, _, _) = await asyncio.gather(_text_of(running),
                                                      _text(engine, long, greedy[1], ignore_eos=True))
            return [first.text + rest, text]

        assert asyncio.run(together()) == expected
        chunks = [i for i, w in enumerate(widths) if w > 1]
        assert len(chunks) >= 1 + len(long) // 4  # the short prompt's one, then the long one's in chunks
        assert all(b - a > 1 for a, b in zip(chunks, chunks[1:], strict=False)), widths  # a decode step between any two
    finally:
        engine.close()


def test_a_short_prompt_arriving_during_a_long_prefill_is_answered_before_that_prefill_ends(micro_dir, monkeypatch):
    """A request that comes while a long prompt is being prefilled is prefilled as a group of its own, the chunks
    shared between the two groups, so it need not wait for the long prompt's whole prefill; both still give
    exactly the tokens `generate` gives each alone."""
    import threading

    from hare.serve import batching

    monkeypatch.setattr(batching, "PREFILL_CHUNK", 4)
    engine = batching.build_transformers_engine(str(micro_dir), "micro", "cpu", "float32", max_batch=4, max_waiting=3)
    try:
        long, short = engine.encode("A fox ran over the hill " * 12, bos=True), engine.encode("The hare", bos=True)
        assert len(short) <= 4 and len(long) > 12 * 4
        greedy = [SamplingArgs(max_new_tokens=n, temperature=0) for n in (3, 2)]
        expected = [engine.decode(generate_ids(engine.model, engine.tok, p, s))
                    for p, s in zip((long, short), greedy, strict=True)]
        forwards = []  # each forward's first row of input ids
        short_queued = threading.Event()
        forward = engine.model.forward

        def traced(*args, **kwargs):
            forwards.append(kwargs["input_ids"][0].tolist())
            if len(forwards) == 2:  # the long prompt's second chunk: hold it until the short request is queued
                assert short_queued.wait(30)
            return forward(*args, **kwargs)

        engine.model.forward = traced

        async def together() -> list[str]:
            async def short_later() -> tuple[str, int, str]:
                await asyncio.to_thread(wait_until, lambda: len(forwards) >= 2)
                answer = asyncio.ensure_future(_text(engine, short, greedy[1], ignore_eos=True))
                await asyncio.to_thread(wait_until, lambda: engine.load()["waiting"] > 0)
                short_queued.set()
                return await answer

            results = await asyncio.gather(_text(engine, long, greedy[0], ignore_eos=True), short_later())
            return [text for text, _, _ in results]

        assert asyncio.run(together()) == expected
        long_chunks = [i for i, ids in enumerate(forwards) if len(ids) > 1 and ids != short]
        assert forwards.index(short) < long_chunks[-1], forwards  # the short prompt went in between the long's chunks
        assert len(long_chunks) == -(-len(long) // 4)
    finally:
        engine.close()


async def _text_of(pieces) -> str:
    return "".join([piece.text async for piece in pieces])


def test_seeded_sampling_repeats(engine):
    ids = engine.encode("The hare", bos=True)
    sampled = SamplingArgs(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=7)
    first, second = (asyncio.run(_text(engine, ids, sampled, ignore_eos=True))[0] for _ in range(2))
    other = asyncio.run(_text(engine, ids, SamplingArgs(max_new_tokens=10, temperature=1.0, top_p=0.9, seed=8),
                              ignore_eos=True))[0]
    assert first == second and first != other

    async def together() -> list[str]:  # the seeded request shares its decode batch with another one
        noisy = SamplingArgs(max_new_tokens=10, temperature=1.5, top_p=1.0, seed=99)
        results = await asyncio.gather(_text(engine, engine.encode("Once upon", bos=True), noisy, ignore_eos=True),
                                       _text(engine, ids, sampled, ignore_eos=True))
        return [text for text, _, _ in results]

    assert asyncio.run(together())[1] == first  # a seed fixes a request's text whatever shares the batch


@pytest.mark.parametrize("top_p", [1e-46, 1e-300, 5e-324])
def test_a_top_p_too_small_for_float32_keeps_the_likeliest_token(top_p):
    """top_p under float32's smallest number compared as 0, kept no candidate, and indexing kept all 256: every
    seed sampled its own text. The nucleus always holds the likeliest token."""
    import torch

    from hare.serve.batching import sample
    from hare.serve.engine import Request

    logits = torch.linspace(0, 3, 300)[None].repeat(8, 1)
    requests = [Request([1], SamplingArgs(temperature=1.0, top_p=top_p, seed=s), 4, frozenset(), None,
                        state=torch.Generator().manual_seed(s)) for s in range(8)]
    assert sample(logits, requests) == [299] * 8


def test_full_queue_refuses_and_cancelling_frees_slots(engine):
    from hare.serve.engine import ServerBusy

    ids = engine.encode("The hare", bos=True)
    long = SamplingArgs(max_new_tokens=1000, temperature=0)

    async def flood():
        streams, refused = [], 0
        for _ in range(6):  # 2 slots + 3 queue places: at least one of six must be refused
            try:
                streams.append(engine.generate(ids, long, ignore_eos=True))
            except ServerBusy:
                refused += 1
        for stream in streams:
            await anext(stream)
            await stream.aclose()
        return refused

    before = engine.load()["cancelled"]
    assert asyncio.run(flood()) >= 1
    assert wait_until(lambda: engine.load()["active"] == 0 and engine.load()["cancelled"] > before), engine.load()


def test_prompt_longer_than_context_is_refused(engine):
    with pytest.raises(HareError, match="context"):
        engine.generate([1] * engine.context_length, SamplingArgs(max_new_tokens=1))


def test_stop_strings_cut_text_and_never_leak_a_prefix():
    from hare.serve.engine import Piece, _apply_stops

    async def pieces(texts):
        for t in texts:
            yield Piece(t, 1)
        yield Piece("", 0, "length")

    async def run(texts, stops):
        out = [p async for p in _apply_stops(pieces(texts), stops)]
        return [p.text for p in out], out[-1].finish_reason

    assert asyncio.run(run(["Hares eat gr", "ass, herbs"], ["grass"])) == (["Hares eat ", ""], "stop")
    assert asyncio.run(run(["ab", "c", "d"], ["cx"])) == (["ab", "", "cd", ""], "length")


def test_ui_history_keeps_every_turn():
    from hare.serve.ui import to_messages

    history = [{"role": "user", "content": [{"type": "text", "text": "first"}]},
               {"role": "assistant", "content": "one"},
               {"role": "user", "content": "second"},
               {"role": "assistant", "content": [{"type": "text", "text": "two"}]}]
    assert to_messages("  ", history, "third") == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"}, {"role": "assistant", "content": "two"},
        {"role": "user", "content": "third"}]


def test_tool_calls_go_through_the_tool_decoder(tool_model, tmp_path, monkeypatch):
    """A tool model answers with validated calls; bad specs and models without functional tokens get 400s;
    an answer that is not a valid call is a 422 `invalid_tool_call` over HTTP, never a call."""
    import json

    from fastapi.testclient import TestClient

    from hare.model.init import InitConfig
    from hare.model.init import run as init
    from hare.serve.app import build_app, tool_calls
    from hare.serve.batching import build_transformers_engine
    from hare.serve.config import ServeConfig
    from hare.serve.openai_schema import ApiError
    from hare.tools.calls import CallError
    from hare.tools.decoder import CallResult

    tools = json.loads((tool_model / "tools.json").read_text())
    engine = build_transformers_engine(str(tool_model), "tools", "cpu", "auto", 1, 1)
    try:
        assert asyncio.run(tool_calls(engine, [{"role": "user", "content": "weather in Oslo"}], tools))[0] == [
            {"name": "get_weather_forecast", "arguments": '{"location": "Oslo"}'}]
        assert asyncio.run(tool_calls(engine, [{"role": "user", "content": "tell me a joke"}], tools))[0] == []
        # The model's tools.json maps names to tokens: any subset, any order; it only calls among them.
        by_name = {t["function"]["name"]: t for t in tools}
        swapped = [by_name["set_volume"], by_name["get_weather_forecast"]]
        assert asyncio.run(tool_calls(engine, [{"role": "user", "content": "weather in Oslo"}], swapped))[0] == [
            {"name": "get_weather_forecast", "arguments": '{"location": "Oslo"}'}]
        # Offered only the camera, a weather request cannot reach the forecast (no call, or the camera),
        # while a camera request still gets its call: the restriction removes functions, not answers.
        only_camera = [by_name["take_a_photo"]]
        weather = asyncio.run(tool_calls(engine, [{"role": "user", "content": "weather in Oslo"}], only_camera))[0]
        assert [c["name"] for c in weather] in ([], ["take_a_photo"]), weather
        assert asyncio.run(tool_calls(engine, [{"role": "user", "content": "take a selfie"}], only_camera))[0] == [
            {"name": "take_a_photo", "arguments": '{"camera": "front"}'}]
        stranger = {"type": "function", "function": {"name": "order_pizza", "parameters": {"type": "object"}}}
        with pytest.raises(ApiError, match="not trained to call 'order_pizza'") as err:
            asyncio.run(tool_calls(engine, [{"role": "user", "content": "hi"}], [stranger]))
        assert err.value.status == 400
        with pytest.raises(ApiError, match="not a valid JSON Schema") as err:
            asyncio.run(tool_calls(engine, [{"role": "user", "content": "hi"}],
                                   [{"type": "function", "function": {"name": "f", "parameters": {"type": "strin"}}}]))
        assert err.value.status == 400
        long = [{"role": "user", "content": "weather in Oslo " * engine.context_length}]
        with pytest.raises(ApiError, match="shorten it") as err:
            asyncio.run(tool_calls(engine, long, tools))
        assert (err.value.status, err.value.code) == (400, "context_length_exceeded")
        client = TestClient(build_app(engine, ServeConfig(model=str(tool_model), ui=False)))
        reply = client.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "weather in Oslo"}], "tools": tools}).json()
        assert reply["choices"][0]["finish_reason"] == "tool_calls"
        usage = reply["usage"]  # a tool-call reply counts its tokens like any other
        assert usage["prompt_tokens"] > 5 and usage["completion_tokens"] >= 3
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        cut = CallError("too_long", "the answer did not end within 3 tokens", "<api_2>(level=")
        monkeypatch.setattr(engine, "submit_tools", lambda query, functions: _done(CallResult(cut, cut.raw, 0.1, 3)))
        response = TestClient(build_app(engine, ServeConfig(model=str(tool_model), ui=False))).post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "ringer to 3"}], "tools": tools})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("invalid_tool_call", "tools")
        assert "did not end within 3 tokens" in error["message"] and "nothing was executed" in error["message"]
    finally:
        engine.close()
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    plain = build_transformers_engine(str(init(InitConfig(out=str(tmp_path / "plain"), preset="hare-micro",
                                                          functional_tokens=0))), "plain", "cpu", "auto", 1, 1)
    try:
        with pytest.raises(ApiError, match="no functional tokens") as err:
            asyncio.run(tool_calls(plain, messages, tools))
        assert err.value.status == 400
    finally:
        plain.close()


def test_tool_choice_is_obeyed_or_refused(tool_model):
    """"none" answers in text, a named function is the only one the model may call, "required" or a name
    with no call made is a 422 (never a silent text answer), and values OpenAI does not define are 400s."""
    import json

    from fastapi.testclient import TestClient

    from hare.serve.app import build_app
    from hare.serve.batching import build_transformers_engine
    from hare.serve.config import ServeConfig

    tools = json.loads((tool_model / "tools.json").read_text())
    engine = build_transformers_engine(str(tool_model), "tools", "cpu", "auto", 1, 1)

    def ask(query: str, choice: object, offered: list | None = tools) -> tuple[int, dict]:
        body = {"messages": [{"role": "user", "content": query}], "tool_choice": choice, "max_tokens": 4}
        response = client.post("/v1/chat/completions", json=body | ({"tools": offered} if offered else {}))
        return response.status_code, response.json()

    def named(name: str) -> dict:
        return {"type": "function", "function": {"name": name}}

    try:
        client = TestClient(build_app(engine, ServeConfig(model=str(tool_model), ui=False)))
        status, reply = ask("weather in Oslo", "auto")
        assert status == 200 and reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == \
            "get_weather_forecast"
        status, reply = ask("weather in Oslo", "none")
        assert status == 200 and reply["choices"][0]["finish_reason"] != "tool_calls"
        assert not reply["choices"][0]["message"].get("tool_calls")
        status, reply = ask("take a selfie", named("take_a_photo"))
        assert status == 200 and [c["function"]["name"] for c in reply["choices"][0]["message"]["tool_calls"]] == \
            ["take_a_photo"]
        status, reply = ask("weather in Oslo", named("take_a_photo"))  # the forecast is not on offer
        assert status == 422 and reply["error"]["code"] == "no_tool_call" or [
            c["function"]["name"] for c in reply["choices"][0]["message"]["tool_calls"]] == ["take_a_photo"]
        status, reply = ask("tell me a joke", "required")  # memorised as no call
        assert (status, reply["error"]["code"], reply["error"]["param"]) == (422, "no_tool_call", "tool_choice")
        broken = [*tools, {"type": "function", "function": {"name": "order_pizza", "parameters": {
            "type": "object", "properties": {"size": {"type": "strin"}}}}}]
        for choice in ("none", named("take_a_photo")):  # not on offer, still checked, as OpenAI does
            status, reply = ask("take a selfie", choice, broken)
            assert status == 400 and "order_pizza" in reply["error"]["message"], reply
        refused = [("always", tools, "tool_choice"), (named("order_pizza"), tools, "order_pizza"),
                   ("required", None, "needs 'tools'"), ({"type": "function"}, tools, '"function"')]
        for choice, offered, needle in refused:
            status, reply = ask("take a selfie", choice, offered)
            assert status == 400 and needle in reply["error"]["message"], (choice, reply)
    finally:
        engine.close()


def test_nulls_parallel_tool_calls_caps_and_endless_conversations_are_read_before_any_work(tool_model):
    """`null` for an optional field is the field unsent (the official clients send them; each was a 400),
    `parallel_tool_calls: false` gets one call where the model makes two, a `max_tokens` past the server's cap is
    a 400 before any call is made (it had been refused only when the model answered in text), a conversation that
    ends after the user's turn is answered in text (the same call again had kept an agent loop going), and more
    messages than the context has tokens are refused unrendered (45,000 had taken 2 s of the event loop each)."""
    import json

    from fastapi.testclient import TestClient

    from hare.serve.app import build_app
    from hare.serve.batching import build_transformers_engine
    from hare.serve.config import ServeConfig

    tools = json.loads((tool_model / "tools.json").read_text())
    engine = build_transformers_engine(str(tool_model), "tools", "cpu", "auto", 1, 1)
    ask = [{"role": "user", "content": "media volume 8 and weather in Rome"}]
    try:
        client = TestClient(build_app(engine, ServeConfig(model=str(tool_model), ui=False, max_tokens=64)))

        def names(**extra: object) -> list[str]:
            reply = client.post("/v1/chat/completions", json={"messages": ask, "tools": tools, **extra})
            assert reply.status_code == 200, reply.text
            return [c["function"]["name"] for c in reply.json()["choices"][0]["message"]["tool_calls"]]

        assert names() == ["set_volume", "get_weather_forecast"]
        assert names(parallel_tool_calls=False) == ["set_volume"]
        nulls = dict.fromkeys(("temperature", "top_p", "n", "stream", "parallel_tool_calls", "tool_choice"))
        assert names(**nulls) == ["set_volume", "get_weather_forecast"]
        text = client.post("/v1/completions", json={"prompt": "The hare", "max_tokens": 2, "echo": None,
                                                    "temperature": None, "stream": None})
        assert text.status_code == 200 and text.json()["choices"][0]["text"] is not None
        capped = client.post("/v1/chat/completions", json={"messages": ask, "tools": tools, "max_tokens": 65})
        assert capped.status_code == 400 and capped.json()["error"]["param"] == "max_tokens"
        # (HARE's template has no tool role, a 400; SmolLM2's renders one, and the tool's result then ends it.)
        answered = [*ask, {"role": "assistant", "content": "Done: volume 8, Rome sunny."}]
        after = client.post("/v1/chat/completions", json={"messages": answered, "tools": tools, "max_tokens": 4})
        assert after.status_code == 200 and after.json()["choices"][0]["finish_reason"] != "tool_calls", after.text
        endless = client.post("/v1/chat/completions", json={"messages": ask * engine.context_length})
        assert endless.status_code == 400 and endless.json()["error"]["code"] == "context_length_exceeded"
        assert f"{engine.context_length} messages" in endless.json()["error"]["message"]
    finally:
        engine.close()


def test_a_tool_model_in_plain_chat_never_samples_a_call_token(tool_model):
    """Asked without tools, the memorised tool model would answer "<api_1> (camera=' front')<api_end>", which
    decoding strips to call text; plain generation (CLI and server alike) bans the call tokens instead. Its
    no-call answer, `<api_end>`, ends the reply: banned too, the model had gone on to the token cap."""
    from hare.model.template import chat_ids
    from hare.model.tokenizer import call_token_ids, num_functional_tokens
    from hare.serve.batching import build_transformers_engine

    engine = build_transformers_engine(str(tool_model), "tools", "cpu", "float32", 1, 1)
    try:
        banned = set(call_token_ids(engine.tok))
        assert len(banned) == num_functional_tokens(engine.tok)  # every <api_i>
        for query in ("take a selfie", "set volume to 5", "tell me a joke"):
            ids = chat_ids(engine.tok, [{"role": "user", "content": query}])
            said = generate_ids(engine.model, engine.tok, ids, SamplingArgs(temperature=0, max_new_tokens=12))
            assert not banned & set(said)
            served, _, reason = asyncio.run(_text(engine, ids, SamplingArgs(temperature=0, max_new_tokens=12)))
            assert served == engine.tok.decode(said, skip_special_tokens=True)
            if query == "tell me a joke":  # trained to answer no call: <api_end> alone
                assert said == [] and served == "" and reason == "stop"
    finally:
        engine.close()


def test_ui_of_a_tool_model_offers_the_tool_panel(tool_model, engine, monkeypatch):
    """Served a tool model, /gradio/ shows a request box, the calls as JSON and the model's functions;
    an invalid answer or an empty request is a structured error in the panel, never an exception. A
    model without tools.json keeps the plain chat page."""
    gr = pytest.importorskip("gradio", reason="needs the serve extra: bash scripts/setup.sh serve")
    from hare.serve.batching import build_transformers_engine
    from hare.serve.ui import answer_tools, build_ui
    from hare.tools.calls import CallError
    from hare.tools.decoder import CallResult

    tools = build_transformers_engine(str(tool_model), "tools", "cpu", "auto", 1, 1)
    try:
        functions = tools.tool_caller().functions
        page = build_ui(tools, 64)
        props = [c.get("props", {}) for c in page.get_config_file()["components"]]
        assert {"Request", "Calls"} <= {p.get("label") for p in props}
        listing = next(p["value"] for p in props if "get_weather_forecast" in str(p.get("value", "")))
        assert all(f"`{f.name}(" in listing for f in functions)
        assert asyncio.run(answer_tools(tools, functions, "weather in Oslo")) == {
            "calls": [{"name": "get_weather_forecast", "arguments": {"location": "Oslo"}}]}
        assert asyncio.run(answer_tools(tools, functions, "tell me a joke")) == {"calls": []}
        assert asyncio.run(answer_tools(tools, functions, "  "))["error"]["type"] == "empty_request"
        long = asyncio.run(answer_tools(tools, functions, "weather in Oslo " * tools.context_length))["error"]
        assert long["type"] == "context_length_exceeded" and "shorten it" in long["message"]
        cut = CallError("too_long", "the answer did not end within 3 tokens", "<api_2>(level=")
        monkeypatch.setattr(tools, "submit_tools", lambda query, fns: _done(CallResult(cut, cut.raw, 0.1, 3)))
        assert asyncio.run(answer_tools(tools, functions, "ringer to 3")) == cut.to_json()
    finally:
        tools.close()
    assert isinstance(build_ui(engine, 64), gr.ChatInterface)


def test_concurrent_tool_calls_share_batches_and_a_failing_one_fails_alone(tool_model, monkeypatch):
    """Eight clients at once: their calls are decoded as rows of shared batches, each answer the one it
    gets alone (under its own spec), and a request that breaks decoding half-way fails only itself."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import TOOL_RECORDS

    from hare.serve.tool_batching import ToolBatcher
    from hare.tools.decoder import Rows, ToolCaller

    class Breaks(ToolCaller):  # the real decoder, failing on one request after its first token
        def _draft(self, prompt, answer):
            if answer.query == "boom" and answer.ids:
                raise RuntimeError("forward pass failed")
            return super()._draft(prompt, answer)

    caller = Breaks.load(str(tool_model), device="cpu", dtype="float32")
    only_camera = [f for f in caller.functions if f.name == "take_a_photo"]
    requests = [(r["query"], None) for r in TOOL_RECORDS] * 2 + [("take a selfie", only_camera), ("boom", None)]
    expected = [caller(query, functions).raw for query, functions in requests[:-1]]
    widths, step = [], Rows.step
    monkeypatch.setattr(Rows, "step", lambda self: widths.append(len(self)) or step(self))
    batcher = ToolBatcher(caller, max_batch=8)
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(batcher, query, functions) for query, functions in requests]
        with pytest.raises(RuntimeError, match="forward pass failed"):
            futures[-1].result()
        assert [future.result().raw for future in futures[:-1]] == expected
    finally:
        batcher.close()
    assert max(widths) > 1, widths


def test_tool_requests_join_a_batch_under_way_and_a_cancelled_one_leaves_it(tool_model, monkeypatch):
    """Clients whose next request comes while others' answers are still decoding join that batch instead
    of waiting for it to end; a request whose future is cancelled (its client went away) is decoded no
    further, and the batcher goes on answering the others."""
    import threading

    from conftest import TOOL_RECORDS

    from hare.serve.tool_batching import ToolBatcher
    from hare.tools.decoder import Rows, ToolCaller

    reached, go, passes = threading.Event(), threading.Event(), []

    class Holds(ToolCaller):  # counts the passes of the query that will be cancelled, and holds its first
        def _draft(self, prompt, answer):
            if answer.query == "weather in Kathmandu please":
                passes.append(len(answer.ids))
                reached.set()
                go.wait(10)
            return super()._draft(prompt, answer)

    caller = Holds.load(str(tool_model), device="cpu", dtype="float32")
    caller.draft = 0
    expected = {r["query"]: caller(r["query"]).raw for r in TOOL_RECORDS}
    under_way, add = [], Rows.add
    monkeypatch.setattr(Rows, "add", lambda self, requests: under_way.append(len(self)) or add(self, requests))
    batcher = ToolBatcher(caller, max_batch=8)

    def client(k: int) -> list[str]:
        return [batcher(TOOL_RECORDS[(k + i) % len(TOOL_RECORDS)]["query"]).raw for i in range(4)]

    try:
        go.set()
        threads = [threading.Thread(target=lambda k=k: answers.append((k, client(k)))) for k in range(8)]
        answers: list[tuple[int, list[str]]] = []
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for k, got in answers:
            assert got == [expected[TOOL_RECORDS[(k + i) % len(TOOL_RECORDS)]["query"]] for i in range(4)]
        assert max(under_way) > 0, under_way  # some requests joined rows already decoding

        passes.clear()
        go.clear()
        gone = batcher.submit("weather in Kathmandu please")
        assert reached.wait(10)  # the row is in the batch, in its first pass
        gone.cancel()
        go.set()
        assert batcher("take a selfie").raw == expected["take a selfie"]
        assert passes == [passes[0]] and gone.cancelled()  # no pass after the one it was cancelled in
        idle = {"active": 0, "waiting": 0, "cancelled": 1}  # what /health reports
        assert wait_until(lambda: batcher.load() == idle), batcher.load()
    finally:
        go.set()
        batcher.close()


def test_a_tool_sent_without_parameters_is_the_trained_function_of_no_arguments():
    """OpenAI lets a function without arguments leave `parameters` out; it had become `{}` (no object's schema, a
    400), and `{"type": "object"}` alone must match the trained `properties: {}, required: []`."""
    from hare.serve.openai_schema import ToolSpec
    from hare.tools.spec import load_spec, parse_spec

    trained = next(f for f in load_spec("android") if f.name == "check_nest_smoke_detector_status")
    for function in ({"name": trained.name}, {"name": trained.name, "parameters": {"type": "object"}}):
        [sent] = parse_spec([ToolSpec.model_validate({"type": "function", "function": function}).model_dump()],
                            "tools")
        assert sent.call_shape() == trained.call_shape()
    assert trained.call_shape() != next(f for f in load_spec("android") if f.name == "take_a_photo").call_shape()


def test_tool_call_message_is_openai_shaped():
    from hare.serve.openai_schema import tool_call_message

    message = tool_call_message([{"name": "get_weather", "arguments": '{"city": "Paris"}'}], delta=True)
    call = message["tool_calls"][0]
    assert message["content"] is None and call["index"] == 0 and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert call["id"].startswith("call-")


def test_request_tools_are_checked_once_per_list_in_the_clients_order():
    """A request's tools are checked once per distinct list (clients resend the same one each time), and
    two lists that differ only in argument order are different lists: the order is the call's."""
    import copy
    import json

    from hare.serve.app import _checked_tools
    from hare.tools.spec import load_spec

    tools = [f.to_openai() for f in load_spec("android")]
    first = _checked_tools(json.dumps(tools))
    assert _checked_tools(json.dumps(copy.deepcopy(tools))) is first
    swapped = copy.deepcopy(tools)
    k = next(i for i, t in enumerate(swapped) if len(t["function"]["parameters"]["properties"]) > 1)
    props = swapped[k]["function"]["parameters"]["properties"]
    swapped[k]["function"]["parameters"]["properties"] = dict(reversed(props.items()))
    assert list(_checked_tools(json.dumps(swapped))[k].properties) == list(reversed(first[k].properties))
    with pytest.raises(HareError):
        _checked_tools(json.dumps([{"type": "function", "function": {"name": "x", "parameters": {"type": "array"}}}]))


def test_a_tool_request_whose_client_hangs_up_cancels_its_call():
    """While a tool request waits for its answer, the app checks that its client is still there; once it
    has gone, the call's future is cancelled (the decoder drops its row) and nothing is answered."""
    from concurrent.futures import Future

    from hare.serve.app import ClientGone, _unless_gone

    class Client:  # starlette's Request, as far as waiting goes: connected for its first two checks
        checks = 0

        async def is_disconnected(self):
            self.checks += 1
            return self.checks > 2

    pending = Future()
    with pytest.raises(ClientGone):
        asyncio.run(_unless_gone(pending, Client()))
    assert pending.cancelled()
    assert asyncio.run(_unless_gone(_done("calls"), Client())) == "calls"  # answered before any check
