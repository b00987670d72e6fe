"""FP8 checkpoints at run time: the layer that holds e4m3 weights, and the loader `load_model` uses.

On CPU, and on GPUs without FP8 matmuls, each linear layer keeps its 1-byte weights in memory and
dequantises them on the fly (`Fp8Linear`: one cast, a matmul, a per-channel scale of the output).
On GPUs with FP8 tensor cores (compute capability ≥ 8.9) the layers become torchao float8 layers
with per-row scales, which run real FP8 matmuls (`torch._scaled_mm`) with dynamically scaled
activations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from hare.errors import HareError
from hare.io.extras import import_extra

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class Fp8Linear(nn.Module):
    """A bias-free linear layer holding e4m3 weights and per-output-channel scales (dequantised per call)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.float8_e4m3fn))
        self.register_buffer("weight_scale", torch.empty(out_features, 1, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.to(x.dtype)) * self.weight_scale.view(-1).to(x.dtype)

    def dequantized(self, dtype: torch.dtype) -> torch.Tensor:
        return (self.weight.float() * self.weight_scale).to(dtype)


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def _to_torchao(model: PreTrainedModel) -> None:
    """Swap each Fp8Linear for a torchao float8 layer (per-row scales): real FP8 matmuls on capable GPUs."""
    ao = import_extra("torchao.quantization", "quant", "FP8 matmuls")
    swapped = set()
    for name, module in list(model.named_modules()):
        if isinstance(module, Fp8Linear):
            linear = nn.Linear(module.in_features, module.out_features, bias=False,
                                     device=module.weight.device, dtype=torch.bfloat16)
            linear.weight.data = module.dequantized(torch.bfloat16)
            _set_module(model, name, linear)
            swapped.add(name)
    # Re-quantising an e4m3·scale weight per row recovers the same codes (its row max is 448·scale).
    ao.quantize_(model, ao.Float8DynamicActivationFloat8WeightConfig(granularity=ao.PerRow()),
                 filter_fn=lambda _, fqn: fqn in swapped)


def load_fp8(path: Path, device: str, dtype: torch.dtype) -> PreTrainedModel:
    """Load a compressed-tensors FP8 checkpoint written by `hare quantize fp8`."""
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig
    from transformers.initialization import no_init_weights

    from hare.model.load import iter_tensors

    config = AutoConfig.from_pretrained(path)
    if config.quantization_config.get("format") != "float-quantized":
        raise HareError(f"'{path}' is a compressed-tensors checkpoint but not float-quantized (FP8); "
                        "HARE loads only the FP8 checkpoints `hare quantize fp8` writes")
    del config.quantization_config
    with no_init_weights():  # every tensor is overwritten by the checkpoint's
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = dict(iter_tensors(path))
    for name in [k.removesuffix(".weight_scale") for k in state if k.endswith(".weight_scale")]:
        linear = model.get_submodule(name)
        _set_module(model, name, Fp8Linear(linear.in_features, linear.out_features))
    model.load_state_dict(state, strict=True)
    if (path / "generation_config.json").is_file():  # stop tokens (<round_end>) live there
        model.generation_config = GenerationConfig.from_pretrained(path)
    model.to(device)
    if device.startswith("cuda") and torch.cuda.get_device_capability() >= (8, 9) and dtype == torch.bfloat16:
        _to_torchao(model)
    return model
