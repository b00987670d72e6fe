"""`hare bench tools`: one tool model on every runtime it ships to, side by side on the same queries.

The same held-out records go through torch (fp32 and bf16, the `hare tools call` path) and through
llama.cpp on GGUF files that `hare export gguf` writes here (q8_0 and q4_k_m by default) — the phone
runtime. Each row is scored by `hare tools eval`'s `score` (function, exact-call and no-call accuracy
over all records, batched where the runtime batches; latency p50/p95 of single calls, prompt to
validated result, over an even spread of `--latency-queries`), beside the weights' bytes (a GGUF's
file size, torch's parameters in their dtype) and the tokens per answer: chosen by the model, and
forced by the grammar (fed in the same pass, no choice left).

    hare bench tools --model runs/tools/final --data data/tools/val.jsonl
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import check_range, option
from hare.errors import HareError

TORCH_DTYPES = ("float32", "bfloat16")


@dataclass(kw_only=True)
class BenchToolsConfig:
    model: str = option(help="tool model directory (from `hare tools train`)")
    data: str = option(help="held-out records, e.g. data/tools/val.jsonl")
    types: list[str] = option(default_factory=lambda: ["q8_0", "q4_k_m"], help="GGUF types for llama.cpp")
    torch_dtypes: list[str] = option(default_factory=lambda: list(TORCH_DTYPES), help="torch dtypes (CPU)")
    limit: int = option(0, "use only the first N records (0: all)")
    latency_queries: int = option(50, "queries timed one call at a time per runtime")
    output: str | None = option(None, "also write the rows as JSON to this file")


def run(cfg: BenchToolsConfig) -> list[dict[str, Any]]:
    import json

    from hare.export.gguf import BLOCK, ExportGgufConfig
    from hare.export.gguf import run as export
    from hare.io.atomic import check_apart, check_output, write_text
    from hare.tools.call import load_caller
    from hare.tools.records import read_records
    from hare.tools.spec import SPEC_FILE, load_spec

    check_range("--limit", cfg.limit, 0, fix="0 uses every record")  # -1 had sliced off the last one
    if cfg.output:  # a directory there had been refused after the whole benchmark, as "--out"
        check_apart(cfg.output, [cfg.data, cfg.model], "--output")  # the data had become the result rows
        check_output(cfg.output, directory=False, flag="--output")
    unknown = [t for t in cfg.types if t not in BLOCK] + [d for d in cfg.torch_dtypes if d not in TORCH_DTYPES]
    if unknown:
        raise HareError(f"unknown type {unknown[0]!r}; GGUF types: {', '.join(BLOCK)}; torch dtypes: "
                        f"{', '.join(TORCH_DTYPES)}")
    if cfg.latency_queries < 1:
        raise HareError("--latency-queries must be at least 1")
    records = read_records(Path(cfg.data), load_spec(Path(cfg.model) / SPEC_FILE))
    records = records[: cfg.limit] if cfg.limit else records
    rows = []
    for dtype in cfg.torch_dtypes:
        caller = load_caller(cfg.model, device="cpu", dtype=dtype)
        weights = sum(p.numel() * p.element_size() for p in caller.model.parameters())
        rows.append(_row(f"torch {dtype}", caller, records, cfg.latency_queries, weights))
        del caller
    with tempfile.TemporaryDirectory(prefix="hare-bench-tools-") as tmp:
        for kind in cfg.types:
            gguf = export(ExportGgufConfig(model=cfg.model, out=str(Path(tmp) / f"tool.{kind}.gguf"), type=kind))
            caller = load_caller(str(gguf))
            rows.append(_row(f"llama.cpp {kind}", caller, records, cfg.latency_queries, gguf.stat().st_size))
            del caller
    print(table(rows, len(records)))
    if cfg.output:
        write_text(cfg.output, json.dumps(rows, indent=1) + "\n")
    return rows


def _row(name: str, caller: Any, records: list[dict[str, Any]], latency_queries: int, weight_bytes: int) -> dict:
    from hare.tools.evaluate import score

    report = score(caller, records, latency_queries=latency_queries)
    keys = ("function_accuracy", "exact_call_accuracy", "no_call_accuracy", "latency_ms_p50", "latency_ms_p95",
            "chosen_tokens", "forced_tokens")
    return {"runtime": name, **{k: report[k] for k in keys}, "weight_bytes": weight_bytes}


def table(rows: list[dict[str, Any]], queries: int) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} %"

    lines = [f"{queries} held-out queries; latency = one call, prompt to validated result",
             "| runtime | function | exact | no-call | p50 ms | p95 ms | weights MB | tokens chosen + forced |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['runtime']} | {pct(r['function_accuracy'])} | {pct(r['exact_call_accuracy'])} | "
              f"{pct(r['no_call_accuracy'])} | {r['latency_ms_p50']:.0f} | {r['latency_ms_p95']:.0f} | "
              f"{r['weight_bytes'] / 1e6:,.0f} | {r['chosen_tokens']:.1f} + {r['forced_tokens']:.1f} |" for r in rows]
    return "\n".join(lines)
