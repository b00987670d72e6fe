"""The `hare` command line: help text, the real console script, and one clear line per user mistake."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PARROT_ANSWER, PARROT_QUESTION, one_line_error

from hare.cli import COMMANDS, main

HARE = str(Path(sys.executable).with_name("hare"))


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, cmd in COMMANDS.items():
        assert name in out and cmd.help in out


def test_group_help_lists_its_subcommands(capsys):
    assert main(["data", "--help"]) == 0
    assert "pack" in capsys.readouterr().out
    assert main(["data"]) == 2


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_help_describes_every_option(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    config = getattr(importlib.import_module(COMMANDS[name].module), COMMANDS[name].config)
    for f in dataclasses.fields(config):
        assert (f.name if f.metadata.get("positional") else "--" + f.name.replace("_", "-")) in out
        assert f.metadata.get("help"), f"{name} --{f.name} has no help text"


def _run(args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([HARE, *args], capture_output=True, text=True, env=env, timeout=300, **kwargs)


@pytest.mark.slow
def test_console_script_chat_multi_turn_and_reset(parrot_dir):
    stdin = f"{PARROT_QUESTION}\n/reset\n{PARROT_QUESTION}\n/exit\n"
    result = _run(["chat", "--model", str(parrot_dir), "--temperature", "0"], input=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(PARROT_ANSWER) == 2
    assert "(history cleared)" in result.stderr


def test_console_script_generate_streams_prompt_and_continuation(parrot_dir):
    result = _run(["generate", "--model", str(parrot_dir), "--prompt", "The hare", "--max-new-tokens", "8",
                   "--seed", "1"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The hare") and len(result.stdout) > len("The hare\n")


def _assert_one_line_error(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> None:
    assert code == 2
    one_line_error(capsys, *fragments)


def test_missing_directory(capsys, tmp_path):
    code = main(["generate", "--model", str(tmp_path / "nope"), "--prompt", "x"])
    _assert_one_line_error(capsys, code, "does not exist", "hare init")


def test_directory_without_config(capsys, tmp_path):
    code = main(["chat", "--model", str(tmp_path)])
    _assert_one_line_error(capsys, code, "no config.json", "--model")


def test_directory_without_tokenizer(capsys, micro_dir, tmp_path):
    shutil.copy(micro_dir / "config.json", tmp_path / "config.json")
    code = main(["generate", "--model", str(tmp_path), "--prompt", "x"])
    _assert_one_line_error(capsys, code, "no tokenizer")


def test_unknown_preset(capsys, tmp_path):
    code = main(["init", "--preset", "hare-7b", "--out", str(tmp_path / "m")])
    _assert_one_line_error(capsys, code, "unknown preset 'hare-7b'", "hare-micro")
    assert not (tmp_path / "m").exists()


def test_vocabulary_mismatch(capsys, micro_dir, tmp_path):
    from hare.model.tokenizer import build_tokenizer, save_tokenizer

    ckpt = tmp_path / "mismatch"
    shutil.copytree(micro_dir, ckpt)
    save_tokenizer(build_tokenizer(num_functional_tokens=100), ckpt)  # 32103 tokens > 32064 rows
    code = main(["generate", "--model", str(ckpt), "--prompt", "x"])
    _assert_one_line_error(capsys, code, "32103 tokens", "32064 embedding rows")


def test_hub_id_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["generate", "--model", "hare-org/not-cached", "--prompt", "x"])
    _assert_one_line_error(capsys, code, "hare-org/not-cached", "Hugging Face hub")


def test_init_refuses_existing_output(capsys, micro_dir):
    before = json.loads((micro_dir / "config.json").read_text())
    code = main(["init", "--out", str(micro_dir)])
    _assert_one_line_error(capsys, code, "already exists", "--overwrite")
    assert json.loads((micro_dir / "config.json").read_text()) == before


def test_unknown_command(capsys):
    _assert_one_line_error(capsys, main(["pretrian"]), "unknown command 'pretrian'")
