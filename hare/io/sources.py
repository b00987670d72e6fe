"""Local path or Hugging Face hub id: the one rule, the same for models and for data.

`--model`, `--tokenizer`, `sft --data` and `data pack --inputs` take either. The rule:

1. A path that exists is local, whatever it looks like: a directory `org/name` in the working
   directory wins over the hub repository of that name.
2. Otherwise it is a hub id only if it has the hub's shape, `owner/name`: two parts of letters,
   digits, `-`, `_` and `.`, each starting with a letter or digit, not ending like a file
   (`.jsonl`, `.gz`, `.gguf`, …).
3. Anything else is a local path that does not exist: `foo`, `./foo`, `~/x`, `/abs`, `a/b/c`, `x.jsonl`.

A bare `name` is a path because every hub repository has an owner (`gpt2` is
`openai-community/gpt2`): a mistyped local directory then says "does not exist" rather than
going online, for a checkpoint and a dataset alike.
"""

from __future__ import annotations

import re
from pathlib import Path

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".txt", ".parquet", ".gguf", ".safetensors", ".yaml", ".yml")


def local_path(source: str) -> Path | None:
    """The local path `source` names (existing or not), or None when it names a hub repository."""
    path = Path(source).expanduser()
    if path.exists() or not HUB_ID.fullmatch(source) or source.endswith(FILE_SUFFIXES):
        return path
    return None
