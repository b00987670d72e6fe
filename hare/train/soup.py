"""Model soups: one fine-tune split into several, each on its own order of the data, then averaged weight for weight.

Fine-tunes of one pretrained model from the same start stay close enough that their mean is a model too, and
one that errs less than each ("model soups", Wortsman et al., 2022): about half of a short CPU fine-tune's misses
are its own draw's. Two quickstart tool models trained alike, 255 steps of 1K tokens each on its own draw of the
data, got 97 and 111 of the 1,175 hand-written requests wrong, only 51 of them alike; their mean got 74 wrong
(2026-12-07, `docs/tool-calling-measurements.md`). Two halves of one run's steps, averaged, were only level with
the one run: a soup is how more minutes are best spent, not a way to save them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hare.errors import HareError

if TYPE_CHECKING:
    from collections.abc import Callable

    from hare.train.sft import SFTConfig

WEIGHTS = "*.safetensors"


def parts(cfg: SFTConfig, n: int) -> list[SFTConfig]:
    """The runs of an `n`-part soup: OUT/soup-i, each with its own shuffle and seed and 1/n of the run's length
    (its epochs, steps and minutes), so the soup costs what the one run would have."""
    if cfg.lora.enabled and not cfg.lora.merge:
        raise HareError("a soup averages full weights, and LoRA adapters do not average (the mean of the "
                        "products is not the product of the means); pass lora.merge=true or drop --soup")
    out, data, train = Path(cfg.out), cfg.data, cfg.train
    return [dataclasses.replace(
        cfg, out=str(out / f"soup-{i}"),
        data=dataclasses.replace(data, seed=data.seed + i, epochs=data.epochs / n),
        train=dataclasses.replace(train, seed=train.seed + i, max_steps=max(1, train.max_steps // n),
                                  max_minutes=train.max_minutes / n)) for i in range(n)]


def cook(cfg: SFTConfig, n: int, fine_tune: Callable[[SFTConfig], Path | None], resume: bool) -> Path | None:
    """Run the soup's parts (with `resume`, a part whose final model exists is kept) and average them into
    OUT/final; None on the ranks of a distributed run but the first, which averages."""
    from hare.train.distributed import rank

    finals: list[Path] = []
    for part in parts(cfg, n):
        done = Path(part.out) / "final"
        final = done if resume and done.is_dir() else fine_tune(part)
        if final is None:
            return None
        finals.append(final)
    if rank() != 0:  # every rank trains the parts, the first alone writes their mean
        return None
    out = Path(cfg.out) / "final"
    average(finals, out)
    print(f"soup: the mean of {n} fine-tunes ({', '.join(str(f) for f in finals)}) -> {out}")
    return out


def average(models: list[Path], out: Path) -> Path:
    """The mean of `models` (fine-tunes of one base: the same weight files and tensor names), written to `out`
    atomically with the first one's other files (config, tokenizer, and what the caller kept beside them)."""
    from safetensors.torch import load_file, save_file

    from hare.io.atomic import atomic_output

    first = models[0]
    shards = sorted(p.name for p in first.glob(WEIGHTS))
    if not shards:
        raise HareError(f"'{first}' holds no .safetensors weights to average")
    with atomic_output(out, replace=True, directory=True) as tmp:
        tmp.mkdir(parents=True)
        for item in first.iterdir():
            if item.is_file() and not item.match(WEIGHTS):
                shutil.copy2(item, tmp / item.name)
        for shard in shards:
            tensors = [load_file(model / shard) for model in models]
            if any(t.keys() != tensors[0].keys() for t in tensors):
                raise HareError(f"the models' {shard} hold different tensors; a soup needs fine-tunes of one base")
            mean = {k: (sum(t[k].float() for t in tensors) / len(tensors)).to(tensors[0][k].dtype)
                    for k in tensors[0]}
            save_file(mean, tmp / shard, metadata={"format": "pt"})
    return out
