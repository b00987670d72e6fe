"""The I/O layer: the path-vs-hub rule, the JSON-lines reader, atomic writes and optional imports."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hare.errors import HareError
from hare.io.atomic import atomic_output, temp_sibling, write_text
from hare.io.extras import import_extra
from hare.io.read import read_json, read_jsonl, read_text, read_yaml
from hare.io.sources import display_name, local_path


@pytest.mark.parametrize("source, hub", [
    ("foo", False),  # a bare name: a path, for checkpoints and data alike
    ("./foo", False),
    ("org/name", True),
    ("~/x", False),
    ("/abs/org/name", False),
    ("a/b/c", False),
    ("org/data.jsonl", False),  # a file name, not a repository
    ("org/model.gguf", False),
    (".hidden/name", False),
    ("HuggingFaceTB/SmolLM2-135M", True),
    ("org/name.v2", True),
])
def test_path_or_hub_id(source, hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (local_path(source) is None) == hub


def test_an_existing_directory_named_like_a_hub_id_is_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert local_path("org/name") == Path("org/name")
    assert local_path("~/x") == Path.home() / "x"


@pytest.mark.parametrize(("source", "name"), [
    ("runs/chat/final", "chat"), ("runs/chat/final/", "chat"), ("runs/chat/step-00000100/model", "chat@100"),
    ("runs/chat/step-00000100", "chat@100"), ("out/tools.q8_0.gguf", "tools.q8_0"), ("mymodel", "mymodel"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")])
def test_models_are_shown_under_their_runs_name(source, name, tmp_path, monkeypatch):
    """Every run exports to RUN/final: named by folder, every model in a table read `final`."""
    monkeypatch.chdir(tmp_path)
    assert display_name(source) == name
    (tmp_path / "proj" / "final").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "proj" / "final")
    assert display_name(".") == display_name("../final") == "proj"


def test_jsonl_reader_numbers_lines_and_reads_gzip(tmp_path):
    plain = tmp_path / "a.jsonl"
    plain.write_text('{"a": 1}\n\n{"a": 2}\r\n')
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        assert [(n, r) for n, _, r in read_jsonl(path)] == [(1, {"a": 1}), (3, {"a": 2})]
    assert [raw for _, raw, _ in read_jsonl(plain)] == [b'{"a": 1}', b'{"a": 2}']


@pytest.mark.parametrize("content, message", [
    (b'{"a": 1}\n{"a": \n', r"a.jsonl' line 2 is not valid JSON"),
    (b'{"a": 1}\n[1, 2]\n', r"a.jsonl' line 2 is not a JSON object"),
    (b'{"a": "caf\xe9"}\n', r"a.jsonl' line 1 is not UTF-8 text \(byte 10\)"),
])
def test_jsonl_reader_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_bytes(content)
    with pytest.raises(HareError, match=message):
        list(read_jsonl(path))


def test_truncated_gzip_and_missing_file_are_one_clear_error(tmp_path):
    whole = gzip.compress(b'{"a": 1}\n' * 1000)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(HareError, match="cut.jsonl.gz' is a truncated or corrupt gzip file"):
        list(read_jsonl(path))
    with pytest.raises(HareError, match="'.*nope.jsonl' does not exist"):
        list(read_jsonl(tmp_path / "nope.jsonl"))
    with pytest.raises(HareError, match="is a directory"):
        read_text(tmp_path, "text file")


def test_text_json_and_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: caf\xe9\n")
    with pytest.raises(HareError, match=r"mixture file '.*bad.yaml' is not UTF-8 text \(byte 6\)"):
        read_yaml(bad, "mixture file")
    bad.write_text("a: [1\n")
    with pytest.raises(HareError, match="is not valid YAML"):
        read_yaml(bad)
    empty = tmp_path / "config.json"
    empty.write_text("")
    with pytest.raises(HareError, match=r"checkpoint config '.*config.json' is not valid JSON .*; re-save"):
        read_json(empty, "checkpoint config", "re-save")


def test_atomic_write_replaces_whole_and_refuses_a_directory(tmp_path):
    out = tmp_path / "report.json"
    write_text(out, "one")
    write_text(out, "two")
    assert out.read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    with pytest.raises(HareError, match="is a directory"):
        write_text(tmp_path, "x")
    assert tmp_path.is_dir()


def test_an_output_of_the_other_kind_is_refused_before_the_work(tmp_path):
    """A file output onto a directory (and the reverse) is refused before the block runs, not after it."""
    (tmp_path / "file").write_text("keep")
    for out, directory in ((tmp_path, False), (tmp_path / "file", True)):
        with pytest.raises(HareError, match="which this output cannot replace"), atomic_output(
                out, replace=True, directory=directory):
            pytest.fail("the work ran")
    assert (tmp_path / "file").read_text() == "keep"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out", replace=False) as tmp:
        tmp.mkdir()
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


WRITER = """
import sys, time
from pathlib import Path
from hare.io.atomic import atomic_output

with atomic_output(Path(sys.argv[1]), replace=True) as tmp:
    tmp.mkdir()
    (tmp / "half.bin").write_bytes(b"x" * 1000)
    Path(sys.argv[2]).write_text("ready")
    time.sleep(120)
"""


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    out, ready = tmp_path / "packed", tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".packed.tmp-")]
    assert len(stale) == 1 and (stale[0] / "half.bin").is_file()

    live = temp_sibling(out)  # this process's own temporary, as a concurrent writer's would be
    live.mkdir()
    with atomic_output(out, replace=True) as tmp:
        tmp.mkdir()
        (tmp / "whole.bin").write_bytes(b"y")
    assert not stale[0].exists() and live.exists()
    assert (out / "whole.bin").is_file()


def test_missing_extra_names_what_to_install():
    with pytest.raises(HareError, match=r"needs 'no_such_module_x'.*bash scripts/setup.sh data .*hare\[data\]"):
        import_extra("no_such_module_x", "data", "reading parquet files")
    with pytest.raises(HareError, match="install vLLM"):
        import_extra("no_such_module_x", None, "--backend vllm", install="install vLLM on a CUDA machine")
    assert import_extra("json", "data", "x").dumps([]) == "[]"


@pytest.mark.parametrize("command", [["generate", "--model", "someorg/somemodel", "--prompt", "hi"],
                                     ["data", "pack", "--inputs", "someorg/somedata", "--out", "packed"]])
def test_unreachable_hub_is_one_line_at_once(command, tmp_path):
    """A hub id with no way to the hub: one line and exit 2, without the hub client's five retries
    (22 log lines, ~50 s before). The hub here is a closed local port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HTTP", "HTTPS", "ALL_PROXY"))}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    hare = str(Path(sys.executable).with_name("hare"))
    result = subprocess.run([hare, *command], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "someorg/some" in lines[0] and "Retry" not in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "packed").exists()


def test_outputs_follow_the_umask(tmp_path):
    """A library's private temporary file (transformers writes model.safetensors as 0600) must not make a
    model unreadable to the others the user's umask lets read it."""
    from hare.model.init import InitConfig
    from hare.model.init import run as init

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out", replace=False) as tmp:
            tmp.mkdir()
            (tmp / "weights").write_bytes(b"x")
            (tmp / "weights").chmod(0o600)
        assert (tmp_path / "out" / "weights").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
        model = init(InitConfig(out=str(tmp_path / "micro"), preset="hare-micro"))
        assert (Path(model) / "model.safetensors").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
