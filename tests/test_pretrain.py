"""Pretraining engine: config resolution, schedules, checkpoints, exact resume, DDP/FSDP2 parity, FP8."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import torchrun

from hare.config import load_config
from hare.errors import HareError
from hare.train import checkpoint
from hare.train.optim import ScheduleConfig, build_optimizer, lr_factor
from hare.train.pretrain import PretrainArgs, PretrainConfig, resolve, train

ROOT = Path(__file__).resolve().parents[1]
HARE = str(Path(sys.executable).with_name("hare"))
# hare-micro on 32-token sequences, 8 sequences (256 tokens) per step, fp32 for tight comparisons.
SMALL = ["model.preset=hare-micro", "data.seq_len=32", "train.global_batch_tokens=256",
         "train.micro_batch_size=2", "train.precision=fp32", "train.device=cpu", "schedule.warmup_steps=2",
         "optim.lr=3e-3", "log.eval_every_steps=0", "log.eval_batches=2", "log.progress=false",
         "log.peak_flops=1e11"]


def small_config(packed: Path, out: Path, *extra: str) -> PretrainConfig:
    return load_config(PretrainConfig, None, [*SMALL, f"data.path={packed}", f"out={out}", *extra])


def losses(run_dir: Path, kind: str = "train") -> dict[int, float]:
    """Step → loss from metrics.jsonl; a re-run step (after resume) keeps its last value."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == kind}


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([HARE, "pretrain", *args], capture_output=True, text=True, timeout=600, **kwargs)


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted((ROOT / "configs" / "pretrain").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_load(recipe):
    cfg = resolve(PretrainArgs(config=str(recipe), data="x"))
    assert cfg.train.global_batch_tokens % (cfg.data.seq_len * cfg.train.micro_batch_size) == 0
    if recipe.stem == "hare-1.1b":
        assert cfg.model.preset == "hare-1.1b" and cfg.data.seq_len == 2048
        assert cfg.train.global_batch_tokens == 1024 * 2048 == 2_097_152
        assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay) == (5e-4, (0.9, 0.95), 1e-8, 0.1)
        assert cfg.schedule.name == "cosine" and cfg.schedule.warmup_steps > 0


def test_overrides_and_unknown_keys():
    cfg = resolve(PretrainArgs(overrides=["train.max_steps=7", "optim.betas=[0.8, 0.9]"], out="o"))
    assert cfg.train.max_steps == 7 and cfg.optim.betas == (0.8, 0.9) and cfg.out == "o"
    with pytest.raises(HareError, match="unknown config key 'train.max_step'.*max_steps"):
        resolve(PretrainArgs(overrides=["train.max_step=7"]))
    with pytest.raises(HareError, match="'train.precision'.*bf16"):
        resolve(PretrainArgs(overrides=["train.precision=fp16"]))
    with pytest.raises(HareError, match="section.key=value"):
        resolve(PretrainArgs(overrides=["train.max_steps"]))


@pytest.mark.parametrize("text, named", [
    ("train:\n  max_steps: 5\ntrain:\n  seed: 3\n", "key 'train' appears twice in one mapping (line 3)"),
    ("train: {max_steps: 5, max_steps: 7}\n", "key 'max_steps' appears twice"),
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("train:\n\tmax_steps: 5\n", "found character '\\t' that cannot start any token, line 2"),
])
def test_config_files_said_twice_empty_or_tab_indented_are_refused(text, named, tmp_path):
    """A second `train:` had dropped the first section whole, and an empty file had meant the defaults."""
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(HareError) as err:
        resolve(PretrainArgs(config=str(tmp_path / "c.yaml")))
    assert named in str(err.value) and "c.yaml" in str(err.value)


def test_override_values_of_the_wrong_shape():
    """A list for a text key had become a folder named "[1, 2]", and one text for a list key a list of its
    characters; a single value for a list key now means a list of one."""
    with pytest.raises(HareError, match=r"config key 'out' has bad value .*expected text"):
        resolve(PretrainArgs(overrides=["out=[1, 2]"]))
    with pytest.raises(HareError, match=r"config key 'model.preset' has bad value .*expected text"):
        resolve(PretrainArgs(overrides=["model.preset={a: 1}"]))
    with pytest.raises(HareError, match=r"config key 'optim.betas' has bad value .*expected a list"):
        resolve(PretrainArgs(overrides=["optim.betas={a: 1}"]))
    # Numbers are named as the config's kinds, not Python's ("could not convert string to float: 'abc'")
    for override, expected in (("train.max_steps=abc", "expected an integer$"),
                               ("train.max_steps.x=1", "expected an integer, not a section"),
                               ("optim.lr=abc", "expected a number$"),
                               ("optim.lr=[1]", "expected a number, not a list")):
        with pytest.raises(HareError, match=expected):
            resolve(PretrainArgs(overrides=[override]))
    from hare.train.sft import SFTConfig

    assert load_config(SFTConfig, None, ["data.paths=a.jsonl", "model.path=m"]).data.paths == ["a.jsonl"]


def test_schedules():
    cos = ScheduleConfig(name="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, 100, cos) == pytest.approx(0.1)
    assert lr_factor(9, 100, cos) == pytest.approx(1.0)
    assert lr_factor(55, 100, cos) == pytest.approx(0.55)  # halfway through the cosine
    assert lr_factor(99, 100, cos) == pytest.approx(0.1, abs=1e-3)
    assert lr_factor(50, 100, ScheduleConfig(name="constant", warmup_steps=10)) == 1.0
    wsd = ScheduleConfig(name="wsd", warmup_steps=10, decay_fraction=0.2, min_lr_ratio=0.0)
    assert lr_factor(79, 100, wsd) == 1.0
    assert lr_factor(89, 100, wsd) == pytest.approx(0.5)
    assert lr_factor(99, 100, wsd) == pytest.approx(0.0)


def test_weight_decay_skips_norms_and_biases():
    from hare.model.init import build_model
    from hare.train.optim import OptimConfig

    model, _ = build_model("hare-micro")
    decay, no_decay = build_optimizer(model, OptimConfig(weight_decay=0.1)).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all("norm" in names[id(p)] for p in no_decay["params"]) and no_decay["params"]
    assert not any("norm" in names[id(p)] for p in decay["params"])


@pytest.mark.parametrize("override, message", [
    ("train.global_batch_tokens=300", "not divisible"),
    ("data.seq_len=4096", "max_position_embeddings"),
    ("train.fp8=true", "float8"),
])
def test_bad_settings_fail_before_training(packed_dir, tmp_path, override, message):
    with pytest.raises(HareError, match=message):
        train(small_config(packed_dir, tmp_path / "run", override))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_data_packed_with_another_tokenizer(packed_dir, tmp_path):
    from hare.model.init import build_model
    from hare.model.load import save_checkpoint

    model, tok = build_model("hare-micro", functional_tokens=3)
    other = save_checkpoint(model, tok, tmp_path / "other")
    with pytest.raises(HareError, match="another tokenizer"):
        train(small_config(packed_dir, tmp_path / "run", f"model.init_from={other}"))


def test_missing_data_is_one_clear_cli_error(tmp_path):
    result = cli("--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"), *SMALL)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "hare data pack" in result.stderr


# --- training, checkpoints and resume ------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(packed_dir, tmp_path_factory) -> Path:
    """An uninterrupted 12-step run with checkpoints every 4 steps and validation."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    train(small_config(packed_dir, out, "train.max_steps=12", "checkpoint.every_steps=4",
                       "checkpoint.keep_last=2", "log.eval_every_steps=6", "log.tensorboard=true"))
    return out


def test_run_learns_and_writes_everything(reference_run):
    train_losses = losses(reference_run)
    assert sorted(train_losses) == list(range(1, 13))
    assert train_losses[12] < train_losses[1] - 0.5, train_losses
    val = losses(reference_run, "val")
    assert sorted(val) == [6, 12] and val[12] < val[6]
    record = json.loads((reference_run / "metrics.jsonl").read_text().splitlines()[0])
    for key in ("lr", "grad_norm", "step_tokens", "tokens_per_s", "mfu"):
        assert record[key] > 0
    assert [p.name for p in sorted(reference_run.glob("step-*"))] == ["step-00000008", "step-00000012"]
    assert list((reference_run / "tensorboard").glob("events.out.tfevents.*"))
    assert (reference_run / "config.yaml").is_file()


def test_mfu_counts_the_flops_a_step_does(reference_run):
    """Pretraining trains every weight on every token: the FLOPs torch counts for a step are PaLM's
    6·N + attention estimate; and MFU, against the peak, stays a fraction."""
    from transformers import AutoConfig

    from hare.train.metrics import flops_per_token

    records = [json.loads(x) for x in (reference_run / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if r["kind"] == "train"]
    estimate = flops_per_token(AutoConfig.from_pretrained(reference_run / "final"), 32)
    assert trained[0]["flops_per_token"] == pytest.approx(estimate, rel=0.05)
    assert all(0 < r["mfu"] <= 1 for r in trained)


def test_final_model_is_a_plain_hf_checkpoint(reference_run, packed_dir):
    from transformers import AutoModelForCausalLM

    from hare.data.shards import open_split
    from hare.train.batches import Windows

    final = AutoModelForCausalLM.from_pretrained(reference_run / "final", dtype=torch.float32).eval()
    saved = AutoModelForCausalLM.from_pretrained(reference_run / "step-00000012" / "model", dtype=torch.float32)
    for (name, a), (_, b) in zip(final.state_dict().items(), saved.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    windows = Windows(open_split(packed_dir, "val"), 32)
    batch = torch.from_numpy(windows[0].astype("int64"))[None]
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(final(batch[:, :-1]).logits[0], batch[0, 1:])
    assert loss.item() == pytest.approx(losses(reference_run, "val")[12], abs=1.0)


def test_existing_run_needs_resume(reference_run, packed_dir):
    with pytest.raises(HareError, match="--resume"):
        train(small_config(packed_dir, reference_run, "train.max_steps=12"))


@pytest.mark.parametrize(("kill_at", "resumed_from"), [("step:6", 4), ("checkpoint:8", 4)])
def test_sigkill_then_resume_reproduces_every_loss(kill_at, resumed_from, reference_run, packed_dir, tmp_path):
    """SIGKILL at a fixed point (hare.train.checkpoint.kill_point): between checkpoints, or halfway
    through writing one, whose step-N.tmp must then be ignored; the resumed run repeats every loss."""
    out = tmp_path / "killed"
    args = ["--data", str(packed_dir), "--out", str(out), *SMALL, "train.max_steps=12",
            "checkpoint.every_steps=4", "checkpoint.keep_last=2", "log.eval_every_steps=6"]
    killed = cli(*args, env={**os.environ, "HARE_KILL_AT": kill_at})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    killed_step = int(kill_at.split(":")[1])
    assert max(losses(out)) == killed_step and not (out / "final").exists()
    assert checkpoint.latest(out).name == f"step-{resumed_from:08d}"
    assert (out / f"step-{killed_step:08d}.tmp").is_dir() == kill_at.startswith("checkpoint")
    result = cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"resumed from step-{resumed_from:08d}" in result.stdout
    assert losses(out) == losses(reference_run)  # bit-identical, step by step
    assert losses(out, "val") == losses(reference_run, "val")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 13))  # each step once
    assert [r["step"] for r in records if r["kind"] == "val"] == [6, 12]


def test_incomplete_checkpoints_are_never_resumed(reference_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    shutil.rmtree(run_dir / "step-00000012")
    partial = run_dir / "step-00000012.tmp"  # a save killed before trainer.json was written
    shutil.copytree(reference_run / "step-00000012", partial)
    (partial / "trainer.json").unlink()
    fake = run_dir / "step-00000016"  # a directory without trainer.json is not a checkpoint either
    fake.mkdir()
    assert checkpoint.latest(run_dir).name == "step-00000008"


def test_resume_saves_over_a_checkpoint_that_lost_its_trainer_json(reference_run, packed_dir, tmp_path):
    """Not a checkpoint, step-12 without trainer.json is skipped (resume from step 8), and the run's own step 12
    replaces it: the rename onto it had failed with "Directory not empty", a traceback."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    (run_dir / "step-00000012" / "trainer.json").unlink()
    train(small_config(packed_dir, run_dir, "train.max_steps=16", "checkpoint.every_steps=4", "checkpoint.keep_last=2"),
          resume=True)
    assert (run_dir / "final").is_dir() and checkpoint.latest(run_dir).name == "step-00000016"
    assert all((p / "trainer.json").is_file() for p in run_dir.glob("step-*"))


def test_resume_with_another_model_is_refused_in_one_line(reference_run, packed_dir, tmp_path):
    """DCP's load error is a BaseException with every rank's traceback in its text: it must not reach the user."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    with pytest.raises(HareError, match=r"step-00000012.*does not fit this run's model \(.*mismatch") as err:
        train(small_config(packed_dir, run_dir, "train.max_steps=16", "model.preset=hare-tiny"), resume=True)
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)


def test_resume_from_a_state_file_cut_short_says_it_is_damaged(reference_run, packed_dir, tmp_path):
    """A truncated state shard had been reported as another model's checkpoint ("resume with the config that wrote
    it"); it is damaged, and the fix is the checkpoint before it."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    shard = next((run_dir / "step-00000012" / "state").glob("*.distcp"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(HareError, match=r"step-00000012' is damaged \(.*\); delete that step-\* directory") as err:
        train(small_config(packed_dir, run_dir, "train.max_steps=16"), resume=True)
    assert "\n" not in str(err.value) and "another model config" not in str(err.value)


@pytest.mark.slow
def test_failed_save_leaves_previous_checkpoint_latest(packed_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cfg = small_config(packed_dir, out, "train.max_steps=4", "checkpoint.every_steps=2")
    real_save = torch.save

    def disk_full(obj, path, *a, **k):
        if "step-00000004" in str(path):
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        train(cfg)
    assert checkpoint.latest(out).name == "step-00000002"
    # Cleaned up on the way out: no process group left behind, no half-exported final model, and the
    # next --resume (disk space back) continues from step 2 and logs each step once.
    assert not torch.distributed.is_initialized()
    assert not (out / "final").exists() and not list(out.glob(".final.*"))
    monkeypatch.setattr(torch, "save", real_save)
    train(cfg, resume=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]
    assert checkpoint.latest(out).name == "step-00000004" and (out / "final" / "config.json").is_file()


def test_checkpoint_restores_every_random_generator(tmp_path):
    """torch's, Python's and NumPy's generators come back as saved (CUDA's too where there is a GPU)."""
    import random

    import numpy as np

    torch.manual_seed(1), random.seed(2), np.random.seed(3)
    torch.save(checkpoint.rng_state(), tmp_path / "rng-0.pt")
    expected = (torch.rand(3).tolist(), random.random(), np.random.rand())
    torch.manual_seed(7), random.seed(8), np.random.seed(9)
    checkpoint.set_rng_state(torch.load(tmp_path / "rng-0.pt", weights_only=False))
    assert (torch.rand(3).tolist(), random.random(), np.random.rand()) == expected


@pytest.mark.parametrize("option", ["train.activation_checkpointing=true", "train.compile=true"])
def test_memory_and_speed_options_keep_the_numbers(option, reference_run, packed_dir, tmp_path):
    out = tmp_path / "run"
    train(small_config(packed_dir, out, "train.max_steps=12", "checkpoint.every_steps=0", option))
    reference = losses(reference_run)
    for step, value in losses(out).items():  # same maths; compiled kernels may round differently
        assert value == pytest.approx(reference[step], rel=1e-3, abs=1e-3), (step, value, reference[step])


def test_continue_pretraining_from_a_checkpoint(reference_run, packed_dir, tmp_path):
    out = tmp_path / "continued"
    train(small_config(packed_dir, out, f"model.init_from={reference_run / 'final'}", "train.max_steps=2",
                       "schedule.warmup_steps=0", "optim.lr=1e-9"))
    # With a vanishing lr the first step's loss is the loss of the initial checkpoint, already trained:
    assert losses(out)[1] == pytest.approx(losses(reference_run)[12], abs=0.5)
    assert losses(out)[1] < losses(reference_run)[1] - 0.5


# --- distributed ---------------------------------------------------------------------------------


@pytest.mark.distributed
@pytest.mark.parametrize("parallel", ["ddp", "fsdp2"])
def test_two_ranks_match_one(parallel, reference_run, packed_dir, tmp_path):
    out = tmp_path / parallel
    args = ["--data", str(packed_dir), "--out", str(out), *SMALL, "train.max_steps=12",
            f"train.parallel={parallel}", "checkpoint.every_steps=6", "log.eval_every_steps=6"]
    result = torchrun("pretrain", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = losses(reference_run), losses(out)
    assert sorted(two) == sorted(one)
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-4, abs=1e-4), (step, one[step], two[step])
    for step, value in losses(reference_run, "val").items():
        assert losses(out, "val")[step] == pytest.approx(value, rel=1e-4, abs=1e-4)
    if parallel == "fsdp2":  # sharded optimizer state round-trips through torch.distributed.checkpoint
        before = losses(out)
        shutil.rmtree(out / "step-00000012")
        shutil.rmtree(out / "final")
        result = torchrun("pretrain", *args, "--resume")
        assert result.returncode == 0, result.stderr[-3000:]
        assert losses(out) == before


# --- FP8 -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fp8_emulated_tracks_full_precision(packed_dir, tmp_path):
    pytest.importorskip("torchao")
    runs = {}
    for name, extra in (("fp32", []), ("fp8", ["train.fp8=true", "train.fp8_emulate=true"])):
        train(small_config(packed_dir, tmp_path / name, "train.max_steps=6", "checkpoint.every_steps=0", *extra))
        runs[name] = losses(tmp_path / name)
    fp8, full = runs["fp8"], runs["fp32"]
    assert sorted(fp8) == list(range(1, 7))
    for step in fp8:
        assert fp8[step] == pytest.approx(full[step], rel=0.05), (step, fp8[step], full[step])
    assert fp8[6] < fp8[1] - 0.3
    assert fp8 != full  # float8 rounding really happened


def test_a_loss_that_is_no_number_stops_the_run(packed_dir, tmp_path):
    """A learning rate of 1e10 blows the weights up: the run stops with the fix, and writes no final model of
    weights that are no longer numbers (it had exited 0 with every weight NaN)."""
    out = tmp_path / "run"
    with pytest.raises(HareError, match=r"loss became (nan|inf) at step \d+ .*lower optim.lr"):
        train(small_config(packed_dir, out, "train.max_steps=6", "optim.lr=1e10"))
    assert not (out / "final").exists() and not list(out.glob(".final*"))


@pytest.mark.parametrize("damage", ["rng cut short", "trainer.json not JSON", "trainer.json empty object",
                                    "state metadata garbage", "state shard garbage"])
def test_a_damaged_checkpoint_is_named_not_a_traceback(damage, reference_run, packed_dir, tmp_path, caplog):
    """A file of the newest checkpoint broken after it was written (a disk fault, a bad copy): one line naming
    the checkpoint and the way on (its step directory deleted, the one before it resumes)."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    newest = checkpoint.latest(run_dir)
    rng, trainer = newest / "rng-0.pt", newest / "trainer.json"
    metadata, shard = newest / "state" / ".metadata", next((newest / "state").glob("*.distcp"))
    {"rng cut short": lambda: rng.write_bytes(rng.read_bytes()[:50]),
     "trainer.json not JSON": lambda: trainer.write_text("{oops"),
     "trainer.json empty object": lambda: trainer.write_text("{}"),
     "state metadata garbage": lambda: metadata.write_bytes(b"garbage" * 10),
     "state shard garbage": lambda: shard.write_bytes(b"garbage" * 10)}[damage]()
    with pytest.raises(HareError, match=rf"checkpoint '{newest}' is damaged \(\w.*\); delete that step-\* dir") as err:
        train(small_config(packed_dir, run_dir, "train.max_steps=16"), resume=True)
    assert "\n" not in str(err.value)
    assert not [r for r in caplog.records if r.exc_info], "torch's logged tracebacks would print before the line"
    shutil.rmtree(newest)  # the way on it names
    train(small_config(packed_dir, run_dir, "train.max_steps=16"), resume=True)
    assert max(losses(run_dir)) == 16
