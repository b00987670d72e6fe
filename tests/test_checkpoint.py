"""Checkpoints are plain Hugging Face directories that vanilla transformers loads unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hare.errors import HareError
from hare.model.load import load_model, save_checkpoint


def test_init_writes_a_complete_hf_directory(micro_dir):
    names = {p.name for p in micro_dir.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "tokenizer.model", "added_tokens.json"} <= names
    gen = json.loads((micro_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"][0] == 32001  # <round_end> ends chat turns
    assert 2 in gen["eos_token_id"]
    config = json.loads((micro_dir / "config.json").read_text())
    assert config["architectures"] == ["MistralForCausalLM"] and config["vocab_size"] == 32064
    assert not [p for p in micro_dir.parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_vanilla_transformers_loads_identical_model(micro_dir, tmp_path):
    """A separate process that imports only transformers gets the same ids and the same logits."""
    text = "The hare outran the <round_end> tortoise."
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tok = AutoTokenizer.from_pretrained({str(micro_dir)!r})
        model = AutoModelForCausalLM.from_pretrained({str(micro_dir)!r}, dtype=torch.float32).eval()
        ids = tok({text!r}, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits
        torch.save({{"ids": ids, "logits": logits, "template": tok.chat_template}}, {str(tmp_path / "out.pt")!r})
        assert "hare" not in sys.modules
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    vanilla = torch.load(tmp_path / "out.pt")

    model, tok = load_model(str(micro_dir), device="cpu", dtype="float32")  # auto may pick bf16 on this CPU
    ids = tok(text, return_tensors="pt").input_ids
    assert torch.equal(ids, vanilla["ids"])
    assert 32001 in ids[0].tolist()
    with torch.no_grad():
        logits = model(ids).logits
    assert torch.equal(logits, vanilla["logits"])
    assert vanilla["template"] == tok.chat_template


def test_save_refuses_to_overwrite_and_replaces_atomically(micro_dir, tmp_path):
    model, tok = load_model(str(micro_dir), device="cpu")
    out = tmp_path / "copy"
    save_checkpoint(model, tok, out)
    with pytest.raises(HareError, match="already exists.*--overwrite"):
        save_checkpoint(model, tok, out)
    (out / "stale.txt").write_text("from the old checkpoint")
    save_checkpoint(model, tok, out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]


def test_failed_save_leaves_nothing_behind(micro_dir, tmp_path, monkeypatch):
    model, tok = load_model(str(micro_dir), device="cpu")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("hare.model.tokenizer.save_tokenizer", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(model, tok, tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("bf16", "fp32", "expected"), [(1000.0, 170.0, "bfloat16"), (30.0, 90.0, "float32")])
def test_inference_dtype_auto_takes_the_faster_on_this_cpu(monkeypatch, bf16, fp32, expected):
    """`--dtype auto` on a CPU follows the measured matmul rates (stood in for here: they are the
    machine's), as `train.precision=auto` does; explicit dtypes and accelerators are not measured."""
    from hare.model import precision
    from hare.model.load import resolve_dtype

    monkeypatch.setattr(precision, "cpu_rates", lambda: {"bf16": bf16, "fp32": fp32})
    assert resolve_dtype("auto", "cpu") == getattr(torch, expected)
    assert resolve_dtype("float32", "cpu") == torch.float32
    assert resolve_dtype("auto", "cuda") == torch.bfloat16
