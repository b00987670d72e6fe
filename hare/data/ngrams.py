"""Text normalisation, word n-gram hashing and input files shared by dedup and decontam.

Both commands compare documents by their words, so they must agree on what a word is:
`normalize` lowercases, turns every punctuation character (anything that is neither a letter,
digit, underscore nor whitespace) into a space, and collapses runs of whitespace into one space.
"Hello,  World!" and "hello world" therefore normalise to the same text.

N-grams are hashed to 64-bit integers so that large benchmark sets and corpora fit in numpy
arrays: each distinct word gets the first 8 bytes of its blake2b digest (cached), and an n-gram's
hash is a polynomial over its word hashes modulo 2^64, finished with a splitmix64 mix. The
polynomial is computed with n vectorised numpy operations per document instead of one hash call
per n-gram, which is what makes decontaminating a million documents practical on a few cores.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np

_PUNCT = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")
_WORD_CACHE: dict[str, int] = {}
_WORD_CACHE_LIMIT = 2_000_000  # entries (~200 MB worst case); cleared when passed, so memory stays bounded
_MULT = 0x100000001B3  # FNV-64 prime: odd, so multiplication mod 2^64 is a bijection


def normalize(text: str) -> str:
    """Lowercase, punctuation → space, whitespace runs → one space, stripped."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def words(text: str) -> list[str]:
    """The words of `normalize(text)`."""
    return normalize(text).split()


def text_digest(text: str) -> bytes:
    """A 16-byte fingerprint of the normalised text (exact-duplicate key)."""
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=16).digest()


def word_hashes(tokens: list[str]) -> np.ndarray:
    """uint64 hash of each word (blake2b, 8 bytes; cached per process)."""
    import numpy as np

    cache = _WORD_CACHE
    if len(cache) > _WORD_CACHE_LIMIT:
        cache.clear()
    out = []
    for w in tokens:
        h = cache.get(w)
        if h is None:
            h = cache[w] = int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(), "little")
        out.append(h)
    return np.array(out, dtype=np.uint64)


def ngram_hashes(hashed_words: np.ndarray, n: int) -> np.ndarray:
    """uint64 hashes of every word n-gram (in order, with repeats); empty when fewer than n words."""
    return ngram_hashes_of_sizes(hashed_words, (n,))


def ngram_hashes_of_sizes(hashed_words: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """`ngram_hashes` for each of `sizes`, concatenated in ascending size order. One pass serves every size:
    the polynomial of an n-gram is that of its first n-1 words times the prime plus the n-th word."""
    import numpy as np

    wanted, parts = set(sizes), []
    with np.errstate(over="ignore"):
        h = hashed_words.copy()
        for n in range(1, max(sizes, default=0) + 1):
            count = len(hashed_words) - n + 1
            if count <= 0:
                break
            if n > 1:
                h = h[:count]
                h *= np.uint64(_MULT)
                h += hashed_words[n - 1:n - 1 + count]
            if n in wanted:
                parts.append(h.copy())
        out = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        # splitmix64 finaliser: spreads the polynomial's low-bit structure over all 64 bits
        out ^= out >> np.uint64(30)
        out *= np.uint64(0xBF58476D1CE4E5B9)
        out ^= out >> np.uint64(27)
        out *= np.uint64(0x94D049BB133111EB)
        out ^= out >> np.uint64(31)
    return out


def shingles(tokens: list[str], n: int) -> list[bytes]:
    """Word n-grams as UTF-8 byte strings (for MinHash); the whole text when shorter than n."""
    if len(tokens) < n:
        return [" ".join(tokens).encode("utf-8")] if tokens else []
    return [" ".join(tokens[i:i + n]).encode("utf-8") for i in range(len(tokens) - n + 1)]


# ---------------------------------------------------------------------------------------------
# Line-numbered JSONL


def record_text(record: dict[str, Any], field: str, path: Path | str, lineno: int) -> str:
    """The text field of a record, or a HareError naming file and line."""
    text = record.get(field)
    if not isinstance(text, str):
        what = "has no field" if field not in record else "has a non-text field"
        raise HareError(f"'{path}' line {lineno} {what} '{field}'; pass --text-field with the field holding the text")
    return text


def check_documents(count: int) -> None:
    """A run that read no document has nothing to write: refused, as `hare data pack` refuses it (the output
    is a temporary until then, so nothing is left behind)."""
    if not count:
        raise HareError("the --inputs hold no documents (their files are empty); check --inputs")


def input_files(inputs: list[str], suffixes: tuple[str, ...] = (".jsonl", ".jsonl.gz"), flag: str = "--inputs",
                ) -> list[Path]:
    """Files named by `inputs`, directories expanded to their files ending in `suffixes` (sorted); a missing path,
    or no file at all, is a HareError that names `flag`."""
    kinds = ", ".join(suffixes)
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.name.endswith(suffixes))
        elif path.is_file():
            files.append(path)
        else:
            raise HareError(f"{flag} path '{item}' does not exist; pass {kinds} files or directories of them")
    if not files:
        raise HareError(f"no {kinds} files found in {inputs}; check {flag}")
    return files


def check_outputs(out: str, report: str | None, inputs: Iterable[str], overwrite: bool) -> None:
    """Refuse an `--out` or `--report` path that cannot take the file before any document is read (a report
    path that was a directory failed only after the whole corpus had been checked and --out written), that
    exists without --overwrite (a report was replaced where --out was kept), or that is one of the files read
    (`inputs`)."""
    from hare.io.atomic import check_apart, check_output

    for flag, path in (("--out", out), ("--report", report)):
        if path:
            check_output(path, directory=False, flag=flag)  # the check every atomic output makes, before the work
            if Path(path).exists() and not overwrite:
                raise HareError(f"'{path}' already exists; choose another {flag} or pass --overwrite")
            check_apart(path, inputs, flag)
    if report and Path(report).resolve() == Path(out).resolve():
        raise HareError(f"--report '{report}' is the --out file; give the report a path of its own")
