"""`hare tools call`: one query in, the validated function calls out, as JSON.

    hare tools call --model runs/tools/final "take a selfie"
    [{"name": "take_a_photo", "arguments": {"camera": "front"}}]
    hare tools call --model tool.q8_0.gguf "take a selfie"     # the same on llama.cpp

`load_caller` picks the runtime by the model's path: a directory runs on torch (`hare.tools.decoder`),
a `.gguf` file from `hare export gguf` on llama.cpp (`hare.tools.llama_caller`); both decode under the
same grammar with the same prompt, so they answer alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import option, positional
from hare.errors import HareError
from hare.io.read import utf8_text
from hare.tools.calls import CallError
from hare.tools.decoder import CallResult, ToolCaller

SPELLING_HELP = ("read a word the model was never taught that is one slip from one it was (\"tehrmostat\") as that "
                 "word, from MODEL/tool_words.json; values keep the typed spelling (--no-spelling: read as typed)")


def load_caller(model: str, spec: str | None = None, device: str = "auto", dtype: str = "auto",
                constrained: bool = True, copy_values: bool = True, spelling: bool = True) -> ToolCaller:
    """The tool model at `model` — a directory on torch, a `.gguf` on llama.cpp — with its spec."""
    from hare.model.gguf_input import is_gguf

    if is_gguf(Path(model)):
        from hare.tools.llama_caller import LlamaToolCaller

        return LlamaToolCaller.load(model, spec, constrained=constrained, copy_values=copy_values, spelling=spelling)
    return ToolCaller.load(model, spec, device, dtype, constrained, copy_values, spelling)


@dataclass(kw_only=True)
class ToolCallConfig:
    model: str = option(help="tool model directory (from `hare tools train`), or its .gguf (runs on llama.cpp)")
    query: list[str] = positional("the user's request(s); each prints one JSON line")
    spec: str | None = option(None, "API spec (default: MODEL/tools.json, saved by `hare tools train`)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    dtype: str = option("auto", "auto (bfloat16 on GPU; on CPU the faster of bfloat16 and float32, "
                                "measured), float32, bfloat16 or float16")
    raw: bool = option(False, "also print the model's raw output and the latency")
    constrained: bool = option(True, "decode under the spec's call grammar (valid syntax, names, enums, ranges)")
    copy_values: bool = option(True, "free-text values are spans of the query, words the user said "
                                     "(--no-copy-values: any words)")
    spelling: bool = option(True, SPELLING_HELP)


def run(cfg: ToolCallConfig) -> list[CallResult]:
    if not cfg.query:
        raise HareError('pass the request to answer, e.g. hare tools call --model DIR "take a selfie"')
    for i, query in enumerate(cfg.query):
        utf8_text(query, f"request {i + 1}")
    caller = load_caller(cfg.model, cfg.spec, cfg.device, cfg.dtype, cfg.constrained, cfg.copy_values, cfg.spelling)
    for query in cfg.query:  # every request checked before the first is answered
        caller.fit(query)
    results = []
    for query in cfg.query:
        result = caller(query)
        body: Any = result.calls.to_json() if isinstance(result.calls, CallError) else result.calls
        if cfg.raw:
            body = {"result": body, "raw": result.raw, "latency_ms": round(result.latency_s * 1000, 1),
                    **({"read_as": result.read_as} if result.read_as else {})}
        print(json.dumps(body, ensure_ascii=False))
        results.append(result)
    return results
