"""`hare eval ppl`: perplexity of long texts with a sliding window, and the scoring speed in tokens/s.

The standard Hugging Face recipe: windows of `--window` tokens start every `--stride` tokens; each
window scores only the tokens the previous one did not, so every token after the first (the BOS) is
scored exactly once, with at least `window - stride` tokens of left context (all of it while the text
fits in one window). Texts are scored separately; perplexity is exp(total NLL / scored tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hare.config import option
from hare.errors import HareError
from hare.model.args import ModelArgs
from hare.model.tokenizer import text_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(kw_only=True)
class PplConfig(ModelArgs):
    data: str = option(help="a .txt file (one text) or JSONL/.json with one text per line in --field")
    field: str = option("text", "JSONL field that holds the text")
    window: int | None = option(None, "tokens the model sees at once; default: the model's context length")
    stride: int | None = option(None, "new tokens scored per window (< window); default: window // 2")


def sliding_nll(model: PreTrainedModel, ids: list[int], window: int, stride: int) -> tuple[float, int]:
    """Summed NLL (nats) of ids[1:] and how many tokens that is, window by window."""
    import torch

    if not 1 <= stride < window:
        raise HareError(f"--stride must be between 1 and window - 1 = {window - 1}, got {stride}")
    total, scored, prev_end = 0.0, 0, 1  # ids[0] has no left context and is never scored
    for begin in range(0, len(ids), stride):
        end = min(begin + window, len(ids))
        new = end - prev_end
        if new > 0:
            x = torch.tensor([ids[begin:end]], device=model.device)
            with torch.inference_mode():
                logits = model(input_ids=x).logits[0, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits[-new:], x[0, 1:][-new:], reduction="sum")
            total, scored, prev_end = total + nll.item(), scored + new, end
        if end == len(ids):
            break
    return total, scored


def perplexity(model: PreTrainedModel, tok: Any, texts: list[str], window: int, stride: int) -> dict[str, Any]:
    """Perplexity over all texts, mean NLL per token and tokens scored per second."""
    import math

    start = time.perf_counter()
    total, scored = 0.0, 0
    for ids in text_ids(tok, texts, bos=True):
        nll, n = sliding_nll(model, ids, window, stride)
        total, scored = total + nll, scored + n
    seconds = time.perf_counter() - start
    if scored == 0:
        raise HareError("the data has no text to score (every text is empty); check the file and --field")
    return {"ppl": math.exp(total / scored), "nll": total / scored, "tokens": scored, "texts": len(texts),
            "seconds": seconds, "tokens_per_s": scored / seconds, "window": window, "stride": stride}


def run(cfg: PplConfig) -> dict[str, Any]:
    from hare.eval.texts import read_texts
    from hare.model.load import load_model

    texts = read_texts(cfg.data, cfg.field)
    if cfg.window is not None and cfg.window < 2 or cfg.stride is not None and cfg.stride < 1:  # before the load
        raise HareError(f"--window must be at least 2 and --stride at least 1, got {cfg.window} and {cfg.stride}")
    model, tok = load_model(cfg.model, cfg.device, cfg.dtype)
    context = model.config.max_position_embeddings
    window = context if cfg.window is None else cfg.window  # 0 was refused above, not read as "the default"
    if not 2 <= window <= context:
        raise HareError(f"--window must be between 2 and the model's context {context}, got {window}")
    result = perplexity(model, tok, texts, window, cfg.stride if cfg.stride is not None else window // 2)
    print(f"perplexity {result['ppl']:.3f} (NLL {result['nll']:.4f} nats/token) over {result['tokens']:,} tokens "
          f"in {result['texts']} text(s); window {window}, stride {result['stride']}; "
          f"{result['tokens_per_s']:,.0f} tokens/s")
    return result
