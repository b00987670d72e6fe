"""`hare bench serve`: tokens/s of a live `hare serve` for 1, 4 and 8 concurrent streams, and time to first token;
with `--tools`, tool calls/s for 1, 4 and 8 concurrent clients.

One run starts the real server (a child process, port 0) and drives it over HTTP with streaming
completions of exactly `--max-tokens` tokens (`ignore_eos`), first with one stream, then with 4 and
8 at once, so the ratios compare the same server on the same machine minutes apart. Each level is
measured `--rounds` times, alternating, and keeps its best round, so a slow spell of a shared
machine does not decide the result. Time to first token is the mean, over all streams of that
best round, from sending the request to receiving the first text.

    hare bench serve                                   # a random hare-tiny on this machine: ~1 minute
    hare bench serve --model runs/chat/final --device cuda --streams 1 8 32 --max-tokens 256
    hare bench serve --tools --model runs/quickstart/tools/final   # tool calls (chat requests with `tools`)

With `--tools` every request is a chat completion carrying the model's `tools.json` and one of a few
phone requests, answered with validated calls; the table gives calls/s and the latency per request
(mean, p50, p95) per level.
Every client sends each of the requests once per `--requests` round (starting at a different one),
so every level decodes the same mix of answers; none of them is a no-call request, whose chat reply
would be a generation, not a tool call.
Concurrent tool requests are decoded as rows of one batch (`hare.serve.tool_batching`), so the
ratio shows what batching buys. The default model with `--tools` is the quickstart's tool model
(`runs/quickstart/tools/final`): a random model's calls run to the longest the grammar allows,
which says nothing about serving real answers.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hare import quickstart
from hare.config import check_range, option
from hare.errors import HareError
from hare.io.extras import import_extra
from hare.tools.evaluate import p50_p95
from hare.tools.spec import SPEC_FILE, load_spec

QUICKSTART_TOOLS = str(Path(quickstart.OUT) / quickstart.TOOL_MODEL)


@dataclass
class BenchServeConfig:
    model: str | None = option(None, "checkpoint (or .gguf for llama.cpp) to serve; default: a random --preset "
                                     f"(--tools: {QUICKSTART_TOOLS})")
    preset: str = option("hare-tiny", "preset of the default random model")
    backend: str = option("transformers", "engine to measure: transformers, llama.cpp or vllm")
    device: str = option("auto", "device of the transformers engine")
    dtype: str = option("auto", "weights' dtype in the server (auto: bfloat16 on GPU, on CPU the faster one, measured)")
    streams: list[int] = option(help="concurrency levels to measure", default_factory=lambda: [1, 4, 8])
    max_tokens: int = option(64, "tokens generated per request")
    requests: int = option(2, "requests each stream sends one after the other, per round (--tools: rounds "
                              "of all its phone requests)")
    rounds: int = option(2, "measure every level this many times, alternating, and keep each one's best")
    prompt: str = option("The hare", "prompt of every request")
    tools: bool = option(False, "measure tool calls (chat requests with the model's tools.json) instead of streams")


TOOL_QUERIES = ["take a selfie", "what's the weather like in Paris?", "text Maria saying running late",
                "set an alarm for 6:30 am", "turn the media volume up to 8", "call +14155550132",
                "directions from home to the airport by bike"]


async def _stream_once(http: object, cfg: BenchServeConfig) -> tuple[int, float]:
    """One streaming completion: (tokens generated, seconds to the first text)."""
    body = {"prompt": cfg.prompt, "max_tokens": cfg.max_tokens, "temperature": 0.8, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    start, first, tokens = time.perf_counter(), None, 0
    async with http.stream("POST", "/v1/completions", json=body) as response:  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise HareError(f"the server answered {response.status_code}: {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            elif first is None and event["choices"] and event["choices"][0]["text"]:
                first = time.perf_counter() - start
    return tokens, first if first is not None else time.perf_counter() - start


async def _tool_once(http: object, tools: list[dict], query: str) -> tuple[int, float]:
    """One chat request with tools: (1 request, seconds to the validated calls)."""
    start = time.perf_counter()
    body = {"messages": [{"role": "user", "content": query}], "tools": tools}
    response = await http.post("/v1/chat/completions", json=body)  # type: ignore[attr-defined]
    if response.status_code not in (200, 422):  # 422: a call the spec rejects, answered all the same
        raise HareError(f"the server answered {response.status_code}: {response.text[:300]!r}")
    return 1, time.perf_counter() - start


async def _level(url: str, cfg: BenchServeConfig, streams: int,
                 tools: list[dict] | None) -> tuple[float, list[float]]:
    """`streams` concurrent clients, each sending `requests` in turn: (total tokens/s, or tool calls/s,
    and every request's time to first token, or to the answer, in s)."""
    httpx = import_extra("httpx", "serve", "hare bench serve")

    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        async def client(k: int) -> list[tuple[int, float]]:
            if tools is None:
                return [await _stream_once(http, cfg) for _ in range(cfg.requests)]
            queries = TOOL_QUERIES[k % len(TOOL_QUERIES):] + TOOL_QUERIES[:k % len(TOOL_QUERIES)]
            return [await _tool_once(http, tools, q) for _ in range(cfg.requests) for q in queries]

        start = time.perf_counter()
        results = [r for per_client in await asyncio.gather(*[client(k) for k in range(streams)]) for r in per_client]
        elapsed = time.perf_counter() - start
    return sum(t for t, _ in results) / elapsed, [f for _, f in results]


def run(cfg: BenchServeConfig) -> dict[str, float]:
    from hare.serve.launch import serve_process

    if not cfg.streams or min(cfg.streams) < 1 or cfg.max_tokens < 1 or cfg.requests < 1 or cfg.rounds < 1:
        raise HareError("need --streams >= 1, --max-tokens >= 1, --requests >= 1 and --rounds >= 1")
    # each stream is a client thread against a server that queues 64 by default: 100,000 had run for ever
    check_range("--streams", max(cfg.streams), 1, 1024, fix="the server's --max-waiting is 64")
    levels = sorted(set(cfg.streams) | {1})
    with tempfile.TemporaryDirectory() as tmp:
        model = cfg.model or (QUICKSTART_TOOLS if cfg.tools else None)
        if model is None:
            from hare.model.init import InitConfig
            from hare.model.init import run as init

            model = str(init(InitConfig(out=str(Path(tmp) / cfg.preset), preset=cfg.preset)))
        if cfg.tools and not Path(model).exists():
            raise HareError(f"no tool model at '{model}'; run `hare quickstart` (it writes {QUICKSTART_TOOLS}) or "
                            "pass --model with the output of `hare tools train`")
        if cfg.tools and not (Path(model) / SPEC_FILE).is_file():
            raise HareError(f"--tools needs a tool model with its {SPEC_FILE} (from `hare tools train`)")
        tools = [f.to_openai() for f in load_spec(Path(model) / SPEC_FILE)] if cfg.tools else None
        args = ["--model", model, "--backend", cfg.backend, "--device", cfg.device, "--dtype", cfg.dtype, "--no-ui",
                "--max-batch", str(max(levels)), "--max-tokens", str(cfg.max_tokens)]
        with serve_process(*args) as server:
            asyncio.run(_level(server.url, cfg, max(levels), tools))  # warm-up: allocator, first-call paths
            best: dict[int, tuple[float, list[float]]] = {}
            for _ in range(cfg.rounds):
                for n in levels:
                    measured = asyncio.run(_level(server.url, cfg, n, tools))
                    if n not in best or measured[0] > best[n][0]:
                        best[n] = measured
    result: dict[str, float] = {}
    unit = "tool calls" if cfg.tools else "tokens"
    print(f"\n{Path(model).name if cfg.model or cfg.tools else cfg.preset} on {cfg.backend}: "
          f"{'chat requests with tools' if cfg.tools else str(cfg.max_tokens) + ' tokens per request'}, "
          f"{cfg.requests} requests per client, best of {cfg.rounds} rounds")
    wait, name = ("latency", "latency") if cfg.tools else ("time to first token", "ttft")
    print(f"| clients | {unit}/s | × 1 client | {wait}: mean | p50 | p95 |\n|---|---|---|---|---|---|")
    for n in levels:
        rate, waits = best[n]
        mean, p50, p95 = (1000 * x for x in (statistics.fmean(waits), *p50_p95(waits)))
        result |= {f"{'calls' if cfg.tools else 'tokens'}_per_s_{n}": rate, f"speedup_{n}": rate / best[1][0],
                   f"{name}_ms_{n}": mean, f"{name}_p50_ms_{n}": p50, f"{name}_p95_ms_{n}": p95}
        print(f"| {n} | {rate:,.1f} | {rate / best[1][0]:.2f}× | {mean:,.0f} ms | {p50:,.0f} ms | {p95:,.0f} ms |")
    if 8 in best:
        print(f"8 clients: {result['speedup_8']:.2f}× the {unit}/s of one (target ≥ 3×)")
    return result
