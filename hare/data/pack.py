"""`hare data pack`: tokenize documents into flat token shards that training memory-maps.

Inputs are text files (one document each), JSONL or JSONL.gz files (one document per line),
parquet files, directories of those (recursed in sorted order), and Hugging Face dataset names
(streamed). Each document becomes `<s> tokens </s>`; documents are laid end to end in raw
little-endian shards `train-00000.bin`, … and `val-00000.bin`, … described by `meta.json`
(`hare.data.shards` reads them and documents the format).

Non-empty document i, counted over all inputs in reading order, goes to the validation split
when i % round(1 / val_fraction) == 0, so the split depends only on the inputs: no seed, and the
same bytes for any number of workers.

Memory stays flat however large the inputs: documents are read lazily, tokenized in batches by
worker processes with a bounded number of batches in flight, and appended to the open shard. The
result appears atomically: shards and then `meta.json` go to a hidden directory next to `--out`,
which is renamed into place only when complete, so an interrupted run leaves nothing to train on.

    hare data pack --inputs corpus/ more.jsonl.gz --out data/packed --workers 8
"""

from __future__ import annotations

import functools
import itertools
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from hare import __version__
from hare.config import check_share, check_workers, option
from hare.data.shards import FORMAT, VERSION
from hare.errors import HareError, first_line
from hare.io.atomic import atomic_output, check_apart
from hare.io.extras import import_extra
from hare.io.read import read_jsonl, read_text
from hare.io.sources import local_path, offline_unless_hub_reachable
from hare.model.tokenizer import text_ids

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerFast

T = TypeVar("T")
R = TypeVar("R")

SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".parquet")
SPLITS = ("train", "val")
BATCH_DOCUMENTS = 256  # documents per tokenizer task: big enough to amortise pickling, small in memory


@dataclass
class PackConfig:
    inputs: list[str] = option(
        help="text, JSONL, JSONL.gz or parquet files, directories of them (recursed), or Hugging Face dataset names"
    )
    out: str = option(help="directory to create (written atomically)")
    tokenizer: str | None = option(None, "checkpoint directory whose tokenizer to use (default: the HARE tokenizer)")
    text_field: str = option("text", "JSONL field, parquet column or dataset column holding the text")
    val_fraction: float = option(
        0.01, "share of documents for the val split (every round(1/x)-th, from the first); 0 for none"
    )
    workers: int = option(1, "tokenizer processes; the output is identical for any number")
    shard_tokens: int = option(
        50_000_000, "tokens per shard file before a new one starts (documents are never split across files)"
    )
    split: str = option("train", "split to read from Hugging Face datasets")
    overwrite: bool = option(False, "replace --out if it already exists (only once the new data is complete)")

    def validate(self) -> None:
        if not self.inputs:
            raise HareError("no --inputs given; pass files, directories or Hugging Face dataset names")
        check_share("--val-fraction", self.val_fraction)
        check_workers(self.workers)
        if self.shard_tokens < 1:
            raise HareError(f"--shard-tokens must be at least 1, got {self.shard_tokens}")


# ---------------------------------------------------------------------------------------------
# Reading documents


@dataclass(frozen=True)
class HubDataset:
    """A Hugging Face dataset opened for streaming up front, so a bad name fails before any work."""

    name: str
    records: Iterable[dict[str, Any]]

    def __str__(self) -> str:
        return self.name


def open_hub_dataset(name: str, split: str) -> HubDataset:
    datasets = import_extra("datasets", "data", f"reading the Hugging Face dataset '{name}'")
    offline_unless_hub_reachable()
    try:
        return HubDataset(name, datasets.load_dataset(name, split=split, streaming=True))
    except Exception as err:  # hub, network, auth and bad-split errors all mean: this name cannot be read
        raise HareError(
            f"'{name}' is not a local path and could not be loaded as a Hugging Face dataset, split '{split}' "
            f"({first_line(err)}); check the path, the name and --split, and go online for hub datasets"
        ) from None


def expand_inputs(inputs: list[str], split: str) -> list[Path | HubDataset]:
    """Files stay, directories become their data files (sorted, hidden ones skipped), hub ids
    (`hare.io.sources`) are opened as Hugging Face datasets."""
    sources: list[Path | HubDataset] = []
    for item in inputs:
        path = local_path(item)
        if path is None:
            sources.append(open_hub_dataset(item, split))
        elif path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.name.endswith(SUFFIXES)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise HareError(f"directory '{item}' holds no {', '.join(SUFFIXES)} files; point --inputs at the data")
            sources += files
        elif path.is_file():
            if not path.name.endswith(SUFFIXES):
                raise HareError(f"'{item}' is not a {', '.join(SUFFIXES)} file; convert it or pass a supported file")
            sources.append(path)
        else:
            raise HareError(f"input '{item}' does not exist; pass files, directories or Hugging Face dataset ids "
                            "(owner/name)")
    return sources


def _read_txt(path: Path, field: str) -> Iterator[str]:
    yield read_text(path, "input")


def _read_jsonl(path: Path, field: str) -> Iterator[str | None]:
    for lineno, _, record in read_jsonl(path):
        if field not in record:
            raise HareError(
                f"'{path}' line {lineno} has no field '{field}'; pass --text-field with the field holding the text"
            )
        yield record[field]


def _read_parquet(path: Path, field: str) -> Iterator[str | None]:
    pq = import_extra("pyarrow.parquet", "data", "reading parquet files")
    try:
        parquet = pq.ParquetFile(path)
    except ValueError as err:
        raise HareError(f"'{path}' is not a readable parquet file ({first_line(err)})") from None
    columns = parquet.schema_arrow.names
    if field not in columns:
        raise HareError(f"'{path}' has no column '{field}' (columns: {', '.join(columns)}); pass --text-field")
    for batch in parquet.iter_batches(batch_size=1024, columns=[field]):
        yield from batch.column(0).to_pylist()


def _read_hub(source: HubDataset, field: str) -> Iterator[str | None]:
    for record in source.records:
        if field not in record:
            columns = ", ".join(record)
            raise HareError(f"dataset '{source}' has no column '{field}' (columns: {columns}); pass --text-field")
        yield record[field]


def read_source(source: Path | HubDataset, field: str) -> Iterator[str | None]:
    """The raw texts of one input, in order (None where a record has no text)."""
    if isinstance(source, HubDataset):
        yield from _read_hub(source, field)
        return
    reader = {".txt": _read_txt, ".parquet": _read_parquet}.get(source.suffix, _read_jsonl)
    try:
        yield from reader(source, field)
    except OSError as err:  # parquet; text and JSON lines report their own
        raise HareError(f"cannot read '{source}' ({first_line(err)}); check the file") from None


class Documents:
    """The non-empty texts of all sources in reading order; `skipped` counts the empty ones passed over."""

    def __init__(self, sources: list[Path | HubDataset], field: str) -> None:
        self.sources, self.field = sources, field
        self.skipped = 0

    def __iter__(self) -> Iterator[str]:
        for source in self.sources:
            for text in read_source(source, self.field):
                if text is not None and not isinstance(text, str):
                    raise HareError(
                        f"'{source}': field '{self.field}' holds {type(text).__name__}, not text; pass --text-field"
                    )
                if text is None or not text.strip():
                    self.skipped += 1
                    continue
                yield text


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# ---------------------------------------------------------------------------------------------
# Tokenizing


def load_pack_tokenizer(source: str | None) -> PreTrainedTokenizerFast:
    """The tokenizer of checkpoint `source`, or the HARE tokenizer when None."""
    from hare.model.load import load_tokenizer
    from hare.model.tokenizer import build_tokenizer

    tok = build_tokenizer() if source is None else load_tokenizer(source, "--tokenizer")
    if tok.bos_token_id is None or tok.eos_token_id is None:
        raise HareError(f"the tokenizer of '{source}' has no BOS or EOS token; packing marks documents with both")
    return tok


def token_dtype(vocab_size: int) -> str:
    """Little-endian uint16 while every id fits (half the disk and page cache), else uint32."""
    return "<u2" if vocab_size <= 65535 else "<u4"


def encode(tok: PreTrainedTokenizerFast, dtype: str, texts: list[str]) -> list[np.ndarray]:
    """`<s> text </s>` token ids of each text."""
    import numpy as np

    # A document longer than the model context is fine here (training cuts windows), so no warning.
    ids = text_ids(tok, texts, bos=False)
    return [np.array([tok.bos_token_id, *doc, tok.eos_token_id], dtype=dtype) for doc in ids]


_worker_encode: Callable[[list[str]], list[np.ndarray]] | None = None  # this worker's tokenizer, built once


def _init_encoder(source: str | None, dtype: str) -> None:
    global _worker_encode
    # The processes are the parallelism; each tokenizer's own thread pool would oversubscribe the cores.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_encode = functools.partial(encode, load_pack_tokenizer(source), dtype)


def _encode_in_worker(texts: list[str]) -> list[np.ndarray]:
    assert _worker_encode is not None, "worker started without _init_encoder"
    return _worker_encode(texts)


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Ctrl-C ignored by the workers spawned inside from their first instruction, and held back for the parent.

    Ctrl-C goes to the whole process group; the parent handles it and terminates the pool. Workers that began
    to ignore it in their initializer had each printed a KeyboardInterrupt traceback when it came during their
    start-up. An ignored signal stays ignored across exec (and Python then installs no handler of its own); a
    blocked one is kept pending on Linux even while ignored, so one that comes meanwhile reaches the parent's own
    handler once both are restored."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield  # Windows has no process groups to send it to every worker; only the main thread sets handlers
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def ordered_imap(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    ahead: int | None = None,
) -> Iterator[R]:
    """`map(fn, items)` on `workers` spawned processes, in order, with at most `ahead` (default
    2 × workers) items taken from `items` whose results have not been yielded yet.

    `Pool.imap` also keeps order, but its feeder thread drains `items` as fast as it can, which
    would read a corpus larger than memory into the task queue. Here reading waits for results.
    """
    ahead = ahead or 2 * workers
    with ExitStack() as stack:
        with _ctrl_c_held():  # the pool is terminated on leaving `stack`, also for a Ctrl-C held until here
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(workers, initializer, initargs))
        pending: deque[multiprocessing.pool.AsyncResult[R]] = deque()
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= ahead:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def encode_batches(
    batches: Iterable[list[str]], tok: PreTrainedTokenizerFast, source: str | None, dtype: str, workers: int
) -> Iterator[list[np.ndarray]]:
    """Token arrays of each batch of texts, in order; `workers` > 1 tokenizes in that many processes."""
    if workers == 1:
        return (encode(tok, dtype, batch) for batch in batches)
    return ordered_imap(_encode_in_worker, batches, workers, _init_encoder, (source, dtype))


# ---------------------------------------------------------------------------------------------
# Writing


class ShardWriter:
    """Appends documents to `<split>-00000.bin`, `<split>-00001.bin`, …

    A new file starts before one would pass `shard_tokens`, so no document spans two files; a
    document longer than `shard_tokens` gets a file of its own.
    """

    def __init__(self, directory: Path, split: str, shard_tokens: int) -> None:
        self.directory, self.split, self.shard_tokens = directory, split, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._file: IO[bytes] | None = None

    def add(self, ids: np.ndarray) -> None:
        if not self.shards or self.shards[-1]["tokens"] + len(ids) > self.shard_tokens:
            self._start_shard()
        assert self._file is not None
        self._file.write(ids.tobytes())
        self.shards[-1]["tokens"] += len(ids)
        self.shards[-1]["documents"] += 1

    def _start_shard(self) -> None:
        self.close()
        name = f"{self.split}-{len(self.shards):05d}.bin"
        self._file = open(self.directory / name, "wb")  # kept open across add() calls
        self.shards.append({"file": name, "tokens": 0, "documents": 0})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def summary(self) -> dict[str, Any]:
        return {
            "tokens": sum(s["tokens"] for s in self.shards),
            "documents": sum(s["documents"] for s in self.shards),
            "shards": self.shards,
        }

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_shards(
    docs: Iterable[str], tok: PreTrainedTokenizerFast, cfg: PackConfig, dtype: str, directory: Path
) -> dict[str, dict[str, Any]]:
    """Tokenize `docs` into the train and val shards in `directory`; returns each split's summary."""
    from tqdm import tqdm

    every = round(1 / cfg.val_fraction) if cfg.val_fraction > 0 else 0
    encoded = encode_batches(batched(docs, BATCH_DOCUMENTS), tok, cfg.tokenizer, dtype, cfg.workers)
    index = tokens = 0
    start = time.monotonic()
    with ExitStack() as stack:
        writers = {split: stack.enter_context(ShardWriter(directory, split, cfg.shard_tokens)) for split in SPLITS}
        bar = stack.enter_context(tqdm(unit=" docs", file=sys.stderr, desc="packing"))
        stack.enter_context(closing(encoded))  # stops the worker pool if anything below fails
        for batch in encoded:
            for ids in batch:
                writers["val" if every and index % every == 0 else "train"].add(ids)
                index += 1
                tokens += len(ids)
            bar.set_postfix_str(f"{tokens / max(time.monotonic() - start, 1e-9):,.0f} tokens/s", refresh=False)
            bar.update(len(batch))
    return {split: writer.summary() for split, writer in writers.items()}


def _check_splits(splits: dict[str, dict[str, Any]], skipped: int) -> None:
    if not splits["train"]["documents"] + splits["val"]["documents"]:
        raise HareError(f"the inputs hold no documents ({skipped} empty skipped); check --inputs and --text-field")
    if not splits["train"]["tokens"]:
        raise HareError(
            f"all {splits['val']['documents']} documents went to the val split and train is empty; "
            "add more data or pass --val-fraction 0"
        )


def _meta(
    cfg: PackConfig, tok: PreTrainedTokenizerFast, dtype: str, splits: dict[str, Any], skipped: int
) -> dict[str, Any]:
    from hare.model.tokenizer import fingerprint

    return {
        "format": FORMAT,
        "version": VERSION,
        "dtype": {"<u2": "uint16", "<u4": "uint32"}[dtype],
        "tokenizer": {"fingerprint": fingerprint(tok), "vocab_size": len(tok)},
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "splits": splits,
        "sources": list(cfg.inputs),
        "text_field": cfg.text_field,
        "val_fraction": cfg.val_fraction,
        "skipped_empty": skipped,
        "created_by": f"hare {__version__}",
    }


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise HareError(f"'{out}' is a file; choose a directory path for --out")
    if out.exists() and not overwrite:
        raise HareError(f"'{out}' already exists; choose another --out or pass --overwrite to replace it")


def _summary(out: Path, splits: dict[str, dict[str, Any]], seconds: float) -> str:
    train, val = splits["train"], splits["val"]
    rate = (train["tokens"] + val["tokens"]) / max(seconds, 1e-9)
    return (
        f"packed {out}: train {train['tokens']:,} tokens / {train['documents']:,} docs, "
        f"val {val['tokens']:,} tokens / {val['documents']:,} docs, "
        f"{len(train['shards']) + len(val['shards'])} shards, {seconds:.1f} s, {rate:,.0f} tokens/s"
    )


def run(cfg: PackConfig) -> Path:
    """Pack `cfg.inputs` into `cfg.out` (atomically) and return its path."""
    cfg.validate()
    out = Path(cfg.out).expanduser()
    _check_out(out, cfg.overwrite)
    check_apart(out, [*cfg.inputs, *([cfg.tokenizer] if cfg.tokenizer else [])])
    docs = Documents(expand_inputs(cfg.inputs, cfg.split), cfg.text_field)
    tok = load_pack_tokenizer(cfg.tokenizer)
    dtype = token_dtype(len(tok))
    start = time.monotonic()
    with atomic_output(out, cfg.overwrite, "--overwrite") as tmp:
        tmp.mkdir()
        splits = write_shards(docs, tok, cfg, dtype, tmp)
        _check_splits(splits, docs.skipped)
        meta = _meta(cfg, tok, dtype, splits, docs.skipped)
        # meta.json last: the reader treats a directory without it as not packed.
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(_summary(out, splits, time.monotonic() - start))
    return out
