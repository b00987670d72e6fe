"""`hare data decontam`: drop training documents that overlap benchmark items, HARE's way or GPT-3's.

Benchmark items come from local JSONL(.gz) or parquet files in the schemas of the Open LLM
Leaderboard six; the schema of each file is detected from its fields:

    mmlu        question, choices [..], answer (index)          text: question + every choice
    arc         question, choices {text, label}, answerKey      text: question + every choice
    truthfulqa  question, mc1_targets / mc2_targets {choices}   text: question + every mc1 (else mc2) choice
    winogrande  sentence, option1, option2, answer              text: sentence with "_" filled by the answer
    hellaswag   ctx, endings [..], label                        text: ctx + the correct ending
    gsm8k       question, answer (worked solution)              text: question + answer without <<calc>> notes

Texts are normalised as in dedup (`hare.data.ngrams.normalize`) and cut into word n-grams hashed to
uint64. An item with at least `--min-item-ngrams` n-grams of `--n` words uses those; a shorter item
uses n-grams of `--min-n` words (HARE used 4–8 for short texts); an item with fewer than `--min-n`
words is skipped and counted in the report. Each n-gram size keeps a sorted uint64 array of item
n-gram hashes and, aligned with it, the item each belongs to, so a document costs one
`searchsorted` per size.

Rules: `--mode hare` drops a document when more than `--threshold` of ANY single item's distinct
n-grams occur in it; `--mode gpt3` drops it when any item n-gram occurs in it. Kept documents are
written unchanged to `--out` atomically; `--report` gets per-benchmark counts (documents dropped,
items hit) and every dropped document's `file:line` with the item and overlap.

    hare data decontam --inputs corpus.jsonl.gz --benchmarks evals/ --out clean.jsonl.gz --workers 8
"""

from __future__ import annotations

import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import option
from hare.data.ngrams import (
    AtomicLines,
    input_files,
    iter_jsonl,
    iter_lines,
    ngram_hashes,
    parse_record,
    record_text,
    word_hashes,
    words,
    write_json,
)
from hare.errors import HareError

if TYPE_CHECKING:
    import numpy as np

BENCH_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
BATCH_LINES = 512


@dataclass
class DecontamConfig:
    inputs: list[str] = option(help="training JSONL or JSONL.gz files (or directories of them)")
    out: str = option(help="JSONL file for the clean documents (.gz to compress); written atomically")
    benchmarks: list[str] = option(help="benchmark JSONL/parquet files, or directories of them")
    text_field: str = option("text", "JSON field holding the document text")
    n: int = option(13, "words per n-gram for items long enough (see --min-item-ngrams)")
    min_n: int = option(8, "words per n-gram for short items; items with fewer words are skipped")
    min_item_ngrams: int = option(4, "an item with fewer n-grams of --n words than this counts as short")
    mode: Literal["hare", "gpt3"] = option(
        "hare", "hare: drop when > --threshold of one item's n-grams occur; gpt3: drop on any shared n-gram")
    threshold: float = option(0.5, "share of an item's distinct n-grams that marks a document contaminated (hare)")
    report: str | None = option(None, "JSON report path (per-benchmark counts and every dropped document)")
    workers: int = option(1, "processes checking documents; the output is identical for any number")
    overwrite: bool = option(False, "replace --out if it already exists")

    def validate(self) -> None:
        if not 1 <= self.min_n <= self.n:
            raise HareError(f"need 1 <= --min-n <= --n, got --min-n {self.min_n} --n {self.n}")
        if self.min_item_ngrams < 1:
            raise HareError(f"--min-item-ngrams must be at least 1, got {self.min_item_ngrams}")
        if not 0 <= self.threshold < 1:
            raise HareError(f"--threshold must be in [0, 1), got {self.threshold}")
        if self.workers < 1:
            raise HareError(f"--workers must be at least 1, got {self.workers}")
        if Path(self.out).exists() and not self.overwrite:
            raise HareError(f"'{self.out}' already exists; choose another --out or pass --overwrite")


# ---------------------------------------------------------------------------------------------
# Benchmark schemas


def _mmlu(r: dict[str, Any]) -> str:
    return " ".join([r["question"], *map(str, r["choices"])])


def _arc(r: dict[str, Any]) -> str:
    return " ".join([r["question"], *map(str, r["choices"]["text"])])


def _truthfulqa(r: dict[str, Any]) -> str:
    targets = r.get("mc1_targets") or r.get("mc2_targets") or {}
    return " ".join([r["question"], *map(str, targets.get("choices", []))])


def _winogrande(r: dict[str, Any]) -> str:
    answer = r["option1"] if str(r["answer"]) == "1" else r["option2"]
    return str(r["sentence"]).replace("_", str(answer), 1)


def _hellaswag(r: dict[str, Any]) -> str:
    label = int(r["label"]) if str(r.get("label", "")).strip().lstrip("-").isdigit() else -1
    ending = r["endings"][label] if 0 <= label < len(r["endings"]) else " ".join(r["endings"])
    return f"{r['ctx']} {ending}"


def _gsm8k(r: dict[str, Any]) -> str:
    return f"{r['question']} {re.sub(r'<<[^>]*>>', '', str(r['answer']))}"


# name → (test on a record's fields, item text); tried in order, so the most specific come first.
SCHEMAS: dict[str, tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], str]]] = {
    "truthfulqa": (lambda r: "question" in r and ("mc1_targets" in r or "mc2_targets" in r), _truthfulqa),
    "arc": (lambda r: "question" in r and isinstance(r.get("choices"), dict) and "answerKey" in r, _arc),
    "mmlu": (lambda r: "question" in r and isinstance(r.get("choices"), list) and "answer" in r, _mmlu),
    "winogrande": (lambda r: {"sentence", "option1", "option2", "answer"} <= r.keys(), _winogrande),
    "hellaswag": (lambda r: {"ctx", "endings"} <= r.keys(), _hellaswag),
    "gsm8k": (lambda r: "question" in r and isinstance(r.get("answer"), str), _gsm8k),
}


def detect_schema(record: dict[str, Any], path: Path) -> str:
    """The schema name whose fields `record` has; unknown → HareError listing the supported ones."""
    for name, (test, _) in SCHEMAS.items():
        if test(record):
            return name
    raise HareError(
        f"benchmark file '{path}' has fields {sorted(record)}, which match no supported schema; supported: "
        "mmlu (question, choices, answer), arc (question, choices{text,label}, answerKey), truthfulqa (question, "
        "mc1_targets/mc2_targets), winogrande (sentence, option1, option2, answer), hellaswag (ctx, endings, label), "
        "gsm8k (question, answer)"
    )


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if path.name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            yield from pq.read_table(path).to_pylist()
        except (OSError, ValueError, pa.ArrowException) as err:
            raise HareError(f"cannot read benchmark file '{path}' as parquet ({err}); check the file") from None
        return
    for _, _, record in iter_jsonl(path):
        yield record


def benchmark_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.name.endswith(BENCH_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise HareError(f"benchmark path '{item}' does not exist; pass benchmark files or a directory of them")
    if not files:
        raise HareError(f"no benchmark files ({', '.join(BENCH_SUFFIXES)}) found in {paths}; check --benchmarks")
    return files


def load_benchmark(path: Path) -> tuple[str, list[str]]:
    """(schema, item texts) of one benchmark file."""
    schema, texts = None, []
    for record in _records(path):
        schema = schema or detect_schema(record, path)
        try:
            texts.append(SCHEMAS[schema][1](record))
        except (KeyError, IndexError, TypeError, AttributeError) as err:
            raise HareError(f"benchmark file '{path}' item {len(texts)} does not fit the {schema} schema "
                            f"({type(err).__name__}: {err}); fix the item") from None
    if schema is None:
        raise HareError(f"benchmark file '{path}' holds no items; remove it or point --benchmarks elsewhere")
    return schema, texts


# ---------------------------------------------------------------------------------------------
# The index: per n-gram size, sorted hashes and the item of each


@dataclass
class Index:
    sizes: dict[int, tuple[np.ndarray, np.ndarray]]  # n → (sorted uint64 hashes, item id of each)
    totals: np.ndarray  # distinct n-grams per item (0: skipped)
    item_bench: np.ndarray  # benchmark number of each item
    item_local: np.ndarray  # item number within its benchmark file


def build_index(texts: list[tuple[int, int, str]], cfg: DecontamConfig) -> Index:
    """Index the (benchmark number, item number, text) triples under cfg's n-gram rule."""
    import numpy as np

    per_size: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    totals = np.zeros(len(texts), dtype=np.int64)
    for item, (_, _, text) in enumerate(texts):
        hashed = word_hashes(words(text))
        size = cfg.n if len(hashed) - cfg.n + 1 >= cfg.min_item_ngrams else cfg.min_n
        grams = np.unique(ngram_hashes(hashed, size))
        if not len(grams):
            continue
        totals[item] = len(grams)
        keys, owners = per_size.setdefault(size, ([], []))
        keys.append(grams)
        owners.append(np.full(len(grams), item, dtype=np.int32))
    sizes = {}
    for size, (keys, owners) in sorted(per_size.items()):
        k, o = np.concatenate(keys), np.concatenate(owners)
        order = np.argsort(k, kind="stable")
        sizes[size] = (k[order], o[order])
    bench = np.array([b for b, _, _ in texts], dtype=np.int32)
    local = np.array([i for _, i, _ in texts], dtype=np.int32)
    return Index(sizes, totals, bench, local)


def check_text(index: Index, text: str, mode: str, threshold: float) -> tuple[int, float] | None:
    """(item id, overlap share) of the item that contaminates `text` most, or None when clean."""
    import numpy as np

    hashed = word_hashes(words(text))
    best: tuple[int, float] | None = None
    for size, (keys, owners) in index.sizes.items():
        grams = np.unique(ngram_hashes(hashed, size))
        lo = np.searchsorted(keys, grams, "left")
        hi = np.searchsorted(keys, grams, "right")
        hit = hi > lo
        if not hit.any():
            continue
        items = np.concatenate([owners[a:b] for a, b in zip(lo[hit], hi[hit], strict=True)])
        ids, counts = np.unique(items, return_counts=True)
        share = counts / index.totals[ids]
        top = int(np.argmax(share))
        if best is None or share[top] > best[1]:
            best = (int(ids[top]), float(share[top]))
    if best is None or (mode == "hare" and best[1] <= threshold):
        return None
    return best


_worker_state: tuple[Index, str, str, float] | None = None


def _init_worker(index: Index, field: str, mode: str, threshold: float) -> None:
    global _worker_state
    _worker_state = (index, field, mode, threshold)


def _check_batch(batch: tuple[str, list[tuple[int, bytes]]]) -> list[tuple[int, float] | None]:
    assert _worker_state is not None, "worker started without _init_worker"
    index, field, mode, threshold = _worker_state
    path, lines = batch
    return [check_text(index, record_text(parse_record(path, no, line), field, path, no), mode, threshold)
            for no, line in lines]


def _batches(files: list[Path]) -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    from hare.data.pack import batched

    for path in files:
        for lines in batched(iter_lines(path), BATCH_LINES):
            yield str(path), lines


# ---------------------------------------------------------------------------------------------
# The command


def _load_all(cfg: DecontamConfig) -> tuple[list[dict[str, Any]], Index]:
    benches: list[dict[str, Any]] = []
    texts: list[tuple[int, int, str]] = []
    for b, path in enumerate(benchmark_files(cfg.benchmarks)):
        schema, items = load_benchmark(path)
        benches.append({"file": str(path), "name": path.name, "schema": schema, "items": len(items)})
        texts += [(b, i, t) for i, t in enumerate(items)]
    index = build_index(texts, cfg)
    for b, bench in enumerate(benches):
        mine = index.item_bench == b
        bench["items_skipped_too_short"] = int((index.totals[mine] == 0).sum())
        bench.update(documents_dropped=0, items_hit=0)
    return benches, index


def run(cfg: DecontamConfig) -> dict[str, Any]:
    """Write the documents of `cfg.inputs` that overlap no benchmark item to `cfg.out`; returns the report."""
    from hare.data.pack import ordered_imap

    cfg.validate()
    files = input_files(cfg.inputs)
    benches, index = _load_all(cfg)
    state = (index, cfg.text_field, cfg.mode, cfg.threshold)
    sent: deque[tuple[str, list[tuple[int, bytes]]]] = deque()  # batches in flight, to write the kept lines
    batches = (sent.append(b) or b for b in _batches(files))
    if cfg.workers == 1:
        _init_worker(*state)
        verdicts: Iterator[list[Any]] = map(_check_batch, batches)
    else:
        verdicts = ordered_imap(_check_batch, batches, cfg.workers, _init_worker, state)
    dropped: list[dict[str, Any]] = []
    hit: set[int] = set()
    docs = words = 0
    start = time.monotonic()
    with AtomicLines(Path(cfg.out)) as out:
        for batch in verdicts:
            path, lines = sent.popleft()
            for verdict, (no, line) in zip(batch, lines, strict=True):
                docs += 1
                words += len(line.split())  # whitespace words of the record: the unit n-grams are made of
                if verdict is None:
                    out.write(line)
                    continue
                item, share = verdict
                bench = benches[int(index.item_bench[item])]
                bench["documents_dropped"] += 1
                hit.add(item)
                dropped.append({"doc": f"{path}:{no}", "benchmark": bench["name"],
                                "item": int(index.item_local[item]), "overlap": round(share, 4)})
    seconds = time.monotonic() - start
    for item in hit:
        benches[int(index.item_bench[item])]["items_hit"] += 1
    report = {"documents": docs, "kept": docs - len(dropped), "dropped": len(dropped), "mode": cfg.mode,
              "n": cfg.n, "min_n": cfg.min_n, "threshold": cfg.threshold, "seconds": round(seconds, 3),
              "docs_per_s": round(docs / max(seconds, 1e-9), 1), "words_per_s": round(words / max(seconds, 1e-9)),
              "benchmarks": benches, "dropped_documents": dropped}
    if cfg.report:
        write_json(Path(cfg.report), report)
    print(f"decontam {cfg.out}: kept {docs - len(dropped):,} of {docs:,} docs, dropped {len(dropped):,} "
          f"({cfg.mode} rule), {docs / max(seconds, 1e-9):,.0f} docs/s, {words / max(seconds, 1e-9):,.0f} words/s",
          file=sys.stdout)
    return report
