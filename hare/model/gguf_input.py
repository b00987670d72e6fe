"""`--model FILE.gguf`: a GGUF file converted once into a plain Hugging Face checkpoint, then cached.

Every HARE command reads Hugging Face checkpoint directories, so a GGUF file (llama.cpp's format,
also what some PyPI packages ship weights in) is turned into one the first time it is used:
transformers' GGUF loader dequantizes it to float32 (any architecture transformers knows: llama,
mistral, qwen2, gemma3, …) and `save_pretrained` writes it. The directory lives in the cache,
`$HARE_CACHE/gguf/<stem>-<path hash>-<state hash>/` (`HARE_CACHE` defaults to `~/.cache/hare`);
the state hash covers the file's size and modification time, so an edited or re-exported file is
converted again and its stale directory removed. Directories are written by `hare.io.atomic`
(temporary sibling, then rename): a directory that exists is complete.

GGUF files written by `hare export gguf` carry HARE's vocabulary (Mistral v1 sentencepiece plus
`<round_start>`, `<round_end>`, `<api_i>`, `<api_end>`). transformers' GGUF tokenizer does not
reproduce sentencepiece's dummy prefix after added tokens or its whitespace runs, so it would give
other ids than the model was trained on (e.g. `<round_end>\\n` → `<round_end> ▁\\n` vs
`<round_end> \\n`); for such files HARE's own tokenizer is rebuilt instead, which also restores the
chat template's `{% generation %}` markers that the exporter strips. Files from `hare export gguf`
also carry the checkpoint's own tokenizer files and a tool model's tools.json (`carried_files`), which
the converted directory gets back: other byte-level BPE vocabularies load exactly, and a tool model
stays one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hare.errors import HareError
from hare.io.atomic import atomic_output, remove
from hare.io.extras import import_extra

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

GGUF_SUFFIX = ".gguf"
# `hare export gguf` carries the checkpoint's small files in this key (a JSON object name → text).
FILES_KEY = "hare.files"
_FUNCTIONAL = re.compile(r"<api_\d+>")


def cache_root() -> Path:
    """Where converted and pulled models live: `$HARE_CACHE`, else `~/.cache/hare`."""
    return Path(os.environ.get("HARE_CACHE") or Path.home() / ".cache" / "hare").expanduser()


def is_gguf(path: Path) -> bool:
    """By name, so a broken `.gguf` file is reported as a broken GGUF, not as "not a directory"."""
    return path.suffix.lower() == GGUF_SUFFIX


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_checkpoint(src: Path) -> Path:
    """The Hugging Face checkpoint converted from GGUF file `src`, converting it on first use."""
    src = src.expanduser().resolve()
    stat = src.stat()
    prefix = f"{src.stem}-{_short_hash(str(src))}-"
    out = cache_root() / "gguf" / (prefix + _short_hash(f"{stat.st_size}:{stat.st_mtime_ns}"))
    if (out / "config.json").is_file():
        return out
    convert(src, out)
    for stale in out.parent.glob(prefix + "*"):  # earlier versions of the same file (temp dirs are hidden)
        if stale != out:
            remove(stale)
    return out


def convert(src: Path, out: Path, extra_files: Sequence[Path] = ()) -> Path:
    """Write GGUF file `src` as a Hugging Face checkpoint directory `out` (atomically), plus `extra_files`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = read_metadata(src)
    try:  # the config alone is quick to read and names an architecture transformers cannot load
        config = AutoConfig.from_pretrained(src.parent, gguf_file=src.name)
        print(f"converting {src.name} to a Hugging Face checkpoint in {out} (once)", file=sys.stderr)
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, config=config,
                                                     dtype=torch.float32)
    except ValueError as err:
        raise _unsupported(src, fields.get("general.architecture"), err) from None
    # The loader marks the model as GGUF-quantized; saved so, it would not load as a plain checkpoint.
    del model.config.quantization_config
    model.hf_quantizer = None
    stops = [fields[k] for k in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                                 "tokenizer.ggml.eos_token_id") if k in fields]
    if stops:  # llama.cpp stops on end-of-turn/-message too; `hare chat` and `serve` should as well
        model.generation_config.eos_token_id = list(dict.fromkeys(stops))
    with atomic_output(out, replace=True) as tmp:
        model.save_pretrained(tmp)
        _save_tokenizer(src, fields, tmp)
        for extra in extra_files:
            shutil.copyfile(extra, tmp / extra.name)
    return out


def read_metadata(src: Path) -> dict[str, Any]:
    """The GGUF key/value metadata of `src`; a file that is not a whole GGUF file is a `HareError`."""
    gguf = import_extra("gguf", "gguf", "reading GGUF files")
    try:
        reader = gguf.GGUFReader(src)
        return {name: field.contents() for name, field in reader.fields.items()}
    except (ValueError, IndexError, OSError) as err:
        raise HareError(f"'{src}' is not a readable GGUF file ({err}); it may be truncated or not GGUF at all: "
                        "download or export it again") from None


def _unsupported(src: Path, architecture: str | None, err: ValueError) -> HareError:
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES as known
    except ImportError:
        known = []
    known = sorted(set(known) - {"general", "tokenizer", "tokenizer_config"})  # mapping sections, not models
    listed = f"; it loads: {', '.join(known)}" if known else ""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return HareError(f"transformers cannot load '{src.name}', a GGUF file of architecture '{architecture}' "
                     f"({first}){listed}; convert the model with its own tools or use a supported one")


def carried_files(fields: dict[str, Any]) -> dict[str, str]:
    """The small files `hare export gguf` put inside the GGUF (tokenizer, chat template, tools.json)."""
    import json

    raw = fields.get(FILES_KEY)
    if raw is None:
        return {}
    try:
        files = json.loads(raw)
    except ValueError:
        files = None
    if not isinstance(files, dict) or not all(isinstance(v, str) and "/" not in k for k, v in files.items()):
        raise HareError(f"the GGUF key '{FILES_KEY}' is damaged; export the model again with `hare export gguf`")
    return files


def write_carried(files: dict[str, str], out: Path) -> None:
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")


def _save_tokenizer(src: Path, fields: dict[str, Any], out: Path) -> None:
    from hare.model.tokenizer import save_tokenizer

    files = carried_files(fields)
    write_carried(files, out)
    hare_tok = hare_tokenizer(fields)
    if hare_tok is not None:
        save_tokenizer(hare_tok, out)  # with tokenizer.model, so the result exports to GGUF again
    elif "tokenizer.json" not in files:
        file_tokenizer(src).save_pretrained(out)


def file_tokenizer(src: Path) -> PreTrainedTokenizerFast:
    """The tokenizer and chat template a GGUF from elsewhere keeps in its standard fields (`tokenizer.ggml.*`,
    `tokenizer.chat_template`), as transformers reads them."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)


def hare_tokenizer(fields: dict[str, Any]) -> PreTrainedTokenizerFast | None:
    """HARE's own tokenizer when the GGUF vocabulary is exactly HARE's (padding rows aside), else None."""
    from hare.model.tokenizer import BASE_VOCAB_SIZE, ROUND_START, build_tokenizer

    tokens = fields.get("tokenizer.ggml.tokens") or []
    if fields.get("tokenizer.ggml.model") != "llama" or len(tokens) <= BASE_VOCAB_SIZE \
            or tokens[BASE_VOCAB_SIZE] != ROUND_START:
        return None
    functional = 0
    while BASE_VOCAB_SIZE + 2 + functional < len(tokens) and _FUNCTIONAL.fullmatch(
            tokens[BASE_VOCAB_SIZE + 2 + functional]):
        functional += 1
    tok = build_tokenizer(functional)
    ours = tok.convert_ids_to_tokens(range(len(tok)))
    return tok if tokens[: len(ours)] == ours else None
