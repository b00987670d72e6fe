"""`hare eval compare`: several `hare eval lm --output` JSON files as one leaderboard table (the peer table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hare.config import positional
from hare.errors import HareError
from hare.eval.report import markdown_table
from hare.io.read import read_json


@dataclass(kw_only=True)
class CompareConfig:
    files: list[str] = positional("JSON files written by `hare eval lm --output`, one table row each")


FIX = "pass files written by `hare eval lm --output`"


def load_result(path: str) -> dict[str, Any]:
    data = read_json(path, "result file", FIX)
    if not isinstance(data, dict) or not {"model", "size", "avg", "scores"} <= set(data):
        raise HareError(f"'{path}' is not an `eval lm` result (needs model, size, avg and scores); {FIX}")
    scores = data["scores"]
    shapes = {"model": isinstance(data["model"], str), "size": isinstance(data["size"], str),
              "avg": _number(data["avg"]), "limit": data.get("limit") is None or _number(data["limit"]),
              "scores": isinstance(scores, dict) and all(_number(v) for v in scores.values())}
    wrong = [key for key, right in shapes.items() if not right]
    if wrong:  # an edited file had failed in the table's formatting with a traceback
        raise HareError(f"'{path}': {', '.join(wrong)} not as `eval lm` writes them (model and size text, avg a "
                        f"number, scores an object of numbers); {FIX}")
    return data


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def run(cfg: CompareConfig) -> str:
    if not cfg.files:
        raise HareError("no result files given; usage: hare eval compare A.json B.json …")
    table = markdown_table([load_result(f) for f in cfg.files])
    print(table)
    return table
