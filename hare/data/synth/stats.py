"""`--stats`: a diversity report for generated documents.

* distinct 4-gram ratio: distinct word 4-grams / all word 4-grams, over the first `NGRAM_DOCS`
  documents (a bounded sample, so memory stays flat for any --num-docs); 1 means no 4-gram repeats.
* template coverage: per strategy, templates used / templates available.
* duplicates: exact and near-duplicate rates, overall and per strategy, over the first `DEDUP_DOCS`
  documents, judged exactly as `hare data dedup` judges with its defaults (same normalisation, MinHash
  of word 5-grams, Jaccard 0.8); a repeat teaches nothing and skews the mixture, so it is reported
  beside the 4-gram ratio, which a few repeats hardly move.
* tokens/s: real HARE-tokenizer tokens (batch-encoded, no BOS/EOS) per second of the whole run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hare.data.synth.mixture import templates

NGRAM_DOCS = 20_000
NGRAM = 4
DEDUP_DOCS = 100_000  # ~1 ms a document and one MinHash each kept in memory, so bounded


class Stats:
    def __init__(self, strategies: list[str]) -> None:
        from hare.data.dedup import DedupConfig, Deduplicator
        from hare.model.tokenizer import build_tokenizer

        self.tok = build_tokenizer()
        self.used: dict[str, set[str]] = {s: set() for s in strategies}
        self.grams: set[int] = set()
        self.total_grams = self.docs = self.tokens = 0
        defaults = DedupConfig(inputs=[], out="")
        self.dedup = Deduplicator(defaults.threshold, defaults.num_perm, defaults.ngram)
        self.checked: Counter[str] = Counter()  # per strategy: documents checked for duplicates
        self.duplicates: Counter[tuple[str, str]] = Counter()  # per (strategy, "exact" | "near")

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
            if self.docs < DEDUP_DOCS:
                self._check_duplicate(doc)
            self.docs += 1

    def _check_duplicate(self, doc: dict[str, Any]) -> None:
        self.checked[doc["strategy"]] += 1
        verdict = self.dedup.check(self.docs, doc["text"])
        if verdict is not None:
            self.duplicates[doc["strategy"], verdict[0]] += 1

    def duplicate_rates(self) -> dict[str, Any]:
        """Exact and near-duplicate shares, overall and per strategy, of the documents checked."""
        def rates(strategies: list[str]) -> dict[str, float]:
            checked = max(sum(self.checked[s] for s in strategies), 1)
            return {kind: round(sum(self.duplicates[s, kind] for s in strategies) / checked, 5)
                    for kind in ("exact", "near")}

        return {"docs": sum(self.checked.values()), **rates(list(self.checked)),
                "per_strategy": {s: rates([s]) for s in self.checked}}

    def report(self, seconds: float) -> dict[str, Any]:
        coverage = {}
        for strategy, used in self.used.items():
            available = templates(strategy)
            coverage[strategy] = {"used": len(used & set(available)), "available": len(available),
                                  "ratio": round(len(used & set(available)) / len(available), 3)}
        return {
            "distinct_4gram_ratio": round(len(self.grams) / max(self.total_grams, 1), 4),
            "ngram_sample_docs": min(self.docs, NGRAM_DOCS),
            "duplicates": self.duplicate_rates(),
            "template_coverage": coverage,
            "tokens": self.tokens,
            "tokens_per_s": round(self.tokens / max(seconds, 1e-9), 1),
            "docs_per_s": round(self.docs / max(seconds, 1e-9), 1),
        }


def format_report(report: dict[str, Any]) -> str:
    lines = [f"distinct 4-gram ratio: {report['distinct_4gram_ratio']:.4f} "
             f"(first {report['ngram_sample_docs']:,} docs)"]
    dup = report["duplicates"]
    lines.append(f"duplicates as hare data dedup judges them (first {dup['docs']:,} docs): exact {dup['exact']:.2%}, "
                 f"near {dup['near']:.2%}")
    lines += [f"  {name:<11} exact {r['exact']:.2%}, near {r['near']:.2%}" for name, r in dup["per_strategy"].items()]
    lines.append("template coverage:")
    for strategy, c in report["template_coverage"].items():
        lines.append(f"  {strategy:<11} {c['used']}/{c['available']}")
    lines.append(f"tokens: {report['tokens']:,} ({report['tokens_per_s']:,.0f} tokens/s), "
                 f"{report['docs_per_s']:,.0f} docs/s")
    return "\n".join(lines)
