"""`hare quantize fp8`: FP8 (e4m3) weights with one scale per output channel, in compressed-tensors format.

    hare quantize fp8 --model runs/chat/final --out runs/chat-fp8

Numerics: each linear layer's weight row r (one output channel) is stored as q_r = w_r / s_r in
float8_e4m3fn with s_r = max|w_r| / 448 (448 is e4m3's largest finite value), so the largest weight
of every row lands exactly on the format's edge and the rest keep e4m3's 3-bit mantissa (relative
rounding error ≤ 2⁻⁴). Since y = x·(q·s)ᵀ = (x·qᵀ)·s, the scale is applied to the matmul's output.
Embeddings, norms and `lm_head` stay in `--dtype`: they are a small share of a 1.1B model's bytes
and the output head is the most sensitive layer.

The checkpoint is what vLLM reads as compressed-tensors "float-quantized" (W8A16 FP8, channel
strategy): `<layer>.weight` in float8_e4m3fn, `<layer>.weight_scale` float32 [out, 1] and a
`quantization_config` in config.json. HARE loads it back itself (`hare generate`, `chat`, `serve`):
see `hare/quantize/fp8_linear.py` (on-the-fly dequantisation on CPU, torchao FP8 matmuls on GPUs
that have them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import check_range, option
from hare.errors import HareError
from hare.io.atomic import check_apart
from hare.quantize.common import TARGETS

if TYPE_CHECKING:
    import torch

FP8_MAX = 448.0
QUANTIZATION_CONFIG = {
    "quant_method": "compressed-tensors",
    "format": "float-quantized",
    "quantization_status": "compressed",
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True,
                        "dynamic": False, "observer": "minmax"},
            "input_activations": None,
            "output_activations": None,
            "format": "float-quantized",
        }
    },
    "ignore": ["lm_head"],
    "kv_cache_scheme": None,
}


@dataclass
class Fp8Config:
    model: str = option(help="checkpoint directory to quantize")
    out: str = option(help="directory to write the FP8 checkpoint to")
    dtype: Literal["bfloat16", "float16"] = option("bfloat16", "dtype of the tensors left unquantized")
    eval_data: str | None = option(None, "held-out .txt/.jsonl for the report; default: synthetic documents")
    eval_samples: int = option(32, "held-out samples (of up to 512 tokens) in the report")
    force: bool = option(False, "replace --out if it already exists")

    def validate(self) -> None:  # 0 divided the report by zero after the whole quantization
        check_range("--eval-samples", self.eval_samples, 1, 100_000)
        check_apart(self.out, [self.model, *([self.eval_data] if self.eval_data else [])])


def quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(e4m3 weight, float32 scale of shape [out, 1]) with one scale per output channel."""
    import torch

    w = w.float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_MAX
    return (w / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn), scale


def write_fp8(model_dir: Path, out: Path, dtype: torch.dtype) -> dict[str, int]:
    """Write the FP8 checkpoint into directory `out`; returns byte counts for the report."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, GenerationConfig

    from hare.model.load import iter_tensors, load_tokenizer
    from hare.model.tokenizer import save_tokenizer

    tensors: dict[str, torch.Tensor] = {}
    sizes = {"fp8": 0, "scales": 0, "bf16_equivalent": 0, "other": 0}
    for name, tensor in iter_tensors(model_dir):
        if name.endswith(".weight") and name.rsplit(".", 2)[-2] in TARGETS:
            q, scale = quantize_weight(tensor)
            tensors[name], tensors[name.removesuffix("weight") + "weight_scale"] = q, scale
            sizes["fp8"] += q.numel()
            sizes["scales"] += scale.numel() * 4
            sizes["bf16_equivalent"] += q.numel() * 2
        else:
            tensors[name] = tensor.to(dtype).contiguous()
            sizes["other"] += tensor.numel() * tensors[name].element_size()
    if not sizes["fp8"]:
        raise HareError(f"'{model_dir}' has no q/k/v/o/gate/up/down projection weights to quantize")
    out.mkdir()
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    config = AutoConfig.from_pretrained(model_dir)
    config.quantization_config = QUANTIZATION_CONFIG
    config.dtype = dtype
    config.save_pretrained(out)
    if (model_dir / "generation_config.json").is_file():
        GenerationConfig.from_pretrained(model_dir).save_pretrained(out)
    save_tokenizer(load_tokenizer(str(model_dir)), out)
    return sizes


def run(cfg: Fp8Config) -> dict[str, Any]:
    import torch

    from hare.io.atomic import atomic_output
    from hare.model.load import full_precision_dir, load_model
    from hare.quantize.common import EVAL_OFFSET, compare, print_report, samples_from

    cfg.validate()
    model_dir = full_precision_dir(cfg.model, "FP8 quantization")
    with atomic_output(cfg.out, cfg.force, directory=True) as tmp:
        sizes = write_fp8(model_dir, tmp, getattr(torch, cfg.dtype))
        before, tok = load_model(str(model_dir), "cpu", "float32")
        after, _ = load_model(str(tmp), "cpu", "float32")
        samples = samples_from(cfg.eval_data, tok, cfg.eval_samples, 512, EVAL_OFFSET, "evaluation")
        result = {**sizes, **compare(before, after, samples)}
    linear_ratio = (sizes["fp8"] + sizes["scales"]) / sizes["bf16_equivalent"]
    total_ratio = (sizes["fp8"] + sizes["scales"] + sizes["other"]) / (sizes["bf16_equivalent"] + sizes["other"])
    print(f"wrote {cfg.out}: linear weights {sizes['fp8'] / 1e6:,.1f} MB FP8 + {sizes['scales'] / 1e6:,.2f} MB "
          f"scales vs {sizes['bf16_equivalent'] / 1e6:,.1f} MB in bf16 ({linear_ratio:.3f}×); all weights "
          f"{total_ratio:.3f}× of a bf16 checkpoint")
    print_report(result)
    return {**result, "linear_ratio": linear_ratio, "total_ratio": total_ratio}
