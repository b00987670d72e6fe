"""`hare quantize`: GPTQ and FP8 checkpoints, and how every command loads them.

Importing the package registers a loader per format with `hare.model.load` (by the `quant_method`
of config.json), so `generate`, `chat`, `serve` and the evaluations take a quantized checkpoint like
any other; `hare.cli` imports it before running a command. The loaders import their heavy
libraries (torch kernels, GPTQModel) only when a checkpoint of theirs is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hare.model.load import register_quantized_loader

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel


def _load_gptq(path: Path, device: str, dtype: torch.dtype) -> PreTrainedModel:
    from hare.quantize.gptq import load_gptq

    return load_gptq(path, device, dtype)


def _load_fp8(path: Path, device: str, dtype: torch.dtype) -> PreTrainedModel:
    from hare.quantize.fp8_linear import load_fp8

    return load_fp8(path, device, dtype)


register_quantized_loader("gptq", _load_gptq)
register_quantized_loader("compressed-tensors", _load_fp8)
