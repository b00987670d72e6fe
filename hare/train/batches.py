"""Training batches from packed token shards, identical for any number of ranks.

The packed stream of each shard is cut into windows of `seq_len + 1` tokens (inputs plus the
shifted targets). A global step consumes `G = global_batch_tokens / seq_len` windows at positions
`step·G … step·G + G − 1` of an endless sequence of shuffled epochs (a fresh permutation per epoch,
seeded). Window `j` of a step belongs to rank `j mod world`, so the union over ranks — and hence the
averaged gradient — is the same whether one process or many run it, and the data position is a pure
function of the step: resuming needs nothing but the step number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hare.config import check_range, option
from hare.errors import HareError

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(frozen=True)
class DataConfig:
    path: str = option("", "directory written by `hare data pack`")
    seq_len: int = option(2048, "tokens per training sequence")
    seed: int = option(0, "seed of the per-epoch shuffle of sequences")

    def validate(self) -> None:
        check_seq_len(self.seq_len)  # here, with the config: `Windows` divides by it before the trainer runs


def check_seq_len(seq_len: int) -> None:
    """The trainer's shortest sequence (2 tokens), one rule for the config and for `check_shapes`."""
    check_range("data.seq_len", seq_len, 2)


class Windows:
    """Random access to the `seq_len + 1`-token windows of a list of token shards."""

    def __init__(self, shards: list[np.ndarray], seq_len: int):
        import numpy as np

        self.shards, self.seq_len = shards, seq_len
        counts = [max(0, (len(s) - 1) // seq_len) for s in shards]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        import numpy as np

        shard = int(np.searchsorted(self.starts, index, side="right")) - 1
        offset = (index - int(self.starts[shard])) * self.seq_len
        return self.shards[shard][offset : offset + self.seq_len + 1]


def collate_windows(rows: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Pretraining rows: `seq_len + 1` tokens each → inputs and next-token targets."""
    import numpy as np
    import torch

    batch = torch.from_numpy(np.stack(rows).astype(np.int64))
    return {"input_ids": batch[:, :-1], "targets": batch[:, 1:]}


class GlobalBatches:
    """The items (windows, or packed SFT rows) of every global step, split into per-rank micro-batches."""

    def __init__(self, windows: Any, global_seqs: int, seed: int,
                 collate: Callable[[list[Any]], dict[str, torch.Tensor]] = collate_windows):
        # NumPy's generator takes no negative seed and would say so with a traceback at the first step.
        check_range("data.seed", seed, 0)
        if len(windows) == 0:
            raise HareError(
                f"the packed data holds no full sequence of {windows.seq_len + 1} tokens; "
                "pack more text or lower data.seq_len"
            )
        self.windows, self.global_seqs, self.seed, self.collate = windows, global_seqs, seed, collate
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        import numpy as np

        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.windows))
        return self._perm  # type: ignore[return-value]

    def micro_batches(self, step: int, rank: int, world: int, micro: int) -> list[dict[str, torch.Tensor]]:
        """This rank's items of global step `step`, collated `micro` at a time."""
        n = len(self.windows)
        rows = []
        for j in range(rank, self.global_seqs, world):
            position = step * self.global_seqs + j
            rows.append(self.windows[int(self._permutation(position // n)[position % n])])
        return [self.collate(rows[i:i + micro]) for i in range(0, len(rows), micro)]

    def epoch_of(self, step: int) -> float:
        return step * self.global_seqs / len(self.windows)
