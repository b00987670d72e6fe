"""The frozen lower layers' outputs, computed once per training row and reused every later epoch.

With `model.freeze_layers=N` the embeddings and layers below N never change, so what they make of a
row is the same in every epoch. Recomputing it is most of a step's cost on a CPU (SmolLM2-135M with
20 of 30 layers frozen: the frozen forward is ~40 % of a step); stored, every epoch after the first
runs only the trained layers. A row is identified by its tokens, positions and attention mask up to
its true length (padding, which depends on the micro-batch it lands in, is not part of it), and its
lower part is computed alone, at batch size one: the stored value never depends on which rows share
its micro-batch, so a resumed run (empty store) gets bit-identical hidden states. What the store
holds is bounded by `model.cache_frozen_gib`; rows beyond it are recomputed each time.

Only decoders that apply nothing between the embedding and the first layer are supported (Llama,
Mistral, Qwen2/3; Gemma scales the embeddings in its forward), and only in one process or under DDP;
FSDP2 and torch.compile runs recompute (`supports`).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from transformers import PreTrainedModel

MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")


def supports(model: PreTrainedModel, parallel: str, compile: bool) -> bool:
    return model.config.model_type in MODEL_TYPES and parallel == "ddp" and not compile


class FrozenTrunk:
    """Last hidden states of a decoder whose layers below `split` are frozen, their part memoised."""

    def __init__(self, lm: PreTrainedModel, split: int, budget_bytes: int) -> None:
        self.decoder, self.split, self.budget = lm.model, split, budget_bytes
        self.lower_layers, self.upper_layers = lm.model.layers[:split], lm.model.layers[split:]
        self.store: dict[bytes, torch.Tensor] = {}
        self.used = self.hits = self.misses = 0

    @contextlib.contextmanager
    def _only(self, layers: nn.ModuleList, norm: bool) -> Iterator[None]:
        """The decoder with just `layers` (and the final norm or not), so its own forward builds the
        masks and rotary embeddings exactly as in a full pass."""
        full, final = self.decoder.layers, self.decoder.norm
        self.decoder.layers = layers
        if not norm:
            self.decoder.norm = nn.Identity()
        try:
            yield
        finally:
            self.decoder.layers, self.decoder.norm = full, final

    def _lower(self, row: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad(), self._only(self.lower_layers, norm=False):
            return self.decoder(**row, use_cache=False).last_hidden_state[0]

    def __call__(self, input_ids: torch.Tensor, lengths: torch.Tensor | None = None,
                 **kwargs: torch.Tensor) -> torch.Tensor:
        """The decoder's `last_hidden_state` for `input_ids` (B, T) and its `kwargs` (position_ids and a
        4-D attention mask for packed rows); `lengths` are the rows' true lengths (default: all T)."""
        width = input_ids.shape[1]
        lower = input_ids.new_zeros((*input_ids.shape, self.decoder.config.hidden_size), dtype=torch.float32)
        for b in range(input_ids.shape[0]):
            n = width if lengths is None else int(lengths[b])
            row = {"input_ids": input_ids[b:b + 1, :n]}
            if "position_ids" in kwargs:
                row["position_ids"] = kwargs["position_ids"][b:b + 1, :n]
            if "attention_mask" in kwargs:
                mask = kwargs["attention_mask"][b:b + 1]
                row["attention_mask"] = mask[..., :n, :n] if mask.dim() == 4 else mask[:, :n]
            key = hashlib.blake2b(b"".join(t.cpu().numpy().tobytes() for t in row.values())).digest()
            hidden = self.store.get(key)
            if hidden is None:
                self.misses += 1
                hidden = self._lower(row)
                if self.used + hidden.nbytes <= self.budget:
                    self.store[key] = hidden
                    self.used += hidden.nbytes
            else:
                self.hits += 1
            lower[b, :n] = hidden
        with self._only(self.upper_layers, norm=True):
            return self.decoder(inputs_embeds=lower, use_cache=False, **kwargs).last_hidden_state

