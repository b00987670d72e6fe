"""Benchmark items as separate fields, read from local files in the schemas of the Open LLM Leaderboard six.

Decontamination used to join an item's fields into one string (question + every choice), so most of
its n-grams spanned a field boundary and a document that framed the same fields differently
("(A) Oxygen (B) Nitrogen … Answer: B", "Problem: … Solution: …") shared too few of them. Here an
item keeps its fields apart and `hare.data.decontam` cuts n-grams inside each field only:

    schema      question                                answers (the correct ones)       choices
    mmlu        question                                choices[answer]                  choices
    arc         question                                the choice labelled answerKey    choices.text
    truthfulqa  question                                mc1 (else mc2) choices labelled 1 those choices
    winogrande  sentence, cut in two at the blank "_"   the option that fills the blank  option1, option2
    hellaswag   ctx                                     endings[label] (all when unknown) endings
    gsm8k       question                                the solution without <<calc>> notes and "#### n"

The schema of each file is detected from the fields of its first record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import shown
from hare.data.ngrams import input_files
from hare.errors import HareError
from hare.io.read import read_jsonl

BENCH_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
_CALC = re.compile(r"<<[^>]*>>")
_FINAL = re.compile(r"\s*####[^\n]*$")


@dataclass(frozen=True)
class Item:
    """One benchmark item; no n-gram is cut across two of its fields."""

    question: tuple[str, ...]  # the question or context; a blank splits it into parts (Winogrande)
    answers: tuple[str, ...]  # the correct choice, ending, option or solution (several when the label is unknown)
    choices: tuple[str, ...] = ()  # every choice shown with the question


def _choice(choices: list[Any], key: Any, labels: list[Any] | None = None) -> tuple[str, ...]:
    """The choice that `key` (an index, a digit string or a label) names; every choice when it names none."""
    texts = tuple(map(str, choices))
    if labels is not None and key in labels:
        return (texts[labels.index(key)],)
    text = str(key).strip()
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(texts):
        return (texts[int(text)],)
    if len(text) == 1 and text.isalpha() and 0 <= ord(text.upper()) - ord("A") < len(texts):
        return (texts[ord(text.upper()) - ord("A")],)
    return texts


def _mmlu(r: dict[str, Any]) -> Item:
    return Item((r["question"],), _choice(r["choices"], r["answer"]), tuple(map(str, r["choices"])))


def _arc(r: dict[str, Any]) -> Item:
    choices = r["choices"]
    return Item((r["question"],), _choice(choices["text"], r["answerKey"], list(choices["label"])),
                tuple(map(str, choices["text"])))


def _truthfulqa(r: dict[str, Any]) -> Item:
    targets = r.get("mc1_targets") or r.get("mc2_targets") or {}
    choices = tuple(map(str, targets.get("choices", [])))
    right = tuple(c for c, label in zip(choices, targets.get("labels", []), strict=False) if label == 1)
    return Item((r["question"],), right or choices, choices)


def _winogrande(r: dict[str, Any]) -> Item:
    options = [str(r["option1"]), str(r["option2"])]
    parts = tuple(p for p in str(r["sentence"]).split("_", 1) if p.strip())
    answer = str(r["answer"]).strip()
    return Item(parts, _choice(options, int(answer) - 1 if answer.isdigit() else -1), tuple(options))


def _hellaswag(r: dict[str, Any]) -> Item:
    return Item((str(r["ctx"]),), _choice(r["endings"], r.get("label", "")), tuple(map(str, r["endings"])))


def _gsm8k(r: dict[str, Any]) -> Item:
    return Item((r["question"],), (_FINAL.sub("", _CALC.sub("", str(r["answer"]))),))


# name → (test on a record's fields, item); tried in order, so the most specific come first.
SCHEMAS: dict[str, tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], Item]]] = {
    "truthfulqa": (lambda r: "question" in r and ("mc1_targets" in r or "mc2_targets" in r), _truthfulqa),
    "arc": (lambda r: "question" in r and isinstance(r.get("choices"), dict) and "answerKey" in r, _arc),
    "mmlu": (lambda r: "question" in r and isinstance(r.get("choices"), list) and "answer" in r, _mmlu),
    "winogrande": (lambda r: {"sentence", "option1", "option2", "answer"} <= r.keys(), _winogrande),
    "hellaswag": (lambda r: {"ctx", "endings"} <= r.keys(), _hellaswag),
    "gsm8k": (lambda r: "question" in r and isinstance(r.get("answer"), str), _gsm8k),
}


# The field each schema reads its question (or context) from: the one field every item is indexed by, so one that
# is not text (a number, a list) is refused naming it, not met as a TypeError deep in the n-gram code.
QUESTION_FIELDS = {"truthfulqa": "question", "arc": "question", "mmlu": "question", "winogrande": "sentence",
                   "hellaswag": "ctx", "gsm8k": "question"}


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


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) of each item: "line N" of a JSONL file, "row N" of a parquet one (from 1)."""
    if path.name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError, pa.ArrowException) as err:
            raise HareError(f"cannot read benchmark file '{path}' as parquet ({err}); check the file") from None
        yield from ((f"row {n}", row) for n, row in enumerate(rows, 1))
        return
    for lineno, _, record in read_jsonl(path):
        yield f"line {lineno}", record


def benchmark_files(paths: list[str]) -> list[Path]:
    """Benchmark files named by `paths`, directories expanded (sorted); a missing path is a HareError."""
    return input_files(paths, BENCH_SUFFIXES, "--benchmarks")


def load_benchmark(path: Path) -> tuple[str, list[Item]]:
    """(schema, items) of one benchmark file."""
    schema, items = None, []
    for where, record in _records(path):
        schema = schema or detect_schema(record, path)
        field = QUESTION_FIELDS[schema]
        if field in record and not isinstance(record[field], str):
            raise HareError(f"benchmark file '{path}' {where}: field '{field}' holds {type(record[field]).__name__} "
                            f"{shown(record[field])}, not text; write the {schema} item's {field} as a string")
        try:
            items.append(SCHEMAS[schema][1](record))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as err:
            raise HareError(f"benchmark file '{path}' {where} does not fit the {schema} schema "
                            f"({type(err).__name__}: {err}); fix the item") from None
    if schema is None:
        raise HareError(f"benchmark file '{path}' holds no items; remove it or point --benchmarks elsewhere")
    return schema, items
