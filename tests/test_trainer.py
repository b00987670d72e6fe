"""The one trainer behind pretrain, sft and tools train: frozen configs, and `--print-config` shows the
run that happens (derived values settled), for each of the three recipes."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
import yaml
from conftest import TOOL_FUNCTIONS, TOOL_RECORDS, write_jsonl, write_records

from hare.cli import main
from hare.errors import HareError
from hare.train.pretrain import PretrainArgs, resolve

QUIET = ["train.device=cpu", "log.progress=false", "log.peak_flops=1e11", "checkpoint.every_steps=0"]


def test_resolved_configs_are_frozen():
    cfg = resolve(PretrainArgs(overrides=["train.max_steps=3"]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.max_steps = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.out = "elsewhere"  # type: ignore[misc]


def printed_then_run(capsys: pytest.CaptureFixture[str], command: list[str], out) -> dict:
    """The config `--print-config` prints, checked equal to the one the run then records in OUT/config.yaml."""
    assert main([*command, "--print-config"]) in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert not (out / "final").exists()  # printing trains nothing
    assert main(command) in (0, None)
    assert yaml.safe_load((out / "config.yaml").read_text()) == printed
    return printed


@pytest.mark.slow
def test_pretrain_prints_the_precision_it_runs(packed_dir, tmp_path, capsys):
    out = tmp_path / "run"
    printed = printed_then_run(capsys, ["pretrain", "--data", str(packed_dir), "--out", str(out), *QUIET,
                                        "model.preset=hare-micro", "data.seq_len=32", "train.max_steps=2",
                                        "train.global_batch_tokens=128", "train.micro_batch_size=2",
                                        "train.precision=auto"], out)
    assert printed["train"]["precision"] in ("bf16", "fp32")  # `auto` is settled before printing


@pytest.mark.slow
def test_sft_prints_the_run_length_its_epochs_make(micro_dir, tmp_path, capsys):
    chats = write_jsonl(tmp_path / "chats.jsonl", [
        {"messages": [{"role": "user", "content": f"Say {n}."}, {"role": "assistant", "content": f"{n}."}]}
        for n in range(9)])
    out = tmp_path / "run"
    printed = printed_then_run(capsys, ["sft", "--model", str(micro_dir), "--data", str(chats), "--out", str(out),
                                        *QUIET, "data.seq_len=64", "train.global_batch_tokens=256",
                                        "train.micro_batch_size=4", "data.epochs=2", "train.precision=fp32"], out)
    assert printed["train"]["max_steps"] == 5  # 9 conversations × 2 epochs / 4 rows a step, rounded up


@pytest.mark.slow
def test_tools_train_prints_the_data_it_trains_on(micro_dir, tmp_path, capsys):
    from hare.tools.spec import load_spec, save_spec

    data = tmp_path / "data"
    functions = [replace(f, index=i) for i, f in enumerate(f for f in load_spec("android") if f.name in TOOL_FUNCTIONS)]
    save_spec(functions, data)
    write_records(data / "train.jsonl", TOOL_RECORDS)
    out = tmp_path / "run"
    printed = printed_then_run(capsys, ["tools", "train", "--model", str(micro_dir), "--data", str(data),
                                        "--out", str(out), *QUIET, "data.seq_len=128", "data.epochs=1"], out)
    assert printed["data"]["paths"] == [str(out / "data" / "train.jsonl")] and printed["data"]["format"] == "openai"
    assert printed["train"]["max_steps"] >= 1 and printed["data"]["epochs"] == 1


def test_tools_train_refuses_data_paths_it_would_ignore(micro_dir, tmp_path):
    from hare.tools.spec import load_spec, save_spec
    from hare.tools.train import ToolTrainArgs, run

    save_spec(load_spec("android"), tmp_path)
    with pytest.raises(HareError, match="remove data.paths"):
        run(ToolTrainArgs(model=str(micro_dir), data=str(tmp_path), out=str(tmp_path / "o"),
                          overrides=['data.paths=["chats.jsonl"]']))


class _Clock:
    """`time.perf_counter` for `hare.train.budget`: each step takes what the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_budget_fits_the_run_and_fixes_its_end_when_the_decay_begins(monkeypatch):
    from hare.train import budget as budget_module
    from hare.train.budget import StepBudget
    from hare.train.distributed import Dist
    from hare.train.optim import ScheduleConfig

    clock = _Clock()
    monkeypatch.setattr(budget_module.time, "perf_counter", clock)
    d = Dist(rank=0, world=1, local_rank=0, device=None)
    schedule = ScheduleConfig("wsd", warmup_steps=2, decay_fraction=0.25)
    budget = StepBudget(1000, 1, schedule)
    budget.start()
    step, totals = 0, []
    while step < budget.total:
        clock.now += 5.0 if step == 0 else (1.0 if step < 20 else 0.5)  # a slow first step, then faster
        step += 1
        budget.after(step, d)
        totals.append(budget.total)
    # 5 s + 19 × 1 s, then 0.5 s steps: the estimate follows the pace (median of the last 10 steps)...
    assert totals[1] == 2 + int((60 - 6) / 1.0) and max(totals) > totals[1]
    # ...until the decay begins, where the end is fixed: the run overshoots the minute by less than a step.
    assert budget.fixed and step == budget.total == totals[-1]
    assert 60 - 0.5 < budget.spent <= 60 + 0.5
    resumed = StepBudget(1000, 1, schedule)
    resumed.restore(budget.state())
    assert (resumed.total, resumed.fixed, resumed.spent) == (budget.total, True, budget.spent)


def test_time_budget_refuses_a_cosine_schedule():
    from hare.train.budget import StepBudget
    from hare.train.optim import ScheduleConfig

    with pytest.raises(HareError, match="schedule.name=wsd or constant"):
        StepBudget(1000, 1, ScheduleConfig("cosine"))


@pytest.mark.slow
def test_pretrain_under_a_time_budget_stops_and_decays(packed_dir, tmp_path):
    import json

    out = tmp_path / "run"
    assert main(["pretrain", "--data", str(packed_dir), "--out", str(out), *QUIET, "model.preset=hare-micro",
                 "data.seq_len=32", "train.max_steps=100000", "train.max_minutes=0.1", "schedule.name=wsd",
                 "schedule.warmup_steps=1", "schedule.decay_fraction=0.5", "schedule.min_lr_ratio=0",
                 "train.global_batch_tokens=128", "train.micro_batch_size=2", "train.precision=fp32"]) in (0, None)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r["kind"] == "train"]
    assert (out / "final" / "config.json").is_file() and 4 <= len(lrs) < 100000
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, len(lrs) + 1))
    peak = max(lrs)  # the decay ran: the last half of the steps fell from the peak towards 0
    assert lrs[-1] < 0.5 * peak and lrs[-1] == min(lrs[1:])


@pytest.mark.parametrize("config", [None, "configs/pretrain/tiny-cpu.yaml"])
def test_a_recipe_that_names_no_precision_trains_in_the_faster_one(packed_dir, tmp_path, capsys, monkeypatch,
                                                                    config):
    """On a CPU with AVX2 alone bf16 matmuls ran at 0.7 GFLOP/s against fp32's 124: the default and the shipped
    CPU recipes measure instead of fixing bf16, and a CPU that multiplies bf16 faster still gets bf16."""
    from hare.model import precision

    command = ["pretrain", "--data", str(packed_dir), "--out", str(tmp_path / "run"), *QUIET,
               *(["--config", config] if config else []), "--print-config"]
    for rates, chosen in (({"bf16": 0.7e9, "fp32": 124e9}, "fp32"), ({"bf16": 418e9, "fp32": 190e9}, "bf16")):
        monkeypatch.setattr(precision, "cpu_rates", lambda rates=rates, **_: rates)
        assert main(command) in (0, None)
        assert yaml.safe_load(capsys.readouterr().out)["train"]["precision"] == chosen
