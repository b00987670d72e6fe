"""`hare quickstart`, fast variant: every stage leaves its artefact, the model calls, a rerun resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hare.cli import main
from hare.tools.decoder import ToolCaller
from hare.tools.spec import load_spec


def test_quickstart_runs_every_stage_and_resumes(tmp_path, capsys, monkeypatch):
    from hare.model import precision

    monkeypatch.setenv("HARE_CACHE", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "precision.json"
    precision.cpu_rates()  # then made stale, as a record taken on a busy moment is
    cache.write_text(json.dumps({key: {"bf16": 1.0, "fp32": 1.0} for key in json.loads(cache.read_text())}))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([f.to_openai() for f in load_spec("android")
                                if f.name in ("take_a_photo", "get_weather_forecast", "set_volume")]))
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--preset", "hare-micro", "--spec", str(spec), "--docs", "400",
            "--per-function", "8", "--pretrain-steps", "6", "--base", "scratch", "--tool-steps", "84"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for artefact in ("corpus/manifest.json", "packed/meta.json", "pretrain/final/model.safetensors",
                     "tools-data/train.jsonl", "tools-data/val.jsonl", "tools/final/tools.json", "eval.json"):
        assert (out / artefact).is_file(), artefact
    report = json.loads((out / "eval.json").read_text())
    assert report["queries"] > 10 and 0 <= report["exact_call_accuracy"] <= 1
    assert "function accuracy" in printed and "hare serve --model" in printed
    assert "n/a" not in printed.split("== summary")[1].split("== sample")[0]  # every number was found
    assert all(min(rates.values()) > 1e8 for rates in json.loads(cache.read_text()).values())  # measured anew
    assert "this CPU now: bf16" in printed

    caller = ToolCaller.load(str(out / "tools" / "final"), device="cpu")
    records = [json.loads(x) for x in (out / "tools-data" / "train.jsonl").read_text().splitlines()]
    singles = [r for r in records if r["kind"] == "single"][:12]
    correct = sum(caller(r["query"]).calls == r["calls"] for r in singles)
    assert correct >= 10, f"only {correct}/12 training queries answered with the exact call"

    assert main(args) == 0  # everything complete: every stage is skipped
    rerun = capsys.readouterr().out
    assert rerun.count("already complete") == 4  # corpus, pretrain, tools, eval (the base stage always says where)
    assert Path(out / "eval.json").read_text() == json.dumps(report, indent=1) + "\n"

    # `--tool-soup 2`: the corpus and the pretrained model are reused, the tool stage trains two parts on their own
    # orders of the data and averages them, and the summary's numbers are read from both parts.
    shutil.rmtree(out / "tools")
    (out / "eval.json").unlink()
    assert main([*args[:-1], "8", "--tool-soup", "2"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already complete") == 2 and "soup: the mean of 2 fine-tunes" in printed
    assert all((out / "tools" / part / "final" / "model.safetensors").is_file() for part in ("soup-0", "soup-1"))
    assert "n/a" not in printed.split("== summary")[1].split("== sample")[0]
    assert ToolCaller.load(str(out / "tools" / "final"), device="cpu").functions == caller.functions


def test_a_wrong_base_fails_before_any_stage(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--base", str(tmp_path / "no-such-model")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_evaluation_reserve_follows_the_cpus_matmul_rate(monkeypatch):
    """The fine-tune leaves the evaluation the time it takes here: an fp32-only CPU (no AVX512-BF16, where
    evaluation decodes in fp32) gets more than one where bf16 runs three times as fast, and the reserve
    is read from the faster of the two rates, the one evaluation runs at."""
    from hare import quickstart
    from hare.model import precision

    monkeypatch.setattr(precision, "cpu_rates", lambda **_: {"bf16": 759e9, "fp32": 185e9})
    fast = quickstart.eval_reserve_s()
    monkeypatch.setattr(precision, "cpu_rates", lambda **_: {"bf16": 52e9, "fp32": 249e9})
    slow = quickstart.eval_reserve_s()
    assert 60 < fast < 100 and 110 < slow < 200 and slow > 1.5 * fast


def test_a_cpu_that_fit_few_tool_steps_is_told_how_to_get_the_fuller_model():
    """The time-bound default trades accuracy for the 12 minutes on a slow CPU; the summary says so, with the
    command and its time there (elapsed plus the missing steps at the measured pace)."""
    from hare.quickstart import FULL_TOOL_STEPS, QuickstartConfig, fuller_model_hint

    run = Path("runs/quickstart")
    hint = "\n".join(fuller_model_hint(QuickstartConfig(), run, 111, 3.65, 650.0))
    assert "fit 111 tool steps" in hint and f"--tool-steps {FULL_TOOL_STEPS}" in hint
    assert f"about {(650 + (FULL_TOOL_STEPS - 111) * 3.65) / 60:.0f} minutes" in hint  # 22, not the 11 it took
    assert fuller_model_hint(QuickstartConfig(), run, FULL_TOOL_STEPS, 1.9, 650.0) == []  # a fast CPU: nothing
    assert fuller_model_hint(QuickstartConfig(tool_steps=43), run, 43, 8.3, 650.0) == []  # the user chose 43
    assert fuller_model_hint(QuickstartConfig(base="scratch"), run, 43, 8.3, 650.0) == []  # another recipe
