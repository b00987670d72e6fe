"""`hare data synth`: generate synthetic "human prior" pretraining documents from a strategy mixture.

Strategies (one module each, see `mixture.STRATEGIES`): math word problems with worked solutions,
unit/date/currency conversions, logic puzzles, textbook paragraphs from `facts.json`, D3-style NLP
tasks (QA, multiple choice incl. JSON, cloze, summaries), chat-template dialogues, Octopus-style
tool calls, and text from a teacher LLM behind an OpenAI-compatible API.

Document i uses an RNG seeded from (seed, i) alone, which also draws its strategy from the
mixture, so the output is identical bytes for a seed whatever `--workers`, and memory stays flat
for any `--num-docs`: documents are generated in batches by worker processes (a bounded number in
flight) and streamed into `part-00000.jsonl.gz`, … (gzip with a zero timestamp), each line
`{"text", "strategy", "template", ...structured fields}`, which `hare data pack` reads. `manifest.json`
records counts per strategy, seed and mixture. Everything is written to a hidden sibling directory
and renamed into place when complete.

    hare data synth --out data/synth --num-docs 100000 --workers 8 --stats
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hare import __version__
from hare.config import check_range, check_workers, option
from hare.data.synth.common import Context
from hare.data.synth.mixture import Mixture, generator, load_mixture
from hare.errors import HareError
from hare.io.atomic import atomic_output
from hare.teacher import endpoint

BATCH_DOCS = 200


@dataclass
class SynthConfig:
    out: str = option(help="directory to create with part-*.jsonl.gz shards and manifest.json (written atomically)")
    num_docs: int = option(help="number of documents to generate")
    seed: int = option(0, "seed; the same seed gives identical output for any --workers")
    mixture: str | None = option(None, "YAML mixture {strategies: {name: weight}} (default: the built-in hare-mix)")
    shard_docs: int = option(100_000, "documents per JSONL.gz shard")
    workers: int = option(1, "generator processes")
    stats: bool = option(False, "print a diversity report (distinct 4-grams, exact/near-duplicate rates per "
                                "strategy, template coverage, tokens/s)")
    overwrite: bool = option(False, "replace --out if it already exists (only once the new data is complete)")
    teacher_url: str | None = option(None, "OpenAI-compatible server for the 'teacher' strategy, e.g. http://host:8000")
    teacher_model: str = option("teacher", "model name sent to the teacher endpoint")
    teacher_api_key: str | None = option(None, "bearer token for the teacher endpoint, if it needs one")

    def validate(self) -> None:
        # a billion documents is a trillion-token corpus; 10**20 had written until the disk or the user gave out
        check_range("--num-docs", self.num_docs, 1, 10**9)
        if self.shard_docs < 1:
            raise HareError(f"--shard-docs must be at least 1, got {self.shard_docs}")
        check_workers(self.workers)
        out = Path(self.out).expanduser()
        if out.exists() and not out.is_dir():
            raise HareError(f"'{out}' is a file; choose a directory path for --out")
        if out.exists() and not self.overwrite:
            raise HareError(f"'{out}' already exists; choose another --out or pass --overwrite to replace it")


def make_doc(seed: int, index: int, mixture: Mixture, ctx: Context) -> dict[str, Any]:
    """Document `index` for `seed`: its own RNG picks the strategy and everything in it."""
    rng = random.Random(f"hare-synth/{seed}/{index}")
    strategy = mixture.choose(rng)
    record = generator(strategy)(rng, ctx)
    return {"text": record.pop("text"), "strategy": strategy, "template": record.pop("template"), **record}


_worker_state: tuple[int, Mixture, Context] | None = None


def _init_worker(seed: int, mixture: Mixture, ctx: Context) -> None:
    global _worker_state
    _worker_state = (seed, mixture, ctx)


def _make_batch(span: tuple[int, int]) -> list[dict[str, Any]]:
    assert _worker_state is not None, "worker started without _init_worker"
    seed, mixture, ctx = _worker_state
    return [make_doc(seed, i, mixture, ctx) for i in range(*span)]


def generate(cfg: SynthConfig, mixture: Mixture, ctx: Context) -> Iterator[list[dict[str, Any]]]:
    """Batches of documents 0 … num_docs-1, in order."""
    from hare.data.pack import ordered_imap

    spans = ((start, min(start + BATCH_DOCS, cfg.num_docs)) for start in range(0, cfg.num_docs, BATCH_DOCS))
    state = (cfg.seed, mixture, ctx)
    if cfg.workers == 1:
        _init_worker(*state)
        return map(_make_batch, spans)
    return ordered_imap(_make_batch, spans, cfg.workers, _init_worker, state)


class ShardWriter:
    """`part-00000.jsonl.gz`, … with `shard_docs` lines each; gzip headers carry no name or time."""

    def __init__(self, directory: Path, shard_docs: int) -> None:
        self.directory, self.shard_docs = directory, shard_docs
        self.shards: list[dict[str, Any]] = []
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None

    def add(self, doc: dict[str, Any]) -> None:
        if self._gz is None or self.shards[-1]["documents"] >= self.shard_docs:
            self.close()
            name = f"part-{len(self.shards):05d}.jsonl.gz"
            self._raw = open(self.directory / name, "wb")
            self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
            self.shards.append({"file": name, "documents": 0})
        self._gz.write(json.dumps(doc, ensure_ascii=False).encode("utf-8") + b"\n")
        self.shards[-1]["documents"] += 1

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
            assert self._raw is not None
            self._raw.close()
            self._gz = self._raw = None


def _write(cfg: SynthConfig, mixture: Mixture, ctx: Context, directory: Path) -> tuple[dict[str, Any], Any]:
    from tqdm import tqdm

    stats = None
    if cfg.stats:
        from hare.data.synth.stats import Stats

        stats = Stats(list(mixture.weights))
    counts: Counter[str] = Counter()
    writer = ShardWriter(directory, cfg.shard_docs)
    batches = generate(cfg, mixture, ctx)
    try:
        with tqdm(total=cfg.num_docs, unit=" docs", file=sys.stderr, desc="synth", disable=None) as bar:
            for batch in batches:
                for doc in batch:
                    writer.add(doc)
                    counts[doc["strategy"]] += 1
                if stats is not None:
                    stats.add(batch)
                bar.update(len(batch))
    finally:
        writer.close()
        getattr(batches, "close", lambda: None)()  # stops the worker pool if anything above failed
    manifest = {
        "format": "hare-synth-jsonl", "created_by": f"hare {__version__}", "num_docs": cfg.num_docs,
        "seed": cfg.seed, "mixture": {"source": mixture.source, "weights": mixture.weights},
        "counts": {name: counts[name] for name in mixture.weights}, "shards": writer.shards,
    }
    return manifest, stats


def run(cfg: SynthConfig) -> dict[str, Any]:
    """Generate `cfg.num_docs` documents into `cfg.out`; returns the manifest (plus `stats` with --stats)."""
    cfg.validate()
    mixture = load_mixture(cfg.mixture)
    if "teacher" in mixture.weights and not cfg.teacher_url:
        raise HareError("the mixture gives 'teacher' weight but no --teacher-url is set; pass the URL of an "
                        "OpenAI-compatible server or give 'teacher' weight 0")
    if cfg.teacher_url:
        endpoint(cfg.teacher_url)  # a malformed URL fails now, not at the first teacher document
    ctx = Context(cfg.teacher_url, cfg.teacher_model, cfg.teacher_api_key)
    out = Path(cfg.out).expanduser()
    start = time.monotonic()
    with atomic_output(out, cfg.overwrite, "--overwrite") as tmp:
        tmp.mkdir()
        manifest, stats = _write(cfg, mixture, ctx, tmp)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    seconds = time.monotonic() - start
    result = dict(manifest)
    if stats is not None:
        from hare.data.synth.stats import format_report

        result["stats"] = stats.report(seconds)
        print(format_report(result["stats"]))
    print(f"synth {out}: {cfg.num_docs:,} docs in {len(manifest['shards'])} shards, {seconds:.1f} s, "
          f"{cfg.num_docs / max(seconds, 1e-9):,.0f} docs/s")
    return result
