"""The FastAPI application behind `hare serve`: OpenAI-compatible routes, /health, and the UI mount.

Routes: `GET /v1/models`, `POST /v1/completions`, `POST /v1/chat/completions` (streaming as
Server-Sent Events ending in `data: [DONE]`), `GET /health`, and `/` redirecting to the UI at
`/gradio/`. Chat requests are rendered with the HARE chat template and stop at `<round_end>`.
Requests go to the engine as soon as they are validated; the engine batches them. This module
needs the `serve` extra (FastAPI resolves the route annotations against its imports).
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from hare.model.args import SamplingArgs
from hare.serve import openai_schema as oa
from hare.serve.engine import ServerBusy
from hare.serve.middleware import install
from hare.serve.openai_schema import ApiError, ChatCompletionRequest, CompletionRequest

if TYPE_CHECKING:
    from concurrent.futures import Future

    from hare.serve.config import ServeConfig
    from hare.serve.engine import Engine, Piece
    from hare.tools.spec import Function

# --- tool calling: the seam for the tool-calling module ------------------------------------------

T = TypeVar("T")
POLL_S = 0.1  # how often a waiting tool request checks that its client is still there


async def tool_calls(engine: Engine, messages: list[dict[str, str]], tools: list[dict[str, Any]],
                     request: Request | None = None) -> tuple[list[dict[str, str]], dict[str, int]]:
    """The calls a tool model makes for a chat request with `tools` (OpenAI function specs).

    Returns `[{"name": ..., "arguments": "<JSON object>"}, ...]`, parsed and checked against the
    tools' schemas; an empty list means "no call", and the request is then answered as plain chat.
    When the model carries its `tools.json`, the request's tools are looked up there by name, so a
    request may send any subset in any order and the model only calls among them; without it the
    request's tools are taken as the trained spec, in token order.
    Raises ApiError (400) when the request cannot be served with tools, ClientGone when the client of
    `request` hangs up first (its row then leaves the decoder's batch at the next pass).
    """
    from hare.tools.calls import CallError

    query, functions, prompt_tokens = await asyncio.to_thread(_tool_request, engine, messages, tools)
    result = await _unless_gone(engine.submit_tools(query, functions), request)
    if isinstance(result.calls, CallError):
        raise ApiError(422, f"the model's answer is not a valid call ({result.calls.message}); nothing was "
                            "executed", param="tools", code="invalid_tool_call")
    calls = [{"name": c["name"], "arguments": json.dumps(c["arguments"])} for c in result.calls]
    return calls, oa.usage(prompt_tokens, result.new_tokens)


def _tool_request(engine: Engine, messages: list[dict[str, str]],
                  tools: list[dict[str, Any]]) -> tuple[str, list[Function], int]:
    """The request's query, its functions as the model knows them, and its prompt's length in tokens."""
    from hare.errors import HareError
    from hare.tools.spec import check_capacity

    if engine.functional_tokens == 0:
        raise ApiError(400, "this model has no functional tokens (<api_0>…), so it cannot call tools; "
                            "serve a HARE tool model or send the request without 'tools'", param="tools",
                       code="tools_not_supported")
    caller = engine.tool_caller()
    if caller is None:
        raise ApiError(400, f"this {engine.backend} model cannot serve tool calls (a GGUF needs the tokenizer "
                            "`hare export gguf` puts inside it: export the tool model again), or restart with "
                            "--backend transformers; or send the request without 'tools'",
                       param="tools", code="tools_not_supported")
    try:
        functions = list(_checked_tools(json.dumps(tools)))
        check_capacity(functions, engine.functional_tokens)
    except HareError as err:
        raise ApiError(400, f"{err} (send the tools in the order the model was trained on: its tools.json)",
                       param="tools") from None
    if caller.functions:  # the model knows which function each <api_i> is: the request picks from them by name
        trained = {f.name: f for f in caller.functions}
        unknown = [f.name for f in functions if f.name not in trained]
        if unknown:
            raise ApiError(400, f"this model was not trained to call {unknown[0]!r}; it calls: "
                                f"{', '.join(trained)}", param="tools", code="unknown_tool")
        # The model fills its functions as it was trained to: a schema that says otherwise cannot be honoured.
        changed = [f.name for f in functions if f.call_shape() != trained[f.name].call_shape()]
        if changed:
            raise ApiError(400, f"the parameters sent for {changed[0]!r} are not the ones this model was trained to "
                                "fill, and its calls would not satisfy them; send the function as the model's "
                                "tools.json defines it (descriptions may differ), or leave it out", param="tools",
                           code="tool_schema_mismatch")
        functions = [trained[f.name] for f in functions]
    query = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    if not query.strip():
        raise ApiError(400, "a request with tools needs a user message to answer", param="messages")
    try:
        return query, functions, caller.fit(query)
    except HareError as err:
        raise ApiError(400, str(err), param="messages", code="context_length_exceeded") from None


class ClientGone(Exception):
    """The client hung up before its answer was ready."""


async def _unless_gone(future: Future[T], request: Request | None) -> T:
    """The future's result, checking every `POLL_S` that the client is still there: if it has gone,
    the future is cancelled (its work stops) and ClientGone raised."""
    waiting = asyncio.wrap_future(future)
    while request is not None:
        done, _ = await asyncio.wait({waiting}, timeout=POLL_S)
        if done:
            break
        if await request.is_disconnected():
            future.cancel()
            raise ClientGone
    return await waiting


@functools.lru_cache(maxsize=64)
def _checked_tools(tools: str) -> tuple[Function, ...]:
    """A request's `tools` (as JSON text, properties in the client's order) checked and parsed, once per
    distinct list: clients send the same list with every request, and checking twenty schemas holds the
    interpreter ~23 ms — eight clients' requests then reached the tool batcher too far apart to share a
    batch. A list that fails the checks is not kept (its error is raised again each time)."""
    from hare.tools.spec import parse_spec

    return tuple(parse_spec(json.loads(tools), "tools"))


def _schemas_checked(tools: list[Any]) -> None:
    """A 400 naming the first tool whose schema `hare.tools.spec` refuses, whether or not it may be called."""
    from hare.errors import HareError

    try:
        _checked_tools(json.dumps([t.model_dump() for t in tools]))
    except HareError as err:
        raise ApiError(400, str(err), param="tools") from None


# --- requests → sampling → responses ---------------------------------------------------------------


def _sampling(cfg: ServeConfig, requested: int | None, default: int, body: Any,
              param: str = "max_tokens") -> SamplingArgs:
    if requested is not None and requested > cfg.max_tokens:
        raise ApiError(400, f"{param} is {requested} but this server allows at most {cfg.max_tokens}", param=param)
    return SamplingArgs(max_new_tokens=requested or default, temperature=body.temperature, top_p=body.top_p,
                        seed=body.seed)


def _check_prompt(engine: Engine, cfg: ServeConfig, ids: list[int], param: str) -> None:
    limit = min(cfg.max_prompt_tokens or engine.context_length, engine.context_length - 1)
    if not ids:  # `[""]` passes the schema's length check, and a tokenizer without BOS encodes it as nothing
        raise ApiError(400, "the prompt is empty; send the text to continue", param=param)
    if len(ids) > limit:
        raise ApiError(400, f"the prompt has {len(ids)} tokens but this server accepts at most {limit}; "
                            "shorten it", param=param, code="context_length_exceeded")
    if min(ids) < 0 or max(ids) >= engine.vocab_size:
        raise ApiError(400, f"token ids must lie in [0, {engine.vocab_size})", param=param)


async def _collect(pieces: AsyncIterator[Piece], request: Request) -> tuple[str, int, str]:
    """The whole generation; a client that hangs up stops it (and frees its slot) at the next token."""
    text, tokens, reason = [], 0, "stop"
    try:
        async for piece in pieces:
            text.append(piece.text)
            tokens += piece.tokens
            reason = piece.finish_reason or reason
            if await request.is_disconnected():
                break
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    return "".join(text), tokens, reason


def _sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def _stream(pieces: AsyncIterator[Piece], chunk: Callable[[str | None, str | None], dict[str, Any]],
                  usage_chunk: Callable[[int], dict[str, Any]] | None) -> AsyncIterator[str]:
    """Server-Sent Events: `chunk(text, None)` per piece, `chunk(None, reason)` last, then [DONE].

    A client that disconnects cancels this generator, whose `finally` cancels the generation.
    """
    tokens = 0
    try:
        async for piece in pieces:
            tokens += piece.tokens
            if piece.text:
                yield _sse(chunk(piece.text, None))
            if piece.finish_reason:
                yield _sse(chunk(None, piece.finish_reason))
        if usage_chunk is not None:
            yield _sse(usage_chunk(tokens))
    except Exception as err:  # the status line is sent: report in-band, as OpenAI does
        yield _sse(oa.error_body(f"generation failed: {err}", "server_error"))
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    yield _sse("[DONE]")


async def _respond(request: Request, body: Any, engine: Engine, prompt_ids: list[int], sampling: SamplingArgs,
                   kind: Literal["text", "chat"]) -> Response:
    """Run one generation and answer it as a completion or chat completion, streamed or whole."""
    pieces = engine.generate(prompt_ids, sampling, body.stop, body.ignore_eos)
    rid = oa.new_id("cmpl" if kind == "text" else "chatcmpl")
    name = engine.model_name
    if body.stream:
        object_name = "text_completion" if kind == "text" else "chat.completion.chunk"

        def chunk(text: str | None, reason: str | None) -> dict[str, Any]:
            if kind == "text":
                return oa.envelope(object_name, rid, name, [oa.text_choice(text or "", reason)])
            return oa.envelope(object_name, rid, name,
                               [oa.chat_choice({"content": text} if text else {}, reason, delta=True)])

        def usage_chunk(tokens: int) -> dict[str, Any]:
            return oa.envelope(object_name, rid, name, [], oa.usage(len(prompt_ids), tokens))

        wants_usage = body.stream_options is not None and body.stream_options.include_usage
        events = _stream(pieces, chunk, usage_chunk if wants_usage else None)
        if kind == "chat":  # OpenAI opens a chat stream with the role
            opening = _sse(oa.envelope(object_name, rid, name, [oa.chat_choice({"role": "assistant", "content": ""},
                                                                             None, delta=True)]))
            events = _prepend(opening, events)
        return StreamingResponse(events, media_type="text/event-stream")
    text, tokens, reason = await _collect(pieces, request)
    counts = oa.usage(len(prompt_ids), tokens)
    if kind == "text":
        return JSONResponse(oa.envelope("text_completion", rid, name, [oa.text_choice(text, reason)], counts))
    message = {"role": "assistant", "content": text}
    return JSONResponse(oa.envelope("chat.completion", rid, name, [oa.chat_choice(message, reason)], counts))


async def _prepend(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for item in rest:
        yield item


def _tool_call_response(engine: Engine, calls: list[dict[str, str]], counts: dict[str, int], stream: bool,
                        wants_usage: bool) -> Response:
    """Calls as OpenAI returns them, with `usage` like any other reply (in a last chunk when streamed and
    `stream_options.include_usage` asks for it)."""
    rid, name = oa.new_id("chatcmpl"), engine.model_name
    if not stream:
        return JSONResponse(oa.envelope("chat.completion", rid, name,
                                        [oa.chat_choice(oa.tool_call_message(calls), "tool_calls")], counts))
    chunks = [oa.envelope("chat.completion.chunk", rid, name, [e]) for e in (
        oa.chat_choice(oa.tool_call_message(calls, delta=True), None, delta=True),
        oa.chat_choice({}, "tool_calls", delta=True))]
    if wants_usage:
        chunks.append(oa.envelope("chat.completion.chunk", rid, name, [], counts))
    text = "".join(_sse(chunk) for chunk in chunks) + _sse("[DONE]")
    return StreamingResponse(iter([text]), media_type="text/event-stream")


# --- the application -------------------------------------------------------------------------------


def build_app(engine: Engine, cfg: ServeConfig) -> FastAPI:
    """The FastAPI app over `engine`: routes, error bodies, API key, body limit and the UI."""
    app = FastAPI(title="HARE", version="1", docs_url="/docs", redoc_url=None)
    tools_in_flight = [0]  # changed on the event loop only
    install(app, cfg.api_key, cfg.max_body_bytes, cfg.body_timeout_s)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": engine.model_name, "backend": engine.backend, **engine.load(),
                "tool_calls": engine.tool_load()}

    @app.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/gradio/" if cfg.ui else "/docs")

    def card() -> dict[str, Any]:
        return {"id": engine.model_name, "object": "model", "created": 0, "owned_by": "hare",
                "max_model_len": engine.context_length}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [card()]}

    @app.get("/v1/models/{model:path}")
    async def model(model: str) -> dict[str, Any]:  # OpenAI's "retrieve model" (clients check a name with it)
        if model != engine.model_name:
            raise ApiError(404, f"this server serves one model, {engine.model_name!r}, not {model!r}", param="model",
                           code="model_not_found")
        return card()

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Any:
        ids = engine.encode(body.prompt, bos=True) if isinstance(body.prompt, str) else list(body.prompt)
        _check_prompt(engine, cfg, ids, "prompt")
        return await _respond(request, body, engine, ids, _sampling(cfg, body.max_tokens, 16, body), "text")

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        if len(body.messages) >= engine.context_length:  # each takes a token at least: never rendered in vain
            raise ApiError(400, f"{len(body.messages)} messages cannot fit this model's context of "
                                f"{engine.context_length} tokens; send fewer", param="messages",
                           code="context_length_exceeded")
        messages = [{"role": m.template_role(), "content": m.text()} for m in body.messages]
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"  # the one the client sent
        # Checked before any call is made: a cap past the server's was refused only when the model answered in text.
        sampling = _sampling(cfg, body.max_completion_tokens or body.max_tokens, cfg.max_tokens, body, param)
        if body.tools and len(body.offered()) < len(body.tools):  # "none" or one named: the rest are checked too,
            _schemas_checked(body.tools)  # as OpenAI does (a broken one had passed unseen)
        # A conversation that ends in a tool's result (or the assistant's turn) is answered in text: the query is the
        # last user message, which had been answered with the same call again, so an agent loop never ended.
        if (tools := body.offered()) and (body.messages[-1].role == "user" or body.call_required()):
            # Tool calls are bounded here like the engine's queue: past --max-waiting of them a 503, never an
            # ever-growing backlog.
            if tools_in_flight[0] >= cfg.max_waiting:
                raise ServerBusy(f"{tools_in_flight[0]} tool calls are waiting; retry shortly")
            tools_in_flight[0] += 1
            try:
                calls, counts = await tool_calls(engine, messages, [t.model_dump() for t in tools], request)
            except ClientGone:
                return Response(status_code=499)  # nobody reads it: nginx's "client closed request"
            finally:
                tools_in_flight[0] -= 1
            if not calls and body.call_required():
                raise ApiError(422, "tool_choice requires a call, but the model answered without one; rephrase "
                                    "the request or send tool_choice 'auto'", param="tool_choice", code="no_tool_call")
            if calls:
                calls = calls if body.parallel_tool_calls else calls[:1]
                wants_usage = body.stream_options is not None and body.stream_options.include_usage
                return _tool_call_response(engine, calls, counts, body.stream, wants_usage)
        try:  # off the event loop: a long conversation renders for a second, and every other client waited
            ids = await asyncio.to_thread(engine.chat_prompt, messages)
        except jinja2.TemplateError as err:
            raise ApiError(400, f"messages do not fit the HARE chat template: {err}", param="messages") from None
        _check_prompt(engine, cfg, ids, "messages")
        return await _respond(request, body, engine, ids, sampling, "chat")

    if cfg.ui:
        import gradio as gr

        from hare.serve.ui import build_ui

        auth = (lambda _user, password: secrets.compare_digest(password, cfg.api_key)) if cfg.api_key else None
        gr.mount_gradio_app(app, build_ui(engine, cfg.max_tokens), path="/gradio", auth=auth)
    return app
