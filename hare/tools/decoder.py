"""The tool decoder: a query in, validated function calls out (`ToolCaller`, on torch).

The prompt is the HARE chat template with a fixed system turn (`TOOL_SYSTEM`), identical in
training (`hare tools train`) and here. Because every call shares the prompt's head — the system
turn up to the user's text — its KV cache is computed once at load time, as Octopus precomputes
its prefix, and each call only runs its own query and answer tokens. Decoding is greedy and stops
at `<api_end>`; a request's slips of the fingers are read as the words the model was trained on first
(`hare.tools.spelling`). The answer is parsed and validated against the spec (`hare.tools.calls`); malformed
output gives a structured error, and nothing is ever executed. `hare.tools.llama_caller` runs the
same decoding on llama.cpp; `hare.tools.call` picks one of the two by the model's path.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.model.template import chat_ids
from hare.model.tokenizer import API_END, ROUND_END, functional_token
from hare.tools.calls import Call, CallError, parse
from hare.tools.dictated import addresses
from hare.tools.grammar import CallGrammar, budget
from hare.tools.joins import Answer, Look, run_look, second_look
from hare.tools.spec import SPEC_FILE, Function, check_capacity, check_trained, load_spec
from hare.tools.spelling import Spelling, load_words, restore

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# Short because every training example carries it: the old "You are an on-device assistant. Answer with
# function calls." was 10 more tokens of the ~73 an example averages, 14 % of the fine-tune's compute.
TOOL_SYSTEM = "Call functions."
_SENTINEL = "\x00QUERY\x00"
GRAMMARS = 32
COMPACT = 0.75  # a batch's cache is compacted when under this fraction of its positions are still attended to


def tool_messages(query: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": TOOL_SYSTEM}, {"role": "user", "content": query}]


@dataclass
class CallResult:
    calls: list[Call] | CallError
    raw: str
    latency_s: float
    new_tokens: int
    forced_tokens: int = 0  # of new_tokens, those the grammar left no choice for (fed, not chosen)
    read_as: dict[str, str] = field(default_factory=dict)  # slips of the request read as trained words (`spelling`)


class ToolCaller:
    """A tool model, its spec and the cached prompt head, ready for many calls."""

    # Query tokens proposed at once after a copied token (`decode`): on 2 CPU cores, bf16, 60 held-out
    # queries of the quickstart's model, p50 / p95 209 / 629 ms without drafts, 166 / 412 with 4, 154 / 398 with 8.
    draft = 8
    batches = True  # rows of one batch (`Rows`) for concurrent calls
    joins = True  # look again where a request may hold a second one (`hare.tools.joins`)

    def __init__(self, model: PreTrainedModel, tok: PreTrainedTokenizerFast, functions: list[Function],
                 max_new_tokens: int | None = None, constrained: bool = True, copy_values: bool = True,
                 words: dict[str, int] | None = None) -> None:
        self.model, self.tok, self.functions, self.constrained = model, tok, functions, constrained
        self.copy_values = constrained and copy_values
        self.spelling = Spelling(words, tok) if words else None  # the training requests' words, counted
        self._grammars: dict[str, CallGrammar] = {}
        vocab = self.tok.get_vocab()
        if functional_token(0) not in vocab or API_END not in vocab:
            raise HareError("the model has no functional tokens (<api_0>…<api_end>); train a tool model with "
                            "`hare tools train`")
        check_capacity(self.functions, sum(functional_token(i) in vocab for i in range(len(self.functions))))
        # Enough for the longest answer the spec's grammar allows, so a constrained answer always ends.
        self.max_new_tokens = max_new_tokens or budget(self.functions)
        self.stops = {vocab[t] for t in (API_END, ROUND_END) if t in vocab} | {self.tok.eos_token_id}
        text = self.tok.apply_chat_template(tool_messages(_SENTINEL), tokenize=False, add_generation_prompt=True)
        self.head, self.tail = text.split(_SENTINEL)
        self.head_ids: list[int] = self.tok(self.head, add_special_tokens=False).input_ids
        self.head_cache = self._prefill(self.head_ids)

    @classmethod
    def load(cls, model: str, spec: str | None = None, device: str = "auto", dtype: str = "auto",
             constrained: bool = True, copy_values: bool = True, spelling: bool = True) -> ToolCaller:
        """A tool model directory with its `tools.json` (or the given spec); with `spelling`, slips in requests
        are read as the words of its `tool_words.json` (`hare.tools.spelling`)."""
        from hare.io.sources import local_path
        from hare.model.bases import BASES
        from hare.model.load import load_model

        where = local_path(model)  # a named base is no path: its own errors follow (no tools.json, no api tokens)
        if where is not None and not where.exists() and model not in BASES:  # not "has no tools.json": a wrong path
            raise HareError(f"tool model '{model}' does not exist; check the path, or train one with `hare tools "
                            "train --model BASE --data DIR --out runs/tools` (the model is runs/tools/final)")
        own = Path(model) / SPEC_FILE
        if not spec and not own.is_file():
            raise HareError(f"{model} has no {SPEC_FILE}; pass --spec with the API spec the model was trained on")
        functions = load_spec(spec or own)
        if spec and own.is_file():
            check_trained(functions, load_spec(own), spec, model)
        words = load_words(Path(model)) if spelling else None
        return cls(*load_model(model, device, dtype), functions, constrained=constrained, copy_values=copy_values,
                   words=words)

    def _prefill(self, ids: list[int]) -> Any:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            self.model(input_ids=torch.tensor([ids], device=self.model.device), past_key_values=cache, use_cache=True)
        return cache

    def read(self, query: str) -> tuple[str, dict[str, str]]:
        """The request as the model reads it — e-mail addresses said aloud as typed (`hare.tools.dictated`),
        slips read as trained words — and {word typed: word read} (`hare.tools.spelling`)."""
        query = addresses(query)
        return self.spelling.fix(query) if self.spelling else (query, {})

    def prompt_ids(self, query: str) -> list[int]:
        """The prompt with the query as plain text: a query that types `<api_3>` or `<round_end>` gets
        characters, not control tokens (`hare.model.template`)."""
        return chat_ids(self.tok, tool_messages(query))

    @property
    def context_length(self) -> int:
        return self.model.config.max_position_embeddings

    def fit(self, query: str) -> int:
        """The query's prompt length in tokens, refused when the prompt and the longest answer the spec allows
        exceed the model's context (decoding past it fails deep in the model) or the query says nothing."""
        if not query.strip():
            raise HareError("the request is empty; pass the words a user would say, e.g. \"take a selfie\"")
        prompt = len(self.prompt_ids(query))
        if prompt + self.max_new_tokens > self.context_length:
            raise HareError(f"the request's prompt has {prompt} tokens; with the {self.max_new_tokens} its call may "
                            f"take, that exceeds this model's {self.context_length}: shorten it")
        return prompt

    def grammar(self, functions: list[Function]) -> CallGrammar:
        """The answer grammar of a spec, compiled once per distinct spec (the server passes one per request;
        the last `GRAMMARS` are kept, so clients sending ever new tool lists cannot grow memory)."""
        key = json.dumps([(f.index, f.name, f.parameters) for f in functions], sort_keys=True)
        if key not in self._grammars:
            if len(self._grammars) >= GRAMMARS:
                del self._grammars[next(iter(self._grammars))]
            self._grammars[key] = CallGrammar(functions, self.tok)
        return self._grammars[key]

    def generate(self, query: str, functions: list[Function] | None = None) -> list[int]:
        """Greedy answer ids (without the stop token), reusing the cached head of the prompt; under the
        spec's call grammar unless the caller was made with `constrained=False`."""
        return self.decode(query, functions)[0]

    def decode(self, query: str, functions: list[Function] | None, prefix: list[int] | None = None,
               close: bool = False, avoid: int | None = None) -> tuple[list[int], bool, int]:
        """The answer ids, whether a stop token ended them (not the budget, nor a grammar dead end), and
        how many of them the grammar forced. Given a `prefix` of answer ids, the answer goes on from it; with
        `close`, its next token closes the value the prefix ends in, and its next token is never `avoid`
        (`hare.tools.joins`).

        Values are copied from the query, so once a value's first token is chosen the query says what
        probably follows (prompt lookup): those tokens go into the same forward pass as a draft, and the
        logits after each are checked in order with the same greedy grammar step; the answer keeps the
        ones it would have picked anyway, and the cache drops the rest. The answer is the undrafted
        one (up to float rounding); a call takes fewer passes, each a little wider."""
        import torch

        ids = self.prompt_ids(query)
        shared = self._shared(ids)
        cache = self._cache_at(shared)
        answer = _Answer(self, query, functions, prefix, close, avoid)
        step = ids[shared:] + (prefix or [])
        with torch.inference_mode():
            if close:  # the first pick closes the value, or the answer ends there
                step, _ = answer.verify(self._logits(step, cache), [])
            while not answer.done:
                draft = self._draft(ids, answer)
                rows = self._logits(step + draft, cache, 1 + len(draft))
                step, unused = answer.verify(rows, draft)
                if unused and not answer.done:
                    self._drop(unused, cache)
        return answer.ids, answer.stopped, answer.forced

    def batch(self, queries: list[str], functions: list[list[Function] | None] | None = None, size: int = 16,
              done: Callable[[int], None] | None = None) -> list[CallResult]:
        """Many calls, up to `size` rows decoded together (`Rows`), each under its own spec (`functions[i]`;
        None: the model's): for evaluation, where throughput counts. Queries of similar length go
        together (less padding); as rows end, the next queries take their places (`Rows.joining`). Each
        result's `latency_s` runs from its row's prefill to its end; `done(n)` is told of every n that
        end. The same tokens as `__call__` (greedy, same grammar) up to float rounding."""
        rows, waiting = Rows(self), sorted(range(len(queries)), key=lambda i: len(queries[i]))
        results: list[CallResult | None] = [None] * len(queries)
        while waiting or rows:
            if joining := rows.joining(len(waiting), size):
                joined, waiting = waiting[:joining], waiting[joining:]
                answered = rows.add([(i, queries[i], functions[i] if functions else None) for i in joined])
            else:
                answered = rows.step()
            for i, result in answered:
                results[i] = result
            if done and answered:
                done(len(answered))
        return results  # type: ignore[return-value]

    def _draft(self, prompt: list[int], answer: _Answer) -> list[int]:
        """Query tokens to feed after the answer's last one, where it is inside a value (`decode`)."""
        return _draft(prompt, answer.ids, self.draft) if self.draft and answer.ids and answer.in_value() else []

    def _shared(self, ids: list[int]) -> int:
        """How many of the prompt `ids` the cached head already holds (at least one is left to compute
        the first logits from)."""
        pairs = enumerate(zip(ids, self.head_ids, strict=False))
        shared = next((i for i, (a, b) in pairs if a != b), len(self.head_ids))
        return min(shared, len(ids) - 1)

    def _cache_at(self, shared: int) -> Any:
        """A cache holding the first `shared` tokens of the prompt head, for one call to continue."""
        cache = copy.deepcopy(self.head_cache)
        cache.crop(shared - len(self.head_ids))  # transformers 5: a negative count of tokens to drop
        return cache

    def _logits(self, step: list[int], cache: Any, keep: int = 1) -> torch.Tensor:
        """Feeds `step`; the logits after each of its last `keep` tokens, one row each."""
        import torch

        out = self.model(input_ids=torch.tensor([step], device=self.model.device), past_key_values=cache,
                         use_cache=True, logits_to_keep=keep)
        return out.logits[0]

    def _drop(self, count: int, cache: Any) -> None:
        """Forget the last `count` tokens fed (a draft's rejected tail)."""
        cache.crop(-count)  # transformers 5: a negative count of tokens to drop

    def __call__(self, query: str, functions: list[Function] | None = None) -> CallResult:
        """One call; `functions` replaces the spec for this query (the server gets it per request)."""
        start = time.perf_counter()
        read, read_as = self.read(query)
        result = self._as_typed(self._result(read, *self.decode(read, functions), functions), query, read_as, functions)
        result.latency_s = time.perf_counter() - start  # tokenization to validated result
        return result

    def _as_typed(self, result: CallResult, query: str, read_as: dict[str, str],
                  functions: list[Function] | None) -> CallResult:
        """The result of the request typed as `query` and read with `read_as`: its values as typed
        (`spelling.restore`), and what was read."""
        result.calls = restore(result.calls, read_as, query, self.functions if functions is None else functions)
        result.read_as = read_as
        return result

    def _result(self, query: str, new: list[int], ended: bool, forced: int,
                functions: list[Function] | None) -> CallResult:
        """The answer parsed and validated, with the second look's decodes run one at a time (its latency is the
        caller's to set)."""
        result, look = self._parsed(query, new, ended, forced, functions)
        if look is not None:
            result.calls, result.raw = run_look(look, self.decode) or (result.calls, result.raw)
        return result

    def _parsed(self, query: str, new: list[int], ended: bool, forced: int,
                functions: list[Function] | None) -> tuple[CallResult, Look | None]:
        """The answer parsed and validated (an answer cut short is reported as such, never completed with
        <api_end> and parsed), and the second look to take at the request (`hare.tools.joins`), if any."""
        functions = self.functions if functions is None else functions
        raw = self.tok.decode(new)
        look = None
        if ended:
            raw += API_END
            calls = parse(raw, functions, query)
            if self.joins and self.copy_values and isinstance(calls, list) and calls:
                look = second_look(self, query, functions, new, calls)
        elif len(new) >= self.max_new_tokens:
            calls = CallError("too_long", f"the answer did not end within {self.max_new_tokens} tokens", raw)
        else:
            calls = CallError("syntax", "no token of the vocabulary continues the answer under the spec's grammar", raw)
        return CallResult(calls, raw, 0.0, len(new), min(forced, len(new))), look


@dataclass
class _Row:
    key: Any  # the caller's handle for this row's result
    prompt: list[int]
    answer: _Answer
    functions: list[Function] | None
    began: float
    fed: list[int] = field(default_factory=list)  # the tokens the next pass feeds: the last pick and its forced tokens
    draft: list[int] = field(default_factory=list)  # query tokens fed after them in the last pass
    owner: _Row | None = None  # for a decode of a second look: the row of the request it looks at
    typed: tuple[str, dict[str, str]] = ("", {})  # the request as typed, {word typed: word read} (`ToolCaller.read`)
    result: CallResult | None = None  # an ended answer's result while its second look runs
    look: Look | None = None

    @property
    def request(self) -> tuple[str, list[Function] | None, Any]:
        """(query, functions, key) of the request this row answers."""
        first = self.owner or self
        return first.answer.query, first.functions, first.key


class Rows:
    """Tool calls decoding together on torch, every row under its own spec and grammar state. Rows join
    between passes (`add`: one pass computes the newcomers' prompts) and leave as soon as their answer
    ends (`step`), so a server's batch stays full while clients come and go, and no answer waits for a
    longer one (ending together, eight clients' next requests came back ~25 ms apart and the batch
    stood idle meanwhile).

    Every row starts from the cached prompt head, as a single call does (recomputing it per row cost
    more than the whole answer); its own tokens are padded between the head and themselves (masked
    out, positions continuing the head), and rows that join a batch already under way are padded at
    the front of the cache. Each pass feeds every row's pick with the tokens the grammar forces after
    it, padded the same way; a row's draft (`ToolCaller._draft`) only fills its padding — widening a
    pass for drafts cost a batch more than they saved — except when it is alone.

    A request's second look (`hare.tools.joins`) decodes parts of it again: each such decode is a row too,
    waiting in `pending` until the next pass, which computes its prompt as a join does."""

    def __init__(self, caller: ToolCaller) -> None:
        self.caller = caller
        self.live: list[_Row] = []
        self.pending: list[_Row] = []  # decodes of second looks, to join at the next `step`
        self.cache: Any = None
        self.mask: Any = None  # [rows, cached tokens]; 0 where a row has padding or a rejected draft
        self.pad = caller.tok.pad_token_id if caller.tok.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.live) + len(self.pending)

    def requests(self) -> list[tuple[str, list[Function] | None, Any]]:
        """(query, functions, key) of every request still being answered."""
        return [r.request for r in self.live + self.pending]

    def joining(self, waiting: int, limit: int) -> int:
        """How many of `waiting` requests join now, the batch holding at most `limit` rows: none until they
        are at least half as many as the rows under way. A join is a pass of its own, as long for one
        newcomer as a step of the whole batch: eight HTTP clients joining one at a time got 10.9 calls/s,
        in twos and threes 14.3 (a quarter as many as the rows under way: 14.0)."""
        count = min(waiting, limit - len(self.live))
        return count if count > 0 and 2 * count >= len(self.live) else 0

    def add(self, requests: list[tuple[Any, str, list[Function] | None]]) -> list[tuple[Any, CallResult]]:
        """(key, query, functions) rows join the batch; returns (key, result) for those that ended at once."""
        caller, began = self.caller, time.perf_counter()
        rows = []
        for key, typed, f in requests:
            q, read_as = caller.read(typed)
            rows.append(_Row(key, caller.prompt_ids(q), _Answer(caller, q, f), f, began, typed=(typed, read_as)))
        rows, self.pending = rows + self.pending, []  # a second look's decodes waiting to join come along
        return self._enter(rows)

    def _enter(self, rows: list[_Row]) -> list[tuple[Any, CallResult]]:
        """One pass computes the rows' prompts (and the answer ids a second look's decode begins with)."""
        import torch

        caller = self.caller
        head = min(caller._shared(r.prompt) for r in rows)
        own = [r.prompt[head:] + r.answer.ids for r in rows]
        width = max(map(len, own))
        ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in own], device=caller.model.device)
        mask = torch.tensor([[1] * head + [0] * (width - len(p)) + [1] * len(p) for p in own], device=ids.device)
        cache = caller._cache_at(head)
        cache.batch_repeat_interleave(len(rows))
        with torch.inference_mode():
            logits = self._pass(ids, mask, cache, 1)
        for k, row in enumerate(rows):
            row.fed, _ = row.answer.verify(logits[k], [])
        self._join(rows, cache, mask)
        return self._finished()

    def step(self) -> list[tuple[Any, CallResult]]:
        """One pass for every row, or one for the second looks' decodes that wait to join; returns (key, result)
        for the requests that have their answers."""
        import torch

        if self.pending:
            rows, self.pending = self.pending, []
            return self._enter(rows)
        live, caller = self.live, self.caller
        width = max(len(r.fed) for r in live)
        for r in live:
            r.draft = caller._draft(r.prompt, r.answer)[:width - len(r.fed) if len(live) > 1 else caller.draft]
        feeds = [r.fed + r.draft for r in live]
        width = max(map(len, feeds))
        ids = torch.tensor([[self.pad] * (width - len(f)) + f for f in feeds], device=self.mask.device)
        step = torch.tensor([[0] * (width - len(f)) + [1] * len(f) for f in feeds], device=self.mask.device)
        self.mask = torch.cat([self.mask, step], 1)
        with torch.inference_mode():
            logits = self._pass(ids, self.mask, self.cache, 1 + max(len(r.draft) for r in live))
        for k, r in enumerate(live):
            r.fed, unused = r.answer.verify(logits[k, logits.shape[1] - 1 - len(r.draft):], r.draft)
            if unused and len(live) == 1:  # alone: forget a draft's rejected tail, as a single call does
                self.cache.crop(-unused)
                self.mask = self.mask[:, :-unused]
            elif unused:  # in a batch it stays in the cache, masked out like padding
                self.mask[k, self.mask.shape[1] - unused:] = 0
        return self._finished()

    def _pass(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any, keep: int) -> torch.Tensor:
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        return self.caller.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                                 use_cache=True, logits_to_keep=keep).logits

    def _join(self, rows: list[_Row], cache: Any, mask: torch.Tensor) -> None:
        """Newly computed rows join the batch: both caches are padded at the front to one length."""
        import torch
        import torch.nn.functional as F

        if not self.live:
            self.live, self.cache, self.mask = rows, cache, mask
            return
        length = max(self.mask.shape[1], mask.shape[1])
        for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
            for name in ("keys", "values"):
                a, b = getattr(mine, name), getattr(theirs, name)
                setattr(mine, name, torch.cat([F.pad(a, (0, 0, length - a.shape[-2], 0)),
                                               F.pad(b, (0, 0, length - b.shape[-2], 0))]))
            _resync(mine)
        self.mask = torch.cat([F.pad(m, (length - m.shape[1], 0)) for m in (self.mask, mask)])
        self.live += rows

    def _compact(self) -> None:
        """Drop the cache positions that no row attends to any more (the padding and answers of rows that
        have left): a batch that never empties, as under a steady stream of clients, would otherwise
        grow its cache, and every pass's attention with it, for as long as the server runs."""
        used = self.mask.any(0)
        if int(used.sum()) < COMPACT * self.mask.shape[1]:
            index = used.nonzero().squeeze(1)
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, index], layer.values[:, :, index]
                _resync(layer)
            self.mask = self.mask[:, index]

    def discard(self, gone: Callable[[Any], bool]) -> int:
        """Rows whose key says they are no longer wanted (a client went away) leave without an answer; how many."""
        going = [k for k, r in enumerate(self.live) if not gone(r.key)]
        waiting = [r for r in self.pending if not gone(r.key)]
        left = len(self.live) - len(going) + len(self.pending) - len(waiting)
        self._keep(going)
        self.pending = waiting
        return left

    def _finished(self) -> list[tuple[Any, CallResult]]:
        """Rows whose answers ended leave the batch (no more passes for them); their requests' results, but for
        those whose second look goes on (its next decode waits in `pending`)."""
        ended = [r for r in self.live if r.answer.done]
        self._keep([k for k, r in enumerate(self.live) if not r.answer.done])
        answered = []
        for row in ended:
            answer, owner = row.answer, row.owner
            if owner is None:
                row.result, row.look = self.caller._parsed(answer.query, answer.ids, answer.stopped, answer.forced,
                                                           row.functions)
                answered += self._look(row, None)
            else:
                answered += self._look(owner, (answer.ids, answer.stopped, answer.forced))
        return answered

    def _look(self, row: _Row, sent: Answer | None) -> list[tuple[Any, CallResult]]:
        """The next step of an ended row's second look: its next decode joins `pending`, or the look is over and
        the row's request has its result."""
        result = row.result
        assert result is not None
        try:
            if row.look is not None:
                query, functions, prefix, close, avoid = row.look.send(sent)  # None starts it
                caller = self.caller
                answer = _Answer(caller, query, functions, prefix, close, avoid)
                self.pending.append(_Row(row.key, caller.prompt_ids(query), answer, functions, row.began, owner=row))
                return []
        except StopIteration as stop:
            if stop.value:
                result.calls, result.raw = stop.value
        self.caller._as_typed(result, *row.typed, row.functions)
        result.latency_s = time.perf_counter() - row.began
        return [(row.key, result)]

    def _keep(self, going: list[int]) -> None:
        import torch

        if len(going) == len(self.live):
            return
        if not going:
            self.live, self.cache, self.mask = [], None, None
            return
        index = torch.tensor(going, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.live = self.mask[index], [self.live[k] for k in going]
        self._compact()


def _resync(layer: Any) -> None:
    """After its keys were padded or cut, a sliding-window layer's count of tokens seen is their number again
    (tool prompts are shorter than its window)."""
    if hasattr(layer, "cumulative_length"):
        layer.cumulative_length = layer.keys.shape[-2]


def _draft(prompt: list[int], answer: list[int], size: int) -> list[int]:
    """Up to `size` of the prompt's tokens after the latest place where it holds the answer's last two
    tokens (or, failing that, its last one): what a value copied from the query goes on with."""
    for n in (2, 1):
        tail = answer[-n:]
        if len(tail) < n:
            continue
        for start in range(len(prompt) - n, -1, -1):
            if prompt[start:start + n] == tail:
                return prompt[start + n:start + n + size]
    return []


class _Answer:
    """One answer being decoded: its tokens, the grammar state, and whether it has ended."""

    def __init__(self, caller: ToolCaller, query: str, functions: list[Function] | None,
                 prefix: list[int] | None = None, close: bool = False, avoid: int | None = None) -> None:
        self.caller, self.query = caller, query
        self.grammar = caller.grammar(functions or caller.functions) if caller.constrained else None
        self.ids: list[int] = list(prefix or [])
        self.text = "".join(self.grammar.pieces[t] or "" for t in self.ids) if self.grammar else ""
        self.forced = 0  # tokens the grammar left no choice for
        self.done = self.stopped = False
        # With `close`, the first pick must close the value that the prefix ends in (`hare.tools.joins`).
        self.closers: list[int] | None = (self.grammar.closing(self.text) if self.grammar else []) if close else None
        self.avoid = avoid  # a token the first pick must not be (`hare.tools.joins`)

    def advance(self, logits: torch.Tensor) -> list[int]:
        """Pick the next token from `logits`; returns the tokens to feed next: the pick and every token
        the grammar forces after it (one forward pass instead of several)."""
        if not self.query.strip():  # nothing was asked, so nothing is called; no span exists to copy a value from
            self.done = self.stopped = True
            return []
        if self.closers is not None:
            return self._close(logits)
        if self.avoid is not None:
            logits = logits.clone()
            logits[self.avoid], self.avoid = float("-inf"), None
        caller, grammar = self.caller, self.grammar
        forced: list[int] = []
        if grammar is None:
            token = int(logits.argmax())
        else:
            choice = grammar.choose(self.text, logits, self.query, copy=caller.copy_values)
            if choice is None:  # no token of the vocabulary continues the answer
                self.done = True
                return []
            token = choice
            self.text += grammar.pieces[token] or ""
            if token not in caller.stops:
                forced = list(grammar.forced(self.text))  # a copy: the grammar keeps its lists
                self.forced += len(forced)
                self.text += "".join(grammar.pieces[t] or "" for t in forced)
        if token in caller.stops:
            self.done = self.stopped = True
            return []
        step = [token, *forced]
        self.ids += step
        if len(self.ids) >= caller.max_new_tokens:
            self.ids, self.done = self.ids[: caller.max_new_tokens], True
        return step

    def _close(self, logits: torch.Tensor) -> list[int]:
        """The first pick of a `close` answer, among the closing tokens only; if it is none of them (or
        ends the answer), the answer ends there, not stopped."""
        import torch

        closers, self.closers = self.closers or [], None
        only = torch.full_like(logits, float("-inf"))
        only[closers] = 0
        start = len(self.ids)
        step = self.advance(logits + only)
        if self.done or self.ids[start] not in closers:
            self.done, self.stopped = True, False
            return []
        return step

    def in_value(self) -> bool:
        return self.grammar is None or self.grammar.in_value(self.text)

    def verify(self, rows: torch.Tensor, draft: list[int]) -> tuple[list[int], int]:
        """Advance through `rows`, the logits after the fed step and after each `draft` token, for as long
        as the draft is what the answer picks: (the tokens to feed next, how many draft tokens were fed
        but not taken — the cache must forget them)."""
        for i, logits in enumerate(rows):
            step = self.advance(logits)
            if i == len(draft) or self.done or step[:1] != draft[i:i + 1]:
                return step, len(draft) - i
            if len(step) > 1:  # taken, and the grammar forces tokens after it: the rest of the draft is void
                return step[1:], len(draft) - i - 1
        return [], 0
