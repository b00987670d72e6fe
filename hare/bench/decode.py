"""`hare bench decode`: single-stream decode tokens/s of one model through four engines, beside the bandwidth bound.

Decoding one token reads every weight once (the KV cache is small at short contexts), so no
engine beats memory bandwidth ÷ weight bytes per token. This bench measures, in one process and
for the same weights:

- transformers bf16: `model.generate`, greedy, as a user would call it;
- HARE: its fastest torch path (`hare/decode.py`: prepacked oneDNN bf16 linears, static KV cache);
- llama.cpp q8_0 and q4_k_m through llama-cpp-python, on GGUF files written by `hare export gguf`;

and the machine's bandwidth (a large tensor copy: bytes of the source per second — the convention
under which llama.cpp F16 reaches ≈ 1.0 of its bound on our machines). Each engine's row shows its
tokens/s as a fraction of the bound for its own weight bytes (every weight but the embedding table,
of which a token reads one row). Tokens/s is 1 / the median gap between decoded tokens (the prompt's
prefill excluded), and the engines alternate for `--rounds` rounds keeping each one's best, so a
slow spell of a shared machine does not decide a ratio. Targets: HARE ≥ 0.9 of the bound for
hare-1.1b on CPU, each quantized llama.cpp path ≥ 0.9 of its own.

    hare bench decode                       # hare-1.1b, random weights: ~10 minutes on 2 cores
    hare bench decode --model runs/chat/final --new-tokens 64
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.config import check_range, option
from hare.errors import HareError
from hare.io.extras import import_extra

if TYPE_CHECKING:
    from transformers import PreTrainedModel

PROMPT = "The hare is a fast animal that lives in open fields. In winter it eats bark and"
GGUF_TYPES = ("q8_0", "q4_k_m")


@dataclass
class BenchDecodeConfig:
    preset: str = option("hare-1.1b", "model preset to benchmark with random weights (ignored with --model)")
    model: str | None = option(None, "checkpoint directory to benchmark instead of a random preset")
    new_tokens: int = option(32, "tokens decoded per engine and round")
    rounds: int = option(2, "alternate the engines this many times and keep each one's best")
    threads: int = option(0, "CPU threads for torch and llama.cpp; 0: all cores this process may use")
    llama_cpp: bool = option(True, "include llama.cpp q8_0 / q4_k_m (needs the gguf extra)")

    def validate(self) -> None:  # torch.set_num_threads(-1) was a RuntimeError after the model was built
        check_range("--threads", self.threads, 0, 4096, fix="0 uses every core this process may use")
        check_range("--new-tokens", self.new_tokens, 3, 4096, fix="the median gap needs at least 3 tokens")
        check_range("--rounds", self.rounds, 1, 100)


def copy_bandwidth(nbytes: int = 1 << 29, repeats: int = 5) -> float:
    """Bytes per second of a large tensor copy (source bytes / time, best of `repeats`)."""
    import torch

    src = torch.ones(nbytes // 4)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return nbytes / best


def decode_rate(times: list[float]) -> float:
    """Tokens/s from the timestamps of decoded tokens: the first token's gap includes the prefill."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return 1.0 / statistics.median(gaps)


def torch_weight_bytes(model: PreTrainedModel) -> int:
    embedding = model.get_input_embeddings().weight
    return sum(p.numel() * p.element_size() for p in model.parameters() if p is not embedding)


def time_transformers(model: PreTrainedModel, prompt: list[int], new_tokens: int) -> float:
    import torch
    from transformers.generation.streamers import BaseStreamer

    class Clock(BaseStreamer):
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    clock = Clock()
    with torch.inference_mode():
        model.generate(torch.tensor([prompt]), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=False, pad_token_id=0, streamer=clock)
    return decode_rate(clock.times[1:])  # the first put() is the prompt


def time_hare(model: PreTrainedModel, prompt: list[int], new_tokens: int) -> float:
    from hare.decode import greedy_decode

    times: list[float] = []
    greedy_decode(model, prompt, new_tokens, on_token=lambda _: times.append(time.perf_counter()))
    return decode_rate(times)


def time_llama(llm: Any, prompt: list[int], new_tokens: int) -> float:
    times: list[float] = []
    for _ in llm.generate(prompt, temp=0.0, reset=True):
        times.append(time.perf_counter())
        if len(times) == new_tokens:
            break
    return decode_rate(times)


def gguf_weight_bytes(path: Path) -> int:
    gguf = import_extra("gguf", "gguf", "llama.cpp rows of the decode bench")
    return sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors if t.name != "token_embd.weight")


def _engines(model_dir: Path, tmp: Path, cfg: BenchDecodeConfig, threads: int) -> dict[str, tuple[int, Callable]]:
    """Engine name → (weight bytes per token, function(prompt, n) → tokens/s)."""
    from hare.decode import pack_linears
    from hare.model.load import load_model

    reference, _ = load_model(str(model_dir), "cpu", "bfloat16")
    fast, _ = load_model(str(model_dir), "cpu", "bfloat16")
    packed = pack_linears(fast)
    engines: dict[str, tuple[int, Callable]] = {
        "transformers bf16": (torch_weight_bytes(reference), lambda p, n: time_transformers(reference, p, n)),
        f"HARE bf16 ({'packed oneDNN' if packed else 'eager'} + static cache)":
            (torch_weight_bytes(reference), lambda p, n: time_hare(fast, p, n)),
    }
    if cfg.llama_cpp:
        from hare.export.gguf import ExportGgufConfig
        from hare.export.gguf import run as export

        llama_cpp = import_extra("llama_cpp", "gguf", "llama.cpp rows of the decode bench")
        for gguf_type in GGUF_TYPES:
            path = export(ExportGgufConfig(model=str(model_dir), out=str(tmp / f"{gguf_type}.gguf"), type=gguf_type))
            llm = llama_cpp.Llama(str(path), n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
            engines[f"llama.cpp {gguf_type}"] = (gguf_weight_bytes(path), lambda p, n, llm=llm: time_llama(llm, p, n))
    return engines


def run(cfg: BenchDecodeConfig) -> dict[str, dict[str, float]]:
    import torch

    from hare.model.load import check_checkpoint_dir, load_tokenizer

    cfg.validate()
    threads = cfg.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if cfg.model:
            model_dir = check_checkpoint_dir(cfg.model)
            if model_dir is None:
                raise HareError(f"'{cfg.model}' is not a local directory; the bench reads a local checkpoint")
        else:
            from hare.model.init import InitConfig
            from hare.model.init import run as init

            model_dir = init(InitConfig(out=str(tmp / cfg.preset), preset=cfg.preset, dtype="bfloat16"))
        prompt = load_tokenizer(str(model_dir))(PROMPT).input_ids
        engines = _engines(model_dir, tmp, cfg, threads)
        bandwidth, rates = 0.0, dict.fromkeys(engines, 0.0)
        for _ in range(cfg.rounds):  # alternating, so a slow spell of the machine hits every engine
            bandwidth = max(bandwidth, copy_bandwidth())
            for name, (_, measure) in engines.items():
                rates[name] = max(rates[name], measure(prompt, cfg.new_tokens))
    result = {name: {"weight_bytes": weight_bytes, "tokens_per_s": rates[name],
                     "bound_tokens_per_s": bandwidth / weight_bytes,
                     "fraction_of_bound": rates[name] * weight_bytes / bandwidth}
              for name, (weight_bytes, _) in engines.items()}
    print(f"\n{cfg.model or cfg.preset}: greedy decode of {cfg.new_tokens} tokens after a {len(prompt)}-token prompt, "
          f"{threads} threads, best of {cfg.rounds} rounds; copy bandwidth {bandwidth / 1e9:.2f} GB/s")
    print("| engine | weight bytes/token | tokens/s | bound tokens/s | of bound |\n|---|---|---|---|---|")
    for name, row in result.items():
        print(f"| {name} | {row['weight_bytes'] / 1e6:,.1f} MB | {row['tokens_per_s']:,.2f} | "
              f"{row['bound_tokens_per_s']:,.2f} | {row['fraction_of_bound']:.2f} |")
    print("targets: HARE ≥ 0.90 of the bound (hare-1.1b, CPU); each llama.cpp quantized path ≥ 0.90 of its own")
    return result
