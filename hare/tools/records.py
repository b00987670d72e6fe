"""Tool-calling records, `{"query": str, "calls": [{"name", "arguments"}]}` a line: read once, checked
against the spec, for every stage that takes them (`tools train`, `tools eval`, the quickstart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hare.errors import HareError
from hare.io.read import check_file, read_jsonl
from hare.tools.calls import validate
from hare.tools.spec import Function


def read_records(path: Path, functions: list[Function]) -> list[dict[str, Any]]:
    """The records of a JSONL(.gz) file, each call checked against `functions`; errors name the line."""
    fix = (f"pass one of its files, e.g. {path / 'val.jsonl'}" if (path / "val.jsonl").is_file() else
           "make tool data with `hare tools data`")  # the directory `hare tools data` wrote
    check_file(path, "tool data", fix)
    by_name = {f.name: f for f in functions}
    records = []
    for n, _, record in read_jsonl(path):
        try:
            names = [c["name"] for c in record["calls"]]
            arguments = [c.get("arguments", {}) for c in record["calls"]]
            if not isinstance(record["query"], str) or not all(isinstance(a, dict) for a in arguments):
                raise TypeError("query or arguments")
        except (KeyError, TypeError, AttributeError):
            raise HareError(f'{path}:{n}: expected {{"query": str, "calls": [{{"name", "arguments"}}]}}') from None
        for name, args in zip(names, arguments, strict=True):
            if name not in by_name:
                raise HareError(f"{path}:{n}: unknown function '{name}'; the spec has: {', '.join(by_name)}")
            checked = validate(by_name[name], args)
            if isinstance(checked, str):
                raise HareError(f"{path}:{n}: {checked}")
        records.append(record)
    if not records:
        raise HareError(f"{path} holds no records; make tool data with `hare tools data`")
    return records
