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

import os
import re
from pathlib import Path

_STEP = re.compile(r"step-(\d+)")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".txt", ".parquet", ".gguf", ".safetensors", ".yaml", ".yml")


def local_path(source: str) -> Path | None:
    """The local path `source` names (existing or not), or None when it names a hub repository."""
    path = Path(source).expanduser()
    if path.exists() or not HUB_ID.fullmatch(source) or source.endswith(FILE_SUFFIXES):
        return path
    return None


def display_name(source: str) -> str:
    """The name a model is shown under in tables, the chat page and /v1/models: its run's, not its folder's.

    Every run exports to `RUN/final` (and checkpoints to `RUN/step-N/model`), so naming by folder showed
    every model as `final`: `runs/chat/final` is "chat", `runs/chat/step-00000100/model` "chat@100",
    `tools.q8_0.gguf` "tools.q8_0", and a hub id stays as it is."""
    if local_path(source) is None:
        return source
    path = Path(os.path.normpath(Path(source).expanduser().absolute()))
    if path.suffix == ".gguf":
        return path.stem
    parts = list(path.parts[1:]) or [str(path)]
    if len(parts) > 1 and parts[-1] == "model" and _STEP.fullmatch(parts[-2]):
        parts.pop()
    if len(parts) > 1 and (step := _STEP.fullmatch(parts[-1])):
        return f"{parts[-2]}@{int(step[1])}"
    if len(parts) > 1 and parts[-1] == "final":
        return parts[-2]
    return parts[-1]


def offline_unless_hub_reachable(timeout: float = 1.5) -> bool:
    """Call before fetching a hub id. When the hub (`HF_ENDPOINT`, default huggingface.co) cannot be
    reached, the hub clients are switched to offline mode: a copy in the local cache still loads, and
    anything else fails at once with one line — instead of five retries over ~50 s and 22 log lines
    (measured). Returns whether the hub is reachable. Behind a proxy the direct probe says nothing, so
    it is skipped."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or any(
            os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        pass
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config

        datasets.config.HF_HUB_OFFLINE = True
    except ImportError:
        pass
    return False
