"""`hare quantize gptq`: GPTQ int8/int4 weights with GPTQModel, and perplexity before/after.

    hare quantize gptq --model runs/chat/final --bits 4 --group-size 128 --out runs/chat-gptq-int4
    hare quantize gptq --model runs/chat/final --bits 8 --calib my_corpus.jsonl --out runs/chat-gptq-int8

GPTQ rounds each linear layer's weights column by column and pushes the rounding error onto the
columns not yet rounded, weighted by the layer's input statistics (a Hessian estimated from
calibration activations). Those statistics are only as good as the calibration set: by default a
few hundred documents of HARE's synthetic corpus (or `--calib FILE`, the user's own data), cut into
samples of up to `--calib-seq-len` tokens — never the one sentence of the original HARE demo.

Settings follow what vLLM's fast GPTQ kernels (Marlin, Exllama) take: symmetric, `desc_act=False`,
`checkpoint_format: gptq`; the output loads in vLLM as is and in HARE (`hare generate`, `chat`,
`serve`) through GPTQModel, which also runs it on CPU. GPTQModel's CPU kernels take group sizes 32,
64, 128 and 256, and every linear layer's input width must be a multiple of the group size.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import check_range, option
from hare.errors import HareError
from hare.io.atomic import check_apart
from hare.io.extras import import_extra, stdout_to_stderr
from hare.quantize.common import TARGETS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

GROUP_SIZES = (32, 64, 128, 256)


@dataclass
class GptqConfig:
    model: str = option(help="checkpoint directory to quantize")
    out: str = option(help="directory to write the GPTQ checkpoint to")
    bits: Literal[8, 4] = option(4, "bits per weight")
    group_size: int = option(128, f"weights sharing one scale ({', '.join(map(str, GROUP_SIZES))})")
    calib: str | None = option(None, "calibration .txt/.jsonl; default: HARE's synthetic corpus")
    calib_samples: int = option(256, "calibration samples")
    calib_seq_len: int = option(512, "tokens per calibration sample (longer texts are cut)")
    eval_data: str | None = option(None, "held-out .txt/.jsonl for perplexity before/after; default: synthetic")
    eval_samples: int = option(32, "held-out samples (of up to 512 tokens) for the report")
    force: bool = option(False, "replace --out if it already exists")

    def validate(self) -> None:  # 0 of any failed inside GPTQModel or the report, after loading the model
        check_range("--calib-samples", self.calib_samples, 1, 100_000)
        check_range("--calib-seq-len", self.calib_seq_len, 2, 1_000_000)
        check_range("--eval-samples", self.eval_samples, 1, 100_000)
        check_apart(self.out, [self.model, *([self.eval_data] if self.eval_data else [])])


def _cpu_workers() -> None:
    # GPTQModel sizes its CPU thread pool from this variable; unset, it oversubscribes small machines.
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", str(len(os.sched_getaffinity(0))))


def load_gptq(path: Path, device: str, dtype: torch.dtype) -> PreTrainedModel:
    """A GPTQ checkpoint as a transformers model with GPTQModel's kernels (CPU or GPU).

    The kernels compute in half precision (the int8 one accepts nothing else), so a float32 request
    — HARE's CPU default — runs in bfloat16.
    """
    import torch

    _cpu_workers()
    gptqmodel = import_extra("gptqmodel", "quant", "Loading a GPTQ checkpoint")
    half = dtype if dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
    with stdout_to_stderr():  # GPTQModel's load log is not a result
        return gptqmodel.GPTQModel.load(str(path), device=device, dtype=half).model


def check_widths(model_dir: Path, group_size: int) -> None:
    """Every quantized layer's input width must split into whole groups."""
    from hare.model.load import tensor_shapes

    if group_size not in GROUP_SIZES:
        raise HareError(f"--group-size {group_size} is not supported by GPTQModel's CPU kernels; "
                        f"choose one of {', '.join(map(str, GROUP_SIZES))}")
    for name, shape in tensor_shapes(model_dir).items():
        if name.rsplit(".", 2)[-2] in TARGETS and shape[1] % group_size:
            fits = [str(g) for g in GROUP_SIZES if shape[1] % g == 0]
            raise HareError(f"{name} has input width {shape[1]}, not a multiple of --group-size {group_size}; "
                            f"use {' or '.join(fits) if fits else 'a model whose widths are multiples of 32'}")


def quantize(model_dir: Path, out: Path, cfg: GptqConfig, samples: list[list[int]]) -> None:
    """Run GPTQModel on `samples` and save the quantized checkpoint (with HARE's tokenizer files) to `out`."""
    from hare.model.load import load_tokenizer
    from hare.model.tokenizer import save_tokenizer

    _cpu_workers()
    gptqmodel = import_extra("gptqmodel", "quant", "GPTQ quantization")
    qcfg = gptqmodel.QuantizeConfig(bits=cfg.bits, group_size=cfg.group_size, desc_act=False, sym=True)
    model_dir, out = model_dir.resolve(), out.resolve()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch, stdout_to_stderr():  # its progress log is not a result
        os.chdir(scratch)  # GPTQModel writes a log file per run into ./logs; not into the user's directory
        try:
            model = gptqmodel.GPTQModel.load(str(model_dir), qcfg)
            model.quantize([{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids in samples], batch_size=1)
            model.save(str(out))
        finally:
            os.chdir(cwd)
    save_tokenizer(load_tokenizer(str(model_dir)), out)  # adds tokenizer.model / added_tokens.json for llama.cpp


def run(cfg: GptqConfig) -> dict[str, Any]:
    from tqdm import tqdm

    from hare.io.atomic import atomic_output
    from hare.model.load import full_precision_dir, load_model, load_tokenizer
    from hare.quantize.common import EVAL_OFFSET, compare, print_report, samples_from

    cfg.validate()
    model_dir = full_precision_dir(cfg.model, "GPTQ quantization")
    if cfg.bits not in (4, 8):
        raise HareError(f"--bits must be 4 or 8, got {cfg.bits}")
    check_widths(model_dir, cfg.group_size)
    tok = load_tokenizer(str(model_dir))
    calibration = samples_from(cfg.calib, tok, cfg.calib_samples, cfg.calib_seq_len, 0, "calibration")
    held_out = samples_from(cfg.eval_data, tok, cfg.eval_samples, 512, EVAL_OFFSET, "evaluation")
    # Stages, on stderr beside GPTQModel's own per-layer log: quantizing a 1.1B model on a CPU takes minutes.
    stages = tqdm(total=3, desc="quantize gptq", unit="stage", leave=False)
    with atomic_output(cfg.out, cfg.force, directory=True) as tmp:
        stages.set_postfix_str(f"GPTQ on {len(calibration)} calibration samples, layer by layer")
        quantize(model_dir, tmp, cfg, calibration)
        stages.update()
        stages.set_postfix_str("loading the model before and after")
        before, _ = load_model(str(model_dir), "cpu", "float32")
        after, _ = load_model(str(tmp), "cpu", "float32")
        stages.update()
        stages.set_postfix_str(f"perplexity before and after on {len(held_out)} held-out samples")
        result = compare(before, after, held_out)
        stages.update()
    stages.close()
    print(f"wrote {cfg.out}: GPTQ int{cfg.bits}, group size {cfg.group_size}, "
          f"{len(calibration)} calibration samples")
    print_report(result)
    return result
