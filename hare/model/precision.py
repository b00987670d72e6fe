"""`precision=auto`: train in whichever of bf16 and fp32 this machine multiplies faster.

CPUs disagree: a Xeon with AMX runs bf16 matmuls at ~3× fp32, one with AVX-512 but no AMX or
AVX512-BF16 (most laptops too) at a third of fp32, and `torch.ops.mkldnn._is_mkldnn_bf16_supported()`
says True on both. So on a CPU both are measured once (1024² matmuls in turns for half a second) and
the answer is cached per CPU model and torch version in `$HARE_CACHE/precision.json` (measured again
on request: `cpu_rates(refresh=True)`); GPUs use bf16 where they support it.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_peak_flops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Achieved FLOP/s of a large square matmul: this machine's practical peak for MFU on CPU."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up (oneDNN/cuBLAS kernel selection)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def _measure_cpu(seconds: float = 0.5, rounds: int = 3) -> dict[str, float]:
    """bf16 and fp32 matmul rates (FLOP/s) of this CPU: the best of short timings of 1024² products, taken in
    turns for `seconds` (and at least `rounds` of each). One timing lasts milliseconds, so one burst of other
    work reads as a slow CPU: best of two back to back, a quickstart of 2026-12-05 read bf16 231 and fp32 92
    GFLOP/s on a CPU that measured 400 and 190 in the seconds before and after, and fitted its run to that."""
    import torch

    cpu = torch.device("cpu")
    best = {"fp32": 0.0, "bf16": 0.0}
    start, done, slow = time.perf_counter(), 0, set()
    while done < rounds or time.perf_counter() - start < seconds:
        for dtype, name in (("fp32", "float32"), ("bf16", "bfloat16")):
            if dtype in slow:
                continue
            began = time.perf_counter()
            best[dtype] = max(best[dtype], measure_peak_flops(cpu, getattr(torch, name), size=1024, repeats=3))
            # A timing of over a second is no burst (they last milliseconds): bf16 on an AVX2-only CPU (0.7
            # GFLOP/s, 12 s a timing) is known after one, and three had cost every quickstart there half a minute.
            if time.perf_counter() - began > 1.0:
                slow.add(dtype)
        done += 1
    return best


def cpu_rates(refresh: bool = False) -> dict[str, float]:
    """This CPU's measured bf16/fp32 matmul FLOP/s, measured once per CPU model, torch version and thread
    count and cached in `$HARE_CACHE/precision.json`; `refresh` measures again and replaces the record.

    One measurement taken while something else ran (a test suite, a browser) reads low, and a cache
    keeps that reading: on 2026-12-05 a record of bf16 210 GFLOP/s, taken on a busy moment, stood for a
    CPU measuring 400, so every later quickstart set aside 140 s for an evaluation that took 80. Work
    that plans wall-clock time by the rate (the quickstart) therefore refreshes it first."""
    import torch

    from hare.io.atomic import write_text
    from hare.model.gguf_input import cache_root

    key = f"{_cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    path = cache_root() / "precision.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if refresh or not isinstance(known.get(key), dict):  # absent, or a record of the older [choice, why] form
        known[key] = _measure_cpu()
        try:
            write_text(path, json.dumps(known, indent=1) + "\n")
        except OSError:
            pass  # an unwritable cache only costs the measurement next time
    return known[key]


def resolve(precision: str, device: torch.device) -> tuple[str, str]:
    """(`bf16` or `fp32`, why): `auto` becomes the faster one for `device`; the others are kept as asked."""
    import torch

    if precision != "auto":
        return precision, "as configured"
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ("bf16" if ok else "fp32"), f"{'bf16' if ok else 'no bf16'} on {torch.cuda.get_device_name(device)}"
    if device.type != "cpu":
        return "fp32", f"fp32 on {device.type}"
    rates = cpu_rates()
    choice = "bf16" if rates["bf16"] > 1.1 * rates["fp32"] else "fp32"
    return choice, f"measured on this CPU: bf16 {rates['bf16'] / 1e9:.0f} vs fp32 {rates['fp32'] / 1e9:.0f} GFLOP/s"
