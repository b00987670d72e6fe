"""Throughput of `hare data decontam` at Open LLM Leaderboard scale.

Synthesises a benchmark set the size of the six (MMLU 14,042 + ARC-Challenge 1,172 + TruthfulQA 817
+ Winogrande 1,267 + HellaSwag 10,042 + GSM8K 1,319 items, each of a realistic word length) and
`--docs` training documents (~250 words each, 1 in 1,000 containing a benchmark item), runs the
decontamination, and reports docs/s and the extrapolated time for 1M documents.

    .venv/bin/python benchmarks/decontam_throughput.py --docs 20000 --workers 2

`--workdir DIR` keeps the synthesised corpus and benchmarks in DIR and reuses them on the next run
with the same `--docs` (synthesising a million documents takes longer than checking them), so two
versions of decontam can be timed on the same files one after the other.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

# name, items, words per item (question + choices / answer), schema writer
SIX = (("mmlu", 14042, 60), ("arc", 1172, 45), ("truthfulqa", 817, 55), ("winogrande", 1267, 25),
       ("hellaswag", 10042, 65), ("gsm8k", 1319, 110))


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size)]


def sentence(rng: random.Random, vocab: list[str], words: int) -> str:
    # Zipf-like: low ranks are far more common, as in real text
    return " ".join(vocab[min(int(rng.paretovariate(1.1)) - 1, len(vocab) - 1)] for _ in range(words))


def record(name: str, text: str, rng: random.Random, vocab: list[str]) -> dict:
    words = text.split()
    if name == "mmlu":
        return {"question": text, "choices": [sentence(rng, vocab, 4) for _ in range(4)], "answer": 0}
    if name == "arc":
        return {"question": text, "choices": {"text": [sentence(rng, vocab, 4) for _ in range(4)],
                                              "label": list("ABCD")}, "answerKey": "A"}
    if name == "truthfulqa":
        return {"question": text, "mc1_targets": {"choices": [sentence(rng, vocab, 8) for _ in range(4)],
                                                  "labels": [1, 0, 0, 0]}}
    if name == "winogrande":
        return {"sentence": " ".join(words[:10] + ["_"] + words[10:]), "option1": "alpha", "option2": "beta",
                "answer": "1"}
    if name == "hellaswag":
        return {"ctx": text, "endings": [sentence(rng, vocab, 15) for _ in range(4)], "label": "0"}
    return {"question": " ".join(words[:40]), "answer": " ".join(words[40:]) + "\n#### 7"}


def synthesise(root: Path, docs: int, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    bench_dir = root / "benchmarks"
    bench_dir.mkdir()
    planted: list[str] = []
    for name, items, words in SIX:
        with open(bench_dir / f"{name}.jsonl", "w") as f:
            for _ in range(items):
                text = sentence(rng, vocab, words)
                if len(planted) < 1000:
                    planted.append(text)
                f.write(json.dumps(record(name, text, rng, vocab)) + "\n")
    corpus = root / "corpus.jsonl"
    with open(corpus, "w") as f:
        for i in range(docs):
            text = sentence(rng, vocab, rng.randint(100, 400))
            if i % 1000 == 0:
                text += " " + rng.choice(planted)
            f.write(json.dumps({"text": text}) + "\n")
    return corpus, bench_dir


def prepare(root: Path, docs: int) -> tuple[Path, Path]:
    """The corpus and benchmark directory under `root`, synthesised unless a run with as many docs left them."""
    marker = root / f"synthesised-{docs}"
    if marker.exists():
        return root / "corpus.jsonl", root / "benchmarks"
    for stale in ("corpus.jsonl", "clean.jsonl"):
        (root / stale).unlink(missing_ok=True)
    shutil.rmtree(root / "benchmarks", ignore_errors=True)
    t0 = time.monotonic()
    corpus, benches = synthesise(root, docs)
    marker.touch()
    print(f"synthesised {docs:,} docs and {sum(n for _, n, _ in SIX):,} items in {time.monotonic() - t0:.1f} s")
    return corpus, benches


def main() -> None:
    from hare.data.decontam import DecontamConfig, run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000, help="training documents to synthesise")
    parser.add_argument("--workers", type=int, default=2, help="decontam worker processes")
    parser.add_argument("--mode", choices=["hare", "gpt3"], default="hare")
    parser.add_argument("--workdir", help="keep the synthesised files here and reuse them (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        corpus, benches = prepare(root, args.docs)
        t0 = time.monotonic()
        report = run(DecontamConfig(inputs=[str(corpus)], out=str(root / "clean.jsonl"), benchmarks=[str(benches)],
                                    workers=args.workers, mode=args.mode, overwrite=True))
        seconds = time.monotonic() - t0  # includes loading and indexing the benchmarks
        rate = args.docs / seconds
        print(json.dumps({"docs": args.docs, "workers": args.workers, "mode": args.mode, "dropped": report["dropped"],
                          "seconds_total": round(seconds, 1), "docs_per_s_total": round(rate),
                          "docs_per_s_scan": report["docs_per_s"],
                          "extrapolated_1M_minutes": round(1_000_000 / report["docs_per_s"] / 60, 1)}))


if __name__ == "__main__":
    main()
