"""`hare data decontam`: drop training documents that hold benchmark items, HARE's way or GPT-3's.

Benchmark items come from local JSONL(.gz) or parquet files in the schemas of the Open LLM
Leaderboard six (`hare.data.benchmark_items`), each item as separate fields: the question (or
context), the correct answer(s) and the choices. N-grams are cut inside one field, never across
two, because leaked items are rarely framed as the benchmark frames them: a page quotes the
question word for word but writes the choices as "(A) Oxygen (B) Nitrogen … Answer: B", or a
GSM8K problem as "Problem: … Solution: …" without the "#### n" line. Joined into one text, most of
an item's 13-grams spanned a field boundary, and such pages kept too few of them (the default rule
dropped 4 of 10 in a trial).

Words (`decontam_words`): the text is normalised as in dedup, then option letters ("(A)", "A.",
"B)"), label words ("Question:", "Answer:", "Problem:", "Solution:"), "####", GSM8K <<calc>> notes
and line-opening numbers are dropped, on the item's side and the document's alike; the words are
hashed to uint64.

N-gram size per field (`gram_size`): `--n` (13) words when the field has at least
`--min-item-ngrams` (4) of them, else `--min-n` (8) words, else the whole field as one n-gram.
Questions of fewer than 4 words are skipped and counted in the report.

The HARE rule (default) drops a document when, for one item,
  1. more than `--threshold` (50 %) of its question's distinct n-grams occur in it, and
  2. if the question is short (sized below `--n`, i.e. under 16 words), more than `--threshold` of a
     correct answer's 4-grams occur too; a shorter answer ("Nitrogen") must occur as a whole phrase.
Why: 13-word runs of a 16+-word question almost never occur by chance, so the question alone
convicts — a page that quotes it leaks the item even when its choices are framed differently. A
short question's few 8-grams ("which of the following best describes the role of …") do recur in
ordinary text on the same topic; with its correct answer beside it, the page holds what a model
would have to recall. GPT-3's rule (`--mode gpt3`) drops on any shared n-gram of the question, of
a choice or of a solution (fields of at least `--min-n` words). The index holds one sorted uint64
array of the n-grams of every size and, aligned with it, the field of each, so a document costs one
`searchsorted`; answers are checked only for the rare documents whose question matched.

Kept documents are written unchanged to `--out` atomically; `--report` gets per-benchmark counts
and, for every dropped document, its `file:line`, the item, and the share of each matched field's
n-grams found in it (`{"question": 0.83, "answer": 1.0}`).

    hare data decontam --inputs corpus.jsonl.gz --benchmarks evals/ --out clean.jsonl.gz --workers 8
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import check_workers, option
from hare.data.benchmark_items import Item, benchmark_files, load_benchmark
from hare.data.ngrams import (
    check_documents,
    check_outputs,
    input_files,
    ngram_hashes,
    ngram_hashes_of_sizes,
    record_text,
    word_hashes,
    words,
)
from hare.errors import HareError
from hare.io.atomic import atomic_lines, write_text
from hare.io.read import jsonl_lines, parse_line

if TYPE_CHECKING:
    import numpy as np

BATCH_LINES = 512
MIN_QUESTION_WORDS = 4  # a question shorter than this is skipped: a 3-word n-gram convicts nothing
# An answer only confirms a question already found, so it is cut into the smallest n-grams HARE used for
# short texts: a lightly reworded ending ("children" → "kids") still shows, a different answer does not.
ANSWER_N = 4


@dataclass
class DecontamConfig:
    inputs: list[str] = option(help="training JSONL or JSONL.gz files (or directories of them)")
    out: str = option(help="JSONL file for the clean documents (.gz to compress); written atomically")
    benchmarks: list[str] = option(help="benchmark JSONL/parquet files, or directories of them")
    text_field: str = option("text", "JSON field holding the document text")
    n: int = option(13, "words per n-gram for fields long enough (see --min-item-ngrams)")
    min_n: int = option(8, "words per n-gram for short fields; a field shorter still is one n-gram")
    min_item_ngrams: int = option(4, "a field with fewer n-grams of --n words than this counts as short")
    mode: Literal["hare", "gpt3"] = option(
        "hare", "hare: drop when > --threshold of an item's question n-grams occur (with its answer when the "
                "question is short); gpt3: drop on any shared n-gram")
    threshold: float = option(0.5, "share of a field's distinct n-grams that marks it as present (hare)")
    report: str | None = option(None, "JSON report path (per-benchmark counts and every dropped document)")
    workers: int = option(1, "processes checking documents; the output is identical for any number")
    overwrite: bool = option(False, "replace --out and --report if they already exist")

    def validate(self) -> None:
        if not 1 <= self.min_n <= self.n:
            raise HareError(f"need 1 <= --min-n <= --n, got --min-n {self.min_n} --n {self.n}")
        if self.min_item_ngrams < 1:
            raise HareError(f"--min-item-ngrams must be at least 1, got {self.min_item_ngrams}")
        if not 0 <= self.threshold < 1:
            raise HareError(f"--threshold must be in [0, 1), got {self.threshold}")
        check_workers(self.workers)
        check_outputs(self.out, self.report, [*self.inputs, *input_files(self.inputs), *self.benchmarks],
                      self.overwrite)


# ---------------------------------------------------------------------------------------------
# Words: normalised as in dedup, without labels and markers

_CALC = re.compile(r"<<[^>]*>>")  # GSM8K calculator notes: "4 * 9 = <<4*9=36>>36"
_NUMBERING = re.compile(r"(?m)^[ \t]*(?:\d{1,2}|[ivxIVX]{1,4})[.)]")  # "3." or "iv)" opening a line
# Labels and option letters, dropped as words on both sides: then "(A) Oxygen (B) Nitrogen Answer: B" holds
# the words of "Oxygen Nitrogen" and nothing else, whatever the frame. Dropping the article "a" and a few
# label words everywhere costs nothing, since items and documents lose them alike.
LABEL_WORDS = frozenset({"a", "b", "c", "d", "e", "answer", "answers", "question", "problem", "solution",
                         "options", "option", "choices", "q"})


def decontam_words(text: str) -> list[str]:
    """The words n-grams are cut from: `normalize`d (so "####" and other punctuation go), without label
    words and option letters, GSM8K <<calc>> notes and line-opening numbers; a label neither makes nor breaks
    a match. Plain string tests guard the two regexes: a million documents pass through here."""
    if "<<" in text:
        text = _CALC.sub(" ", text)
    if "." in text or ")" in text:
        text = _NUMBERING.sub(" ", text)
    return [w for w in words(text) if w not in LABEL_WORDS]


# ---------------------------------------------------------------------------------------------
# The index: sorted n-gram hashes and the field of each


QUESTION, ANSWER, CHOICE = 0, 1, 2
ROLES = ("question", "answer", "choice")


@dataclass
class Index:
    sizes: tuple[int, ...]  # the n-gram sizes the fields use
    keys: np.ndarray  # sorted uint64 hashes of every field's n-grams, all sizes together
    owners: np.ndarray  # field id of each key
    field_item: np.ndarray  # item of each indexed field
    field_role: np.ndarray  # QUESTION, ANSWER or CHOICE
    field_total: np.ndarray  # distinct n-grams of each field
    needs_answer: np.ndarray  # per item: its question is too short to convict a document alone
    answers: list[list[tuple[int, np.ndarray]]]  # per item: (size, sorted distinct n-grams) of each correct answer
    skipped: np.ndarray  # per item: question too short to index
    item_bench: np.ndarray  # benchmark number of each item
    item_local: np.ndarray  # item number within its benchmark file


def gram_size(words_: int, cfg: DecontamConfig) -> int:
    """n when a text of `words_` words has at least --min-item-ngrams n-grams, else --min-n when it has that
    many words, else all its words (one n-gram: the whole text)."""
    if words_ - cfg.n + 1 >= cfg.min_item_ngrams:
        return cfg.n
    return cfg.min_n if words_ >= cfg.min_n else words_


def field_grams(parts: tuple[str, ...], cfg: DecontamConfig) -> tuple[int, np.ndarray]:
    """(n-gram size, distinct n-gram hashes) of a field; n-grams never cross from one part to the next."""
    import numpy as np

    hashed = [word_hashes(decontam_words(p)) for p in parts]
    size = gram_size(max(map(len, hashed), default=0), cfg)
    if size == 0:
        return 0, np.empty(0, dtype=np.uint64)
    return size, np.unique(np.concatenate([ngram_hashes(h, size) for h in hashed]))


def _fields(item: Item, cfg: DecontamConfig) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(role, parts) of the fields the index holds: the question; under --mode gpt3 also every choice and
    answer of at least --min-n words (GPT-3 counted any shared n-gram of the whole item)."""
    yield QUESTION, item.question
    if cfg.mode == "gpt3":
        for role, texts in ((CHOICE, item.choices), (ANSWER, [a for a in item.answers if a not in item.choices])):
            yield from ((role, (t,)) for t in texts if len(decontam_words(t)) >= cfg.min_n)


def build_index(items: list[tuple[int, int, Item]], cfg: DecontamConfig) -> Index:
    """Index the (benchmark number, item number, item) triples under cfg's n-gram rule. N-grams of every
    size share one sorted array (64-bit hashes of different sizes do not collide in practice), so a
    document costs one `searchsorted`."""
    import numpy as np

    keys, owners, sizes = [], [], set()
    field_item, field_role, field_total = [], [], []
    needs_answer = np.zeros(len(items), dtype=bool)
    skipped = np.zeros(len(items), dtype=bool)
    for i, (_, _, item) in enumerate(items):
        for role, parts in _fields(item, cfg):
            size, grams = field_grams(parts, cfg)
            if role == QUESTION:
                skipped[i] = size < MIN_QUESTION_WORDS
                needs_answer[i] = size < cfg.n and bool(item.answers)
            if not len(grams) or skipped[i]:
                continue
            sizes.add(size)
            keys.append(grams)
            owners.append(np.full(len(grams), len(field_item), dtype=np.int32))
            field_item.append(i), field_role.append(role), field_total.append(len(grams))
    k = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
    o = np.concatenate(owners) if owners else np.empty(0, dtype=np.int32)
    order = np.argsort(k, kind="stable")
    answers = [[_answer_grams(a) for a in item.answers] for _, _, item in items]
    return Index(tuple(sorted(sizes)), k[order], o[order], np.array(field_item, dtype=np.int32),
                 np.array(field_role, dtype=np.int8), np.array(field_total, dtype=np.int64), needs_answer, answers,
                 skipped, np.array([b for b, _, _ in items], dtype=np.int32),
                 np.array([i for _, i, _ in items], dtype=np.int32))


def _answer_grams(answer: str) -> tuple[int, np.ndarray]:
    """(size, distinct n-grams) an answer is looked for by: `ANSWER_N`-grams, or the whole answer when shorter."""
    import numpy as np

    hashed = word_hashes(decontam_words(answer))
    size = min(ANSWER_N, len(hashed))
    return size, np.unique(ngram_hashes(hashed, size)) if size else np.empty(0, dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# Checking a document


class DocGrams:
    """A document's distinct n-gram hashes, computed once per size and only when asked for."""

    def __init__(self, text: str) -> None:
        self.hashed = word_hashes(decontam_words(text))
        self._by_size: dict[int, np.ndarray] = {}

    def __call__(self, size: int) -> np.ndarray:
        import numpy as np

        if size not in self._by_size:
            self._by_size[size] = np.unique(ngram_hashes(self.hashed, size))
        return self._by_size[size]


def _present(keys: np.ndarray, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where each of `grams` would go in the sorted `keys`, whether it is there)."""
    import numpy as np

    at = np.searchsorted(keys, grams)
    return at, keys[np.minimum(at, len(keys) - 1)] == grams if len(keys) else np.zeros(len(grams), dtype=bool)


def field_hits(index: Index, doc: DocGrams) -> tuple[np.ndarray, np.ndarray]:
    """(field ids, share of each field's n-grams found in the document), for fields with any hit."""
    import numpy as np

    grams = np.unique(ngram_hashes_of_sizes(doc.hashed, index.sizes))  # sorted: each search narrows the next
    lo, hit = _present(index.keys, grams)
    if not hit.any():
        return np.empty(0, dtype=np.int32), np.empty(0)
    hi = np.searchsorted(index.keys, grams[hit], "right")  # few n-grams hit, so this search is short
    owners = np.concatenate([index.owners[a:b] for a, b in zip(lo[hit], hi, strict=True)])
    fields, counts = np.unique(owners, return_counts=True)
    return fields, counts / index.field_total[fields]


def answer_share(index: Index, item: int, doc: DocGrams) -> float:
    """The largest share of a correct answer's `ANSWER_N`-grams found in the document; an answer shorter
    than that counts only as a whole phrase (1 or 0)."""
    best = 0.0
    for size, grams in index.answers[item]:
        if len(grams):
            best = max(best, float(_present(doc(size), grams)[1].mean()))
    return best


def check_text(index: Index, text: str, cfg: DecontamConfig) -> tuple[int, dict[str, float]] | None:
    """(item id, {field: share of its n-grams found}) of the item that contaminates `text`, or None when clean.

    gpt3: the item with the largest share among those sharing any n-gram. hare: the item whose question
    has the largest share above --threshold, and, for a short question, a correct answer above it too."""
    import numpy as np

    doc = DocGrams(text)
    fields, share = field_hits(index, doc)
    order = np.argsort(-share, kind="stable")
    for f, found in zip(fields[order].tolist(), share[order].tolist(), strict=True):
        item, role = int(index.field_item[f]), ROLES[index.field_role[f]]
        if cfg.mode == "gpt3":
            return item, {role: round(found, 4)}
        if found <= cfg.threshold:
            return None
        if not index.needs_answer[item]:
            return item, {role: round(found, 4)}
        answer = answer_share(index, item, doc)
        if answer > cfg.threshold:
            return item, {role: round(found, 4), "answer": round(answer, 4)}
    return None


_worker_state: tuple[Index, DecontamConfig] | None = None


def _init_worker(index: Index, cfg: DecontamConfig) -> None:
    global _worker_state
    _worker_state = (index, cfg)


def _check_batch(batch: tuple[str, list[tuple[int, bytes]]]) -> list[tuple[int, dict[str, float]] | None]:
    assert _worker_state is not None, "worker started without _init_worker"
    index, cfg = _worker_state
    path, lines = batch
    return [check_text(index, record_text(parse_line(path, no, line), cfg.text_field, path, no), cfg)
            for no, line in lines]


def _batches(files: list[Path]) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    from hare.data.pack import batched

    for path in files:
        for lines in batched(jsonl_lines(path), BATCH_LINES):
            yield str(path), lines


# ---------------------------------------------------------------------------------------------
# The command


def _load_all(cfg: DecontamConfig) -> tuple[list[dict[str, Any]], Index]:
    benches: list[dict[str, Any]] = []
    items: list[tuple[int, int, Item]] = []
    for b, path in enumerate(benchmark_files(cfg.benchmarks)):
        schema, loaded = load_benchmark(path)
        benches.append({"file": str(path), "name": path.name, "schema": schema, "items": len(loaded)})
        items += [(b, i, item) for i, item in enumerate(loaded)]
    index = build_index(items, cfg)
    for b, bench in enumerate(benches):
        mine = index.item_bench == b
        bench["items_skipped_too_short"] = int(index.skipped[mine].sum())
        bench["items_needing_answer"] = int((index.needs_answer[mine] & ~index.skipped[mine]).sum())
        bench.update(documents_dropped=0, items_hit=0)
    return benches, index


def run(cfg: DecontamConfig) -> dict[str, Any]:
    """Write the documents of `cfg.inputs` that overlap no benchmark item to `cfg.out`; returns the report."""
    from hare.data.pack import ordered_imap

    cfg.validate()
    files = input_files(cfg.inputs)
    benches, index = _load_all(cfg)
    sent: deque[tuple[str, list[tuple[int, bytes]]]] = deque()  # batches in flight, to write the kept lines
    batches = (sent.append(b) or b for b in _batches(files))
    if cfg.workers == 1:
        _init_worker(index, cfg)
        verdicts: Iterator[list[Any]] = map(_check_batch, batches)
    else:
        verdicts = ordered_imap(_check_batch, batches, cfg.workers, _init_worker, (index, cfg))
    dropped: list[dict[str, Any]] = []
    hit: set[int] = set()
    docs = words_seen = 0
    start = time.monotonic()
    with atomic_lines(Path(cfg.out)) as out:
        for batch in verdicts:
            path, lines = sent.popleft()
            for verdict, (no, line) in zip(batch, lines, strict=True):
                docs += 1
                words_seen += len(line.split())  # whitespace words of the record: the unit n-grams are made of
                if verdict is None:
                    out.write(line + b"\n")
                    continue
                item, matched = verdict
                bench = benches[int(index.item_bench[item])]
                bench["documents_dropped"] += 1
                hit.add(item)
                dropped.append({"doc": f"{path}:{no}", "benchmark": bench["name"],
                                "item": int(index.item_local[item]), "matched": matched})
        check_documents(docs)
    seconds = time.monotonic() - start
    for item in hit:
        benches[int(index.item_bench[item])]["items_hit"] += 1
    report = {"documents": docs, "kept": docs - len(dropped), "dropped": len(dropped), "mode": cfg.mode,
              "n": cfg.n, "min_n": cfg.min_n, "threshold": cfg.threshold, "seconds": round(seconds, 3),
              "docs_per_s": round(docs / max(seconds, 1e-9), 1),
              "words_per_s": round(words_seen / max(seconds, 1e-9)), "benchmarks": benches,
              "dropped_documents": dropped}
    if cfg.report:
        write_text(cfg.report, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"decontam {cfg.out}: kept {docs - len(dropped):,} of {docs:,} docs, dropped {len(dropped):,} "
          f"({cfg.mode} rule), {docs / max(seconds, 1e-9):,.0f} docs/s, "
          f"{words_seen / max(seconds, 1e-9):,.0f} words/s", file=sys.stdout)
    return report
