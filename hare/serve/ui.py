"""The Gradio page at /gradio/: streaming chat through the same engine as the API, and for a tool model
a tool-calling panel first — what such a model is for.

Gradio's `ChatInterface` gives regenerate (retry), undo, clear and message editing; the settings
under the chat (system prompt, temperature, top_p, max new tokens) go with every message. Each
reply renders the whole conversation — system prompt and every turn, the first one included (the
seed's demo dropped it) — through the HARE chat template; when it outgrows the context the oldest
user/assistant pairs are dropped. The event runs without Gradio's per-event concurrency limit, so
several people chatting are batched by the engine like API clients.

Served a tool model (one that carries its `tools.json`), the page opens on "Tool calls": type a
request, get the validated calls as JSON — or the structured error, since nothing is ever executed —
with the model's functions listed beside it; the requests go through `Engine.submit_tools`, batched
with API tool requests. A chat box alone would hide what the quickstart's model does.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import gradio as gr
import jinja2

from hare.errors import HareError
from hare.io.read import encodable
from hare.model.args import SamplingArgs
from hare.model.tokenizer import DEFAULT_SYSTEM_PROMPT
from hare.serve.engine import ServerBusy

if TYPE_CHECKING:
    from hare.serve.engine import Engine
    from hare.tools.spec import Function


def _text(content: Any) -> str:
    """Gradio hands message content as a string or as a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type", "text") == "text")


def text_input(value: Any, what: str) -> str:
    """A field the page sends as a string: Gradio's API (/gradio/gradio_api/call/…) takes any JSON there, so
    what is not text (null, a number, a lone surrogate) is refused as the HTTP API refuses it."""
    if not isinstance(value, str):
        raise HareError(f"the {what} must be text, not {type(value).__name__}")
    try:
        return encodable(value)
    except ValueError as err:
        raise HareError(f"the {what} {err}") from None


def to_messages(system: str, history: list[dict[str, Any]], message: str) -> list[dict[str, str]]:
    """The conversation in OpenAI form: system prompt, every earlier turn, then the new message."""
    if not isinstance(history, list):
        raise HareError("the conversation must be a list of turns")
    turns = [{"role": turn["role"], "content": text_input(_text(turn.get("content")), "conversation")}
             for turn in history if isinstance(turn, dict) and turn.get("role") in ("user", "assistant")]
    return [{"role": "system", "content": system.strip() or DEFAULT_SYSTEM_PROMPT}, *turns,
            {"role": "user", "content": message}]


async def answer_tools(engine: Engine, functions: list[Function], request: str) -> dict[str, Any]:
    """The tool panel's answer: `{"calls": [...]}` as the API returns them, or the structured error."""
    from hare.tools.calls import CallError

    try:
        request = text_input(request, "request")
    except HareError as err:
        return {"error": {"type": "invalid_request", "message": str(err)}}
    if not request.strip():
        return {"error": {"type": "empty_request", "message": "type a request, e.g. \"take a selfie\""}}
    try:
        engine.tool_caller().fit(request)  # past the context: said, not decoded
    except HareError as err:
        return {"error": {"type": "context_length_exceeded", "message": str(err)}}
    try:
        result = await asyncio.wrap_future(engine.submit_tools(request, functions))
    except (ServerBusy, HareError) as err:
        return {"error": {"type": "unavailable", "message": str(err)}}
    if isinstance(result.calls, CallError):
        return result.calls.to_json()
    return {"calls": result.calls}


def _function_list(functions: list[Function]) -> str:
    rows = [f"- `{f.name}({', '.join(f.properties)})`: {f.description}" for f in functions]
    return "The model answers with calls to these functions; nothing is executed.\n\n" + "\n".join(rows)


def build_ui(engine: Engine, max_tokens: int) -> gr.Blocks:
    """The chat page; for a tool model, the tool-calling panel and the chat as two tabs."""
    chat = _chat(engine, max_tokens)
    caller = engine.tool_caller() if engine.functional_tokens else None
    functions = caller.functions if caller is not None else []
    if not functions:
        return chat
    with gr.Blocks(title=f"HARE · {engine.model_name}", fill_height=True) as page:
        gr.Markdown(f"# HARE · {engine.model_name}\nA tool model served by the {engine.backend} engine; the "
                    "same model answers at /v1 (OpenAI API, `tools`).")
        with gr.Tab("Tool calls"):
            with gr.Row():
                with gr.Column(scale=3):
                    request = gr.Textbox(label="Request", placeholder="text Maria I'm running late", lines=1)
                    go = gr.Button("Call", variant="primary")
                    calls = gr.JSON(label="Calls")
                with gr.Column(scale=2):
                    gr.Markdown(_function_list(functions))

            async def handle(text: str) -> dict[str, Any]:
                return await answer_tools(engine, functions, text)

            request.submit(handle, request, calls, concurrency_limit=None)
            go.click(handle, request, calls, concurrency_limit=None)
        with gr.Tab("Chat"):
            chat.render()
    return page


def _sampling(temperature: Any, top_p: Any, max_new_tokens: Any, max_tokens: int) -> SamplingArgs:
    """The settings as the sliders send them; Gradio's API passes any JSON in their place (NaN, 1e9, null)."""
    values = (temperature, top_p, max_new_tokens)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise HareError("temperature, top-p and max new tokens must be finite numbers")
    if not 1 <= max_new_tokens <= max_tokens:
        raise HareError(f"max new tokens must lie in [1, {max_tokens}]")
    sampling = SamplingArgs(max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_p=float(top_p))
    sampling.validate()
    return sampling


def _chat(engine: Engine, max_tokens: int) -> gr.ChatInterface:
    async def chat(message: str, history: list[dict[str, Any]], system: str, temperature: float, top_p: float,
                   max_new_tokens: int) -> AsyncIterator[str]:
        try:
            sampling = _sampling(temperature, top_p, max_new_tokens, max_tokens)
            messages = to_messages(text_input(system, "system prompt"), history, text_input(message, "message"))
            ids = engine.chat_prompt(messages)
            while len(ids) + sampling.max_new_tokens > engine.context_length and len(messages) > 2:
                del messages[1:3]  # the oldest user/assistant pair
                ids = engine.chat_prompt(messages)
            pieces = engine.generate(ids, sampling)
        except (ServerBusy, HareError, jinja2.TemplateError) as err:  # the template's: turns out of order
            raise gr.Error(str(err)) from None
        reply = ""
        async for piece in pieces:
            reply += piece.text
            yield reply

    settings = [
        gr.Textbox(DEFAULT_SYSTEM_PROMPT, label="System prompt", lines=2),
        gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature (0 = greedy)"),
        gr.Slider(0.05, 1.0, value=0.8, step=0.05, label="Top-p"),
        gr.Slider(1, max_tokens, value=min(256, max_tokens), step=1, label="Max new tokens"),
    ]
    return gr.ChatInterface(
        chat,
        additional_inputs=settings,
        additional_inputs_accordion=gr.Accordion("Settings", open=False),
        title=f"HARE · {engine.model_name}",
        description=f"Served by the {engine.backend} engine. The same model answers at /v1 (OpenAI API).",
        concurrency_limit=None,
        fill_height=True,
    )
