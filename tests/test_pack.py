"""`hare data pack` and its reader: round trips, every input kind, determinism, bounded memory, atomicity, errors."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line_error, write_jsonl

from hare.cli import main
from hare.data import pack
from hare.data.pack import PackConfig, ordered_imap, run, token_dtype
from hare.data.shards import check_tokenizer, load_meta, open_split
from hare.errors import HareError
from hare.model.tokenizer import fingerprint

DOCS = [
    "The hare outran the tortoise.",
    "Hares eat grass, herbs and bark.",
    "A leveret is a young hare.",
    "Brown hares box in spring.",
    "Mountain hares turn white in winter.",
]


def write_parquet(path: Path, texts: list[str | None], field: str = "text") -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({field: texts, "n": list(range(len(texts)))}), path, row_group_size=2)
    return path


def pack_dir(tmp_path: Path, inputs: list[Path | str], name: str = "packed", **kwargs) -> Path:
    kwargs.setdefault("val_fraction", 0)
    return run(PackConfig(inputs=[str(i) for i in inputs], out=str(tmp_path / name), **kwargs))


def documents(path: Path, split: str) -> list[np.ndarray]:
    """The documents of a split, cut at BOS, each still carrying its BOS and EOS."""
    shards = open_split(path, split)
    ids = np.concatenate(shards) if shards else np.array([], dtype=np.uint16)
    starts = np.flatnonzero(ids == 1)
    return np.split(ids, starts[1:]) if len(ids) else []


def texts(path: Path, split: str, tok) -> list[str]:
    return [tok.decode(doc[1:-1].tolist()) for doc in documents(path, split)]


def test_round_trip_marks_documents_and_splits_every_nth(tmp_path, tok):
    src = write_jsonl(tmp_path / "docs.jsonl", [DOCS[0], "  \n", *DOCS[1:]])
    out = pack_dir(tmp_path, [src], val_fraction=0.4)  # round(1 / 0.4) = 2: documents 0, 2, 4 go to val
    meta = load_meta(out)

    for doc in documents(out, "train") + documents(out, "val"):
        assert doc[0] == 1 and doc[-1] == 2 and 1 not in doc[1:] and 2 not in doc[:-1]
    assert texts(out, "val", tok) == [DOCS[0], DOCS[2], DOCS[4]]
    assert texts(out, "train", tok) == [DOCS[1], DOCS[3]]
    expected = [1, *tok(DOCS[1], add_special_tokens=False).input_ids, 2]
    assert documents(out, "train")[0].tolist() == expected

    train, val = meta["splits"]["train"], meta["splits"]["val"]
    assert (train["documents"], val["documents"]) == (2, 3)
    assert train["tokens"] == sum(len(d) for d in documents(out, "train")) == train["shards"][0]["tokens"]
    assert meta["skipped_empty"] == 1
    assert meta["dtype"] == "uint16" and open_split(out, "train")[0].dtype == np.dtype("<u2")
    assert meta["tokenizer"] == {"fingerprint": fingerprint(tok), "vocab_size": len(tok)}
    assert (meta["bos_token_id"], meta["eos_token_id"], meta["sources"]) == (1, 2, [str(src)])
    assert meta["format"] == "hare-tokens" and meta["version"] == 1 and meta["created_by"].startswith("hare ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_every_input_kind_in_order(tmp_path, tok):
    (tmp_path / "a.txt").write_text(DOCS[0])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"body": DOCS[1]}) + "\n")
    write_parquet(tmp_path / "c.parquet", [DOCS[2], None, DOCS[3]], field="body")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "z.txt").write_text(DOCS[4])
    write_jsonl(tree / "sub" / "y.jsonl", ["from sub"], field="body")
    (tree / "notes.md").write_text("not data")
    (tree / ".hidden.txt").write_text("hidden")

    inputs = [tmp_path / "a.txt", tmp_path / "b.jsonl.gz", tmp_path / "c.parquet", tree]
    out = pack_dir(tmp_path, inputs, text_field="body")
    # directories are read in sorted path order: tree/sub/y.jsonl before tree/z.txt
    assert texts(out, "train", tok) == [*DOCS[:4], "from sub", DOCS[4]]
    meta = load_meta(out)
    assert meta["skipped_empty"] == 1  # the parquet null
    assert meta["splits"]["val"] == {"tokens": 0, "documents": 0, "shards": []} and open_split(out, "val") == []


def many_docs(n: int) -> list[str]:
    return [f"Document {i}: " + "the hare runs " * (i % 9) for i in range(n)]


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_two_workers_write_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(pack, "BATCH_DOCUMENTS", 16)  # 200 docs → 13 batches, more than the 4 in flight
    src = write_jsonl(tmp_path / "docs.jsonl", many_docs(200))
    one = pack_dir(tmp_path, [src], "one", val_fraction=0.05, shard_tokens=500, workers=1)
    two = pack_dir(tmp_path, [src], "two", val_fraction=0.05, shard_tokens=500, workers=2)
    assert len(files_of(one)) > 3
    assert files_of(one) == files_of(two)


def test_shards_hold_whole_documents_and_concatenate_to_one(tmp_path, tok):
    docs = many_docs(40) + ["word " * 80]  # the last is longer than a shard
    src = write_jsonl(tmp_path / "docs.jsonl", docs)
    small = pack_dir(tmp_path, [src], "small", shard_tokens=60)
    whole = pack_dir(tmp_path, [src], "whole")

    shards, meta = open_split(small, "train"), load_meta(small)["splits"]["train"]
    assert len(shards) > 3 and [s["file"] for s in meta["shards"]] == [f"train-{i:05d}.bin" for i in range(len(shards))]
    for shard, entry in zip(shards, meta["shards"], strict=True):
        assert shard[0] == 1 and shard[-1] == 2  # no document is cut at a shard boundary
        assert entry["documents"] == int((shard == 1).sum()) and entry["tokens"] == len(shard)
        assert len(shard) <= 60 or entry["documents"] == 1
    assert len(shards[-1]) > 60
    assert np.array_equal(np.concatenate(shards), open_split(whole, "train")[0])
    assert texts(small, "train", tok) == docs


def test_ordered_imap_reads_a_bounded_distance_ahead():
    taken = 0

    def items():
        nonlocal taken
        for i in range(60):
            taken += 1
            yield [0] * i

    leads = []
    results = []
    for result in ordered_imap(len, items(), workers=2):
        results.append(result)
        leads.append(taken - len(results))
    assert results == list(range(60))
    assert max(leads) < 4  # 2 × workers batches in flight, not the whole input as Pool.imap's feeder would


def _workers_of(pid: int) -> list[int]:
    """The spawned pool workers among `pid`'s children (not multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_ctrl_c_while_the_workers_start_prints_no_traceback(tmp_path):
    """Ctrl-C reaches the whole process group: each worker still importing (seconds, for torch) had printed a
    KeyboardInterrupt traceback, since it began to ignore the signal only once its initializer ran. The command
    still stops (130), and leaves no output."""
    src = write_jsonl(tmp_path / "docs.jsonl", many_docs(500_000))  # ~30 s of packing: still at it when stopped
    command = [sys.executable, "-m", "hare", "data", "pack", "--inputs", str(src), "--out", str(tmp_path / "out"),
               "--workers", "2"]
    # Ctrl-C as a terminal's command gets it: a test run in the background (`cmd &` without job control) has it
    # ignored, and that is inherited.
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(workers := _workers_of(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        # Ctrl-C at every moment of the workers' start-up (the window was ~0.1 s, somewhere in the first half
        # second), to the ones the pool starts in place of any it kills too
        started = time.monotonic()
        while time.monotonic() - started < 0.8:
            for pid in set(workers) | set(_workers_of(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
            time.sleep(0.01)
        assert proc.poll() is None, "the pack ended before its workers started"
        os.killpg(proc.pid, signal.SIGINT)  # and then what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()
    assert not (tmp_path / "out").exists()


def test_crash_mid_write_leaves_no_output_and_keeps_the_old_one(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "docs.jsonl", many_docs(30))
    old = pack_dir(tmp_path, [src], shard_tokens=50)
    before = files_of(old)
    calls = 0
    real_add = pack.ShardWriter.add

    def add_then_fail(self, ids):
        nonlocal calls
        calls += 1
        if calls == 10:
            raise KeyboardInterrupt  # what Ctrl-C raises
        real_add(self, ids)

    monkeypatch.setattr(pack.ShardWriter, "add", add_then_fail)
    with pytest.raises(KeyboardInterrupt):
        pack_dir(tmp_path, [src], "fresh", shard_tokens=50)
    with pytest.raises(KeyboardInterrupt):
        calls = 0
        pack_dir(tmp_path, [src], shard_tokens=50, overwrite=True)
    assert not (tmp_path / "fresh").exists()
    assert files_of(old) == before and load_meta(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl", "packed"]


def test_reader_rejects_incomplete_or_foreign_directories(tmp_path):
    out = pack_dir(tmp_path, [write_jsonl(tmp_path / "docs.jsonl", many_docs(30))], shard_tokens=50)
    shard = out / "train-00001.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(HareError, match="incomplete or corrupt"):
        open_split(out, "train")
    shard.unlink()
    with pytest.raises(HareError, match="is missing"):
        load_meta(out)
    (out / "meta.json").unlink()
    with pytest.raises(HareError, match="not a packed dataset; create one with `hare data pack`"):
        load_meta(out)
    with pytest.raises(HareError, match="does not exist"):
        load_meta(tmp_path / "nope")


def test_reader_rejects_other_versions_and_unknown_splits(tmp_path):
    out = pack_dir(tmp_path, [write_jsonl(tmp_path / "docs.jsonl", DOCS)])
    with pytest.raises(HareError, match="no split 'test'; choose one of: train, val"):
        open_split(out, "test")
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "version": 2}))
    with pytest.raises(HareError, match="version 2"):
        load_meta(out)
    for damaged in (b"{cut sh", b"[1, 2]"):
        (out / "meta.json").write_bytes(damaged)
        with pytest.raises(HareError, match=r"meta.json.*re-pack it"):
            load_meta(out)


def test_overwrite_replaces_only_when_asked(tmp_path, tok):
    src = write_jsonl(tmp_path / "a.jsonl", DOCS[:2])
    out = pack_dir(tmp_path, [src])
    with pytest.raises(HareError, match="already exists.*--overwrite"):
        pack_dir(tmp_path, [write_jsonl(tmp_path / "b.jsonl", DOCS[2:])])
    assert texts(out, "train", tok) == DOCS[:2]
    pack_dir(tmp_path, [tmp_path / "b.jsonl"], overwrite=True)
    assert texts(out, "train", tok) == DOCS[2:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_tokenizer_of_a_checkpoint_and_mismatch(tmp_path, micro_dir, tok):
    from hare.model.tokenizer import build_tokenizer

    out = pack_dir(tmp_path, [write_jsonl(tmp_path / "docs.jsonl", DOCS)], tokenizer=str(micro_dir))
    meta = load_meta(out)
    check_tokenizer(meta, tok, out)  # the checkpoint carries the HARE tokenizer
    with pytest.raises(HareError, match="packed with another tokenizer; re-pack with the model's tokenizer"):
        check_tokenizer(meta, build_tokenizer(num_functional_tokens=0), out)


def test_token_dtype_widens_past_uint16():
    assert (token_dtype(65535), token_dtype(65536)) == ("<u2", "<u4")


@pytest.mark.parametrize(
    ("lines", "field", "message"),
    [
        ([{"text": "ok"}, {"body": "no text"}], "text", r"docs.jsonl' line 2 has no field 'text'.*--text-field"),
        ([{"text": "ok"}, {"text": "ok"}, "{not json"], "text", r"docs.jsonl' line 3 is not valid JSON"),
        ([{"text": 7}], "text", r"field 'text' holds int, not text"),
        ([{"text": " "}, {"text": ""}], "text", r"no documents \(2 empty skipped\)"),
        ([{"text": "only one"}], "text", r"train is empty; add more data or pass --val-fraction 0"),
    ],
)
def test_bad_jsonl_inputs(tmp_path, lines, field, message):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    with pytest.raises(HareError, match=message):
        pack_dir(tmp_path, [src], text_field=field, val_fraction=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.jsonl"]


def test_parquet_without_the_column_lists_the_columns(tmp_path):
    src = write_parquet(tmp_path / "docs.parquet", DOCS, field="content")
    with pytest.raises(HareError, match="no column 'text' \\(columns: content, n\\)"):
        pack_dir(tmp_path, [src])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0.7}, r"--val-fraction must be in \[0, 0.5\]"),
        ({"workers": 0}, r"--workers must be in \[1, 256\]"),
        ({"inputs": ["missing.txt"]}, "'missing.txt' does not exist"),
        ({"inputs": ["notes.md"]}, "is not a .txt, .jsonl, .jsonl.gz, .parquet file"),
        ({"inputs": ["empty_dir"]}, "holds no .txt"),
    ],
)
def test_bad_options(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)
    Path("notes.md").write_text("x")
    Path("empty_dir").mkdir()
    cfg = {"inputs": [str(write_jsonl(tmp_path / "docs.jsonl", DOCS))], "out": "out", **kwargs}
    with pytest.raises(HareError, match=message):
        run(PackConfig(**cfg))


def test_hugging_face_name_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(HareError, match="'hare-tests/no-such-dataset' is not a local path and could not be loaded"):
        pack_dir(tmp_path, ["hare-tests/no-such-dataset"])
    assert list(tmp_path.iterdir()) == []


def test_missing_data_extra_says_how_to_install(tmp_path, monkeypatch):
    src = write_parquet(tmp_path / "docs.parquet", DOCS)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    for source in (src, "some/dataset"):
        with pytest.raises(HareError, match="install with: bash scripts/setup.sh data"):
            pack_dir(tmp_path, [source])


def test_cli_packs_and_reports_errors_in_one_line(tmp_path, capsys):
    src = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    out = tmp_path / "packed"
    assert main(["data", "pack", "--inputs", str(src), "--out", str(out), "--val-fraction", "0.2"]) == 0
    assert "train" in capsys.readouterr().out and load_meta(out)["splits"]["val"]["documents"] == 1

    assert main(["data", "pack", "--inputs", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "x")]) == 2
    assert one_line_error(capsys, "does not exist").startswith("hare data pack: error: input")


def test_a_raw_file_given_as_packed_data_says_how_to_pack_it(tmp_path):
    from hare.data.shards import load_meta

    raw = tmp_path / "corpus.jsonl"
    raw.write_text('{"text": "hi"}\n')
    with pytest.raises(HareError, match=f"pack it first: hare data pack --inputs {raw}"):
        load_meta(raw)


def test_a_shard_with_ids_past_the_vocabulary_is_refused_when_opened(tmp_path):
    """Random bytes of the right size passed the size check, and training died in the embedding (IndexError)."""
    out = pack_dir(tmp_path, [write_jsonl(tmp_path / "docs.jsonl", DOCS)])
    vocab = load_meta(out)["tokenizer"]["vocab_size"]
    shard = out / "train-00000.bin"
    noise = np.random.default_rng(0).integers(0, 2**16, shard.stat().st_size // 2, dtype=np.uint16)
    assert noise.max() >= vocab
    shard.write_bytes(noise.astype("<u2").tobytes())
    with pytest.raises(HareError, match=rf"shard '{shard}' holds token id \d+, past the vocabulary of {vocab}.*"
                                        r"damaged or packed for another tokenizer.*re-pack"):
        open_split(out, "train")
    assert open_split(out, "val") == []  # the other split is not read
