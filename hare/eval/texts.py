"""Reading evaluation inputs: plain text files and JSON-lines records, with errors that name the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hare.errors import HareError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank line of a JSON-lines file (.jsonl or .json)."""
    path = Path(path)
    if not path.is_file():
        raise HareError(f"'{path}' does not exist or is not a file; check the path")
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise HareError(f"{path}:{number} is not valid JSON ({err.msg}); write one object per line") from None
            if not isinstance(record, dict):
                raise HareError(f"{path}:{number} is not a JSON object; write one object per line")
            yield number, record


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """A .txt file is one text; a .jsonl/.json file gives one text per record's `field`."""
    path = Path(path)
    if path.suffix not in (".jsonl", ".json"):
        if not path.is_file():
            raise HareError(f"'{path}' does not exist or is not a file; check the path")
        return [path.read_text(encoding="utf-8")]
    texts = []
    for number, record in iter_jsonl(path):
        if not isinstance(record.get(field), str):
            raise HareError(f"{path}:{number} has no string field '{field}'; pass --field NAME for another field")
        texts.append(record[field])
    return texts
