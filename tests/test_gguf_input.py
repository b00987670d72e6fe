"""`--model FILE.gguf`: HARE's own GGUF export read back exactly, converted once, refused clearly when bad."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hare.cli import main
from hare.model.load import check_checkpoint_dir, load_model

gguf = pytest.importorskip("gguf")
pytestmark = pytest.mark.gguf

TEXTS = ["The hare ate 123,456 carrots.", "  indented\n    code()\n\tdone", "naïve café 日本語 😀",
         "<round_start>user\nhi there<round_end>\n<round_start>assistant\n", "<api_3>(x=' Oslo')<api_end> after"]
MESSAGES = [{"role": "user", "content": "What do hares eat?"}, {"role": "assistant", "content": "Grass."}]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HARE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def f16_file(micro_dir, tmp_path_factory) -> Path:
    from hare.export.gguf import ExportGgufConfig, run

    return run(ExportGgufConfig(model=str(micro_dir), out=str(tmp_path_factory.mktemp("gguf") / "micro.gguf")))


def f16_rounded(source: Path) -> torch.nn.Module:
    """The source model with its matrices rounded to f16, as the exporter stores them (norms stay f32)."""
    model, _ = load_model(str(source), "cpu", "float32")
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())
    return model


def test_round_trip_gives_the_same_logits_and_token_ids(f16_file, micro_dir, tok, cache):
    model, gguf_tok = load_model(str(f16_file), "cpu", "float32")
    for text in TEXTS:
        assert gguf_tok(text).input_ids == tok(text).input_ids, text
    chat = tok.apply_chat_template(MESSAGES, tokenize=True, return_dict=False)
    assert gguf_tok.apply_chat_template(MESSAGES, tokenize=True, return_dict=False) == chat
    assert gguf_tok.chat_template == tok.chat_template  # {% generation %} markers back, so SFT can mask
    ids = torch.tensor([tok(TEXTS[0]).input_ids + chat])
    with torch.inference_mode():
        expected, got = f16_rounded(micro_dir)(ids).logits, model(ids).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert 32001 in model.generation_config.eos_token_id  # stops on <round_end> like the source


def test_conversion_is_cached_and_redone_when_the_file_changes(f16_file, cache, capsys):
    first = check_checkpoint_dir(str(f16_file))
    assert "converting micro.gguf" in capsys.readouterr().err
    start = time.perf_counter()
    assert check_checkpoint_dir(str(f16_file)) == first
    assert time.perf_counter() - start < 0.5
    assert "converting" not in capsys.readouterr().err
    stat = f16_file.stat()
    os.utime(f16_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as a re-export would
    second = check_checkpoint_dir(str(f16_file))
    assert "converting" in capsys.readouterr().err
    assert second != first and not first.exists()  # the stale conversion is gone
    assert [p.name for p in (cache / "gguf").iterdir()] == [second.name]


def test_cli_generate_from_gguf(f16_file, cache):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARE_CACHE": str(cache)}
    hare = str(Path(sys.executable).with_name("hare"))
    done = subprocess.run([hare, "generate", "--model", str(f16_file), "--prompt", "The hare",
                           "--max-new-tokens", "4", "--seed", "0"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("The hare")
    assert "converting micro.gguf" in done.stderr


def bogus_architecture(path: Path) -> Path:
    writer = gguf.GGUFWriter(path, "bogus")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", torch.zeros(8, 4).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def truncated(f16_file: Path, path: Path) -> Path:
    path.write_bytes(f16_file.read_bytes()[: f16_file.stat().st_size // 2])
    return path


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda src, tmp: truncated(src, tmp / "half.gguf"), "not a readable GGUF file"),
    (lambda src, tmp: bogus_architecture(tmp / "bogus.gguf"), "architecture 'bogus'"),
    (lambda src, tmp: tmp / "missing.gguf", "does not exist"),
])
def test_bad_gguf_is_one_line_and_leaves_no_cache_entry(make, fragment, f16_file, tmp_path, cache, capsys):
    path = make(f16_file, tmp_path)
    code = main(["generate", "--model", str(path), "--prompt", "x"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not (cache / "gguf").exists() or not any((cache / "gguf").iterdir())


def test_tools_train_takes_a_gguf_base(f16_file, cache, tmp_path):
    """`hare tools train --model FILE.gguf`: the recipe, the loader and the export all see the converted base."""
    from conftest import TOOL_RECORDS, write_records

    from hare.tools.spec import load_spec, save_spec

    data = tmp_path / "data"
    data.mkdir()
    save_spec(load_spec("android"), data)
    write_records(data / "train.jsonl", TOOL_RECORDS)
    out = tmp_path / "run"
    assert main(["tools", "train", "--model", str(f16_file), "--data", str(data), "--out", str(out),
                 "data.epochs=0", "train.max_steps=2", "data.seq_len=64", "train.global_batch_tokens=256",
                 "train.micro_batch_size=4", "log.progress=false", "checkpoint.every_steps=0"]) == 0
    tok = load_model(str(out / "final"), "cpu")[1]
    assert "<api_19>" in tok.get_vocab() and (out / "final" / "tools.json").is_file()
