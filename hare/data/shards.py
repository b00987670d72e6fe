"""Read packed token datasets, the directories `hare data pack` writes, as memory-mapped arrays.

The format is the contract between packing and training:

- `train-00000.bin`, `train-00001.bin`, …, `val-00000.bin`, …: raw little-endian token ids
  (`uint16` when the vocabulary fits, else `uint32`), documents laid end to end as `<s> … </s>`,
  no header, so `numpy.memmap` reads them without copying;
- `meta.json`: format and version, dtype, tokenizer fingerprint, and per split the token and
  document counts of each shard in order.

`meta.json` is written last and the directory appears by a rename, so a directory with it is
complete. Shard sizes are still checked against `meta.json`, which catches files truncated or
damaged after packing, and a split's token ids against the vocabulary it was packed with when it is
opened; a bad directory is refused here rather than trained on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.io.read import read_json

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerFast

FORMAT = "hare-tokens"
VERSION = 1
ITEMSIZES = {"uint16": 2, "uint32": 4}
REPACK = "re-pack it with `hare data pack --overwrite`"


def _check_shards(meta: dict[str, Any], root: Path, path: str | os.PathLike) -> None:
    itemsize = ITEMSIZES[meta["dtype"]]
    for split in meta["splits"].values():
        for shard in split["shards"]:
            file = root / shard["file"]
            expected = shard["tokens"] * itemsize
            size = file.stat().st_size if file.is_file() else None
            if size != expected:
                found = "is missing" if size is None else f"has {size} bytes instead of {expected}"
                raise HareError(f"shard '{file}' {found}; packed dataset '{path}' is incomplete or corrupt, {REPACK}")


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The `meta.json` of a packed dataset, after checking that every shard it lists is complete."""
    root = Path(path).expanduser()
    if root.is_file():
        raise HareError(f"'{path}' is a file, but training reads a packed directory; "
                        f"pack it first: hare data pack --inputs {path} --out DIR")
    if not root.is_dir():
        raise HareError(f"packed dataset '{path}' does not exist; create one with `hare data pack`")
    if not (root / "meta.json").is_file():
        raise HareError(f"'{path}' has no meta.json, so it is not a packed dataset; create one with `hare data pack`")
    meta = read_json(root / "meta.json", "packed dataset's meta.json", f"the packed dataset is corrupt, {REPACK}")
    if not isinstance(meta, dict):
        raise HareError(f"'{path}/meta.json' is not a JSON object; the packed dataset is corrupt, {REPACK}")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION or meta.get("dtype") not in ITEMSIZES:
        raise HareError(
            f"'{path}' is not a {FORMAT} version {VERSION} dataset (format {meta.get('format')!r}, "
            f"version {meta.get('version')!r}, dtype {meta.get('dtype')!r}); {REPACK}"
        )
    vocab = meta.get("tokenizer", {}).get("vocab_size") if isinstance(meta.get("tokenizer"), dict) else None
    if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1:
        raise HareError(f"'{path}/meta.json' lacks the tokenizer's vocab_size; the packed dataset is corrupt, {REPACK}")
    try:
        _check_shards(meta, root, path)
    except (KeyError, TypeError, AttributeError):
        raise HareError(f"'{path}/meta.json' lacks shard entries; the packed dataset is corrupt, {REPACK}") from None
    return meta


def open_split(path: str | os.PathLike, split: str) -> list[np.memmap]:
    """Read-only memory maps of the shards of `split`, in order; concatenated they are the whole split."""
    import numpy as np

    meta = load_meta(path)
    if split not in meta["splits"]:
        raise HareError(f"'{path}' has no split '{split}'; choose one of: {', '.join(meta['splits'])}")
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    root = Path(path).expanduser()
    shards = []
    for shard in meta["splits"][split]["shards"]:
        tokens = np.memmap(root / shard["file"], dtype=dtype, mode="r")
        _check_ids(tokens, meta["tokenizer"]["vocab_size"], root / shard["file"])
        shards.append(tokens)
    return shards


def _check_ids(tokens: np.memmap, vocab_size: int, file: Path) -> None:
    """Refuse a shard holding an id its tokenizer does not have. Its size is checked against meta.json, but a
    shard of the right size filled with other bytes (a bad copy, another dataset's file) passed, and training
    died later in the embedding with an IndexError. One vectorised max: a read of the file, no copy."""
    top = int(tokens.max()) if len(tokens) else -1
    if top >= vocab_size:
        raise HareError(f"shard '{file}' holds token id {top}, past the vocabulary of {vocab_size} it was packed "
                        f"with; the file is damaged or packed for another tokenizer, {REPACK}")


def check_tokenizer(meta: dict[str, Any], tok: PreTrainedTokenizerFast, path: str | os.PathLike) -> None:
    """Token ids only mean something under the tokenizer that produced them; refuse any other."""
    from hare.model.tokenizer import fingerprint

    packed, current = meta["tokenizer"]["fingerprint"], fingerprint(tok)
    if packed != current:
        raise HareError(
            f"'{path}' was packed with another tokenizer; re-pack with the model's tokenizer "
            f"(`hare data pack --tokenizer MODEL_DIR ...`); fingerprints: packed {packed}, this one {current}"
        )
