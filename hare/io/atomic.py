"""Outputs that appear whole or not at all: build in a hidden sibling path, then rename.

A rename within one filesystem is atomic, so readers see either the old output, or the complete
new one — never a half-written checkpoint, dataset or GGUF file, whatever kills the writer. A
writer killed by SIGKILL cannot clean up, so its hidden sibling (`.OUT.tmp-PID-XXXXXXXX`) stays;
the next write of the same output removes those whose process is gone. The process id in the
name is what keeps a live writer's temporary safe (on one machine: a writer on another host that
shares the filesystem cannot be seen).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from hare.errors import HareError


def temp_sibling(out: Path, tag: str = "tmp") -> Path:
    """A hidden, unique path next to `out` (same filesystem, so the final rename is atomic)."""
    remove_stale(out)
    return out.with_name(f".{out.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(out: Path) -> None:
    """Delete the temporaries of `out` left by writers that were killed (their process no longer exists)."""
    if not out.parent.is_dir():
        return
    mine = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9]+-(\d+)-[0-9a-f]{{8}}")
    for path in out.parent.iterdir():
        match = mine.fullmatch(path.name)
        if match and not _alive(int(match[1])):
            remove(path)


def remove(path: Path) -> None:
    """Delete a file or a directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def follow_umask(path: Path) -> None:
    """Give `path` (and all under it) the permissions the user's umask gives new files and directories.

    Libraries write through private temporary files: transformers' `model.safetensors` landed with mode
    0600, so others on a shared machine could not read a model its owner meant to share."""
    umask = os.umask(0)
    os.umask(umask)
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~umask)


def move_into_place(tmp: Path, out: Path) -> None:
    """Make the finished `tmp` (file or directory) `out`, replacing an existing `out` only once `tmp` is
    complete; what it holds gets the umask's permissions (`follow_umask`)."""
    follow_umask(tmp)
    if out.exists():
        _replaceable(out, tmp.is_dir())
        old = temp_sibling(out, "old")
        out.rename(old)
        tmp.rename(out)
        remove(old)
    else:
        tmp.rename(out)


def _replaceable(out: Path, directory: bool, flag: str = "--out") -> None:
    """Refuse to replace the existing `out` with an output of the other kind (a file with a directory or back)."""
    if out.is_dir() != directory:
        kind = "directory" if out.is_dir() else "file"
        raise HareError(f"{flag} '{out}' is a {kind}, which this output cannot replace; choose another {flag}")


def check_output(out: str | Path, directory: bool, flag: str = "--out") -> None:
    """Refuse, before the work, an `out` the final write would refuse: an existing one of the other kind (a
    directory where a file goes, or back), or one that cannot be written (`flag`: the option that named it)."""
    out = Path(out)
    if out.exists():
        _replaceable(out, directory, flag)
    writable_parent(out, flag)


@contextlib.contextmanager
def atomic_output(out: str | Path, replace: bool, flag: str = "--force",
                  directory: bool | None = None, fix: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of `out` to write into; it becomes `out` only if the block finishes.

    An existing `out` is an error unless `replace` (the command's `flag`); on any failure the
    temporary path is removed, so a failed command leaves nothing behind. Given what the output is (`directory`),
    an existing `out` of the other kind is refused before the work, not after it (a GGUF export onto a directory
    converted the whole model first). `fix` is what an unwritable folder's message tells (`writable_parent`).
    """
    out = Path(out)
    if out.exists() and directory is not None:  # first: "pass --force" would not help an output of the other kind
        _replaceable(out, directory)
    if out.exists() and not replace:
        raise HareError(f"'{out}' already exists; choose another --out or pass {flag} to replace it")
    if directory is None:
        writable_parent(out, fix=fix)
    else:
        check_output(out, directory)
    tmp = temp_sibling(out)
    try:
        yield tmp
        move_into_place(tmp, out)
    finally:
        remove(tmp)


def check_apart(out: str | Path, inputs: Iterable[str | Path], flag: str = "--out") -> None:
    """Refuse an output that is one of the command's inputs or a directory holding one: writing it would destroy
    what the command reads (with --force or --overwrite, silently: a dedup report replaced its corpus)."""
    target = Path(out).expanduser().resolve()
    for source in inputs:
        read = Path(source).expanduser().resolve()
        if target == read or target in read.parents:
            where = "is" if target == read else "holds"
            raise HareError(f"{flag} '{out}' {where} the input '{source}'; writing it would destroy what this "
                            f"command reads: choose another {flag}")


def check_only(out: Path, ours: Callable[[str], bool], run: str, fix: str) -> None:
    """Refuse a folder `out` that holds entries `ours` does not know (hidden files aside): a run written into it
    would mix its files with the user's, or replace them. `run` names what writes there ("a training run")."""
    others = sorted(p.name for p in out.iterdir() if not (ours(p.name) or p.name.startswith("."))) \
        if out.is_dir() else []
    if others:
        raise HareError(f"'{out}' holds files that are not {run}'s ({', '.join(others[:3])}"
                        f"{', …' if len(others) > 3 else ''}); {fix}")


def writable_parent(out: Path, flag: str = "--out", fix: str | None = None) -> None:
    """Make `out`'s folder and prove a file can be created there, before any work: an unusable --out (under a
    file, in /proc, read-only) is the user's to fix, not a traceback after a long conversion. `fix` replaces
    "choose another FLAG" where no flag named the path (a cache folder)."""
    import tempfile

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as err:
        blocking = next((p for p in out.parents if p.exists()), None)
        why = f"'{blocking}' is a file, not a folder" if blocking and not blocking.is_dir() else (
            f"{err.strerror or err} in '{out.parent}'")
        raise HareError(f"cannot write '{out}': {why}; {fix or f'choose another {flag}'}") from None


def write_text(out: str | Path, text: str) -> None:
    """Write (or replace) the file `out` atomically."""
    with atomic_output(out, replace=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_lines(out: Path) -> Iterator[IO[bytes]]:
    """A binary file for lines that becomes `out` if the block finishes; gzip (no name, no time) for `.gz`."""
    with atomic_output(out, replace=True) as tmp, open(tmp, "wb") as raw:
        if not out.name.endswith(".gz"):
            yield raw
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
            yield packed  # type: ignore[misc]
