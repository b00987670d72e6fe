"""What `hare quantize gptq` and `hare quantize fp8` share: texts to calibrate and evaluate on, and the report.

Calibration and evaluation texts come from the user's file (`.txt`, or `.jsonl`/`.json` with one
text per record) or, by default, from HARE's synthetic corpus (`hare data synth`'s default mixture,
made in memory): calibration uses documents 0…n-1 and evaluation documents from 1,000,000 on, so the
two never overlap. Texts are cut into samples of at most `seq_len` tokens; GPTQ needs a few hundred
of them to estimate each layer's input statistics — one sentence (the original HARE demo) is not
calibration.

The report runs the original and the quantized model on the same held-out samples: perplexity
before/after, the relative error of the logits ‖after − before‖ / ‖before‖, and how often the
next-token argmax agrees.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# The linear layers both methods quantize (embeddings, norms and lm_head stay in full precision).
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EVAL_OFFSET = 1_000_000
MIN_TOKENS = 16  # shorter samples carry too little context to be worth a calibration slot


def synthetic_texts(n: int, start: int = 0, seed: int = 0) -> list[str]:
    """Documents start … start+n-1 of HARE's synthetic corpus (the default `hare data synth` mixture)."""
    from hare.data.synth import make_doc
    from hare.data.synth.common import Context
    from hare.data.synth.mixture import load_mixture

    mixture, ctx = load_mixture(None), Context()
    return [make_doc(seed, i, mixture, ctx)["text"] for i in range(start, start + n)]


def read_text_file(path: str, field: str = "text") -> list[str]:
    """Texts from a `.txt` file (one text) or `.jsonl`/`.json` (one per record), refusing empty or odd files."""
    from hare.eval.texts import read_texts

    if Path(path).suffix not in (".txt", ".jsonl", ".json"):
        raise HareError(f"'{path}' must be a .txt file or a .jsonl/.json file with a '{field}' field per line")
    try:
        texts = [t for t in read_texts(path, field) if t.strip()]
    except UnicodeDecodeError:
        raise HareError(f"'{path}' is not UTF-8 text; pass a .txt or .jsonl file") from None
    if not texts:
        raise HareError(f"'{path}' holds no text; pass a file with a few hundred documents")
    return texts


def token_samples(tok: PreTrainedTokenizerFast, texts: list[str], count: int, seq_len: int) -> list[list[int]]:
    """Up to `count` token sequences of MIN_TOKENS…seq_len tokens, cutting long texts into pieces."""
    samples: list[list[int]] = []
    for text in texts:
        ids = tok(text).input_ids
        samples += [ids[i:i + seq_len] for i in range(0, len(ids), seq_len) if len(ids) - i >= MIN_TOKENS]
        if len(samples) >= count:
            return samples[:count]
    return samples


def samples_from(path: str | None, tok: PreTrainedTokenizerFast, count: int, seq_len: int, start: int,
                 what: str) -> list[list[int]]:
    """`count` samples from the user's file, or from the synthetic corpus from document `start` on."""
    texts = read_text_file(path) if path else synthetic_texts(2 * count, start)  # a few documents are short
    samples = token_samples(tok, texts, count, seq_len)
    needed = min(count, 32)
    if len(samples) < needed:
        source = f"'{path}'" if path else "the synthetic corpus"
        flag = "--calib-samples" if what == "calibration" else "--eval-samples"
        raise HareError(f"{source} gives only {len(samples)} {what} samples of at least {MIN_TOKENS} tokens; "
                        f"need {needed} or more ({flag} {count} asks for {count}, up to 32 required): pass a "
                        f"file with more (or longer) documents, or lower {flag}")
    return samples


def compare(before: PreTrainedModel, after: PreTrainedModel, samples: list[list[int]]) -> dict[str, float]:
    """Perplexity of both models, relative logit error and argmax agreement on the same samples."""
    import math

    import torch
    import torch.nn.functional as F

    nll = {"before": 0.0, "after": 0.0}
    diff, norm, agree, scored = 0.0, 0.0, 0, 0
    with torch.inference_mode():
        for ids in samples:
            logits = {}
            for name, model in (("before", before), ("after", after)):
                x = torch.tensor([ids], device=model.device)
                logits[name] = model(input_ids=x).logits[0].float().cpu()
                nll[name] += F.cross_entropy(logits[name][:-1], x[0, 1:].cpu(), reduction="sum").item()
            diff += (logits["after"] - logits["before"]).pow(2).sum().item()
            norm += logits["before"].pow(2).sum().item()
            agree += (logits["after"].argmax(-1) == logits["before"].argmax(-1)).sum().item()
            scored += len(ids)
    return {"ppl_before": math.exp(nll["before"] / (scored - len(samples))),
            "ppl_after": math.exp(nll["after"] / (scored - len(samples))),
            "logits_rel_error": math.sqrt(diff / norm), "argmax_agreement": agree / scored, "tokens": scored}


def print_report(result: dict[str, Any]) -> None:
    change = result["ppl_after"] / result["ppl_before"] - 1
    print(f"held-out text ({result['tokens']:,} tokens): perplexity {result['ppl_before']:.3f} before, "
          f"{result['ppl_after']:.3f} after ({change:+.1%}); logits relative error "
          f"{result['logits_rel_error']:.4f}; next-token argmax agreement {result['argmax_agreement']:.1%}")
