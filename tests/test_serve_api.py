"""A live `hare serve` (subprocess, port 0) spoken to by the official `openai` client and raw HTTP:
chat, completions, streaming, usage, stop, seed, tool requests, API keys, limits, error bodies,
disconnects, 503 when full, and a bounded load test."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import (
    NAME_ANSWER,
    NAME_QUESTION,
    NAME_REPLY,
    NAME_TURN,
    NAME_UNKNOWN,
    PARROT_ANSWER,
    PARROT_QUESTION,
    wait_until,
)

openai = pytest.importorskip("openai", reason="needs the dev extra: bash scripts/setup.sh dev")
httpx = pytest.importorskip("httpx")

ASK = [{"role": "user", "content": PARROT_QUESTION}]
KEY = "test-key-123"


@pytest.fixture(scope="module")
def client(chat_server):
    return openai.OpenAI(base_url=f"{chat_server.url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def keyed_server(chat_dir):
    """The same model behind an API key, with one slot and one queue place (to see 503s)."""
    from hare.serve.launch import serve_process

    with serve_process("--model", str(chat_dir), "--api-key", KEY, "--no-ui", "--max-batch", "1",
                       "--max-waiting", "1", "--dtype", "float32", "--body-timeout-s", "2") as server:
        yield server


def test_a_body_that_never_arrives_is_answered_408(keyed_server):
    """A client that declares 100 bytes and sends 10 had held its connection for as long as it liked."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(keyed_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"model\": ")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    status, body = reply.split(b"\r\n", 1)[0], reply.split(b"\r\n\r\n", 1)[1]
    assert b" 408 " in status, reply
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_developer_message_is_the_system_turn(client):
    """OpenAI's newer clients send the system message as "developer"; it had been a 400."""
    def ask(role: str):
        return client.chat.completions.create(model="chat", temperature=0, max_tokens=8, messages=[
            {"role": role, "content": "Answer briefly."}, *ASK])

    system, developer = ask("system"), ask("developer")
    assert developer.usage.prompt_tokens == system.usage.prompt_tokens
    assert developer.choices[0].message.content == system.choices[0].message.content


def test_chat_reply_stops_at_round_end_with_usage(client, chat_dir, tok):
    reply = client.chat.completions.create(model="chat", messages=ASK, temperature=0)
    choice = reply.choices[0]
    assert choice.message.content == PARROT_ANSWER and choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    prompt = tok.apply_chat_template(ASK, tokenize=True, return_dict=False, add_generation_prompt=True)
    answer = tok(PARROT_ANSWER, add_special_tokens=False).input_ids
    assert reply.usage.prompt_tokens == len(prompt)
    assert reply.usage.completion_tokens == len(answer)
    assert reply.usage.total_tokens == len(prompt) + len(answer)
    assert reply.model == "chat" and reply.object == "chat.completion"


def test_chat_uses_every_turn(client):
    history = [{"role": "user", "content": NAME_TURN}, {"role": "assistant", "content": NAME_REPLY},
               {"role": "user", "content": NAME_QUESTION}]
    reply = client.chat.completions.create(model="chat", messages=history, temperature=0)
    assert reply.choices[0].message.content == NAME_ANSWER
    alone = client.chat.completions.create(model="chat", messages=history[-1:], temperature=0)
    assert alone.choices[0].message.content == NAME_UNKNOWN  # the answer above came from the first turn


def test_chat_stream_with_usage(client):
    chunks = list(client.chat.completions.create(model="chat", messages=ASK, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PARROT_ANSWER
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # really streamed
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.completion_tokens > 3 and not chunks[-1].choices


def test_stop_string_cuts_the_reply(client):
    reply = client.chat.completions.create(model="chat", messages=ASK, temperature=0, stop=["grass"])
    assert reply.choices[0].message.content == "Hares eat " and reply.choices[0].finish_reason == "stop"


def test_completion_length_limit_and_stream(client):
    reply = client.completions.create(model="chat", prompt="The hare", max_tokens=5, temperature=0,
                                      extra_body={"ignore_eos": True})
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 5
    streamed = client.completions.create(model="chat", prompt="The hare", max_tokens=5, temperature=0, stream=True,
                                         extra_body={"ignore_eos": True})
    assert "".join(c.choices[0].text for c in streamed) == reply.choices[0].text


def test_seed_makes_sampling_repeatable(client):
    def sample(seed: int) -> str:
        return client.completions.create(model="chat", prompt="The hare", max_tokens=12, temperature=1.0,
                                         seed=seed, extra_body={"ignore_eos": True}).choices[0].text

    assert sample(3) == sample(3)


def test_models_listed_and_retrieved(client):
    assert [m.id for m in client.models.list().data] == ["chat"]
    assert client.models.retrieve("chat").id == "chat"  # OpenAI's retrieve: it had been a 404 for any name
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-4o")
    assert err.value.body["code"] == "model_not_found"


def test_tool_model_answers_with_openai_tool_calls(tool_model):
    import json

    from hare.serve.launch import serve_process

    tools = json.loads((tool_model / "tools.json").read_text())
    with serve_process("--model", str(tool_model), "--no-ui") as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)
        reply = client.chat.completions.create(model="t", tools=tools,
                                               messages=[{"role": "user", "content": "ringer volume to 3"}])
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and len(choice.message.tool_calls) == 1
        call = choice.message.tool_calls[0].function
        assert call.name == "set_volume" and json.loads(call.arguments) == {"level": 3, "volume_type": "ring"}
        stream = client.chat.completions.create(model="t", tools=tools, stream=True, messages=[
            {"role": "user", "content": "media volume 8 and weather in Rome"}])
        names = [c.function.name for chunk in stream for d in [chunk.choices[0].delta] if d.tool_calls
                 for c in d.tool_calls]
        assert names == ["set_volume", "get_weather_forecast"]
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="t", tools=tools + tools[:1],
                                           messages=[{"role": "user", "content": "weather in Oslo"}])
        assert "duplicate function name 'take_a_photo'" in str(err.value)
        stranger = {"type": "function", "function": {"name": "order_pizza", "parameters": {"type": "object"}}}
        refused = httpx.post(f"{server.url}/v1/chat/completions", json={
            "tools": [*tools, stranger], "messages": [{"role": "user", "content": "a pizza please"}]})
        assert refused.status_code == 400
        assert refused.json()["error"] | {"message": ""} == {"message": "", "type": "invalid_request_error",
                                                            "param": "tools", "code": "unknown_tool"}
        # The same function with a schema the model was not trained to fill is refused; one that differs only in
        # its prose, `additionalProperties` or the order of `required` is the same function.
        volume = next(t for t in tools if t["function"]["name"] == "set_volume")
        params = volume["function"]["parameters"]
        reworded = {**volume["function"], "description": "louder or softer", "parameters": {
            **params, "additionalProperties": False, "required": params["required"][::-1],
            "properties": {k: {**v, "description": "?"} for k, v in params["properties"].items()}}}
        changed = {**volume["function"], "parameters": {"type": "object", "required": ["zoom"], "properties": {
            "zoom": {"type": "integer", "minimum": 1, "maximum": 10}}}}
        answers = [httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
            "tools": [{"type": "function", "function": f}],
            "messages": [{"role": "user", "content": "ringer volume to 3"}]})
            for f in (reworded, changed)]
        assert answers[0].status_code == 200, answers[0].text
        assert answers[0].json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "set_volume"
        assert answers[1].status_code == 400 and answers[1].json()["error"]["code"] == "tool_schema_mismatch"
        assert "'set_volume'" in answers[1].json()["error"]["message"]


def test_a_launched_server_runs_this_hare_whatever_the_current_directory_holds(micro_dir, tmp_path, monkeypatch):
    """`hare bench serve` starts the server as a child process: run from a directory with another `hare/`
    in it (another checkout), the child must still be this package, not that one."""
    from hare.serve.launch import serve_process

    (tmp_path / "hare").mkdir()
    (tmp_path / "hare" / "__init__.py").write_text("raise ImportError('the hare of the current directory')\n")
    monkeypatch.chdir(tmp_path)
    with serve_process("--model", str(micro_dir), "--no-ui") as server:
        assert server.health()["status"] == "ok"


def test_api_key_refused_and_accepted(keyed_server):
    with pytest.raises(openai.AuthenticationError) as err:
        openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key="nope", max_retries=0).models.list()
    assert err.value.status_code == 401 and "API key" in str(err.value)
    anonymous = httpx.post(f"{keyed_server.url}/v1/chat/completions", json={"messages": ASK})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"
    good = openai.OpenAI(base_url=f"{keyed_server.url}/v1", api_key=KEY, max_retries=0)
    assert good.chat.completions.create(model="m", messages=ASK, temperature=0).choices[0].message.content \
        == PARROT_ANSWER
    assert httpx.get(f"{keyed_server.url}/health").json()["status"] == "ok"  # health needs no key
    for header, status in ((f"bearer {KEY}", 200), (f"BEARER {KEY}", 200), (f"Bearer {KEY.upper()}", 401),
                           (f"Basic {KEY}", 401), (KEY, 401), (f"Bearer  {KEY}", 401)):
        # The scheme's case is the client's (RFC 9110); the key's is not.
        assert httpx.get(f"{keyed_server.url}/v1/models", headers={"Authorization": header}).status_code == status


@pytest.mark.slow
def test_hare_api_key_guards_api_and_ui_and_an_open_server_warns(chat_dir):
    """HARE_API_KEY (no --api-key) guards /v1 and is the UI's password, and an exposed server with it says
    nothing; exposed without a key, the server warns that anyone who reaches it can use it."""
    from hare.serve.launch import serve_process

    with serve_process("--model", str(chat_dir), "--host", "0.0.0.0", env={"HARE_API_KEY": KEY}) as server:
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        with httpx.Client(base_url=server.url, timeout=30) as ui:
            assert ui.get("/gradio/config").status_code == 401
            assert ui.post("/gradio/login", data={"username": "me", "password": "wrong"}).status_code == 400
            login = ui.post("/gradio/login", data={"username": "me", "password": KEY})
            assert login.status_code == 200 and login.json() == {"success": True}
            assert ui.get("/gradio/config").status_code == 200
        assert "warning" not in server.log()
    with serve_process("--model", str(chat_dir), "--host", "0.0.0.0", "--no-ui") as server:
        # Printed before /health answers, but the log is read on a thread.
        assert wait_until(lambda: "warning: listening beyond this machine without --api-key" in server.log())


def test_full_server_answers_503(keyed_server):
    body = {"prompt": "The hare", "max_tokens": 400, "ignore_eos": True, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}

    async def flood() -> list:
        refused, both = [], asyncio.Event()
        async with httpx.AsyncClient(base_url=keyed_server.url, headers=headers, timeout=60) as http:
            async def one() -> None:
                async with http.stream("POST", "/v1/completions", json=body) as response:
                    if response.status_code != 200:
                        refused.append((response.status_code, json.loads(await response.aread()), response.headers))
                        if len(refused) == 2:
                            both.set()
                        return
                    # An admitted stream keeps its slot until both others are refused (leaving the block
                    # would free it early and let a later request in): no race on who arrives when.
                    await asyncio.wait_for(both.wait(), 60)

            # The first holds the one slot before the others come: until the scheduler has taken it from the
            # queue it fills the one queue place itself, and on a busy machine the next ones can arrive first.
            first = asyncio.create_task(one())
            for _ in range(1000):  # 10 s at most; a 400-token stream stays active far longer than a poll
                if (await http.get("/health")).json()["active"] >= 1:
                    break
                await asyncio.sleep(0.01)
            await asyncio.gather(first, *[one() for _ in range(3)])  # 1 queue place: 2 refused
        return refused

    refused = asyncio.run(flood())
    assert [status for status, _, _ in refused] == [503, 503]
    assert all(body["error"]["code"] == "server_busy" and h["retry-after"] == "1" for _, body, h in refused)


def test_disconnect_frees_the_slot(chat_server):
    before = chat_server.health()["cancelled"]
    body = {"prompt": "The hare", "max_tokens": 512, "ignore_eos": True, "stream": True}
    with httpx.stream("POST", f"{chat_server.url}/v1/completions", json=body, timeout=60) as response:
        next(response.iter_lines())  # the first event: generation is under way; then hang up
    freed = {"cancelled": before + 1, "active": 0}
    assert wait_until(lambda: {k: chat_server.health()[k] for k in freed} == freed), chat_server.health()


@pytest.mark.parametrize(("body", "status", "needle", "param", "code"), [
    (b'{"messages": [', 400, "not valid JSON", None, None),
    ({"messages": []}, 400, "at least 1", "messages", None),
    ({"messages": ASK, "temperature": 5}, 400, "less than or equal to 2", "temperature", None),
    ({"messages": ASK, "n": 2}, 400, "", "n", None),
    ({"prompt": "x", "echo": True}, 400, "", "echo", None),
    ({"messages": ASK, "max_tokens": 100000}, 400, "at most 512", "max_tokens", None),
    ({"messages": ASK, "max_completion_tokens": 2000}, 400, "max_completion_tokens is 2000", "max_completion_tokens",
     None),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "", "messages.0.role", None),
    ({"messages": [*ASK, {"role": "system", "content": "late"}]}, 400, "chat template", "messages", None),
    ({"messages": [{"role": "user", "content": "hare " * 400}]}, 400, "at most 300", "messages",
     "context_length_exceeded"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "at most 4", "stop", None),
    ({"prompt": [1, 99999999]}, 400, "token ids", "prompt", None),
    ({"messages": [{"role": "user", "content": "x" * 30000}]}, 413, "larger than", None, "request_too_large"),
    ({"messages": ASK, "tool_choice": "required"}, 400, "needs 'tools'", None, None),
    (b'{"messages": "caf\xe9"}', 400, "not UTF-8", None, None),
    (b"[" * 5000 + b"]" * 5000, 400, "nested deeper", None, None),
    (b"", 400, "body is empty", None, None),  # pydantic's "Field required" named no field
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]},
     400, "reads text only", "messages.0.content.0.type", None),
])
def test_bad_requests_get_openai_error_bodies(chat_server, body, status, needle, param, code):
    """Every refusal is OpenAI's error body with all four fields: message, type, param and code."""
    path = "/v1/completions" if isinstance(body, dict) and "prompt" in body else "/v1/chat/completions"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(f"{chat_server.url}{path}", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert needle in error["message"] and error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert "Value error" not in error["message"] and "error parsing" not in error["message"], error


def test_routes_redirect_and_404(chat_server):
    root = httpx.get(chat_server.url, follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/gradio/"
    missing = httpx.get(f"{chat_server.url}/v1/nothing")
    assert missing.status_code == 404 and "error" in missing.json()


def test_load_50_clients_no_errors(chat_server):
    """50 concurrent clients, 3 requests each (chat and completion, some streamed): every one answered,
    and each seeded completion samples what the same request samples alone (whatever shared its batch)."""
    client = openai.AsyncOpenAI(base_url=f"{chat_server.url}/v1", api_key="unused", max_retries=0, timeout=120)

    async def user(i: int) -> list[str]:
        texts = []
        for j in range(3):
            if (i + j) % 3 == 0:
                stream = await client.chat.completions.create(model="chat", messages=ASK, temperature=0,
                                                              max_tokens=16, stream=True)
                texts.append("".join([c.choices[0].delta.content or "" async for c in stream]))
            elif (i + j) % 3 == 1:
                reply = await client.chat.completions.create(model="chat", messages=ASK, temperature=0, max_tokens=16)
                texts.append(reply.choices[0].message.content)
            else:
                reply = await client.completions.create(model="chat", prompt=f"Hare {i}", max_tokens=8, seed=i)
                # An empty text is a valid answer (end of text sampled first); what it must be is its seed's.
                assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage.completion_tokens <= 8
                seeded[i] = reply.choices[0].text
                texts.append(f"completion {i}")
        return texts

    seeded: dict[int, str] = {}

    async def load():
        return await asyncio.gather(*[user(i) for i in range(50)])

    results = asyncio.run(load())
    assert len(results) == 50 and all(len(r) == 3 and all(r) for r in results)
    chats = {t for i, r in enumerate(results) for j, t in enumerate(r) if (i + j) % 3 != 2}
    assert chats == {PARROT_ANSWER}  # batched greedy decoding: the same answer in every batch position
    health = chat_server.health()
    assert health["status"] == "ok" and health["active"] == 0 and health["waiting"] == 0
    alone = openai.OpenAI(base_url=f"{chat_server.url}/v1", api_key="unused", max_retries=0, timeout=60)
    for i in sorted(seeded)[:8]:
        assert alone.completions.create(model="chat", prompt=f"Hare {i}", max_tokens=8, seed=i).choices[0].text \
            == seeded[i], i


def test_hare_teacher_client_talks_to_hare_serve(chat_server, keyed_server):
    """`hare data synth --teacher` / `hare eval leakage --teacher` can use a `hare serve` as their teacher."""
    from hare import teacher
    from hare.errors import HareError

    assert teacher.chat(chat_server.url, PARROT_QUESTION) == PARROT_ANSWER
    assert teacher.chat(f"{keyed_server.url}/v1", PARROT_QUESTION, api_key=KEY) == PARROT_ANSWER
    with pytest.raises(HareError, match="HTTP 401"):
        teacher.chat(keyed_server.url, PARROT_QUESTION, api_key="wrong")
