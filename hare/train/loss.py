"""Next-token loss without materialising the logits: a fused, chunked `lm_head` + cross-entropy.

With a 32k vocabulary the logits of a batch dwarf everything else a small model computes on:
8 × 256 tokens × 32,064 × 4 bytes = 263 MB of fp32 per micro-batch, written, read by log-softmax,
read and written again by its backward. On CPUs, where memory bandwidth is scarce, that traffic cost
more than the model's matrix multiplies. So, as Liger-Kernel does on GPUs, the loss is computed
chunk by chunk of tokens: each chunk's logits are formed (in the training precision, softmax in
fp32), turned into the loss and straight into the gradients of the hidden states and of the output
weights (softmax − one-hot), and dropped. Backward then only scales those stored gradients. Same
FLOPs as the plain path, a few MB of logits alive at any time. Targets of -100 (SFT prompts, padding)
are dropped before the `lm_head` matmul: in tool-calling SFT that skips most of the vocabulary work.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from hare.train.frozen_trunk import FrozenTrunk

IGNORE = -100
TINY = torch.finfo(torch.float32).tiny  # p below this would mean a loss above 87 nats
NEW_ROWS = "hare_new_rows"  # an lm_head's trained rows of new tokens, kept apart from its frozen matrix (freeze_lower)
CHUNK_ELEMENTS = 1 << 23  # logits per chunk: 8M floats = 32 MB, cache- and allocator-friendly


def _chunk(h: torch.Tensor, w: torch.Tensor, t: torch.Tensor, weight: torch.Tensor, need_grad: bool,
           rows_from: int, fused: bool = False):
    """Loss sum of one chunk and, if asked, the gradients of its hidden states and of `w`'s rows from
    `rows_from` on (the rows that train).

    `weight` is a counted token's share of the mean (1/valid-count, times its target's weight) and 0 for
    ignored ones; the chunk's loss is the weighted sum. The gradient is (p − one-hot) × weight in the
    chunk's precision, p in fp32. Eager, one fp32 softmax gives the loss (−log p[target])
    and, in place, the gradient. `fused` (under `torch.compile`) goes from the logits' log-sum-exp
    straight to the gradient instead: no chunk-sized fp32 tensor is written at all, only read passes over
    the logits and the gradient's write, which made the loss ~40 ms (~12 %) faster a step of `hare bench
    train` (65.7M logits); eager, the same lines would write fp32 copies and run slower.
    """
    logits = h @ w.T
    target = t.clamp(min=0)[:, None]
    if fused:
        lse = torch.logsumexp(logits.float(), dim=-1)
        picked = logits.gather(1, target)[:, 0].float()
        loss = ((lse - picked) * weight).sum()
        if not need_grad:
            return loss, None, None
        g = (torch.exp(logits.float() - lse[:, None]) * weight[:, None]).to(h.dtype)
        g = g.scatter(1, target, ((torch.exp(picked - lse) - 1) * weight).to(h.dtype)[:, None])  # p − 1 at t
    else:
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)  # no separate fp32 copy of the logits
        loss = -(probs.gather(1, target)[:, 0].clamp(min=TINY).log() * weight).sum()
        if not need_grad:
            return loss, None, None
        # In place: two fewer chunk-sized fp32 tensors written and read (10 % faster, bit for bit the same).
        g = probs.scatter_add_(1, target, -torch.ones_like(probs[:, :1])).mul_(weight[:, None]).to(h.dtype)
    return loss, g @ w, (g[:, rows_from:].T @ h).float()


_compiled_chunk = None


def _chunk_fn(compile: bool):
    global _compiled_chunk
    if not compile:
        return _chunk
    if _compiled_chunk is None:
        _compiled_chunk = torch.compile(functools.partial(_chunk, fused=True))
    return _compiled_chunk


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, new_rows: torch.Tensor | None,  # type: ignore[override]
                targets: torch.Tensor, compute_dtype: torch.dtype, need_grad: bool, compile: bool,
                rows_from: int, target_weights: torch.Tensor | None) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            valid = targets != IGNORE
            count = valid.sum().clamp(min=1).to(torch.float32)
            token_weight = valid / count
            if target_weights is not None:
                token_weight = token_weight * target_weights[targets.clamp(min=0)]
            w = weight.to(compute_dtype) if new_rows is None else torch.cat(
                [weight[:rows_from].to(compute_dtype), new_rows.to(compute_dtype)])
            grad_hidden = torch.empty_like(hidden) if need_grad else None
            grad_weight = torch.zeros((weight.shape[0] - rows_from, weight.shape[1]), dtype=torch.float32,
                                      device=weight.device) if need_grad else None
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            pieces = -(-hidden.shape[0] * weight.shape[0] // CHUNK_ELEMENTS)  # ceil
            chunk = -(-hidden.shape[0] // pieces)  # equal chunks: one compiled shape, not two
            body = _chunk_fn(compile)
            for start in range(0, hidden.shape[0], chunk):
                rows = slice(start, start + chunk)
                loss, g_hidden, g_weight = body(hidden[rows].to(compute_dtype), w, targets[rows],
                                                token_weight[rows], need_grad, rows_from)
                total += loss
                if need_grad:
                    grad_hidden[rows] = g_hidden  # type: ignore[index]
                    grad_weight += g_weight  # type: ignore[operator]
            if need_grad:
                ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))  # type: ignore[union-attr]
        return total

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        grad_hidden, grad_rows = ctx.saved_tensors
        grad_rows = grad_rows * grad_output
        weight_grad, rows_grad = ctx.needs_input_grad[1:3]
        return (grad_hidden * grad_output, grad_rows if weight_grad else None, grad_rows if rows_grad else None,
                None, None, None, None, None, None)


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         compute_dtype: torch.dtype = torch.float32, compile: bool = False,
                         new_rows: torch.Tensor | None = None,
                         target_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` against `targets` (-100 ignored), fused and chunked.

    `target_weights` (one per vocabulary row) counts each token as that many tokens in the sum, still over the
    number of counted tokens: a weight above 1 adds to a token's pull without taking from the others' (the
    tool recipe's `model.call_token_weight`).

    With `new_rows`, those replace `weight`'s last rows and alone get a gradient: `freeze_lower` trains
    only the output rows of the tokens it added, and keeping them apart from the frozen matrix spares
    every step a vocabulary-sized gradient and AdamW update, and every checkpoint their optimizer state
    (a quarter of a SmolLM2-135M checkpoint). Otherwise `weight` gets a gradient if it requires one (a
    frozen output layer, as under LoRA, costs only the hidden states' gradient)."""
    trained = new_rows if new_rows is not None else weight
    need_grad = torch.is_grad_enabled() and (hidden.requires_grad or trained.requires_grad)
    hidden, targets = hidden.flatten(0, -2), targets.flatten()
    keep = targets != IGNORE
    if not bool(keep.all()):  # SFT: prompts get no loss, so their lm_head matmuls are skipped, not masked
        keep[0] = keep[0] or not bool(keep.any())  # an all-ignored batch keeps one (zero-weight) row
        hidden, targets = hidden[keep], targets[keep]
    if new_rows is not None:  # the rows they replace, from here on, alone train
        rows_from = weight.shape[0] - new_rows.shape[0]
    else:
        rows_from = 0 if weight.requires_grad else weight.shape[0]
    return _LinearCrossEntropy.apply(hidden, weight, new_rows, targets, compute_dtype, need_grad, compile, rows_from,
                                     target_weights)


class CausalLMLoss(nn.Module):
    """Wraps a HF causal LM so that `forward(batch)` returns the mean next-token loss.

    Training wraps (DDP/FSDP2) this module, so the fused loss runs inside the wrapped forward.
    Its parameters are the LM's under the prefix `lm.`; checkpoints strip it (see checkpoint.py).
    `target_weights` (per vocabulary row; see `linear_cross_entropy`) is a plain attribute, not a buffer, so that
    it stays out of checkpoints.
    """

    def __init__(self, lm: PreTrainedModel, compile: bool = False, trunk: FrozenTrunk | None = None,
                 target_weights: torch.Tensor | None = None):
        super().__init__()
        self.lm, self.compile, self.trunk, self.target_weights = lm, compile, trunk, target_weights

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor, divisor: torch.Tensor | None = None,
                **model_kwargs: torch.Tensor) -> torch.Tensor:
        """Loss of `(B, T)` inputs against `(B, T)` targets (-100 ignored): the mean over counted
        targets, or their sum over `divisor` (the engine passes the global token count, so that
        micro-batches with different numbers of counted tokens still average correctly).
        `model_kwargs` go to the decoder (position_ids and a 4-D mask for packed samples), but for
        `lengths`, the rows' unpadded lengths, which only the frozen-trunk store reads."""
        lengths = model_kwargs.pop("lengths", None)
        if self.trunk is not None:
            hidden = self.trunk(input_ids, lengths, **model_kwargs)
        else:
            hidden = self.lm.model(input_ids=input_ids, use_cache=False, **model_kwargs).last_hidden_state
        dtype = torch.get_autocast_dtype(hidden.device.type) if torch.is_autocast_enabled(hidden.device.type) \
            else torch.float32
        head = self.lm.lm_head
        loss = linear_cross_entropy(hidden, head.weight, targets, dtype, self.compile, getattr(head, NEW_ROWS, None),
                                    self.target_weights)
        if divisor is None:
            return loss
        return loss * (targets != IGNORE).sum() / divisor
