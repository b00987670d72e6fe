"""`hare bench train` compares HARE's engine with the HF Trainer on identical work."""

from __future__ import annotations

import pytest

from hare.bench.train import BenchTrainConfig, run
from hare.errors import HareError


@pytest.mark.slow
def test_bench_train_measures_both_engines(packed_dir, capsys, monkeypatch):
    """Both engines timed on the same work, in the precision training would pick here: on a CPU that
    multiplies bf16 at a third of fp32's rate (stood in for: the rates are the machine's), fp32."""
    from hare.model import precision

    monkeypatch.setattr(precision, "cpu_rates", lambda: {"bf16": 30e9, "fp32": 90e9})
    result = run(BenchTrainConfig(preset="hare-micro", data=str(packed_dir), seq_len=32, micro_batch_size=4,
                                  steps=2, warmup_steps=1, rounds=1, compile=False, device="cpu"))
    assert result["hare_tokens_per_s"] > 0 and result["hf_trainer_tokens_per_s"] > 0
    assert result["speedup"] == pytest.approx(result["hare_tokens_per_s"] / result["hf_trainer_tokens_per_s"])
    assert 0 < result["fraction_of_peak"] == pytest.approx(result["hare_flops_per_s"] / result["peak_flops_per_s"])
    out = capsys.readouterr().out
    assert "HARE / HF Trainer" in out and "of a measured" in out
    assert "hare-micro, fp32 (measured on this CPU: bf16 30 vs fp32 90 GFLOP/s)" in out and "(fp32 matmul)" in out


@pytest.mark.parametrize("bad, flag", [({"steps": 1}, "--steps"), ({"seq_len": 0}, "--seq-len"),
                                       ({"micro_batch_size": 0}, "--micro-batch-size")])
def test_bench_train_rejects_sizes_that_train_nothing(packed_dir, bad, flag):
    """--seq-len 0 was a ZeroDivisionError deep in the batches; each is refused by its flag before any work."""
    with pytest.raises(HareError, match=flag):
        run(BenchTrainConfig(data=str(packed_dir), **bad))


def test_bench_train_refuses_data_smaller_than_one_micro_batch(tmp_path, monkeypatch):
    """The HF Trainer drops a short last batch, so data of fewer windows than a micro-batch timed no step of it;
    that was found after HARE's engine had been timed (49 s for 200 × 128 tokens here) and said "too few timed
    steps". It is refused before any timing, with the sizes and the fix."""
    from conftest import write_corpus

    from hare.bench import train as bench_train
    from hare.data.pack import PackConfig
    from hare.data.pack import run as pack

    packed = pack(PackConfig(inputs=[str(write_corpus(tmp_path / "corpus.jsonl", docs=20))],
                             out=str(tmp_path / "packed"), val_fraction=0.1))
    monkeypatch.setattr(bench_train, "time_hare", lambda *a: pytest.fail("timed although no batch fits"))
    with pytest.raises(HareError, match=r"holds \d+ windows of 33 tokens, fewer than one micro-batch \(64\); "
                                        "pack more text, or lower --micro-batch-size"):
        run(BenchTrainConfig(data=str(packed), seq_len=32, micro_batch_size=64, steps=2, warmup_steps=1, rounds=1))


def test_bench_train_refuses_data_packed_for_another_tokenizer(foreign_dir, tmp_path):
    """Its ids past the presets' vocabulary were an index error deep in the embedding (a 63-line traceback);
    `hare pretrain`'s check now runs first, naming the fix."""
    from conftest import write_corpus

    from hare.data.pack import PackConfig
    from hare.data.pack import run as pack

    packed = pack(PackConfig(inputs=[str(write_corpus(tmp_path / "corpus.jsonl"))], out=str(tmp_path / "packed"),
                             tokenizer=str(foreign_dir)))
    with pytest.raises(HareError, match="packed with another tokenizer; re-pack"):
        run(BenchTrainConfig(data=str(packed), steps=2, warmup_steps=1, rounds=1))


@pytest.mark.slow
def test_bench_serve_measures_each_concurrency(micro_dir, capsys):
    pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")
    from hare.bench.serve import BenchServeConfig
    from hare.bench.serve import run as bench_serve

    result = bench_serve(BenchServeConfig(model=str(micro_dir), streams=[2], max_tokens=4, requests=1, rounds=1))
    assert result["tokens_per_s_1"] > 0 and result["tokens_per_s_2"] > 0 and result["speedup_1"] == 1
    assert result["speedup_2"] == pytest.approx(result["tokens_per_s_2"] / result["tokens_per_s_1"])
    assert result["ttft_ms_1"] > 0 and result["ttft_ms_2"] > 0
    assert "| 2 |" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_serve_tools_measures_tool_calls(tool_model, micro_dir, capsys):
    pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")
    from hare.bench.serve import BenchServeConfig
    from hare.bench.serve import run as bench_serve

    result = bench_serve(BenchServeConfig(model=str(tool_model), tools=True, streams=[3], requests=2, rounds=1))
    assert result["calls_per_s_1"] > 0 and result["calls_per_s_3"] > 0 and result["latency_ms_3"] > 0
    assert result["speedup_3"] == pytest.approx(result["calls_per_s_3"] / result["calls_per_s_1"])
    assert 0 < result["latency_p50_ms_3"] <= result["latency_p95_ms_3"]
    out = capsys.readouterr().out
    assert "| 3 |" in out and "tool calls/s" in out
    with pytest.raises(HareError, match="tools.json"):
        bench_serve(BenchServeConfig(model=str(micro_dir), tools=True, streams=[2]))


def test_bench_serve_tools_defaults_to_the_quickstart_model(tmp_path, monkeypatch):
    from hare.bench.serve import BenchServeConfig
    from hare.bench.serve import run as bench_serve

    monkeypatch.chdir(tmp_path)  # no runs/quickstart here
    with pytest.raises(HareError, match="run `hare quickstart`"):
        bench_serve(BenchServeConfig(tools=True))


def test_bench_serve_rejects_bad_levels():
    from hare.bench.serve import BenchServeConfig
    from hare.bench.serve import run as bench_serve

    with pytest.raises(HareError, match="--streams"):
        bench_serve(BenchServeConfig(streams=[0]))


def test_bench_serve_names_why_its_server_did_not_start(micro_dir):
    """A setting its child server refuses is that server's own one line at once, not "did not start within 180 s"
    and the child's usage text."""
    pytest.importorskip("fastapi", reason="needs the serve extra: bash scripts/setup.sh serve")
    from hare.bench.serve import BenchServeConfig
    from hare.bench.serve import run as bench_serve

    with pytest.raises(HareError, match=r"exited at once \(hare serve: error: unknown dtype 'nope'") as err:
        bench_serve(BenchServeConfig(model=str(micro_dir), dtype="nope", streams=[1], requests=1, rounds=1))
    assert "did not start" not in str(err.value) and "usage:" not in str(err.value)
