"""`precision=auto`'s measured CPU rates: cached, and measured again when asked."""

from __future__ import annotations

import json


def test_a_cached_rate_stands_until_a_refresh_measures_again(tmp_path, monkeypatch):
    """A record taken on a busy moment (here an absurdly low one) is what later runs read, until a
    refresh replaces it with a measurement of now, on disk too."""
    from hare.model import precision

    monkeypatch.setenv("HARE_CACHE", str(tmp_path))
    measured = precision.cpu_rates()
    path = tmp_path / "precision.json"
    (key,) = json.loads(path.read_text())
    path.write_text(json.dumps({key: {"bf16": 1.0, "fp32": 1.0}}))
    assert precision.cpu_rates() == {"bf16": 1.0, "fp32": 1.0}

    fresh = precision.cpu_rates(refresh=True)
    assert set(fresh) == set(measured) and min(fresh.values()) > 1e8  # any CPU multiplies faster than 0.1 GFLOP/s
    assert json.loads(path.read_text())[key] == fresh and precision.cpu_rates() == fresh


def test_a_burst_of_other_work_does_not_set_the_rate(monkeypatch):
    """Timings of a few milliseconds each: the first ones slowed by something else running (here the first
    two of each precision, what a best of two back to back kept) must not stand for the CPU."""
    from hare.model import precision

    calls: list[str] = []

    def timed(device, dtype, size, repeats):
        calls.append(str(dtype))
        return 1e9 if calls.count(str(dtype)) <= 2 else 4e11

    monkeypatch.setattr(precision, "measure_peak_flops", timed)
    assert precision._measure_cpu(seconds=0.0) == {"fp32": 4e11, "bf16": 4e11}
    assert calls[:2] == ["torch.float32", "torch.bfloat16"]  # in turns: a slow moment costs both alike


def test_a_precision_too_slow_to_be_a_burst_is_timed_once(monkeypatch):
    """bf16 on an AVX2-only CPU: one timing of 1024² products took 12 s (0.7 GFLOP/s); the faster precision is
    still timed in rounds, the slow one not again."""
    import torch

    from hare.model import precision

    clock = [0.0]
    calls: list[str] = []

    def timed(device, dtype, size, repeats):
        calls.append(str(dtype))
        clock[0] += 12.0 if dtype is torch.bfloat16 else 0.07
        return 0.7e9 if dtype is torch.bfloat16 else 124e9

    monkeypatch.setattr(precision, "measure_peak_flops", timed)
    monkeypatch.setattr(precision.time, "perf_counter", lambda: clock[0])
    assert precision._measure_cpu(seconds=0.5, rounds=3) == {"fp32": 124e9, "bf16": 0.7e9}
    assert calls.count("torch.bfloat16") == 1 and calls.count("torch.float32") >= 3
