"""Training metrics: model FLOPs and MFU, and the JSONL / TensorBoard writers.

FLOPs per trained token follow PaLM's accounting: 6·N for the matrix multiplies of forward and
backward (N = parameters that take part in matmuls, i.e. all but the input embedding lookup) plus
12·L·H·Q·T for attention scores and values (L layers, H heads, Q head dim, T sequence length).
For HARE-1.1B at T = 2048 that is ≈ 7.4 GFLOP per token.
"""

from __future__ import annotations

import json
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


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """(per-device peak FLOP/s, where it comes from): the spec sheet for known GPUs, elsewhere the
    matmul rate measured once on this machine (cached beside `precision=auto`'s choice), or here."""
    import torch

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value, f"{name} spec sheet, dense bf16"
    if device.type == "cpu" and dtype in (torch.bfloat16, torch.float32):
        from hare.model.precision import cpu_rates

        kind = "bf16" if dtype == torch.bfloat16 else "fp32"
        return cpu_rates()[kind], f"{kind} matmul measured on this CPU"
    from hare.model.precision import measure_peak_flops

    return measure_peak_flops(device, dtype), f"{dtype} matmul measured now"


def cpu_attention_flops() -> dict[Any, Any]:
    """Counter formulas for the CPU's fused attention, which torch's table lacks (it has CUDA's)."""
    import torch
    from torch.utils import flop_counter

    aten = torch.ops.aten

    def forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return flop_counter.sdpa_flop_count(query, key, value)

    def backward(grad: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return flop_counter.sdpa_backward_flop_count(grad, query, key, value)

    return {aten._scaled_dot_product_flash_attention_for_cpu: forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}


class MetricsWriter:
    """Appends one JSON object per event to `metrics.jsonl`; mirrors scalars to TensorBoard if asked.

    A run that starts at step `start` (0, or the checkpoint it resumes from) first drops the records of
    later steps: the killed run logged them, and the resumed run logs them again, so without the cut
    plots and averages would count those steps twice."""

    def __init__(self, out: Path, tensorboard: bool, start: int = 0):
        self.path = out / "metrics.jsonl"
        self._keep_until(start)
        self.tb = None
        if tensorboard:
            from hare.io.extras import import_extra

            tensorboard = import_extra("torch.utils.tensorboard", "train", "log.tensorboard")
            self.tb = tensorboard.SummaryWriter(str(out / "tensorboard"))

    def _keep_until(self, step: int) -> None:
        from hare.io.atomic import write_text

        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines()
        kept = [line for line in lines if _step_of(line) <= step]
        if len(kept) < len(lines):
            write_text(self.path, "".join(line + "\n" for line in kept))

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


def _step_of(line: str) -> float:
    """The step a metrics line records; an unreadable line (a write cut short by a kill) counts as after all."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
