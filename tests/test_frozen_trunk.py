"""The frozen-trunk store: the same loss and gradients as a full forward, reuse across micro-batches
whatever the padding, and values that do not depend on what was stored before (exact resume)."""

from __future__ import annotations

import pytest
import torch

from hare.train.frozen_trunk import FrozenTrunk, supports
from hare.train.loss import CausalLMLoss
from hare.train.sft import freeze_lower
from hare.train.sft_data import collate, encode

CHATS = [("What do hares eat?", "Grass, herbs and bark."), ("Yo", "Hey!"), ("Count to three.", "One, two, three."),
         ("Name a colour.", "Blue."), ("Where do hares live?", "In open fields, in shallow nests called forms.")]


def _model(kind: str, tok):
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    cls, config = (LlamaForCausalLM, LlamaConfig) if kind == "llama" else (MistralForCausalLM, MistralConfig)
    model = cls(config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256))
    freeze_lower(model, 2, first_new_row=len(tok))
    return model


def _loss_and_grads(module: CausalLMLoss, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    module.lm.zero_grad(set_to_none=True)
    loss = module(**batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in module.lm.parameters() if p.requires_grad]


@pytest.mark.parametrize("kind", ["llama", "mistral"])
@pytest.mark.parametrize("packed", [True, False])
def test_stored_trunk_gives_the_full_forward_loss_and_gradients(tok, kind, packed):
    model = _model(kind, tok)
    samples = [encode(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "Be brief.")
               for q, a in CHATS]
    rows = [samples[:2], samples[2:4], samples[4:]] if packed else [[s] for s in samples]
    batch = collate(rows, pad_id=tok.pad_token_id)
    assert int(batch["lengths"].min()) < batch["input_ids"].shape[1]  # some rows are padded

    plain_loss, plain_grads = _loss_and_grads(CausalLMLoss(model), batch)
    trunk = FrozenTrunk(model, 2, budget_bytes=1 << 30)
    stored = CausalLMLoss(model, trunk=trunk)
    loss, grads = _loss_and_grads(stored, batch)
    assert trunk.misses == len(rows) and trunk.hits == 0
    assert loss.item() == pytest.approx(plain_loss.item(), rel=1e-5)
    for g, p in zip(grads, plain_grads, strict=True):
        torch.testing.assert_close(g, p, rtol=1e-4, atol=1e-6)

    again, again_grads = _loss_and_grads(stored, batch)  # the next epoch: every row from the store
    assert trunk.hits == len(rows) and torch.equal(again, loss)
    # A row in another micro-batch, padded to another width, is the same row.
    alone = collate(rows[:1], pad_id=tok.pad_token_id)
    stored(**alone)
    assert trunk.hits == len(rows) + 1 and trunk.misses == len(rows)

    # A resumed run starts with an empty store and must compute exactly what the stored values are.
    fresh_loss, fresh_grads = _loss_and_grads(CausalLMLoss(model, trunk=FrozenTrunk(model, 2, 1 << 30)), batch)
    assert torch.equal(fresh_loss, again)
    assert all(torch.equal(a, b) for a, b in zip(fresh_grads, again_grads, strict=True))


def test_budget_bounds_the_store(tok):
    model = _model("llama", tok)
    samples = [encode(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "")
               for q, a in CHATS]
    batch = collate([[s] for s in samples], pad_id=tok.pad_token_id)
    one_row = 4 * 64 * int(batch["lengths"].max())
    trunk = FrozenTrunk(model, 2, budget_bytes=one_row)
    CausalLMLoss(model, trunk=trunk)(**batch)
    assert 0 < len(trunk.store) < len(samples) and trunk.used <= one_row
    assert not supports(model, "fsdp2", compile=False) and not supports(model, "ddp", compile=True)
    assert supports(model, "ddp", compile=False)
