"""Tool calls on llama.cpp: `hare tools call/eval --model tool.gguf`, the phone runtime's path.

A GGUF written by `hare export gguf` from a tool model is the whole tool model: weights, and inside
its `hare.files` key the tokenizer files and `tools.json`. The caller is `ToolCaller` with llama.cpp
doing the forward passes (through llama-cpp-python): the prompt is tokenized by the model's own
tokenizer exactly as in training, the prompt head is evaluated once and kept in llama.cpp's KV cache
(each call rewinds to it), and every token is chosen by the same call grammar (`hare.tools.grammar`)
from llama.cpp's logits, forced tokens fed in one pass. One grammar, so the torch and llama.cpp paths
accept the same language and, on the same weights, pick the same calls.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.io.extras import import_extra
from hare.tools.decoder import CallResult, ToolCaller
from hare.tools.spec import SPEC_FILE, Function, check_trained, load_spec
from hare.tools.spelling import load_words

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from transformers import PreTrainedTokenizerFast

CONTEXT = 2048  # tokens: the tool prompt, the query and the longest answer the grammar allows


class LlamaToolCaller(ToolCaller):
    """`ToolCaller` whose model is a llama.cpp context; see the module docstring."""

    # No prompt-lookup drafts: a multi-token pass costs llama.cpp on a CPU more than the steps it saves
    # (q8_0 quickstart model, 60 held-out queries: p50 112 ms without, 119-127 ms with 2-8 draft tokens).
    draft = 0
    batches = False  # llama.cpp's context here holds one sequence: concurrent calls take turns

    def __init__(self, llm: Any, tok: PreTrainedTokenizerFast, functions: list[Function], **options: Any) -> None:
        self.llm = llm
        super().__init__(None, tok, functions, **options)  # type: ignore[arg-type]

    @classmethod
    def load(cls, model: str, spec: str | None = None, device: str = "cpu", dtype: str = "auto",
             constrained: bool = True, copy_values: bool = True, spelling: bool = True) -> LlamaToolCaller:
        """The `.gguf` tool model at `model` (`device` and `dtype` are the file's: llama.cpp runs it on the CPU
        in the types it was exported with)."""
        llm = open_gguf(model, CONTEXT, os.cpu_count() or 1)
        tok, functions, words = carried(llm)
        if tok is None:
            raise HareError(f"'{model}' does not carry its tokenizer (the 'hare.files' key of `hare export gguf`); "
                            "export the tool model directory with `hare export gguf`")
        if spec is not None:
            given = load_spec(spec)
            if functions is not None:
                check_trained(given, functions, spec, model)
            functions = given
        if functions is None:
            raise HareError(f"'{model}' carries no {SPEC_FILE}; pass --spec with the API spec the model was trained on")
        return cls(llm, tok, functions, constrained=constrained, copy_values=copy_values,
                   words=words if spelling else None)

    @property
    def context_length(self) -> int:
        return self.llm.n_ctx()

    def _prefill(self, ids: list[int]) -> None:
        self.llm.reset()
        self.llm.eval(ids)

    def _cache_at(self, shared: int) -> None:
        self.llm.n_tokens = shared  # the next eval drops llama.cpp's KV cache past this point

    def _logits(self, step: list[int], cache: Any, keep: int = 1) -> torch.Tensor:
        import numpy as np
        import torch

        llama_cpp = import_extra("llama_cpp", "gguf", "tool calls on a GGUF file")
        self.llm.eval(step)
        logits = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return torch.from_numpy(np.ctypeslib.as_array(logits, shape=(1, self.llm.n_vocab())).copy())

    def batch(self, queries: list[str], functions: list[list[Function] | None] | None = None, size: int = 16,
              done: Callable[[int], None] | None = None) -> list[CallResult]:
        """One after another: a phone answers one request at a time, and llama.cpp's context holds one
        sequence here."""
        results = []
        for i, query in enumerate(queries):
            results.append(self(query, functions[i] if functions else None))
            if done:
                done(1)
        return results


def open_gguf(path: str, context: int, threads: int) -> Any:
    """A llama.cpp context on the GGUF file `path` (quiet: llama.cpp's load log is not a result)."""
    llama_cpp = import_extra("llama_cpp", "gguf", "running a GGUF file")
    if not Path(path).is_file():
        raise HareError(f"'{path}' not found; export a model with `hare export gguf --model runs/tools/final "
                        "--out tool.gguf --type q8_0`")
    try:
        return llama_cpp.Llama(model_path=path, n_ctx=context, n_threads=threads, n_threads_batch=threads,
                               verbose=False)
    except ValueError as err:
        raise HareError(f"llama.cpp cannot load '{path}' ({err}); export it again with `hare export gguf`") from None


def carried(llm: Any) -> tuple[PreTrainedTokenizerFast | None, list[Function] | None, dict[str, int] | None]:
    """The tokenizer, the spec and the training requests' word counts that a GGUF from `hare export gguf`
    carries inside (None where it carries none: files from elsewhere, or a model that is no tool model)."""
    from transformers import AutoTokenizer

    from hare.model.gguf_input import FILES_KEY, carried_files, write_carried

    files = carried_files({FILES_KEY: llm.metadata[FILES_KEY]} if FILES_KEY in llm.metadata else {})
    if "tokenizer.json" not in files:
        return None, None, None
    with tempfile.TemporaryDirectory(prefix="hare-gguf-") as tmp:
        write_carried(files, Path(tmp))
        tok = AutoTokenizer.from_pretrained(tmp)
        functions = load_spec(Path(tmp) / SPEC_FILE) if SPEC_FILE in files else None
        words = load_words(Path(tmp))
    return tok, functions, words
