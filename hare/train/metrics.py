"""Training metrics: model FLOPs and MFU, and the JSONL / TensorBoard writers.

FLOPs per trained token follow PaLM's accounting: 6·N for the matrix multiplies of forward and
backward (N = parameters that take part in matmuls, i.e. all but the input embedding lookup) plus
12·L·H·Q·T for attention scores and values (L layers, H heads, Q head dim, T sequence length).
For HARE-1.1B at T = 2048 that is ≈ 7.4 GFLOP per token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig

# Dense bf16 tensor-core peaks (FLOP/s) of common training GPUs, by a substring of the device name.
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "4090": 165e12}


def flops_per_token(config: PretrainedConfig, seq_len: int) -> float:
    from hare.model.presets import count_parameters

    matmul_params = count_parameters(config) - config.vocab_size * config.hidden_size
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attention = 12 * config.num_hidden_layers * config.num_attention_heads * head_dim * seq_len
    return 6 * matmul_params + attention


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


def peak_flops(device: torch.device, dtype: torch.dtype) -> float:
    """Per-device peak: the spec sheet for known GPUs, a measurement elsewhere."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value
    return measure_peak_flops(device, dtype)


class MetricsWriter:
    """Appends one JSON object per event to `metrics.jsonl`; mirrors scalars to TensorBoard if asked."""

    def __init__(self, out: Path, tensorboard: bool):
        self.path = out / "metrics.jsonl"
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from hare.errors import HareError

                raise HareError("log.tensorboard needs the tensorboard package: bash scripts/setup.sh train") from None
            self.tb = SummaryWriter(str(out / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(f"{record.get('kind', 'train')}/{key}", value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
