"""`hare data dedup`: drop exact and near-duplicate documents from JSONL corpora, keeping the first.

Documents are read in order (files as given, then line by line). Two passes happen per document:

1. Exact: the blake2b digest of the normalised text (lowercase, punctuation → space, whitespace
   collapsed; see `hare.data.ngrams.normalize`) is looked up among the kept documents.
2. Near: a MinHash of its word `--ngram`-shingles is queried in a `datasketch.MinHashLSH` index of
   the kept documents at `--threshold` (Jaccard); among the candidates, the one with the highest
   estimated Jaccard at or above the threshold is the original (LSH candidates below it are kept).

Kept documents are written unchanged (the original JSON line) to `--out`, atomically (gzip when it
ends in .gz). `--report` gets a JSON report: counts, and for every removed document its
`file:line`, the `file:line` of the kept document it duplicates, `exact` or `near`, and the
estimated Jaccard. When records name where they came from (`hare data synth` writes `strategy` and
`template`), the report also counts documents and duplicates per source (`by_source`, most
repeated first), so the templates that repeat themselves are named. Memory grows with the kept
documents (one MinHash each), as for any MinHash-LSH.

    hare data dedup --inputs a.jsonl.gz b.jsonl --out clean.jsonl.gz --report dedup.json
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import check_range, option
from hare.data.ngrams import check_documents, check_outputs, input_files, record_text, shingles, text_digest, words
from hare.errors import HareError
from hare.io.atomic import atomic_lines, write_text
from hare.io.read import read_jsonl

SOURCE_FIELDS = ("strategy", "template")  # record fields that say where a document came from, when present


@dataclass
class DedupConfig:
    inputs: list[str] = option(help="JSONL or JSONL.gz files (or directories of them), read in the order given")
    out: str = option(help="JSONL file for the kept documents (.gz to compress); written atomically")
    text_field: str = option("text", "JSON field holding the document text")
    threshold: float = option(0.8, "estimated Jaccard similarity of word shingles that marks a near-duplicate")
    num_perm: int = option(128, "MinHash permutations (more: better Jaccard estimates, slower)")
    ngram: int = option(5, "words per shingle")
    report: str | None = option(None, "JSON report path (counts and every removed document with its original)")
    overwrite: bool = option(False, "replace --out and --report if they already exist")

    def validate(self) -> None:
        if not 0 < self.threshold <= 1:
            raise HareError(f"--threshold must be in (0, 1], got {self.threshold}")
        # Under 16 the Jaccard estimates are too coarse for any threshold; datasketch builds its LSH bands by
        # trying every split of the permutations (1024: a quarter second), and 10**20 of them never finished.
        check_range("--num-perm", self.num_perm, 16, 1024, fix="the default 128 estimates Jaccard within ~0.04")
        if self.ngram < 1:
            raise HareError(f"--ngram must be at least 1, got {self.ngram}")
        check_outputs(self.out, self.report, [*self.inputs, *input_files(self.inputs)], self.overwrite)


class Deduplicator:
    """Remembers kept documents; `check(text)` → None (new) or (kind, kept id, jaccard)."""

    def __init__(self, threshold: float, num_perm: int, ngram: int) -> None:
        from datasketch import MinHashLSH

        self.threshold, self.num_perm, self.ngram = threshold, num_perm, ngram
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.exact: dict[bytes, int] = {}
        self.sketches: dict[int, Any] = {}

    def _minhash(self, text: str) -> Any:
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=1)
        m.update_batch(shingles(words(text), self.ngram))
        return m

    def check(self, doc_id: int, text: str) -> tuple[str, int, float] | None:
        """Classify document `doc_id`; if it is new, remember it as kept."""
        digest = text_digest(text)
        if digest in self.exact:
            return "exact", self.exact[digest], 1.0
        sketch = self._minhash(text)
        best: tuple[float, int] | None = None
        for kept in self.lsh.query(sketch):
            jaccard = float(sketch.jaccard(self.sketches[kept]))
            if jaccard >= self.threshold and (best is None or (jaccard, -kept) > (best[0], -best[1])):
                best = (jaccard, kept)
        if best is not None:
            return "near", best[1], best[0]
        self.exact[digest] = doc_id
        self.sketches[doc_id] = sketch
        self.lsh.insert(doc_id, sketch)
        return None


def _most_repeated_first(by_source: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    order = sorted(by_source, key=lambda source: -by_source[source]["exact"] - by_source[source]["near"])
    return {s: {"documents": by_source[s]["documents"], "exact": by_source[s]["exact"], "near": by_source[s]["near"]}
            for s in order}


def run(cfg: DedupConfig) -> dict[str, Any]:
    """Deduplicate `cfg.inputs` into `cfg.out`; returns the report (also written to `cfg.report`)."""
    cfg.validate()
    files = input_files(cfg.inputs)
    dedup = Deduplicator(cfg.threshold, cfg.num_perm, cfg.ngram)
    where: dict[int, str] = {}  # kept doc id → "file:line"
    removed: list[dict[str, Any]] = []
    by_source: dict[str, Counter[str]] = defaultdict(Counter)  # "strategy/template" → documents, exact, near
    counts = {"documents": 0, "kept": 0, "exact_duplicates": 0, "near_duplicates": 0}
    start = time.monotonic()
    with atomic_lines(Path(cfg.out)) as out:
        for path in files:
            for lineno, line, record in read_jsonl(path):
                text = record_text(record, cfg.text_field, path, lineno)
                doc_id = counts["documents"]
                counts["documents"] += 1
                verdict = dedup.check(doc_id, text)
                source = "/".join(str(record[k]) for k in SOURCE_FIELDS if k in record)
                if source:
                    by_source[source]["documents"] += 1
                if verdict is None:
                    where[doc_id] = f"{path}:{lineno}"
                    counts["kept"] += 1
                    out.write(line + b"\n")
                    continue
                kind, kept, jaccard = verdict
                counts[f"{kind}_duplicates"] += 1
                if source:
                    by_source[source][kind] += 1
                removed.append({"doc": f"{path}:{lineno}", "duplicate_of": where[kept], "kind": kind,
                                "jaccard": round(jaccard, 4), **({"source": source} if source else {})})
        check_documents(counts["documents"])
    seconds = time.monotonic() - start
    report = {**counts, "threshold": cfg.threshold, "num_perm": cfg.num_perm, "ngram": cfg.ngram,
              "inputs": [str(p) for p in files], "out": cfg.out, "seconds": round(seconds, 3), "removed": removed}
    if by_source:
        report["by_source"] = _most_repeated_first(by_source)
    if cfg.report:
        write_text(cfg.report, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"dedup {cfg.out}: kept {counts['kept']:,} of {counts['documents']:,} docs "
          f"({counts['exact_duplicates']:,} exact, {counts['near_duplicates']:,} near duplicates), "
          f"{counts['documents'] / max(seconds, 1e-9):,.0f} docs/s", file=sys.stdout)
    return report
