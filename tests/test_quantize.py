"""`hare quantize fp8 / gptq`: real FP8 storage, real GPTQModel, loaded back through HARE's own loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import PARROT_ANSWER, PARROT_QUESTION, odd_width_checkpoint

from hare.errors import HareError
from hare.quantize.fp8 import Fp8Config
from hare.quantize.fp8 import run as fp8
from hare.quantize.gptq import GptqConfig
from hare.quantize.gptq import run as gptq


def chat_reply(model_dir: Path) -> str:
    """The greedy answer to the parrot's question, through `load_model` as `hare generate` uses it."""
    from hare.generate import generate_ids
    from hare.model.args import SamplingArgs
    from hare.model.load import load_model

    model, tok = load_model(str(model_dir), "cpu", "float32")
    prompt = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION}], tokenize=True,
                                     add_generation_prompt=True, return_dict=False)
    return tok.decode(generate_ids(model, tok, prompt, SamplingArgs(temperature=0, max_new_tokens=30)))


def argmax_agreement(original: Path, quantized: Path) -> float:
    """The share of the parrot's conversation where both models, each through `load_model`, predict the
    same next token: measured here, independently of the quantizer's own report."""
    from hare.model.load import load_model

    model, tok = load_model(str(original), "cpu", "float32")
    ids = torch.tensor([tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION},
                                                 {"role": "assistant", "content": PARROT_ANSWER}],
                                                tokenize=True, return_dict=False)])
    shrunk, _ = load_model(str(quantized), "cpu", "auto")
    with torch.inference_mode():
        return (model(ids).logits.argmax(-1) == shrunk(ids).logits.argmax(-1)).float().mean().item()


@pytest.fixture(scope="module")
def fp8_run(parrot_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp8") / "parrot-fp8"
    return out, fp8(Fp8Config(model=str(parrot_dir), out=str(out), eval_samples=8))


def test_fp8_stores_e4m3_weights_at_half_the_bf16_bytes(fp8_run):
    from safetensors import safe_open

    out, result = fp8_run
    assert 0.5 <= result["linear_ratio"] < 0.51  # 1 byte per weight + one fp32 scale per output channel
    with safe_open(out / "model.safetensors", framework="pt") as f:
        q = f.get_tensor("model.layers.1.mlp.down_proj.weight")
        scale = f.get_tensor("model.layers.1.mlp.down_proj.weight_scale")
        assert q.dtype == torch.float8_e4m3fn and q.element_size() == 1 and tuple(q.shape) == (256, 512)
        assert scale.dtype == torch.float32 and tuple(scale.shape) == (256, 1)
        assert q.float().abs().amax(dim=1).eq(448).all()  # each row's largest weight sits on e4m3's edge
        assert f.get_tensor("lm_head.weight").dtype == torch.bfloat16
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["format"] == "float-quantized"
    assert config["config_groups"]["group_0"]["weights"]["strategy"] == "channel"


def test_fp8_logits_stay_close_and_the_model_still_answers(fp8_run):
    from hare.model.load import load_model
    from hare.quantize.fp8_linear import Fp8Linear

    out, result = fp8_run
    assert result["logits_rel_error"] < 0.05 and result["argmax_agreement"] > 0.9
    assert abs(result["ppl_after"] / result["ppl_before"] - 1) < 0.05
    model, _ = load_model(str(out), "cpu", "float32")
    layer = model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, Fp8Linear) and layer.weight.dtype == torch.float8_e4m3fn  # FP8 in memory too
    assert chat_reply(out) == PARROT_ANSWER


def test_fp8_checkpoint_is_what_compressed_tensors_reads(fp8_run):
    """The format's reference reader (as vLLM uses it) decodes the same weights HARE does."""
    pytest.importorskip("compressed_tensors")
    from transformers import AutoModelForCausalLM

    from hare.model.load import load_model

    out, _ = fp8_run
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    model, tok = load_model(str(out), "cpu", "float32")
    ids = torch.tensor([tok("Hares eat grass, herbs and bark in winter.").input_ids])
    with torch.inference_mode():
        a, b = reference(ids).logits, model(ids).logits
    assert ((a - b).norm() / b.norm()).item() < 1e-4


def test_fp8_bad_input_leaves_nothing(parrot_dir, tmp_path):
    out = tmp_path / "fp8"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(HareError, match="holds no text"):
        fp8(Fp8Config(model=str(parrot_dir), out=str(out), eval_data=str(empty)))
    (tmp_path / "data.csv").write_text("text\nhello\n")
    with pytest.raises(HareError, match=r"must be a \.txt file or a \.jsonl"):
        fp8(Fp8Config(model=str(parrot_dir), out=str(out), eval_data=str(tmp_path / "data.csv")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "empty.jsonl"]
    out.mkdir()
    with pytest.raises(HareError, match="already exists.*--force"):
        fp8(Fp8Config(model=str(parrot_dir), out=str(out)))


@pytest.mark.slow
@pytest.mark.parametrize("bits", [4, 8])
def test_gptq_quantizes_and_loads_for_generate(parrot_dir, tmp_path, bits, capfd, monkeypatch):
    from hare.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / f"gptq-int{bits}"
    result = gptq(GptqConfig(model=str(parrot_dir), out=str(out), bits=bits, calib_samples=16, calib_seq_len=64,
                             eval_samples=8))
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert (config["quant_method"], config["bits"], config["group_size"]) == ("gptq", bits, 128)
    assert config["desc_act"] is False and config["sym"] is True and config["checkpoint_format"] == "gptq"
    assert (out / "tokenizer.model").is_file() and (out / "added_tokens.json").is_file()
    captured = capfd.readouterr()
    report = captured.out  # file descriptor 1: GPTQModel's banner and log go to stderr
    assert "perplexity" in report and len(report.splitlines()) < 15, report[-3000:]
    assert "quantize gptq" in captured.err and "3/3" in captured.err  # the stage bar, on stderr
    assert result["ppl_after"] < 1.5 * result["ppl_before"]
    assert result["argmax_agreement"] > (0.9 if bits == 8 else 0.6)
    assert argmax_agreement(parrot_dir, out) >= (0.9 if bits == 8 else 0.6)
    # The CLI path of `hare generate`: load_model hands GPTQ checkpoints to GPTQModel's kernels.
    assert main(["generate", "--model", str(out), "--prompt", "Hares eat", "--max-new-tokens", "4",
                 "--temperature", "0"]) == 0
    text = capfd.readouterr().out  # only the text, so `hare generate … | next-command` works
    assert text.startswith("Hares eat") and len(text.strip().splitlines()) == 1, text[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # GPTQModel's ./logs went to a scratch dir


def test_gptq_bad_input_is_refused_before_any_work(parrot_dir, tmp_path):
    out = str(tmp_path / "out")
    with pytest.raises(HareError, match="--group-size 100 is not supported.*32, 64, 128, 256"):
        gptq(GptqConfig(model=str(parrot_dir), out=out, group_size=100))
    with pytest.raises(HareError, match=r"down_proj.weight has input width 96.*use 32"):
        gptq(GptqConfig(model=str(odd_width_checkpoint(tmp_path / "odd", 96)), out=out))
    one = tmp_path / "one.txt"
    one.write_text("The hare eats grass.")
    with pytest.raises(HareError, match="gives only 0 calibration samples.*or lower --calib-samples"):
        gptq(GptqConfig(model=str(parrot_dir), out=out, calib=str(one)))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"content": "hello"}) + "\n")
    with pytest.raises(HareError, match=r"wrong.jsonl:1 has no string field 'text'"):
        gptq(GptqConfig(model=str(parrot_dir), out=out, calib=str(wrong)))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
