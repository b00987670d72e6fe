"""The Gradio chat page at /gradio/: streaming replies through the same engine as the API.

Gradio's `ChatInterface` gives regenerate (retry), undo, clear and message editing; the settings
under the chat (system prompt, temperature, top_p, max new tokens) go with every message. Each
reply renders the whole conversation — system prompt and every turn, the first one included (the
seed's demo dropped it) — through the HARE chat template; when it outgrows the context the oldest
user/assistant pairs are dropped. The event runs without Gradio's per-event concurrency limit, so
several people chatting are batched by the engine like API clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from hare.errors import HareError
from hare.model.args import SamplingArgs
from hare.model.tokenizer import DEFAULT_SYSTEM_PROMPT
from hare.serve.engine import ServerBusy

if TYPE_CHECKING:
    from hare.serve.engine import Engine


def _text(content: Any) -> str:
    """Gradio hands message content as a string or as a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type", "text") == "text")


def to_messages(system: str, history: list[dict[str, Any]], message: str) -> list[dict[str, str]]:
    """The conversation in OpenAI form: system prompt, every earlier turn, then the new message."""
    turns = [{"role": turn["role"], "content": _text(turn["content"])} for turn in history
             if turn.get("role") in ("user", "assistant")]
    return [{"role": "system", "content": system.strip() or DEFAULT_SYSTEM_PROMPT}, *turns,
            {"role": "user", "content": message}]


def build_ui(engine: Engine, max_tokens: int) -> gr.ChatInterface:
    async def chat(message: str, history: list[dict[str, Any]], system: str, temperature: float, top_p: float,
                   max_new_tokens: int) -> AsyncIterator[str]:
        messages = to_messages(system, history, message)
        ids = engine.chat_prompt(messages)
        while len(ids) + max_new_tokens > engine.context_length and len(messages) > 2:
            del messages[1:3]  # the oldest user/assistant pair
            ids = engine.chat_prompt(messages)
        sampling = SamplingArgs(max_new_tokens=int(max_new_tokens), temperature=temperature, top_p=top_p)
        try:
            pieces = engine.generate(ids, sampling)
        except (ServerBusy, HareError) as err:
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
