"""`--stats`: a diversity report for generated documents.

* distinct 4-gram ratio: distinct word 4-grams / all word 4-grams, over the first `NGRAM_DOCS`
  documents (a bounded sample, so memory stays flat for any --num-docs); 1 means no 4-gram repeats.
* template coverage: per strategy, templates used / templates available.
* tokens/s: real HARE-tokenizer tokens (batch-encoded, no BOS/EOS) per second of the whole run.
"""

from __future__ import annotations

from typing import Any

from hare.data.synth.mixture import templates

NGRAM_DOCS = 20_000
NGRAM = 4


class Stats:
    def __init__(self, strategies: list[str]) -> None:
        from hare.model.tokenizer import build_tokenizer

        self.tok = build_tokenizer()
        self.used: dict[str, set[str]] = {s: set() for s in strategies}
        self.grams: set[int] = set()
        self.total_grams = self.docs = self.tokens = 0

    def add(self, docs: list[dict[str, Any]]) -> None:
        texts = [d["text"] for d in docs]
        self.tokens += sum(map(len, self.tok(texts, add_special_tokens=False).input_ids))
        for doc in docs:
            self.used.setdefault(doc["strategy"], set()).add(doc["template"])
            if self.docs < NGRAM_DOCS:
                words = doc["text"].lower().split()
                grams = [hash(tuple(words[i:i + NGRAM])) for i in range(len(words) - NGRAM + 1)]
                self.grams.update(grams)
                self.total_grams += len(grams)
            self.docs += 1

    def report(self, seconds: float) -> dict[str, Any]:
        coverage = {}
        for strategy, used in self.used.items():
            available = templates(strategy)
            coverage[strategy] = {"used": len(used & set(available)), "available": len(available),
                                  "ratio": round(len(used & set(available)) / len(available), 3)}
        return {
            "distinct_4gram_ratio": round(len(self.grams) / max(self.total_grams, 1), 4),
            "ngram_sample_docs": min(self.docs, NGRAM_DOCS),
            "template_coverage": coverage,
            "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / max(seconds, 1e-9), 1),
            "docs_per_s": round(self.docs / max(seconds, 1e-9), 1),
        }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"distinct 4-gram ratio: {report['distinct_4gram_ratio']:.4f} "
             f"(first {report['ngram_sample_docs']:,} docs)",
             "template coverage:"]
    for strategy, c in report["template_coverage"].items():
        lines.append(f"  {strategy:<11} {c['used']}/{c['available']}")
    lines.append(f"tokens: {report['tokens']:,} ({report['tokens_per_s']:,.0f} tokens/s), "
                 f"{report['docs_per_s']:,.0f} docs/s")
    return "\n".join(lines)
