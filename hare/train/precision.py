"""`precision=auto`: train in whichever of bf16 and fp32 this machine multiplies faster.

CPUs disagree: a Xeon with AMX runs bf16 matmuls at ~3× fp32, one with AVX-512 but no AMX or
AVX512-BF16 (most laptops too) at a third of fp32, and `torch.ops.mkldnn._is_mkldnn_bf16_supported()`
says True on both. So on a CPU both are measured once (two 1024² matmuls each, under a second) and
the answer is cached per CPU model and torch version in `$HARE_CACHE/precision.json`; GPUs use bf16
where they support it.
"""

from __future__ import annotations

import json
import os
import platform
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


def _measure_cpu() -> tuple[str, str]:
    import torch

    from hare.train.metrics import measure_peak_flops

    cpu = torch.device("cpu")
    fp32 = measure_peak_flops(cpu, torch.float32, size=1024, repeats=3)
    bf16 = measure_peak_flops(cpu, torch.bfloat16, size=1024, repeats=3)
    choice = "bf16" if bf16 > 1.1 * fp32 else "fp32"
    return choice, f"measured on this CPU: bf16 {bf16 / 1e9:.0f} vs fp32 {fp32 / 1e9:.0f} GFLOP/s"


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
    key = f"{_cpu_name()} | torch {torch.__version__} | {torch.get_num_threads()} threads"
    from hare.model.gguf_input import cache_root

    path = cache_root() / "precision.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = list(_measure_cpu())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(known, indent=1) + "\n")
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs the measurement next time
    choice, why = known[key]
    return choice, why
