"""`hare eval leakage`: has the model seen a benchmark? Xu et al. (2024)'s n-gram accuracy test.

For each item (question and answer as one text), at K evenly spaced positions the model gets the
prefix and greedily predicts the next n = 5 tokens; a prediction is a hit when all n equal the
reference. Accuracy = hits / predictions. A model that trained on the benchmark reproduces its exact
wording far better than that of paraphrased rewrites of the same items, so Δ = accuracy(original) −
accuracy(rewritten), in points ×100 as the HARE paper reports it (GSM8K: Δ 7.63 train, 4.35 test), is
the leakage signal; an uncontaminated model has Δ ≈ 0.

Greedy decoding of n tokens reproduces the reference exactly iff, at each of those n steps, the
argmax given the *reference* prefix is the reference token (as long as it matched so far, the
generated prefix *is* the reference prefix). So one teacher-forced forward pass per item scores all
of its K positions at once; the result equals running `generate` K times (up to exact ties).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hare.config import option
from hare.errors import HareError
from hare.model.args import ModelArgs
from hare.model.tokenizer import text_ids
from hare.teacher import endpoint

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(kw_only=True)
class LeakageConfig(ModelArgs):
    benchmark: str = option(help="JSONL of original items: a 'text' field, or 'question' and 'answer' (GSM8K)")
    rewritten: str | None = option(None, "JSONL of paraphrased rewrites of the same items, same order and schema")
    teacher: str | None = option(None, "OpenAI-compatible server that writes the rewrites (instead of --rewritten)")
    teacher_model: str = option("teacher", "model name sent to the teacher server")
    save_rewrites: str | None = option(None, "with --teacher: also write the rewrites to this JSONL file")
    ngram: int = option(5, "tokens predicted per position")
    points: int = option(5, "evenly spaced prediction positions per item")


def item_text(record: dict[str, Any], where: str) -> str:
    """The text of one benchmark item: `text`, else `question` followed by `answer`."""
    if isinstance(record.get("text"), str):
        return record["text"]
    if isinstance(record.get("question"), str) and isinstance(record.get("answer"), str):
        return f"{record['question']}\n{record['answer']}"
    raise HareError(f"{where} has neither a 'text' field nor 'question' and 'answer' strings; "
                    f"its keys are {', '.join(record) or 'none'}")


def read_items(path: str) -> list[str]:
    from hare.io.read import read_jsonl

    return [item_text(record, f"{path}:{number}") for number, _, record in read_jsonl(path)]


def positions(length: int, ngram: int, points: int) -> list[int]:
    """Up to `points` evenly spaced prefix lengths p in [1, length - ngram] (ids[0] is BOS)."""
    last = length - ngram
    if last < 1:
        return []
    points = min(points, last)  # there are no more positions than that (10**20 points had looped for ever)
    if points == 1:
        return [last]
    return sorted({round(1 + k * (last - 1) / (points - 1)) for k in range(points)})


def ngram_hits(model: PreTrainedModel, ids: list[int], ngram: int, points: int) -> tuple[int, int]:
    """(hits, predictions) for one tokenised item."""
    import torch

    starts = positions(len(ids), ngram, points)
    if not starts:
        return 0, 0
    x = torch.tensor([ids], device=model.device)
    with torch.inference_mode():
        greedy = model(input_ids=x).logits[0].argmax(-1)  # greedy[t] predicts ids[t + 1]
    hits = sum(bool(torch.equal(greedy[p - 1:p - 1 + ngram], x[0, p:p + ngram])) for p in starts)
    return hits, len(starts)


def ngram_accuracy(model: PreTrainedModel, tok: Any, texts: list[str], ngram: int = 5, points: int = 5) -> dict:
    """Accuracy in percent over all predictions of all texts."""
    hits = predictions = 0
    for ids in text_ids(tok, texts, bos=True):
        h, n = ngram_hits(model, ids, ngram, points)
        hits, predictions = hits + h, predictions + n
    if predictions == 0:
        raise HareError(f"every item is shorter than {ngram + 1} tokens, so nothing can be predicted")
    return {"accuracy": 100 * hits / predictions, "hits": hits, "predictions": predictions}


REWRITE_PROMPT = ("Rewrite the following text so that it keeps exactly the same meaning and facts but uses "
                  "different wording and sentence structure. Reply with the rewritten text only.\n\n{text}")


def rewrite(texts: list[str], cfg: LeakageConfig) -> list[str]:
    """Paraphrases of `texts` from the teacher (Xu et al. rewrite each benchmark item with an LLM)."""
    import json

    from hare.io.atomic import write_text
    from hare.teacher import chat

    rewrites = [chat(cfg.teacher, REWRITE_PROMPT.format(text=t), cfg.teacher_model, seed=i,  # type: ignore[arg-type]
                     fix="start the server or fix --teacher") for i, t in enumerate(texts)]
    if cfg.save_rewrites:
        write_text(cfg.save_rewrites, "".join(json.dumps({"text": r}) + "\n" for r in rewrites))
    return rewrites


def run(cfg: LeakageConfig) -> dict[str, Any]:
    from hare.model.load import load_model

    if cfg.ngram < 1 or cfg.points < 1:
        raise HareError(f"--ngram and --points must be at least 1, got {cfg.ngram} and {cfg.points}")
    if (cfg.rewritten is None) == (cfg.teacher is None):
        raise HareError("pass exactly one of --rewritten FILE (your paraphrases) or --teacher URL (to write them)")
    if cfg.save_rewrites and cfg.teacher is None:
        raise HareError("--save-rewrites keeps what --teacher writes; with --rewritten the rewrites are already "
                        "in that file: drop --save-rewrites")
    if cfg.save_rewrites:  # the benchmark had been replaced by its rewrites
        from hare.io.atomic import check_apart, check_output

        check_apart(cfg.save_rewrites, [cfg.benchmark, cfg.model], "--save-rewrites")
        # before the teacher's calls, by its own flag: a folder there, or one that cannot be written, had been
        # found after all of them and named "--out"
        check_output(cfg.save_rewrites, directory=False, flag="--save-rewrites")
    if cfg.teacher is not None:
        endpoint(cfg.teacher)  # a malformed URL fails now, not after the model has loaded
    original = read_items(cfg.benchmark)
    if not original:
        raise HareError(f"--benchmark '{cfg.benchmark}' holds no items; pass a JSONL of the benchmark's items")
    rewritten = read_items(cfg.rewritten) if cfg.rewritten else rewrite(original, cfg)
    if len(original) != len(rewritten):
        raise HareError(f"'{cfg.benchmark}' has {len(original)} items but '{cfg.rewritten}' has {len(rewritten)}; "
                        "the rewrites must paraphrase the same items, one per line in the same order")
    model, tok = load_model(cfg.model, cfg.device, cfg.dtype)
    result = {"original": ngram_accuracy(model, tok, original, cfg.ngram, cfg.points),
              "rewritten": ngram_accuracy(model, tok, rewritten, cfg.ngram, cfg.points)}
    result["delta"] = result["original"]["accuracy"] - result["rewritten"]["accuracy"]
    print(f"| {cfg.ngram}-gram accuracy | % | hits / predictions |\n|---|---|---|")
    for name in ("original", "rewritten"):
        r = result[name]
        print(f"| {name} | {r['accuracy']:.2f} | {r['hits']} / {r['predictions']} |")
    print(f"Δ (original − rewritten) = {result['delta']:.2f}")
    return result
