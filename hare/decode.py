"""HARE's fastest torch decode path for one stream: prepacked oneDNN linears, a static KV cache, a bare loop.

Decoding one token reads every weight once, so a decoder is as fast as its matrix-vector products
stream weights from memory. On CPU, torch's default bf16 `linear` with one input row runs far
below memory bandwidth (~2 GB/s on our 2-core VMs, where a copy moves 6–12 GB/s): it converts bf16
as it computes. Reordering each weight once into oneDNN's blocked layout
(`mkldnn._reorder_linear_weight`) and multiplying with `mkldnn._linear_pointwise` is ~3× faster on
the same weights — what inductor's weight "freezing" does, without minutes of compilation.

The loop around it does no per-step work beyond the model: a static KV cache (preallocated, no
concatenation), and the argmax of each step fed straight back (no logits processors, stopping
criteria or streamer objects). `hare bench decode` measures it against `transformers.generate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


class PackedLinear(nn.Module):
    """A linear layer whose weight lives in oneDNN's blocked layout (CPU, bf16)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        # The batch-size hint 1 picks the layout for one-row (decode) inputs; larger inputs still work.
        self.register_buffer("packed_weight", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), 1))
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, "none", [None], "")


def can_pack(model: PreTrainedModel) -> bool:
    """Packing helps bf16 weights on CPUs where oneDNN has bf16 kernels (fp32 GEMV is already fast)."""
    return (model.device.type == "cpu" and model.dtype == torch.bfloat16
            and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pack_linears(model: PreTrainedModel) -> int:
    """Replace every `nn.Linear` (lm_head included) by a `PackedLinear`; returns how many, 0 if not applicable."""
    if not can_pack(model):
        return 0
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    for name in names:
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, PackedLinear(model.get_submodule(name)))
    return len(names)


def greedy_decode(model: PreTrainedModel, prompt_ids: list[int], max_new_tokens: int,
                  on_token: Callable[[int], None] | None = None) -> list[int]:
    """Greedy continuation of `prompt_ids` (no stop tokens: exactly `max_new_tokens` ids)."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=len(prompt_ids) + max_new_tokens)
    ids = torch.tensor([prompt_ids], device=model.device)
    positions = torch.arange(len(prompt_ids), device=model.device)
    out: list[int] = []
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            logits = model(input_ids=ids, past_key_values=cache, cache_position=positions, use_cache=True).logits
            ids = logits[:, -1:].argmax(-1)
            out.append(int(ids))
            if on_token is not None:
                on_token(out[-1])
            positions = positions[-1:] + 1
    return out
