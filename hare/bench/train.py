"""`hare bench train`: HARE's training throughput beside Hugging Face `Trainer`, and MFU on this machine.

Both sides train the same preset from the same initial weights on the same packed windows with the
same micro-batch, precision and AdamW settings, one after the other in this process, so the ratio
compares engines rather than machines or moments. Each side's throughput is taken at its median
step time, and the engines alternate for `--rounds` rounds keeping each one's best, so a slow spell
of a shared machine does not decide the result. HARE runs its real `train_step` (the pretraining
loop); `Trainer` runs as a user would configure it. The machine's peak is measured here too (a large
matmul in the training precision), so "fraction of peak" needs no spec sheet.

    hare bench train                       # hare-tiny on 2 CPU cores: ~4 minutes
    hare bench train --preset hare-1.1b --device cuda --seq-len 2048 --micro-batch-size 8
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import check_range, option
from hare.errors import HareError

if TYPE_CHECKING:
    from hare.train.batches import Windows


@dataclass
class BenchTrainConfig:
    preset: str = option("hare-tiny", "model preset to train")
    data: str | None = option(None, "packed data directory; default: HARE's own source files, packed on the fly")
    seq_len: int = option(256, "tokens per sequence")
    micro_batch_size: int = option(8, "sequences per step")
    steps: int = option(10, "timed optimizer steps per engine")
    warmup_steps: int = option(3, "untimed steps first (compilation, allocator warm-up)")
    rounds: int = option(2, "alternate the two engines this many times and keep each one's best round")
    precision: Literal["auto", "bf16", "fp32"] = option("auto", "training precision of both engines (auto: the "
                                                               "faster on this machine, as training picks it)")
    compile: bool = option(True, "let HARE use torch.compile (its recommended setting on this hardware)")
    device: str = option("auto", "auto, cpu or cuda")

    def validate(self) -> None:
        """Sizes that train nothing fail later as a division by zero; refused here, each by its flag."""
        check_range("--seq-len", self.seq_len, 2, fix="a step predicts each token from the ones before it")
        check_range("--micro-batch-size", self.micro_batch_size, 1)
        if self.steps < 2 or self.warmup_steps < 1 or self.rounds < 1:
            raise HareError("need --steps >= 2, --warmup-steps >= 1 and --rounds >= 1")


def _default_data(tmp: Path) -> str:
    """Pack HARE's own Python sources: real text that every installation has."""
    import json

    import hare
    from hare.data.pack import PackConfig
    from hare.data.pack import run as pack

    corpus = tmp / "sources.jsonl"
    with corpus.open("w") as f:
        for path in sorted(Path(hare.__file__).parent.rglob("*.py")):
            f.write(json.dumps({"text": path.read_text()}) + "\n")
    return str(pack(PackConfig(inputs=[str(corpus)], out=str(tmp / "packed"), val_fraction=0.0)))


def time_hare(cfg: BenchTrainConfig, windows: Windows, d: Any) -> float:
    """Tokens/s of HARE's pretraining step (the same code `hare pretrain` runs)."""
    from hare.model.init import build_model
    from hare.train.batches import GlobalBatches
    from hare.train.loop import TrainConfig, train_step
    from hare.train.optim import OptimConfig, ScheduleConfig, build_optimizer, build_scheduler
    from hare.train.trainer import prepare

    model, _ = build_model(cfg.preset)
    train_cfg = TrainConfig(precision=cfg.precision, compile=cfg.compile, micro_batch_size=cfg.micro_batch_size)
    module = prepare(model, train_cfg, d)
    optimizer = build_optimizer(module, OptimConfig(), fused=True)
    scheduler = build_scheduler(optimizer, cfg.warmup_steps + cfg.steps, ScheduleConfig("constant", 0))
    batches = GlobalBatches(windows, cfg.micro_batch_size, seed=0)
    module.train()
    times = [time.perf_counter()]
    for step in range(cfg.warmup_steps + cfg.steps):
        train_step(module, batches.micro_batches(step, 0, 1, cfg.micro_batch_size), optimizer, scheduler,
                   1.0, cfg.precision, d)
        _sync(d.device)
        times.append(time.perf_counter())
    return _tokens_per_s(cfg, times[cfg.warmup_steps:])


def time_hf_trainer(cfg: BenchTrainConfig, windows: Windows, d: Any, tmp: Path) -> float:
    """Tokens/s of `transformers.Trainer` on the same model, data and settings."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from hare.model.init import build_model

    class WindowData(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(windows)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            ids = torch.from_numpy(windows[i][: cfg.seq_len].astype("int64"))
            return {"input_ids": ids, "labels": ids}

    class StepClock(TrainerCallback):
        times: list[float] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _sync(d.device)
            self.times.append(time.perf_counter())

    model, _ = build_model(cfg.preset)
    args = TrainingArguments(
        output_dir=str(tmp / "hf-trainer"), per_device_train_batch_size=cfg.micro_batch_size,
        max_steps=cfg.warmup_steps + cfg.steps, learning_rate=5e-4, weight_decay=0.1, adam_beta2=0.95,
        lr_scheduler_type="constant", bf16=cfg.precision == "bf16", use_cpu=d.device.type == "cpu",
        logging_strategy="no", save_strategy="no", report_to=[], disable_tqdm=True, dataloader_drop_last=True,
    )
    clock = StepClock()
    Trainer(model=model, args=args, train_dataset=WindowData(), callbacks=[clock]).train()
    return _tokens_per_s(cfg, clock.times[cfg.warmup_steps - 1:])


def _tokens_per_s(cfg: BenchTrainConfig, times: list[float]) -> float:
    """Throughput at the median step time: robust to a neighbour's burst on a shared machine."""
    import itertools
    import statistics

    step = statistics.median(b - a for a, b in itertools.pairwise(times))
    return cfg.micro_batch_size * cfg.seq_len / step


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def run(cfg: BenchTrainConfig) -> dict[str, float]:
    import torch
    from tqdm import tqdm

    from hare.data.shards import check_tokenizer, load_meta, open_split
    from hare.io.extras import stdout_to_stderr
    from hare.model.precision import measure_peak_flops, resolve
    from hare.model.presets import padded_vocab_size, preset_config
    from hare.model.tokenizer import build_tokenizer, vocab_size_with_added_tokens
    from hare.train.batches import Windows
    from hare.train.distributed import init
    from hare.train.metrics import flops_per_token

    cfg.validate()
    config = preset_config(cfg.preset, padded_vocab_size(vocab_size_with_added_tokens()))
    limit = config.max_position_embeddings
    check_range("--seq-len", cfg.seq_len, 2, limit, fix=f"{cfg.preset} attends to {limit} positions at most")
    d = init(cfg.device)
    precision, why = resolve(cfg.precision, d.device)
    cfg = dataclasses.replace(cfg, precision=precision)  # both engines, the peak and the report in the one chosen
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        data = cfg.data or _default_data(Path(tmp))
        check_tokenizer(load_meta(data), build_tokenizer(), data)  # the presets' vocabulary, as `hare pretrain` checks
        windows = Windows(open_split(data, "train"), cfg.seq_len)
        if len(windows) < cfg.micro_batch_size:  # the HF Trainer drops a short last batch: it would time no step
            raise HareError(f"'{data}' holds {len(windows)} windows of {cfg.seq_len + 1} tokens, fewer than one "
                            f"micro-batch ({cfg.micro_batch_size}); pack more text, or lower --micro-batch-size or "
                            "--seq-len")
        if len(windows) < cfg.micro_batch_size * (cfg.warmup_steps + cfg.steps):
            print(f"note: {len(windows)} windows; batches repeat (fine for timing)")
        peak, hare_tps, hf_tps = 0.0, 0.0, 0.0
        stages = tqdm(total=3 * cfg.rounds, desc="bench train", unit="stage", leave=False)
        for _ in range(cfg.rounds):  # alternating, so a slow spell of the machine hits both engines
            stages.set_postfix_str("peak matmul")
            peak = max(peak, measure_peak_flops(d.device, dtype))
            stages.update()
            stages.set_postfix_str("HARE")
            hare_tps = max(hare_tps, time_hare(cfg, windows, d))
            stages.update()
            stages.set_postfix_str("HF Trainer")
            with stdout_to_stderr():  # the Trainer prints its run summary dict: not this command's result
                hf_tps = max(hf_tps, time_hf_trainer(cfg, windows, d, Path(tmp)))
            stages.update()
        stages.close()
    achieved = hare_tps * flops_per_token(config, cfg.seq_len)
    result = {"hare_tokens_per_s": hare_tps, "hf_trainer_tokens_per_s": hf_tps, "speedup": hare_tps / hf_tps,
              "hare_flops_per_s": achieved, "peak_flops_per_s": peak, "fraction_of_peak": achieved / peak}
    print(f"\n{cfg.preset}, {cfg.precision} ({why}), seq {cfg.seq_len} × micro-batch {cfg.micro_batch_size}, "
          f"{cfg.steps} timed steps on {d.device} ({torch.get_num_threads()} threads)")
    print(f"| engine | tokens/s |\n|---|---|\n| HARE (compile={cfg.compile}) | {hare_tps:,.0f} |\n"
          f"| HF Trainer | {hf_tps:,.0f} |")
    print(f"HARE / HF Trainer: {result['speedup']:.2f}×  (target ≥ 1.5×)")
    print(f"HARE achieved {achieved / 1e9:,.1f} GFLOP/s of a measured {peak / 1e9:,.1f} GFLOP/s peak "
          f"({cfg.precision} matmul): {result['fraction_of_peak']:.1%}  (target ≥ 60 %, #17)")
    return result
