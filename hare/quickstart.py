"""`hare quickstart`: the HARE recipe in miniature, offline, ending in a phone tool-calling model.

    hare quickstart                      # ~10 minutes on 2 CPU cores, into runs/quickstart
    hare quickstart --minutes 3          # a shorter run (lower accuracy)

Stages, each the library call behind a full-size command (the README maps each to the hare-1.1b
recipe), each writing into the run directory and skipped when its output is already complete, so an
interrupted quickstart resumes where it stopped (training resumes from its last checkpoint):

1. corpus  — synthetic "human prior" documents (`hare data synth`), tokenized (`hare data pack`);
2. pretrain — the tiny preset from scratch on that corpus (`hare pretrain`);
3. tools   — Octopus-style queries for the bundled Android API spec (`hare tools data`) and a
             fine-tune with functional tokens (`hare tools train`);
4. eval    — accuracy and latency on 400 held-out queries (`hare tools eval`), then a summary.

Step counts scale with `--minutes`; the default budget was measured on a quiet 2-core machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import load_config, option
from hare.errors import HareError

SAMPLES = ["take a selfie", "what's the weather like in Paris?", "text Maria saying running late",
           "set an alarm for 6:30 am", "turn the media volume up to 8", "who painted the mona lisa"]
# Per minute of budget, measured on 2 quiet cores with hare-tiny.
PRETRAIN_STEPS_PER_MINUTE = 3
TOOL_EPOCHS_PER_MINUTE = 0.3
# Held-out queries scored (an even spread of val.jsonl): accuracies within ±5 points (95 %), ~1.5 minutes.
EVAL_QUERIES = 400


@dataclass(kw_only=True)
class QuickstartConfig:
    out: str = option("runs/quickstart", "run directory; every stage writes below it")
    minutes: float = option(10.0, "time budget on 2 CPU cores; the stages scale their training steps to it")
    preset: str = option("hare-tiny", "model preset to pretrain (`hare presets`)")
    spec: str = option("android", "API spec for the tool stage ('android': the 20 Octopus v2 functions)")
    docs: int = option(20_000, "synthetic pretraining documents")
    per_function: int = option(200, "training queries per function")
    pretrain_steps: int | None = option(None, "pretraining steps (default: scaled to --minutes)")
    tool_epochs: float | None = option(None, "epochs of the tool fine-tune (default: scaled to --minutes)")
    seed: int = option(0, "seed of every stage")


def _stage(name: str, done: Path, skip_note: str = "") -> bool:
    """True if the stage must run; prints the stage banner either way."""
    if done.exists():
        print(f"\n== {name}: already complete ({done}){skip_note}, skipped")
        return False
    print(f"\n== {name}")
    return True


def _training_stats(metrics: Path) -> tuple[float | None, float | None]:
    """Mean training tokens/s (step 1, with its warm-up, left out) and the last validation loss."""
    rows = [json.loads(x) for x in metrics.read_text().splitlines()] if metrics.is_file() else []
    speeds = [r["tokens_per_s"] for r in rows if r.get("kind") == "train"][1:]
    losses = [r["loss"] for r in rows if r.get("kind") == "val"]
    return (sum(speeds) / len(speeds) if speeds else None), (losses[-1] if losses else None)


def corpus(cfg: QuickstartConfig, run: Path) -> Path:
    from hare.data.pack import PackConfig
    from hare.data.pack import run as pack
    from hare.data.synth import SynthConfig
    from hare.data.synth import run as synth

    docs, packed = run / "corpus", run / "packed"
    if _stage("1/4 corpus: synthesize and pack", packed):
        if not docs.exists():
            synth(SynthConfig(out=str(docs), num_docs=cfg.docs, seed=cfg.seed))
        pack(PackConfig(inputs=[str(docs)], out=str(packed), val_fraction=0.02))
    return packed


def pretrain(cfg: QuickstartConfig, run: Path, packed: Path) -> Path:
    from hare.train.pretrain import PretrainConfig, train

    out = run / "pretrain"
    if _stage("2/4 pretrain", out / "final"):
        steps = cfg.pretrain_steps or max(4, round(PRETRAIN_STEPS_PER_MINUTE * cfg.minutes))
        config = load_config(PretrainConfig, None, [
            f"out={out}", f"data.path={packed}", f"model.preset={cfg.preset}", "data.seq_len=256",
            "optim.lr=3e-3", "optim.weight_decay=0.1", "schedule.name=cosine", f"schedule.warmup_steps={steps // 8}",
            f"train.max_steps={steps}", "train.global_batch_tokens=8192", "train.micro_batch_size=8",
            "train.precision=bf16", "train.device=cpu", f"train.seed={cfg.seed}",
            f"checkpoint.every_steps={max(10, steps // 4)}", "checkpoint.keep_last=1",
            "log.eval_every_steps=0", "log.eval_batches=4"])
        train(config, resume=True)
    return out / "final"


def tools(cfg: QuickstartConfig, run: Path, base: Path) -> tuple[Path, Path]:
    from hare.tools.data import ToolDataConfig
    from hare.tools.data import run as make_data
    from hare.tools.train import ToolTrainArgs
    from hare.tools.train import run as tool_train

    data, out = run / "tools-data", run / "tools"
    if _stage("3/4 tool calling: data and fine-tune", out / "final"):
        if not data.exists():
            make_data(ToolDataConfig(spec=cfg.spec, out=str(data), per_function=cfg.per_function,
                                     irrelevant=2 * cfg.per_function, parallel=cfg.per_function, seed=cfg.seed))
        epochs = cfg.tool_epochs or max(0.2, TOOL_EPOCHS_PER_MINUTE * cfg.minutes)
        tool_train(ToolTrainArgs(model=str(base), data=str(data), out=str(out), resume=True,
                                 overrides=[f"data.epochs={epochs:.2f}", f"data.seed={cfg.seed}"]))
    return data, out / "final"


def evaluate(run: Path, data: Path, model: Path) -> dict[str, Any]:
    from hare.atomic import temp_sibling
    from hare.tools.call import ToolCaller
    from hare.tools.evaluate import score
    from hare.tools.train import read_records

    path = run / "eval.json"
    if _stage("4/4 evaluate on held-out phrasings", path):
        caller = ToolCaller.load(str(model), device="cpu")
        records = read_records(data / "val.jsonl", caller.functions)
        report = score(caller, records[:: max(1, len(records) // EVAL_QUERIES)][:EVAL_QUERIES])
        tmp = temp_sibling(path)
        tmp.write_text(json.dumps(report, indent=1) + "\n")
        os.replace(tmp, path)
    return json.loads(path.read_text())


def summary(run: Path, report: dict[str, Any], model: Path) -> str:
    from hare.tools.call import ToolCaller

    meta = json.loads((run / "packed" / "meta.json").read_text())
    train_tokens = meta.get("splits", {}).get("train", {}).get("tokens")

    def num(x: float | None, fmt: str) -> str:
        return "n/a" if x is None else format(x, fmt)

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f} %"

    pre_speed, pre_loss = _training_stats(run / "pretrain" / "metrics.jsonl")
    tool_speed, tool_loss = _training_stats(run / "tools" / "metrics.jsonl")
    rows = [("corpus tokens (train split)", num(train_tokens, ",")),
            ("pretrain tokens/s", num(pre_speed, ",.0f")), ("pretrain val loss", num(pre_loss, ".3f")),
            ("tool fine-tune tokens/s", num(tool_speed, ",.0f")), ("tool fine-tune val loss", num(tool_loss, ".3f")),
            (f"held-out queries ({report['queries']})", ""),
            ("  function accuracy", pct(report["function_accuracy"])),
            ("  exact-call accuracy", pct(report["exact_call_accuracy"])),
            ("  no-call accuracy", pct(report["no_call_accuracy"])),
            ("  call latency p50 / p95", f"{report['latency_ms_p50']:.0f} / {report['latency_ms_p95']:.0f} ms")]
    lines = ["", "== summary", *(f"  {k:<30} {v}" for k, v in rows), "", "== sample calls"]
    caller = ToolCaller.load(str(model), device="cpu")
    for query in SAMPLES:
        result = caller(query)
        shown = result.calls.to_json() if not isinstance(result.calls, list) else result.calls
        lines.append(f"  {query!r:<40} -> {json.dumps(shown)}")
    lines += ["", "== next", f"  hare tools call --model {model} \"call +14155550132\"",
              f"  hare serve --model {model}", f"  hare export gguf --model {model} --out {run}/tools.gguf --type q8_0",
              "  full-size recipe: README, section 'Quickstart: what each stage did, and its full-size command'"]
    return "\n".join(lines)


def run(cfg: QuickstartConfig) -> dict[str, Any]:
    if cfg.minutes <= 0:
        raise HareError(f"--minutes must be positive, got {cfg.minutes}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    packed = corpus(cfg, out)
    base = pretrain(cfg, out, packed)
    data, model = tools(cfg, out, base)
    report = evaluate(out, data, model)
    print(summary(out, report, model))
    return report
