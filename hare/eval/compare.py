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
    return data


def run(cfg: CompareConfig) -> str:
    if not cfg.files:
        raise HareError("no result files given; usage: hare eval compare A.json B.json …")
    table = markdown_table([load_result(f) for f in cfg.files])
    print(table)
    return table
