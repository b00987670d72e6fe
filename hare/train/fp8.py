"""FP8 training as a model transform: torchao's float8 linear layers (the modern Transformer Engine).

`convert_to_float8_training` swaps `nn.Linear` for `Float8Linear`, which casts activations, weights
and gradients to float8 with dynamic per-tensor scales and runs `torch._scaled_mm`; master weights and
the optimizer stay in high precision. The output head is left alone (its logits are the most
precision-sensitive matmul, and Transformer Engine recipes exclude it too), as is any layer whose
dimensions are not multiples of 16, which float8 kernels require. Float8 matrix units exist on GPUs
of compute capability 8.9+ (Ada, Hopper, Blackwell); elsewhere `emulate=True` runs the same graph
with emulated float8 matmuls — real numerics, far slower — so CPU tests can check the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hare.errors import HareError
from hare.io.extras import import_extra

if TYPE_CHECKING:
    import torch
    from torch import nn


def check_hardware(device: torch.device) -> None:
    import torch

    if device.type != "cuda":
        raise HareError(
            f"--fp8 needs a GPU with float8 matrix units (compute capability >= 8.9); this run is on {device.type}. "
            "Drop train.fp8, or add train.fp8_emulate=true to exercise the fp8 code path slowly"
        )
    capability = torch.cuda.get_device_capability(device)
    if capability < (8, 9):
        raise HareError(
            f"--fp8 needs compute capability >= 8.9 (Ada/Hopper); {torch.cuda.get_device_name(device)} has "
            f"{capability[0]}.{capability[1]}. Drop train.fp8 or use train.fp8_emulate=true"
        )


def apply_fp8(model: nn.Module, device: torch.device, emulate: bool) -> int:
    """Convert eligible linear layers in place; returns how many were converted."""
    from torch import nn

    if not emulate:
        check_hardware(device)
    float8 = import_extra("torchao.float8", "quant", "fp8 training")

    def eligible(module: nn.Module, fqn: str) -> bool:
        if not isinstance(module, nn.Linear) or fqn.split(".")[-1] == "lm_head":
            return False
        return module.in_features % 16 == 0 and module.out_features % 16 == 0

    before = sum(isinstance(m, nn.Linear) for m in model.modules())
    float8.convert_to_float8_training(model, config=float8.Float8LinearConfig(emulate=emulate),
                                      module_filter_fn=eligible)
    return before - sum(type(m) is nn.Linear for m in model.modules())
