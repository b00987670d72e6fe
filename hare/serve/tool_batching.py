"""Tool calls of concurrent requests, decoded together.

A tool call is a few dozen greedy tokens under its request's grammar. Taken one at a time, eight
clients wait for each other's whole answers; decoded as rows of one batch (`hare.tools.decoder.Rows`,
every row with its own spec and grammar state), they share each forward pass. One worker thread owns
the decoder (its grammar and prompt caches are not thread-safe). Answers that end leave the batch
and are answered at once; requests that arrive meanwhile join the batch under way, a few at a time
(up to `max_batch` rows), instead of waiting for its longest answer (a batch formed, decoded and
answered as a whole stood idle while answers went out and the next requests came in: eight HTTP
clients got 12.6 calls/s where they now get 14). A request whose client went away (its future
cancelled) leaves the batch at the next pass. If a pass fails, each of its requests is answered
alone, so a request that breaks decoding fails only itself.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hare.tools.decoder import CallResult, ToolCaller
    from hare.tools.spec import Function

_Request = tuple[str, "list[Function] | None", "Future[CallResult]"]


class ToolBatcher:
    def __init__(self, caller: ToolCaller, max_batch: int = 8) -> None:
        self.caller, self.max_batch = caller, max_batch
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self.active = self.cancelled = self._held = 0  # rows decoding, requests abandoned so far, taken but waiting
        self._worker = threading.Thread(target=self._run, name="hare-tool-calls", daemon=True)
        self._worker.start()

    def submit(self, query: str, functions: list[Function] | None = None) -> Future[CallResult]:
        """This request's answer, to come; cancelling the future takes the request out of the batch."""
        done: Future[CallResult] = Future()
        self._queue.put((query, functions, done))
        return done

    def __call__(self, query: str, functions: list[Function] | None = None) -> CallResult:
        """Blocks until this request's answer is decoded (call it from a worker thread, not the event loop)."""
        return self.submit(query, functions).result()

    def load(self) -> dict[str, int]:
        """For /health: tool requests decoding (`active`), queued (`waiting`) and cancelled so far."""
        return {"active": self.active, "waiting": self._queue.qsize() + self._held, "cancelled": self.cancelled}

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        from hare.tools.decoder import Rows

        rows, waiting, closing = Rows(self.caller), [], False
        room = self.max_batch if self.caller.batches else 1
        while not (closing and not rows and not waiting):
            self.active, self._held = len(rows), len(waiting)
            while not closing:
                try:  # idle, the worker sleeps until a request comes; busy, it takes those already there
                    item = self._queue.get_nowait() if rows or waiting else self._queue.get()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                else:
                    waiting.append(item)
            kept = [request for request in waiting if not request[2].cancelled()]
            self.cancelled += len(waiting) - len(kept)
            waiting = kept
            if count := rows.joining(len(waiting), room):
                joining, waiting = waiting[:count], waiting[count:]
                if not self.caller.batches:
                    self.active = len(joining)
                    self._alone(joining)
                    continue
                try:
                    self._settle(rows.add([(done, query, functions) for query, functions, done in joining]))
                except Exception:  # noqa: BLE001 (the running rows are untouched: their pass had not begun)
                    self._alone(joining)
            self.cancelled += rows.discard(lambda done: done.cancelled())
            self.active, self._held = len(rows), len(waiting)
            if not rows:
                continue
            try:
                self._settle(rows.step())
            except Exception:  # noqa: BLE001 (the batch's state is lost: every row is answered again, alone)
                requests = rows.requests()
                rows = Rows(self.caller)
                self._alone(requests)

    def _alone(self, requests: list[_Request]) -> None:
        for query, functions, done in requests:
            try:
                result = self.caller(query, functions)
            except Exception as err:  # noqa: BLE001 (handed to the request that waits for it)
                with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
                    done.set_exception(err)
            else:
                self._settle([(done, result)])

    @staticmethod
    def _settle(answered: list[tuple[Any, CallResult]]) -> None:
        for done, result in answered:
            with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
                done.set_result(result)
