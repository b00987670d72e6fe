"""Reading evaluation texts: a plain text file is one text, a JSON-lines file one text per record."""

from __future__ import annotations

from pathlib import Path

from hare.errors import HareError
from hare.io.read import read_jsonl, read_text

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz")


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """A .txt file is one text; a .jsonl/.json(.gz) file gives one text per record's `field`."""
    path = Path(path)
    if not path.name.endswith(JSONL_SUFFIXES):
        return [read_text(path, "text file")]
    texts = []
    for number, _, record in read_jsonl(path):
        if not isinstance(record.get(field), str):
            raise HareError(f"{path}:{number} has no string field '{field}'; pass --field NAME for another field")
        texts.append(record[field])
    if not texts:
        raise HareError(f"'{path}' holds no text (no records); give a file with one {{\"{field}\": …}} object a line")
    return texts
