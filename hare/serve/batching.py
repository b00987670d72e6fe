"""The transformers engine: dynamic batching of decode steps over one left-padded KV cache.

A scheduler thread owns the model. Each step it admits waiting requests (left-padded together as a group and
prefilled PREFILL_CHUNK columns a step, so that a long prompt never holds the other streams for the whole
of its prefill; requests that arrive meanwhile form groups of their own, so a short prompt need not wait for
a long one's prefill either), then runs ONE decode forward for every active sequence, samples each row
with that request's own temperature, top_p and seeded `torch.Generator`, and hands the tokens to
the requests' asyncio queues. The sequences live in one left-padded batch: a `DynamicCache` of shape
[batch, kv_heads, T, head_dim], a 0/1 attention mask over those T columns and a position id per
row, so a decode step is a plain `[batch, 1]` forward, and the cache is reshaped only when sequences
join (padded to a common length and concatenated) or leave (rows dropped, all-padding columns
trimmed). Decoding a small model is dominated by reading the weights and by per-step overhead, not
by arithmetic, so a batch of 8 costs little more than a batch of 1: that is the throughput gain.

Why not transformers' own continuous batching (`generate_batch`, `ContinuousBatchingManager`)? On
transformers 5.23 with hare-tiny on CPU it runs, but sampling is configured per manager, not per
request: `do_sample` and the random generator are global, so one request cannot ask for greedy
decoding (`temperature: 0`) while another samples, nor bring its own `seed`, both of which the
OpenAI API needs; per-request temperature/top_p are refused unless the manager was built with
`per_request_processors` and non-default values. Its paged-attention step was also slow here: 8
streams gave 17.6 tokens/s in total against 7.9–33 for one stream, far from the 3× we need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hare.generate import stop_token_ids
from hare.serve.engine import QueuedEngine, Request, cpu_threads, log
from hare.tools.spec import SPEC_FILE, Function, load_spec
from hare.tools.spelling import load_words

if TYPE_CHECKING:
    import torch
    from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerFast

    from hare.tools.decoder import ToolCaller


# Candidates examined for top_p before falling back to a full sort of a row (sorting 32K
# probabilities costs ~2 ms on one CPU core; the nucleus of a trained model is nearly always smaller).
NUCLEUS_CANDIDATES = 256
# Prompt columns prefilled between two decode steps of the running streams. In one forward, an 8,000-token
# prompt had held every other stream ~90 s (hare-tiny, 2 CPU cores); in chunks, a stream waits at most one
# chunk's forward between its tokens, and a prompt up to this long is still one forward.
PREFILL_CHUNK = 256


def _thresholds(probs: torch.Tensor, requests: Sequence[Request]) -> torch.Tensor:
    """Per row, the smallest probability that top_p and top_k keep (0 where neither filters)."""
    import torch

    floor = torch.zeros(len(requests))
    k = min(NUCLEUS_CANDIDATES, probs.shape[-1])
    top, _ = probs.topk(k, -1)
    for row, r in enumerate(requests):
        if r.sampling.top_p < 1:
            sorted_row = top[row] if top[row].sum() >= r.sampling.top_p else probs[row].sort(descending=True).values
            # At least the likeliest: a top_p under float32's smallest (1e-46) compared as 0, kept none, and
            # index -1 then kept all 256 candidates.
            kept = max(1, int((sorted_row.cumsum(-1) - sorted_row < r.sampling.top_p).sum()))
            floor[row] = sorted_row[kept - 1]
        if r.sampling.top_k:
            floor[row] = max(floor[row], probs[row].topk(min(r.sampling.top_k, probs.shape[-1])).values[-1])
    return floor


def sample(logits: torch.Tensor, requests: Sequence[Request]) -> list[int]:
    """One token per row, each with its request's temperature (0: greedy), top_p, top_k and generator.

    Sampling is by inverse CDF: one uniform number per row from that request's own generator, so a
    seeded request draws the same tokens whatever else shares its batch.
    """
    import torch

    logits = logits.float().cpu()
    tokens = logits.argmax(-1).tolist()
    rows = [i for i, r in enumerate(requests) if not r.sampling.greedy]
    if not rows:
        return tokens
    sampled = [requests[i] for i in rows]
    temperature = torch.tensor([[r.sampling.temperature] for r in sampled])
    probs = torch.softmax(logits[rows] / temperature, -1)
    if any(r.sampling.top_p < 1 or r.sampling.top_k for r in sampled):
        probs = probs.masked_fill(probs < _thresholds(probs, sampled)[:, None], 0)
    cdf = probs.cumsum(-1)
    uniform = torch.cat([torch.rand(1, generator=r.state) for r in sampled])
    picks = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None]).clamp(max=probs.shape[-1] - 1)
    for i, pick in zip(rows, picks[:, 0].tolist(), strict=True):
        tokens[i] = pick
    return tokens


class Batch:
    """The running sequences as one left-padded batch.

    Invariant: the cache holds every token of every row except `last`, the token each row feeds
    next; `positions` is that token's position id (real tokens before it, padding not counted).
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # [batch, T]: 1 for real tokens, 0 for left padding
        self.last: torch.Tensor | None = None  # [batch]
        self.positions: torch.Tensor | None = None  # [batch]

    def __len__(self) -> int:
        return len(self.requests)

    def merge(self, other: Batch) -> None:
        """Append `other`'s rows, left-padding the shorter side's cache and mask to a common length."""
        import torch
        import torch.nn.functional as F

        if not other.requests:
            return
        if not self.requests:
            self.__dict__.update(other.__dict__)
            return
        width = max(self.mask.shape[1], other.mask.shape[1])
        mine, theirs = width - self.mask.shape[1], width - other.mask.shape[1]
        for a, b in zip(self.cache.layers, other.cache.layers, strict=True):
            a.keys = torch.cat([F.pad(a.keys, (0, 0, mine, 0)), F.pad(b.keys, (0, 0, theirs, 0))])
            a.values = torch.cat([F.pad(a.values, (0, 0, mine, 0)), F.pad(b.values, (0, 0, theirs, 0))])
        self.mask = torch.cat([F.pad(self.mask, (mine, 0)), F.pad(other.mask, (theirs, 0))])
        self.last = torch.cat([self.last, other.last])
        self.positions = torch.cat([self.positions, other.positions])
        self.requests += other.requests

    def keep(self, rows: list[int]) -> None:
        """Keep only `rows`, then drop the columns that are padding in every remaining row."""
        if len(rows) == len(self.requests):
            return
        if not rows:
            self.__init__()
            return
        import torch

        index = torch.tensor(rows, device=self.mask.device)
        self.mask, self.last, self.positions = self.mask[index], self.last[index], self.positions[index]
        self.requests = [self.requests[i] for i in rows]
        trim = int((self.mask.cumsum(1) == 0).sum(1).min())
        self.mask = self.mask[:, trim:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index, :, trim:], layer.values[index, :, trim:]


class Filling:
    """New requests whose prompts are being prefilled, left-padded together, a chunk of columns at a time."""

    def __init__(self, requests: list[Request], ids: torch.Tensor, mask: torch.Tensor) -> None:
        from transformers import DynamicCache

        self.requests, self.ids, self.mask, self.cache, self.done = requests, ids, mask, DynamicCache(), 0
        self.positions = (mask.cumsum(1) - 1).clamp(min=0)

    def left(self) -> int:
        """Prompt columns not yet prefilled."""
        return self.ids.shape[1] - self.done


class TransformersEngine(QueuedEngine):
    """Any `transformers` causal LM, CPU or GPU, with dynamic batching of decode steps."""

    backend = "transformers"

    def __init__(self, model: PreTrainedModel, tok: PreTrainedTokenizerFast, model_name: str,
                 max_batch: int = 16, max_waiting: int = 64, tools: list[Function] | None = None,
                 words: dict[str, int] | None = None) -> None:
        import torch

        from hare.model.tokenizer import call_token_ids, num_functional_tokens

        self.model, self.tok, self.chat_tokenizer, self.model_name = model, tok, tok, model_name
        self.context_length = model.config.max_position_embeddings
        self.vocab_size = len(tok)
        self.functional_tokens = num_functional_tokens(tok)
        self.stops = frozenset(stop_token_ids(model.generation_config.eos_token_id, tok))
        self.call_ids = torch.tensor(call_token_ids(tok), dtype=torch.long, device=model.device)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else min(self.stops)
        self.max_batch = max_batch
        self._batch = Batch()
        self._filling: list[Filling] = []  # oldest first
        self._oldest_turn = False  # whether the next chunk goes to the oldest group (see `_next_filling`)
        self._tools: ToolCaller | None = None
        self.trained_tools = tools or []  # the model's tools.json: which function each <api_i> is
        self.trained_words = words  # its tool_words.json: the words slips in requests are read as
        super().__init__(max_waiting)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)

    def load(self) -> dict[str, int]:
        return {"active": self._active(), "waiting": self._waiting.qsize(), "cancelled": self.cancelled}

    def _active(self) -> int:
        return len(self._batch) + sum(len(f.requests) for f in self._filling)

    def tool_caller(self) -> ToolCaller:
        """Tool calls decode greedily on a thread of their own over the same (read-only) weights, with
        the cached prompt head of `hare tools call`; concurrent ones as rows of one batch (`submit_tools`)."""
        from hare.tools.decoder import ToolCaller

        if self._tools is None:
            self._tools = ToolCaller(self.model, self.tok, self.trained_tools, words=self.trained_words)
        return self._tools

    def _serve(self) -> None:
        import torch

        while not self._stopping.is_set():
            wanted = [i for i, r in enumerate(self._batch.requests) if not r.cancelled]
            self.cancelled += len(self._batch) - len(wanted)
            self._batch.keep(wanted)
            for gone in [f for f in self._filling if all(r.cancelled for r in f.requests)]:
                self.cancelled += len(gone.requests)
                self._filling.remove(gone)
            new: list[Request] = []
            while self._active() + len(new) < self.max_batch:
                request = self._next_waiting(block=not (self._batch.requests or self._filling or new))
                if request is None:
                    break
                new.append(request)
            new = [r for r in new if self._admit(r)]
            try:
                with torch.inference_mode():
                    if new:
                        self._filling.append(self._start(new))
                    if self._filling and (filled := self._fill(group := self._next_filling())) is not None:
                        self._filling.remove(group)
                        self._batch.merge(filled)
                    if self._batch.requests:
                        self._decode()
            except Exception as err:  # a failed forward pass fails the rows in it, never the server
                log.exception("generation step failed")
                for request in [*self._batch.requests, *(r for f in self._filling for r in f.requests)]:
                    request.emit(RuntimeError(f"generation failed: {err}"))
                self._batch, self._filling = Batch(), []

    def _admit(self, request: Request) -> bool:
        """Per-row checks before a row joins the batch, so that a bad request fails alone: its random
        generator takes its seed, its prompt ids are in the vocabulary."""
        import torch

        try:
            request.state = torch.Generator()
            if request.sampling.seed is None:
                request.state.seed()
            else:
                request.state.manual_seed(request.sampling.seed)
            if not request.prompt or not 0 <= min(request.prompt) <= max(request.prompt) < self.vocab_size:
                raise ValueError(f"prompt ids must be in [0, {self.vocab_size})")
        except (RuntimeError, ValueError, OverflowError, TypeError) as err:
            request.emit(RuntimeError(f"request refused: {err}"))
            return False
        return True

    def _start(self, requests: list[Request]) -> Filling:
        """The new prompts left-padded to one width, for `_fill`."""
        import torch

        width = max(len(r.prompt) for r in requests)
        ids = torch.full((len(requests), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for row, r in enumerate(requests):
            ids[row, width - len(r.prompt):] = torch.tensor(r.prompt)
            mask[row, width - len(r.prompt):] = 1
        return Filling(requests, ids.to(self.model.device), mask.to(self.model.device))

    def _next_filling(self) -> Filling:
        """The group whose chunk comes next: the one closest to done, so that a short prompt arriving while a long
        one is prefilled joins the streams at its first step; but every other chunk goes to the oldest group, so
        a flood of short prompts cannot hold a long one back for ever."""
        self._oldest_turn = not self._oldest_turn
        return self._filling[0] if self._oldest_turn else min(self._filling, key=Filling.left)

    def _fill(self, f: Filling) -> Batch | None:
        """The next PREFILL_CHUNK columns of group `f`'s prompts; once all are in, their batch, each row's first
        token sampled."""
        end = min(f.done + PREFILL_CHUNK, f.ids.shape[1])
        out = self.model(input_ids=f.ids[:, f.done:end], attention_mask=f.mask[:, :end],
                         position_ids=f.positions[:, f.done:end], past_key_values=f.cache, use_cache=True,
                         logits_to_keep=1)
        f.done = end
        if end < f.ids.shape[1]:
            return None
        batch = Batch()
        batch.requests, batch.cache, batch.mask, batch.positions = f.requests, f.cache, f.mask, f.mask.sum(1)
        self._advance(batch, out.logits[:, -1])
        return batch

    def _decode(self) -> None:
        """One `[batch, 1]` forward for every active sequence."""
        import torch

        b = self._batch
        mask = torch.cat([b.mask, b.mask.new_ones((len(b), 1))], 1)
        out = self.model(input_ids=b.last[:, None], attention_mask=mask, position_ids=b.positions[:, None],
                         past_key_values=b.cache, use_cache=True)
        b.mask, b.positions = mask, b.positions + 1
        self._advance(b, out.logits[:, -1])

    def _advance(self, batch: Batch, logits: torch.Tensor) -> None:
        """Sample (never a call token: see `call_token_ids`), deliver, and keep the rows that go on."""
        import torch

        logits = logits.index_fill(-1, self.call_ids, float("-inf"))
        try:
            tokens: list[int | None] = list(sample(logits, batch.requests))
        except Exception:  # find the rows that fail and fail them alone; the others go on
            log.exception("sampling failed; retrying row by row")
            tokens = [self._sample_row(logits[row:row + 1], r) for row, r in enumerate(batch.requests)]
        batch.last = torch.tensor([self.pad_id if t is None else t for t in tokens], device=self.model.device)
        batch.keep([row for row, (r, t) in enumerate(zip(batch.requests, tokens, strict=True))
                    if t is not None and not r.step(t)])

    @staticmethod
    def _sample_row(logits: torch.Tensor, request: Request) -> int | None:
        """One row's token, or None when that row's own sampling fails (it is answered with the error)."""
        try:
            return sample(logits, [request])[0]
        except Exception as err:
            request.emit(RuntimeError(f"generation failed: {err}"))
            return None


def build_transformers_engine(model_dir: str, model_name: str, device: str, dtype: str, max_batch: int,
                              max_waiting: int, threads: int = 0) -> TransformersEngine:
    """Load the checkpoint and start the scheduler (on CPU with `cpu_threads(threads)` math threads)."""
    from pathlib import Path

    import torch

    from hare.model.load import load_model

    model, tok = load_model(model_dir, device, dtype)
    if model.device.type == "cpu":
        torch.set_num_threads(cpu_threads(threads))
    spec = Path(model_dir) / SPEC_FILE
    return TransformersEngine(model, tok, model_name, max_batch, max_waiting, load_spec(spec) if spec.is_file() else [],
                              load_words(Path(model_dir)))
