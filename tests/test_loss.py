"""The fused, chunked lm_head + cross-entropy equals the plain computation, values and gradients."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("compile", [False, True])
def test_fused_loss_matches_plain_cross_entropy(compile):
    """Eager (one fp32 softmax) and compiled (log-sum-exp straight to the gradient) alike."""
    import torch
    import torch.nn.functional as F

    import hare.train.loss as loss

    torch.manual_seed(0)
    hidden = torch.randn(300, 64, requires_grad=True)
    weight = (torch.randn(1000, 64) * 0.1).requires_grad_()
    targets = torch.randint(0, 1000, (300,))
    targets[::7] = loss.IGNORE
    reference = F.cross_entropy(hidden @ weight.T, targets, ignore_index=loss.IGNORE)
    grads = torch.autograd.grad(reference * 3, (hidden, weight))
    saved = loss.CHUNK_ELEMENTS
    loss.CHUNK_ELEMENTS = 64 * 1000  # several chunks, the last one partial
    try:
        fused = loss.linear_cross_entropy(hidden, weight, targets, compile=compile)
        fused_grads = torch.autograd.grad(fused * 3, (hidden, weight))
        # New tokens' output rows kept apart (`freeze_lower`): they replace the frozen matrix's last rows,
        # whatever those hold, and they and the hidden states get the full computation's gradients.
        stale = weight.detach().clone()
        stale[900:] = 0
        new_rows = weight.detach()[900:].clone().requires_grad_()
        partial = loss.linear_cross_entropy(hidden, stale, targets, new_rows=new_rows, compile=compile)
        partial_grads = torch.autograd.grad(partial * 3, (hidden, new_rows))
        # Weighted targets (the tool recipe's call tokens): each counts that many times, over the same count.
        target_weights = torch.ones(1000)
        target_weights[900:] = 4.0
        weighted = loss.linear_cross_entropy(hidden, weight, targets, compile=compile, target_weights=target_weights)
        weighted_grads = torch.autograd.grad(weighted * 3, (hidden, weight))
    finally:
        loss.CHUNK_ELEMENTS = saved
    assert fused.item() == pytest.approx(reference.item(), abs=1e-5)
    for a, b in zip(fused_grads, grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    assert partial.item() == fused.item()
    torch.testing.assert_close(partial_grads[0], grads[0], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(partial_grads[1], grads[1][900:], atol=1e-6, rtol=1e-4)
    each = F.cross_entropy(hidden @ weight.T, targets, ignore_index=loss.IGNORE, reduction="none")
    counted = targets != loss.IGNORE
    reference = (each * target_weights[targets.clamp(min=0)]).sum() / counted.sum()
    assert (targets[counted] >= 900).any() and weighted.item() > fused.item()
    assert weighted.item() == pytest.approx(reference.item(), abs=1e-5)
    for a, b in zip(weighted_grads, torch.autograd.grad(reference * 3, (hidden, weight)), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_fully_masked_batch_gives_zero_loss_and_zero_gradients():
    import torch

    import hare.train.loss as loss

    hidden = torch.randn(5, 8, requires_grad=True)
    weight = torch.randn(30, 8, requires_grad=True)
    value = loss.linear_cross_entropy(hidden, weight, torch.full((5,), loss.IGNORE))
    value.backward()
    assert value.item() == 0 and not hidden.grad.any() and not weight.grad.any()
