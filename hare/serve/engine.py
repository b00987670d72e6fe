"""The engine interface behind the API and the UI, and the parts every engine shares.

`Engine.submit` queues one generation and returns its stream of `Piece`s; `Engine.generate` adds
what the API promises on top of any backend (validation, stop strings), so the HTTP routes and the
Gradio page speak to one interface over transformers, llama.cpp and vLLM. `QueuedEngine` is the
common shape of the first two: one thread owns the model and takes requests from a bounded queue
(a full queue is a 503, never unbounded growth), and each request's tokens cross back into the
asyncio world through its own queue. A stream that is closed, or dropped, cancels its request, which
is how a client that disconnects frees its slot.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.model.args import SamplingArgs
from hare.model.tokenizer import text_ids

if TYPE_CHECKING:
    from concurrent.futures import Future

    from transformers import PreTrainedTokenizerFast

    from hare.serve.tool_batching import ToolBatcher
    from hare.tools.decoder import CallResult, ToolCaller
    from hare.tools.spec import Function

log = logging.getLogger("hare.serve")


def cpu_threads(requested: int = 0) -> int:
    """Threads for an engine's math on CPU: `requested`, or all cores but one (0), left to the HTTP side.

    An OpenMP team that must wait for a thread the OS has parked behind the event loop stalls every
    small op: on 2 shared cores, one math thread gave 4× the tokens/s of two.
    """
    import os

    return requested or max(1, len(os.sched_getaffinity(0)) - 1)


class ServerBusy(Exception):
    """Every slot and the whole waiting queue are taken; the API answers 503 instead of queueing forever."""


@dataclass
class Piece:
    """A stretch of generated text; `tokens` counts the tokens it accounts for, the last piece has a reason."""

    text: str
    tokens: int = 0
    finish_reason: str | None = None  # "stop" (stop token or string) or "length" (max_tokens, context)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that could still grow into a stop string."""
    return max((n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1) if text.endswith(s[:n])),
               default=0)


async def _apply_stops(stream: AsyncIterator[Piece], stops: Sequence[str]) -> AsyncIterator[Piece]:
    """Cut the text at the first stop string (not included) and end the generation there.

    Text that might be the start of a stop string is held back until it is decided, so a client
    never receives part of a stop string.
    """
    held = ""
    try:
        async for piece in stream:
            text = held + piece.text
            hits = [i for i in (text.find(s) for s in stops) if i >= 0]
            if hits:
                yield Piece(text[:min(hits)], piece.tokens, "stop")
                return
            if piece.finish_reason:
                yield Piece(text, piece.tokens, piece.finish_reason)
                return
            keep = _held_back(text, stops)
            held = text[len(text) - keep:]
            yield Piece(text[:len(text) - keep], piece.tokens)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


class Engine(ABC):
    """One model behind the API: encodes prompts, streams generations, reports its load."""

    backend: str
    model_name: str
    context_length: int
    vocab_size: int  # token ids a prompt may use
    # Renders the HARE chat template to text (every engine then tokenizes with its own tokenizer).
    chat_tokenizer: PreTrainedTokenizerFast
    functional_tokens: int  # how many `<api_i>` tokens the model knows (0: not a tool model)
    _tool_batcher: ToolBatcher | None = None
    _tool_start = threading.Lock()

    def encode(self, text: str, bos: bool) -> list[int]:
        """Token ids of `text` as plain text — `<round_end>` typed by a client is characters, never the
        control token; `bos` prepends `<s>` (plain prompts yes, the chat template no). By default with
        the Hugging Face tokenizer (transformers, vLLM); llama.cpp tokenizes with its own."""
        return text_ids(self.chat_tokenizer, [text], bos)[0]

    def control_id(self, token: str) -> int:
        """The id of a control token the chat template writes (`<round_start>`, `<|im_end|>`, …)."""
        return self.chat_tokenizer.convert_tokens_to_ids(token)

    @abstractmethod
    def submit(self, prompt_ids: list[int], sampling: SamplingArgs, ignore_eos: bool) -> AsyncIterator[Piece]:
        """Queue a generation now (raising ServerBusy when full); its pieces arrive as they are made.

        Closing the iterator, or dropping it, cancels the generation and frees its slot.
        """

    @abstractmethod
    def load(self) -> dict[str, int]:
        """For /health: requests `active` and `waiting` now, and `cancelled` so far (abandoned by their clients)."""

    def tool_load(self) -> dict[str, int]:
        """For /health: tool requests `active`, `waiting` and `cancelled`, as `load` counts the others."""
        batcher = self._tool_batcher
        return batcher.load() if batcher is not None else {"active": 0, "waiting": 0, "cancelled": 0}

    def close(self) -> None:
        """Stop background work: the tool-call thread here, a scheduler thread in engines that have one."""
        if self._tool_batcher is not None:
            self._tool_batcher.close()

    def tool_caller(self) -> ToolCaller | None:
        """The tool-calling decoder over this engine's model (None: the backend cannot serve tool calls).
        Its grammar cache and prompt cache are not thread-safe: call it through `submit_tools`."""
        return None

    def submit_tools(self, query: str, functions: list[Function]) -> Future[CallResult]:
        """One request's tool calls, to come. Concurrent requests are decoded together on the one thread
        that owns the decoder (`hare.serve.tool_batching`); cancelling the future takes the request out."""
        from hare.serve.tool_batching import ToolBatcher

        caller = self.tool_caller()
        if caller is None:
            raise HareError(f"the {self.backend} backend does not serve tool calls")
        with self._tool_start:
            if self._tool_batcher is None:
                self._tool_batcher = ToolBatcher(caller)
        return self._tool_batcher.submit(query, functions)

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a conversation through the chat template, ending with the assistant prompt; only
        the template's own text becomes control tokens (`hare.model.template`)."""
        from hare.model.template import segments

        ids: list[int] = []
        for text, control in segments(self.chat_tokenizer, messages):
            ids += [self.control_id(text)] if control else self.encode(text, bos=False)
        return ids

    def generate(self, prompt_ids: list[int], sampling: SamplingArgs, stop: Sequence[str] = (),
                 ignore_eos: bool = False) -> AsyncIterator[Piece]:
        """Submit now, stream later: a full queue fails here, before any response has started."""
        sampling.validate()
        if len(prompt_ids) >= self.context_length:
            raise HareError(f"the prompt has {len(prompt_ids)} tokens but the model's context is "
                            f"{self.context_length}; shorten it")
        stream = self.submit(prompt_ids, sampling, ignore_eos)
        return _apply_stops(stream, [s for s in stop if s]) if any(stop) else stream


class IncrementalDecoder:
    """Token ids → text deltas.

    Decoding each id alone would drop sentencepiece's leading spaces (the decoder strips the first
    one) and split multi-byte characters, so each step decodes a window starting one token back and
    emits only the new, complete text (the technique of TGI and vLLM).
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self.decode, self.ids, self.prefix, self.read = decode, [], 0, 0

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self.decode(self.ids[self.prefix:self.read])
        after = self.decode(self.ids[self.prefix:])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return after[len(before):]


@dataclass(eq=False)
class Request:
    """One generation as an engine thread sees it; `emit` crosses into the requester's event loop."""

    prompt: list[int]
    sampling: SamplingArgs
    budget: int  # most tokens to generate (max_tokens, clipped to the context)
    stops: frozenset[int]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    generated: int = 0
    cancelled: bool = False
    state: Any = None  # engine-specific, e.g. the transformers engine's torch.Generator

    def emit(self, item: tuple[int | None, str | None] | BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the requester's event loop is gone: nobody is listening
            self.cancelled = True

    def step(self, token: int) -> bool:
        """Deliver one sampled token; True when the request is finished (stop token or budget)."""
        if token in self.stops:
            self.emit((None, "stop"))
            return True
        self.generated += 1
        reason = "length" if self.generated >= self.budget else None
        self.emit((token, reason))
        return reason is not None


class QueuedEngine(Engine):
    """An engine whose model is owned by one background thread fed through a bounded queue.

    `submit` puts a `Request` on the queue (or raises ServerBusy) and returns its stream; the thread
    (`_serve`, a subclass's loop) takes requests, generates, and calls `Request.step` per token.
    """

    stops: frozenset[int]

    def __init__(self, max_waiting: int) -> None:
        self._waiting: queue.Queue[Request] = queue.Queue(maxsize=max_waiting)
        self.cancelled = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"hare-{self.backend}", daemon=True)
        self._thread.start()

    @abstractmethod
    def _serve(self) -> None:
        """The engine thread: loop until `self._stopping` is set."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Text of generated ids, special tokens hidden."""

    def close(self) -> None:
        super().close()
        self._stopping.set()
        self._thread.join(timeout=10)

    def _next_waiting(self, block: bool) -> Request | None:
        """The next request still wanted, or None (after a short wait when `block`)."""
        while True:
            try:
                request = self._waiting.get(timeout=0.05) if block else self._waiting.get_nowait()
            except queue.Empty:
                return None
            if not request.cancelled:
                return request
            self.cancelled += 1

    def submit(self, prompt_ids: list[int], sampling: SamplingArgs, ignore_eos: bool) -> AsyncIterator[Piece]:
        request = Request(list(prompt_ids), sampling,
                          budget=min(sampling.max_new_tokens, self.context_length - len(prompt_ids)),
                          stops=frozenset() if ignore_eos else self.stops, loop=asyncio.get_running_loop())
        try:
            self._waiting.put_nowait(request)
        except queue.Full:
            raise ServerBusy(f"all slots and {self._waiting.maxsize} queue places are taken; retry shortly") from None
        stream = self._pieces(request)
        weakref.finalize(stream, setattr, request, "cancelled", True)  # dropped unread: free the slot too
        return stream

    async def _pieces(self, request: Request) -> AsyncIterator[Piece]:
        decoder = IncrementalDecoder(self.decode)
        try:
            while True:
                item = await request.queue.get()
                if isinstance(item, BaseException):
                    raise item
                token, reason = item
                yield Piece(decoder.push(token) if token is not None else "", int(token is not None), reason)
                if reason:
                    return
        finally:
            request.cancelled = True
