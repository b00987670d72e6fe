"""The leaderboard table HARE reports (`| Model | Size | avg | MMLU | … |`), shared by `eval lm` and `eval compare`.

One row per evaluated model; scores are percentages with two decimals, as in the HARE README. A task
a model was not run on shows as "–" and is left out of that model's average.
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("MMLU", "ARC", "TruthfulQA", "Winogrande", "HellaSwag", "GSM8K")


def format_size(params: int) -> str:
    """17,612,288 → "17.6M"; 1,123,117,056 → "1.1B"."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if params >= scale:
            return f"{params / scale:.1f}{unit}"
    return str(params)


def average(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores) if scores else float("nan")


def row_name(row: dict[str, Any]) -> str:
    """The model's name, marked when its scores are partial (`--limit`: only the first N items of each
    task), so a quick check is never read as a full result beside real ones."""
    return f"{row['model']} (first {row['limit']} items)" if row.get("limit") else row["model"]


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows are `eval lm` results: {"model", "size", "avg", "scores": {column: percent}}; a task a row was
    not run on shows as "–"."""
    columns = [c for c in COLUMNS if any(c in r["scores"] for r in rows)]
    head = ["Model", "Size", "avg", *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [row_name(r), r["size"], f"{r['avg']:.2f}"]
        cells += [f"{r['scores'][c]:.2f}" if c in r["scores"] else "–" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
