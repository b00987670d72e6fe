"""Model soups (`hare.train.soup`, `hare tools train --soup`): the parts a run splits into, and their mean."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import TOOL_FUNCTIONS, TOOL_RECORDS, torchrun, write_records

from hare.cli import main
from hare.errors import HareError

QUIET = ["train.device=cpu", "log.progress=false", "log.peak_flops=1e11", "checkpoint.every_steps=0",
         "data.seq_len=128", "train.global_batch_tokens=256", "train.micro_batch_size=2", "train.precision=fp32"]


def test_a_soup_splits_the_run_and_refuses_adapters_it_cannot_average():
    from hare.train.sft import SFTConfig
    from hare.train.soup import parts

    cfg = SFTConfig(out="runs/x")
    cfg = replace(cfg, data=replace(cfg.data, epochs=1.0, seed=3),
                  train=replace(cfg.train, max_steps=9, max_minutes=8.0, seed=5))
    halves = parts(cfg, 2)
    assert [p.out for p in halves] == ["runs/x/soup-0", "runs/x/soup-1"]
    assert [(p.data.seed, p.train.seed) for p in halves] == [(3, 5), (4, 6)]  # each its own order of the data
    assert all(p.data.epochs == 0.5 and p.train.max_steps == 4 and p.train.max_minutes == 4.0 for p in halves)
    with pytest.raises(HareError, match="lora.merge=true"):
        parts(replace(cfg, lora=replace(cfg.lora, enabled=True, merge=False)), 2)


def test_tools_train_soup_averages_its_parts_into_the_tool_model(micro_dir, tmp_path, capsys):
    """Two fine-tunes on their own orders of the data; OUT/final is their mean, weight for weight, with the spec
    beside it, and a tool model `hare tools call` loads. A second run with --resume reuses both parts."""
    import torch
    from safetensors.torch import load_file

    from hare.tools.decoder import ToolCaller
    from hare.tools.spec import load_spec, save_spec

    data = tmp_path / "data"
    functions = [replace(f, index=i) for i, f in enumerate(f for f in load_spec("android") if f.name in TOOL_FUNCTIONS)]
    save_spec(functions, data)
    write_records(data / "train.jsonl", TOOL_RECORDS * 4)
    out = tmp_path / "run"
    args = ["tools", "train", "--model", str(micro_dir), "--data", str(data), "--out", str(out), "--soup", "2",
            *QUIET, "train.max_steps=6"]
    assert main(args) in (0, None)
    a, b, mean = (load_file(d / "model.safetensors") for d in (out / "soup-0" / "final", out / "soup-1" / "final",
                                                                   out / "final"))
    trained = [k for k in mean if not torch.equal(a[k], b[k])]
    assert trained, "the two parts trained alike: no different order of the data, or no training"
    for key in mean:
        assert torch.allclose(mean[key], (a[key] + b[key]) / 2, atol=1e-6), key
    steps = [line for line in (out / "soup-0" / "metrics.jsonl").read_text().splitlines() if '"kind": "train"' in line]
    assert len(steps) == 3  # half of train.max_steps=6
    assert (out / "final" / "tools.json").is_file() and not list(out.glob(".final.*"))
    assert ToolCaller.load(str(out / "final"), device="cpu").functions == functions
    printed = capsys.readouterr().out
    assert "soup: the mean of 2 fine-tunes" in printed

    before = (out / "soup-0" / "final" / "model.safetensors").stat().st_mtime_ns
    assert main([*args[:2], "--resume", *args[2:]]) in (0, None)  # both parts done: only the mean again
    assert (out / "soup-0" / "final" / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.distributed
def test_a_soup_under_torchrun_is_averaged_once_by_the_first_rank(micro_dir, tmp_path):
    """Both ranks train each part (DDP), the first alone writes the mean: one soup line, no leftover temp dir."""
    import torch
    from safetensors.torch import load_file

    from hare.tools.spec import load_spec, save_spec

    data = tmp_path / "data"
    save_spec([replace(f, index=i) for i, f in enumerate(f for f in load_spec("android") if f.name in TOOL_FUNCTIONS)],
              data)
    write_records(data / "train.jsonl", TOOL_RECORDS * 4)
    out = tmp_path / "run"
    result = torchrun("tools", "train", "--model", str(micro_dir), "--data", str(data), "--out", str(out),
                      "--soup", "2", *QUIET, "train.global_batch_tokens=512", "train.max_steps=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("soup: the mean of 2 fine-tunes") == 1
    a, b, mean = (load_file(d / "model.safetensors") for d in (out / "soup-0" / "final", out / "soup-1" / "final",
                                                                   out / "final"))
    assert any(not torch.equal(a[k], b[k]) for k in mean)
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2, atol=1e-6) for k in mean)
    assert not list(out.glob(".final.*"))


def test_models_of_different_shapes_are_not_averaged(micro_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from hare.train.soup import average

    other = tmp_path / "other"
    other.mkdir()
    weights = load_file(micro_dir / "model.safetensors")
    save_file({k: v for k, v in list(weights.items())[1:]}, other / "model.safetensors")
    with pytest.raises(HareError, match="different tensors"):
        average([micro_dir, other], tmp_path / "mean")
    assert not (tmp_path / "mean").exists() and not list(tmp_path.glob(".mean.*"))
