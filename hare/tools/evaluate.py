"""`hare tools eval`: how often a tool model calls the right functions with the right arguments.

    hare tools eval --model runs/tools/final --data data/tools/val.jsonl [--json] [--output report.json]

Per query (`{"query", "calls"}` lines; an empty list means no call is expected):
- function accuracy: the called functions are the expected ones, each as often (a malformed answer is wrong;
  one function twice where two were asked for, or once where it was asked for twice, is wrong too);
- exact-call accuracy: names and arguments equal after normalisation (defaults filled, strings
  stripped and compared case-insensitively, numbers by value; call order ignored);
- no-call accuracy: among queries that expect no call, the share answered with none;
- latency p50/p95 of one call, tokenization to validated result, timed on its own over an even
  spread of `--latency-queries` queries (the accuracy pass decodes `--batch` queries together, which
  is faster in all but says nothing about one call's latency);
and the failures, each with expected and produced calls. Records carrying a `kind` (as `hare tools
data` writes) are also scored per kind.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import check_range, option
from hare.errors import HareError
from hare.io.atomic import check_apart, check_output, write_text
from hare.tools.call import SPELLING_HELP, load_caller
from hare.tools.calls import Call, CallError, normalize
from hare.tools.decoder import ToolCaller
from hare.tools.records import read_records


@dataclass(kw_only=True)
class ToolEvalConfig:
    model: str = option(help="tool model directory (from `hare tools train`), or its .gguf (runs on llama.cpp)")
    data: str = option(help="JSONL of {\"query\", \"calls\"} records, e.g. data/tools/val.jsonl")
    spec: str | None = option(None, "API spec (default: MODEL/tools.json)")
    limit: int = option(0, "evaluate only the first N records (0: all)")
    json: bool = option(False, "print the report as JSON instead of a table")
    output: str | None = option(None, "also write the JSON report (with every failure) to this file")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    constrained: bool = option(True, "decode under the spec's call grammar, as `hare tools call` does")
    copy_values: bool = option(True, "free-text values are spans of the query, as `hare tools call` decodes them "
                                     "(--no-copy-values: any words)")
    spelling: bool = option(True, SPELLING_HELP)
    batch: int = option(16, "queries decoded together in the accuracy pass (1: one at a time)")
    latency_queries: int = option(50, "queries timed one call at a time for the latency figures")


def score(caller: ToolCaller, records: list[dict[str, Any]], progress: bool = True, batch: int = 16,
          latency_queries: int = 50) -> dict[str, Any]:
    from tqdm import tqdm

    queries = [r["query"] for r in records]
    for line, query in enumerate(queries, 1):
        try:
            caller.fit(query)
        except HareError as err:
            raise HareError(f"record {line}: {err}") from None
    with tqdm(total=len(records), desc="tool calls", unit="query", disable=not progress) as bar:
        results = caller.batch(queries, size=batch, done=bar.update)
    rows = []
    for record, result in zip(records, results, strict=True):
        expected = record["calls"]
        got = result.calls
        names_ok = functions_match(got, expected)
        exact = names_ok and normalize(got, caller.functions) == normalize(expected, caller.functions)
        rows.append({"query": record["query"], "kind": record.get("kind", "all"), "expected": expected,
                     "got": got.to_json() if isinstance(got, CallError) else got, "function_ok": names_ok,
                     "exact": exact, "no_call_expected": not expected})
    timed = records[:: max(1, len(records) // latency_queries)][:latency_queries] if batch > 1 else []
    latencies = [caller(r["query"]).latency_s for r in timed] if timed else [r.latency_s for r in results]
    report = summarize(rows, latencies)
    report["chosen_tokens"] = sum(r.new_tokens - r.forced_tokens for r in results) / max(1, len(results))
    report["forced_tokens"] = sum(r.forced_tokens for r in results) / max(1, len(results))
    return report


def functions_match(got: list[Call] | CallError, expected: list[Call]) -> bool:
    """The same functions, each called as often: by name sets, a wrong second call of a function already
    called (or a dropped one of two calls to the same function) had counted as right."""
    return not isinstance(got, CallError) and sorted(c["name"] for c in got) == sorted(c["name"] for c in expected)


def p50_p95(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (interpolated between the nearest ranks; one value: itself twice) — the one
    rule for every latency HARE reports (`hare tools eval`, `hare bench tools`, `hare bench serve`)."""
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    return statistics.median(values), p95


def summarize(rows: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    def rate(items: list[dict[str, Any]], key: str) -> float | None:
        return sum(r[key] for r in items) / len(items) if items else None

    no_call = [r for r in rows if r["no_call_expected"]]
    kinds = sorted({r["kind"] for r in rows})
    p50, p95 = (1000 * t for t in p50_p95(latencies)) if latencies else (None, None)
    return {
        "queries": len(rows),
        "function_accuracy": rate(rows, "function_ok"),
        "exact_call_accuracy": rate(rows, "exact"),
        "no_call_accuracy": rate(no_call, "exact"),
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "latency_calls": len(latencies),
        "by_kind": {k: {"queries": sum(r["kind"] == k for r in rows),
                        "function_accuracy": rate([r for r in rows if r["kind"] == k], "function_ok"),
                        "exact_call_accuracy": rate([r for r in rows if r["kind"] == k], "exact")} for k in kinds},
        "failures": [{k: r[k] for k in ("query", "expected", "got")} for r in rows if not r["exact"]],
    }


def table(report: dict[str, Any], shown_failures: int = 10) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f} %"

    lines = [f"queries              {report['queries']}",
             f"function accuracy    {pct(report['function_accuracy'])}",
             f"exact-call accuracy  {pct(report['exact_call_accuracy'])}",
             f"no-call accuracy     {pct(report['no_call_accuracy'])}",
             f"latency p50 / p95    {report['latency_ms_p50']:.1f} / {report['latency_ms_p95']:.1f} ms "
             f"({report['latency_calls']} calls, one at a time)",
             f"tokens per answer    {report['chosen_tokens']:.1f} chosen + {report['forced_tokens']:.1f} forced "
             "by the grammar"]
    if len(report["by_kind"]) > 1:
        lines += [f"  {k:<12} {v['queries']:>5} queries  function {pct(v['function_accuracy'])}  "
                  f"exact {pct(v['exact_call_accuracy'])}" for k, v in report["by_kind"].items()]
    failures = report["failures"]
    if failures:
        lines.append(f"failures ({len(failures)}; first {min(shown_failures, len(failures))}):")
        for f in failures[:shown_failures]:
            lines += [f"  {f['query']!r}", f"    expected {json.dumps(f['expected'])}",
                      f"    got      {json.dumps(f['got'])}"]
    return "\n".join(lines)


def run(cfg: ToolEvalConfig) -> dict[str, Any]:
    if cfg.output:  # before the model loads: a directory there, a path that cannot be written, or the data read
        check_output(cfg.output, directory=False, flag="--output")
        check_apart(cfg.output, [cfg.data, cfg.model, *([cfg.spec] if cfg.spec else [])], "--output")
    check_range("--limit", cfg.limit, 0, fix="0 evaluates every record")  # -1 had sliced off the last one
    if cfg.batch < 1 or cfg.latency_queries < 1:  # before the model's seconds of loading
        raise HareError("--batch and --latency-queries must be at least 1")
    caller = load_caller(cfg.model, cfg.spec, cfg.device, constrained=cfg.constrained, copy_values=cfg.copy_values,
                         spelling=cfg.spelling)
    records = read_records(Path(cfg.data), caller.functions)
    report = score(caller, records[: cfg.limit] if cfg.limit else records, batch=cfg.batch,
                   latency_queries=cfg.latency_queries)
    print(json.dumps(report, indent=1) if cfg.json else table(report))
    if cfg.output:
        write_text(cfg.output, json.dumps(report, indent=1) + "\n")
    return report
