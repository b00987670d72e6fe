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
import yaml
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
    stdin = f"{PARROT_QUESTION}\n/reset\n/help\n/resett\n{PARROT_QUESTION}\n /EXIT\nnever sent\n"
    result = _run(["chat", "--model", str(parrot_dir), "--temperature", "0"], input=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(PARROT_ANSWER) == 2 and result.stdout.count("hare> ") == 2  # commands not sent
    assert "(history cleared)" in result.stderr and "unknown command /resett; commands: /reset" in result.stderr


@pytest.mark.slow
def test_console_script_chat_fed_a_message_it_cannot_take_answers_the_rest_and_exits_2(parrot_dir):
    """A script piping messages in learns from the exit status that one got no reply (it had exited 0); the
    conversation still goes on past it, as at a terminal."""
    stdin = b"caf\xe9 \xff\n" + PARROT_QUESTION.encode() + b"\n"
    result = subprocess.run([HARE, "chat", "--model", str(parrot_dir), "--temperature", "0"], input=stdin,
                            capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 2, err
    assert out.count(PARROT_ANSWER) == 1 and "Traceback" not in err
    assert "not UTF-8" in err and "1 message got no reply" in err


def test_console_script_generate_streams_prompt_and_continuation(parrot_dir):
    result = _run(["generate", "--model", str(parrot_dir), "--prompt", "The hare", "--max-new-tokens", "8",
                   "--seed", "1"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The hare") and len(result.stdout) > len("The hare\n")


@pytest.mark.parametrize("args", [["presets"], ["base", "list"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(args):
    """`hare presets | head -0`: the pipe's reader closed before the first line had been a BrokenPipeError."""
    proc = subprocess.Popen([HARE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    proc.stdout.close()  # before the command has printed anything (it starts in about a second)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_control_characters_a_user_typed_are_escaped_in_errors(capsys):
    """`hare base pull "$(printf 'a\\x1b[31mb')"`: the escape sequence had turned the terminal red."""
    assert main(["base", "pull", "a\x1b[31mb"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "a\\x1b[31mb" in err


def test_sigterm_unwinds_the_command_and_leaves_no_temporary_output(tmp_path):
    """`timeout` or a scheduler stopping a run had left its half-written `.out.tmp-*` behind."""
    import signal
    import time

    proc = subprocess.Popen([HARE, "data", "synth", "--out", str(tmp_path / "docs"), "--num-docs", "10000000"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)  # until the temporary output exists: the command is mid-write
    assert any(tmp_path.iterdir()), proc.stderr.read() if proc.poll() is not None else "no output within 120 s"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, proc.stderr.read()
    assert not list(tmp_path.iterdir()) and "Traceback" not in proc.stderr.read()


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


LONG_INT = "1" + "0" * 400  # YAML reads it as an int that no float holds


def _setting_cases(tmp: Path, model: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """name → (argv with one bad setting, what its one-line error must say). Everything else is good, and
    each is refused before a model trains or anything is written: pretrain's --data does not even exist,
    so a refusal that came later would name the data instead."""
    out = str(tmp / "out")
    generate = ["generate", "--model", str(model), "--prompt", "x"]
    pretrain = ["pretrain", "--data", str(tmp / "packed"), "--out", out]
    not_yaml = tmp / "recipe.yaml"
    not_yaml.write_text("train: {max_steps: [1,\n")
    chats = tmp / "chats.jsonl"
    chats.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                              {"role": "assistant", "content": "Hello"}]}) + "\n")
    small_sft = ["train.device=cpu", "data.seq_len=64", "train.global_batch_tokens=256", "train.micro_batch_size=4"]
    return {
        "temperature nan": ([*generate, "--temperature", "nan"], ("--temperature must be finite", "got nan")),
        "temperature inf": ([*generate, "--temperature", "inf"], ("--temperature must be finite", "got inf")),
        "top-p nan": ([*generate, "--top-p", "nan"], ("--top-p must be finite", "got nan")),
        "seed past 64 bits": ([*generate, "--seed", "9" * 23], ("--seed", "18446744073709551615", "torch")),
        "unknown device": ([*generate, "--device", "tpu"], ("unknown device 'tpu'", "cpu, cuda, cuda:N", "mps")),
        "unknown train device": ([*pretrain, "train.device=tpu"], ("unknown train.device 'tpu'", "cuda:N")),
        "lr past the float range": ([*pretrain, f"optim.lr={LONG_INT}"], ("'optim.lr'", "finite", "401 characters")),
        "lr 1e999": ([*pretrain, "optim.lr=1e999"], ("'optim.lr'", "'1e999'", "finite")),
        "lr nan": ([*pretrain, "optim.lr=.nan"], ("'optim.lr'", "nan", "finite")),
        "lr negative": ([*pretrain, "optim.lr=-1"], ("optim.lr must be at least 0", "-1")),
        "override not YAML": ([*pretrain, "optim.lr=[1,"], ("override 'optim.lr'", "not YAML", "'[1,'")),
        "config not YAML": ([*pretrain, "--config", str(not_yaml)], (str(not_yaml), "not valid YAML")),
        "train seed past 64 bits": ([*pretrain, f"train.seed={LONG_INT}"], ("train.seed", "torch")),
        "seq_len 0": ([*pretrain, "data.seq_len=0"], ("data.seq_len must be at least 2", "got 0")),
        "global batch 0": ([*pretrain, "train.global_batch_tokens=0"], ("train.global_batch_tokens", "at least 1")),
        "micro batch 0": ([*pretrain, "train.micro_batch_size=0"], ("train.micro_batch_size", "at least 1")),
        "keep_last 0": ([*pretrain, "checkpoint.keep_last=0"], ("checkpoint.keep_last must be at least 1",
                                                               "--resume", "checkpoint.every_steps=0")),
        "schedule decay 0": ([*pretrain, "schedule.decay_fraction=0"], ("schedule.decay_fraction", "(0, 1]")),
        "port past 16 bits": (["serve", "--model", str(model), "--port", "99999"], ("--port", "65535")),
        "port negative": (["serve", "--model", str(model), "--port", "-1"], ("--port", "[0, 65535]")),
        "data seed negative": (["sft", "--model", str(model), "--data", str(chats), "--out", out, *small_sft,
                                "data.seed=-1"], ("data.seed must be at least 0",)),
        "sft seq_len 1": (["sft", "--model", str(model), "--data", str(tmp / "none.jsonl"), "--out", out,
                           "data.seq_len=1"], ("data.seq_len must be at least 2", "got 1")),
        "sft epochs negative": (["sft", "--model", str(model), "--data", str(tmp / "none.jsonl"), "--out", out,
                                 "data.epochs=-1"], ("data.epochs must be at least 0", "train.max_steps")),
        "max_minutes negative": ([*pretrain, "train.max_minutes=-1"], ("train.max_minutes must be in [0, 525600]",
                                                                      "no time budget")),
    }


SETTING_CASES = ["temperature nan", "temperature inf", "top-p nan", "seed past 64 bits", "unknown device",
                 "unknown train device", "lr past the float range", "lr 1e999", "lr nan", "lr negative",
                 "override not YAML", "config not YAML", "train seed past 64 bits", "seq_len 0", "global batch 0",
                 "micro batch 0", "keep_last 0", "schedule decay 0", "port past 16 bits", "port negative",
                 "data seed negative", "sft seq_len 1", "sft epochs negative", "max_minutes negative"]


@pytest.mark.parametrize("case", SETTING_CASES)
def test_bad_setting(case, micro_dir, tmp_path, capsys):
    argv, fragments = _setting_cases(tmp_path, micro_dir)[case]
    _assert_one_line_error(capsys, main(argv), *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out", ["file", "file/run"])
def test_run_directory_that_is_a_file(out, tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    code = main(["pretrain", "--data", str(tmp_path / "packed"), "--out", str(tmp_path / out)])
    _assert_one_line_error(capsys, code, f"'{tmp_path / 'file'}' is a file", "new directory")
    assert (tmp_path / "file").read_text() == "keep me"


# A conversation file with one bad record: (record, what the error names besides the file and line).
ASSISTANT = {"role": "assistant", "content": "Hello"}
BAD_SFT_RECORDS = {
    "unknown role": ({"messages": [{"role": "wizard", "content": "Hi"}, ASSISTANT]},
                     ("message 1 has role 'wizard'", "system (first message only), user and assistant")),
    "system not first": ({"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be"},
                                       ASSISTANT]}, ("message 2 has role 'system'", "first message only")),
    "content null": ({"messages": [{"role": "user", "content": None}, ASSISTANT]},
                     ("message 1 (user)", "content is null", "one string")),
    "content a list": ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}, ASSISTANT]},
                       ("message 1 (user)", "content is a list")),
    "lone surrogate": ({"messages": [{"role": "user", "content": "Hi \ud800"}, ASSISTANT]},
                       ("line 1 contains a lone UTF-16 surrogate",)),  # refused by the one JSON-lines reader
    "alpaca output null": ({"instruction": "Hi", "output": None}, ("message 2 (assistant)", "content is null")),
    "sharegpt speaker": ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "robot", "value": "Yo"}]},
                         ("'robot'", "system, human, user, gpt, assistant")),
}


@pytest.mark.parametrize("case", list(BAD_SFT_RECORDS))
def test_bad_sft_record(case, micro_dir, tmp_path, capsys):
    record, fragments = BAD_SFT_RECORDS[case]
    data = tmp_path / "chats.jsonl"
    data.write_text(json.dumps(record) + "\n")  # ensure_ascii: the surrogate is written as the escape \ud800
    code = main(["sft", "--model", str(micro_dir), "--data", str(data), "--out", str(tmp_path / "out")])
    where = f"'{data}' line 1" if case == "lone surrogate" else f"{data}:1: "  # the JSON-lines reader's, or SFT's
    _assert_one_line_error(capsys, code, where, *fragments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lines, fragments", [
    ("", ("no conversation in", "the data is empty")),
    (json.dumps({"messages": [{"role": "user", "content": "word " * 300}, ASSISTANT]}) + "\n",
     ("none of the 1 conversations", "data.seq_len=64", "raise data.seq_len")),
])
def test_sft_data_with_nothing_to_train_says_why(lines, fragments, micro_dir, tmp_path, capsys):
    """An empty file is not "all longer than data.seq_len?", and a too-long one does not blame truncation."""
    data = tmp_path / "chats.jsonl"
    data.write_text(lines)
    code = main(["sft", "--model", str(micro_dir), "--data", str(data), "--out", str(tmp_path / "out"),
                 "data.seq_len=64"])
    _assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "out").exists()


def test_overrides_may_sit_between_flags(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["pretrain", "train.max_steps=5", "--out", str(out), "optim.lr=0.001", "--print-config",
                 "train.device=cpu"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert (printed["train"]["max_steps"], printed["optim"]["lr"], printed["out"]) == (5, 0.001, str(out))
    assert printed["train"]["device"] == "cpu"
    assert not out.exists()  # printing writes nothing


def test_resume_without_a_checkpoint_starts_fresh_and_says_so(packed_dir, tmp_path, capsys):
    """`--resume` in a job script that restarts a run stopped before its first save must still train; it
    says that it starts at step 0 rather than leaving the user to think a checkpoint was found."""
    out = tmp_path / "run"
    code = main(["pretrain", "--data", str(packed_dir), "--out", str(out), "--resume", "model.preset=hare-micro",
                 "data.seq_len=32", "train.max_steps=1", "train.global_batch_tokens=64", "train.micro_batch_size=2",
                 "train.device=cpu", "train.precision=fp32", "log.progress=false", "log.peak_flops=1e11",
                 "log.eval_batches=1", "checkpoint.every_steps=0"])
    assert code == 0
    assert f"pretrain: no checkpoint in '{out}' yet, starting from step 0" in capsys.readouterr().out
    assert (out / "final" / "config.json").is_file()
