"""Outputs that appear whole or not at all: build in a hidden sibling directory, then rename.

A rename within one filesystem is atomic, so readers see either the old directory, or the complete
new one — never a half-written checkpoint or dataset, whatever kills the writer.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path


def temp_sibling(out: Path, tag: str = "tmp") -> Path:
    """A hidden, unique path next to `out` (same filesystem, so the final rename is atomic)."""
    return out.with_name(f".{out.name}.{tag}-{uuid.uuid4().hex[:8]}")


def move_into_place(tmp: Path, out: Path) -> None:
    """Make the finished `tmp` directory `out`, replacing an existing `out` only once `tmp` is complete."""
    if out.exists():
        old = temp_sibling(out, "old")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
