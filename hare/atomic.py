"""Outputs that appear whole or not at all: build in a hidden sibling path, then rename.

A rename within one filesystem is atomic, so readers see either the old output, or the complete
new one — never a half-written checkpoint, dataset or GGUF file, whatever kills the writer.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from hare.errors import HareError


def temp_sibling(out: Path, tag: str = "tmp") -> Path:
    """A hidden, unique path next to `out` (same filesystem, so the final rename is atomic)."""
    return out.with_name(f".{out.name}.{tag}-{uuid.uuid4().hex[:8]}")


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def move_into_place(tmp: Path, out: Path) -> None:
    """Make the finished `tmp` (file or directory) `out`, replacing an existing `out` only once `tmp` is complete."""
    if out.exists():
        old = temp_sibling(out, "old")
        out.rename(old)
        tmp.rename(out)
        remove(old)
    else:
        tmp.rename(out)


@contextlib.contextmanager
def atomic_output(out: str | Path, replace: bool, flag: str = "--force") -> Iterator[Path]:
    """Yield a temporary sibling of `out` to write into; it becomes `out` only if the block finishes.

    An existing `out` is an error unless `replace` (the command's `flag`); on any failure the
    temporary path is removed, so a failed command leaves nothing behind.
    """
    out = Path(out)
    if out.exists() and not replace:
        raise HareError(f"'{out}' already exists; choose another --out or pass {flag} to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(out)
    try:
        yield tmp
        move_into_place(tmp, out)
    finally:
        remove(tmp)
