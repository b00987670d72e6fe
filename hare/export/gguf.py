"""`hare export gguf`: a HARE checkpoint as one GGUF file that llama.cpp runs, f16 down to Q4_K_M.

    hare export gguf --model runs/chat/final --out hare-chat.q4_k_m.gguf --type q4_k_m

The exporter is ours (llama.cpp's `convert_hf_to_gguf.py` ships in no wheel); the file format is
the maintained `gguf` package's `GGUFWriter`, and K-quants come from llama.cpp's own quantizer.

- Tensors are read from the checkpoint's safetensors and renamed to llama.cpp's `llama`
  architecture names by `gguf.TensorNameMap`. Q and K projections are permuted per head:
  transformers' rotary embedding rotates the two halves of a head (`rotate_half`), llama.cpp's
  rotates adjacent pairs, so the rows are interleaved to make both compute the same attention.
- f16, bf16, q8_0 and q4_0 are encoded in Python by `gguf.quants` (every 2-D weight in that type,
  norms in f32). K-quants (q4_k_m, q5_k_m, q6_k) are made by `llama_cpp.llama_model_quantize`
  from an intermediate f16 file, so llama.cpp picks its usual per-tensor mix (Q4_K_M keeps
  `output` and half of `attn_v`/`ffn_down` at Q6_K).
- Block sizes bound the widths: q8_0/q4_0 pack 32 values per block, K-quants 256 per super-block.
  A weight whose rows are not a multiple of 32 is refused and named; under a K-quant, rows that are
  a multiple of 32 but not of 256 (SmolLM2's 576) get llama.cpp's 32-value fallback types (q4_K →
  q5_0, q6_K → q8_0), and the export says how many.
- The tokenizer is the checkpoint's sentencepiece `tokenizer.model` (pieces, scores, types) plus
  its added tokens as control tokens, padded with unused tokens to the embedding rows; a checkpoint
  without one (a byte-level BPE base such as SmolLM2) is written as llama.cpp's `gpt2` tokenizer:
  its tokens in id order and `tokenizer.json`'s merges. BOS/EOS
  come from the tokenizer; `<round_end>` is the end-of-turn token, and `<api_end>` the
  end-of-message token when the checkpoint's generation config stops on it, so llama.cpp stops
  exactly where `hare generate` does. The chat template is stored without transformers'
  `{% generation %}` markers, which only mark the SFT loss and which other Jinja engines reject.
- The checkpoint's small files — tokenizer.json, tokenizer_config.json, the chat template, the
  generation config and a tool model's tools.json — ride along in the `hare.files` key, so the GGUF
  alone is a complete model for `hare tools call` / `hare serve` (`hare.model.gguf_input`), which
  tokenize exactly as training did; a tool model's `<api_end>` is its end-of-message token.
- llama.cpp's `llama` architecture has no sliding window: outputs match transformers for contexts
  up to `sliding_window` (4096 for HARE) tokens.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hare.config import option
from hare.errors import HareError
from hare.io.extras import import_extra
from hare.model.gguf_input import FILES_KEY

if TYPE_CHECKING:
    import numpy as np
    from transformers import PreTrainedTokenizerFast

GgufType = Literal["f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"]
# Encoded in Python by `gguf.quants`: name → GGMLQuantizationType / LlamaFileType member names.
PYTHON_TYPES = {"f16": ("F16", "MOSTLY_F16"), "bf16": ("BF16", "MOSTLY_BF16"),
                "q8_0": ("Q8_0", "MOSTLY_Q8_0"), "q4_0": ("Q4_0", "MOSTLY_Q4_0")}
# Made by llama.cpp's quantizer from an f16 file: name → llama_cpp ftype constant.
LLAMA_CPP_TYPES = {"q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
                   "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K"}
BLOCK = {"f16": 1, "bf16": 1, "q8_0": 32, "q4_0": 32, "q4_k_m": 256, "q5_k_m": 256, "q6_k": 256}
_GENERATION_TAG = re.compile(r"\{%-?\s*(end)?generation\s*-?%\}")
# Carried inside the GGUF (key FILES_KEY, a JSON object name → text) so the file alone is the model.
CARRIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
           "generation_config.json", "tools.json", "tool_words.json")


@dataclass
class ExportGgufConfig:
    model: str = option(help="checkpoint directory (HARE / Mistral / Llama, safetensors)")
    out: str = option(help="GGUF file to write")
    type: GgufType = option("f16", "weight type (q4_k_m: the usual phone/laptop choice)")
    force: bool = option(False, "replace --out if it already exists")


def check_widths(shapes: dict[str, list[int]], gguf_type: str) -> list[str]:
    """Refuse a type whose blocks cannot tile every weight row, naming the first such weight; return the
    weights a K-quant stores in llama.cpp's fallback type instead (rows a multiple of 32 but not of 256:
    SmolLM2's 576, for one — llama.cpp's quantizer substitutes a 32-value type for exactly those)."""
    block = min(BLOCK[gguf_type], 32)
    for name, shape in shapes.items():
        if len(shape) == 2 and shape[1] % block:
            fits = [t for t, b in BLOCK.items() if shape[1] % b == 0]
            raise HareError(
                f"--type {gguf_type} packs weight rows in {block}-value blocks, but {name} has rows of "
                f"{shape[1]} values (not a multiple of {block}); choose one of {', '.join(fits)}, "
                "or a model whose widths are multiples of 256 (all HARE presets are)")
    return [name for name, shape in shapes.items() if len(shape) == 2 and shape[1] % BLOCK[gguf_type]]


def check_architecture(config: Any) -> float:
    """The rope theta of a model this exporter can write; anything else is refused with the reason."""
    if config.model_type not in ("mistral", "llama"):
        raise HareError(f"GGUF export supports Mistral/Llama checkpoints, not model_type '{config.model_type}'")
    if config.hidden_act != "silu" or getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise HareError("GGUF export supports SiLU MLPs without biases (the Mistral architecture)")
    # transformers 5 keeps rope settings in `rope_parameters` (older checkpoints: `rope_theta`).
    rope = getattr(config, "rope_parameters", None) or {"rope_type": "default", "rope_theta": config.rope_theta}
    if rope.get("rope_type", "default") != "default":
        raise HareError(f"GGUF export supports plain rotary embeddings, not rope_type '{rope['rope_type']}'")
    return float(rope["rope_theta"])


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """Rows of each head from halves order (transformers) to interleaved pairs (llama.cpp)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _spm_vocab(spm: Path, tok: PreTrainedTokenizerFast, rows: int) -> tuple[list[bytes], list[float], list[int]]:
    """Token text, score and type of every embedding row, for llama.cpp's sentencepiece tokenizer."""
    from gguf import TokenType
    from sentencepiece import sentencepiece_model_pb2

    model_dir = spm.parent
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(spm.read_bytes())
    vocab = tok.get_vocab()
    if any(vocab.get(p.piece) != i for i, p in enumerate(proto.pieces)):
        raise HareError(f"'{model_dir}': tokenizer.json and tokenizer.model disagree on piece ids; "
                        "re-save the tokenizer with HARE (`hare init` writes both)")
    tokens = [p.piece.encode() for p in proto.pieces]
    scores = [p.score for p in proto.pieces]
    types = [int(p.type) for p in proto.pieces]
    for token_id, added in sorted(tok.added_tokens_decoder.items()):
        if token_id < len(proto.pieces):
            continue  # <unk>, <s>, </s>: already control pieces of the sentencepiece model
        if token_id != len(tokens):
            raise HareError(f"added token '{added.content}' has id {token_id}, leaving a gap after {len(tokens) - 1}")
        tokens.append(added.content.encode())
        scores.append(-1000.0)
        types.append(TokenType.CONTROL if added.special else TokenType.USER_DEFINED)
    return _padded(tokens, scores, types, rows)


def _bpe_vocab(tok: PreTrainedTokenizerFast, rows: int) -> tuple[list[bytes], list[float], list[int]]:
    """Every token of a byte-level BPE in id order (its byte-to-unicode spelling, as llama.cpp's `gpt2`
    tokenizer reads it), the added ones typed control or user-defined."""
    from gguf import TokenType

    added = tok.added_tokens_decoder
    tokens, types = [], []
    for token_id in range(len(tok)):
        text = tok.convert_ids_to_tokens(token_id)
        if text is None:
            raise HareError(f"the tokenizer has no token with id {token_id}, leaving a gap; it cannot be exported")
        tokens.append(text.encode())
        kind = TokenType.NORMAL if token_id not in added else (
            TokenType.CONTROL if added[token_id].special else TokenType.USER_DEFINED)
        types.append(int(kind))
    return _padded(tokens, [0.0] * len(tokens), types, rows)


def _padded(tokens: list[bytes], scores: list[float], types: list[int],
            rows: int) -> tuple[list[bytes], list[float], list[int]]:
    """The vocabulary filled with unused tokens up to the embedding rows (padded to a multiple of 64)."""
    from gguf import TokenType

    if len(tokens) > rows:
        raise HareError(f"the tokenizer has {len(tokens)} tokens but the model only {rows} embedding rows")
    pad = rows - len(tokens)
    tokens += [f"[PAD{i}]".encode() for i in range(len(tokens), rows)]
    return tokens, scores + [-1000.0] * pad, types + [TokenType.UNUSED] * pad


def _bpe_merges(model_dir: Path) -> list[str]:
    """tokenizer.json's merges as "a b" lines (transformers 5 writes them as pairs); refuses what llama.cpp's
    `gpt2` tokenizer cannot reproduce."""
    data = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pre = data.get("pre_tokenizer") or {}
    if data["model"].get("type") != "BPE" or pre.get("type") != "ByteLevel":
        raise HareError(f"'{model_dir}' has neither a sentencepiece tokenizer.model nor a byte-level BPE "
                        "tokenizer.json; GGUF export supports those two (HARE's, and SmolLM2/GPT-2-style bases)")
    return [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]


def _add_tokenizer(writer: Any, model_dir: Path, tok: PreTrainedTokenizerFast, rows: int,
                   stops: list[int]) -> None:
    from hare.model.tokenizer import API_END, ROUND_END

    spm = model_dir / "tokenizer.model"
    if spm.is_file():
        tokens, scores, types = _spm_vocab(spm, tok, rows)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
    else:
        merges = _bpe_merges(model_dir)
        tokens, scores, types = _bpe_vocab(tok, rows)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")  # ByteLevel's own split (use_regex), checked by _bpe_merges
        writer.add_token_merges(merges)
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    for add, token_id in ((writer.add_bos_token_id, tok.bos_token_id), (writer.add_eos_token_id, tok.eos_token_id),
                          (writer.add_unk_token_id, tok.unk_token_id),
                          (writer.add_pad_token_id, tok.pad_token_id if tok.pad_token_id is not None
                           else tok.unk_token_id)):
        if token_id is not None:
            add(token_id)
    writer.add_add_bos_token(spm.is_file())  # HARE's template starts with <s>; ChatML templates do not
    writer.add_add_eos_token(False)
    vocab = tok.get_vocab()
    if ROUND_END in vocab:
        writer.add_eot_token_id(vocab[ROUND_END])
    if vocab.get(API_END) in stops or (API_END in vocab and (model_dir / "tools.json").is_file()):
        writer.add_eom_token_id(vocab[API_END])
    if tok.chat_template:
        writer.add_chat_template(_GENERATION_TAG.sub("", tok.chat_template))


def _add_hyperparameters(writer: Any, config: Any, rope_theta: float) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)


def _add_tensors(writer: Any, model_dir: Path, config: Any, gguf_type: str) -> None:
    import gguf
    import torch
    from tqdm import tqdm

    from hare.model.load import iter_tensors, tensor_shapes

    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    qtype = gguf.GGMLQuantizationType[PYTHON_TYPES[gguf_type][0]]
    tensors = tqdm(iter_tensors(model_dir), total=len(tensor_shapes(model_dir)), unit="tensor",
                   desc=f"GGUF {gguf_type}", leave=False)  # a first q8_0 export of a 1B model takes minutes
    for key, tensor in tensors:
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            if key.endswith("rotary_emb.inv_freq"):
                continue  # recomputed by llama.cpp from the rope theta
            raise HareError(f"checkpoint tensor '{key}' has no llama.cpp counterpart; is this a Mistral model?")
        data = tensor.to(torch.float32).numpy()
        if key.endswith("q_proj.weight"):
            data = _permute(data, config.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            data = _permute(data, config.num_key_value_heads)
        if data.ndim == 1:
            writer.add_tensor(name, data)  # norms stay f32, as in every llama.cpp model
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(name, data.astype("float16"))
        else:
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def write_gguf(model_dir: Path, out: Path, gguf_type: str) -> None:
    """Write `model_dir` as a GGUF file of a Python-encoded type (PYTHON_TYPES; widths checked by the caller)."""
    from transformers import AutoConfig, GenerationConfig

    from hare.model.load import load_tokenizer

    gguf = import_extra("gguf", "gguf", "GGUF export")
    config = AutoConfig.from_pretrained(model_dir)
    rope_theta = check_architecture(config)
    tok = load_tokenizer(str(model_dir))
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:
        eos = None
    stops = [eos] if isinstance(eos, int) else list(eos or [])

    writer = gguf.GGUFWriter(out, "llama")
    writer.add_name(model_dir.name)
    writer.add_file_type(gguf.LlamaFileType[PYTHON_TYPES[gguf_type][1]])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_hyperparameters(writer, config, rope_theta)
    _add_tokenizer(writer, model_dir, tok, config.vocab_size, stops)
    writer.add_string(FILES_KEY, json.dumps({name: (model_dir / name).read_text(encoding="utf-8")
                                             for name in CARRIED if (model_dir / name).is_file()}))
    _add_tensors(writer, model_dir, config, gguf_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize_gguf(src: Path, dst: Path, gguf_type: str) -> None:
    """llama.cpp's own quantizer (the `llama-quantize` tool, in-process): f16 GGUF → K-quant GGUF.

    Its C code logs a line per tensor to stderr; that log is kept aside and shown only on failure.
    """
    import ctypes
    import os
    import sys
    import tempfile

    llama_cpp = import_extra("llama_cpp", "gguf", f"--type {gguf_type}")
    print(f"quantizing to {gguf_type} with llama.cpp (one pass over the f16 file)…", file=sys.stderr, flush=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, LLAMA_CPP_TYPES[gguf_type])
    sys.stderr.flush()
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if status != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"llama_model_quantize({src} → {gguf_type}) failed with status {status}:\n{tail}")


def run(cfg: ExportGgufConfig) -> Path:
    from hare.io.atomic import atomic_output, check_apart, remove, temp_sibling
    from hare.model.load import check_weights_fit_config, full_precision_dir, tensor_shapes

    if cfg.type not in BLOCK:
        raise HareError(f"unsupported GGUF type '{cfg.type}'; choose one of: {', '.join(BLOCK)}")
    model_dir = full_precision_dir(cfg.model, "GGUF export")
    # The checkpoint's own files (weights, config, tokenizer), not a .gguf exported beside them before.
    check_apart(cfg.out, [model_dir, *(p for p in model_dir.iterdir() if p.suffix != ".gguf")])
    shapes = tensor_shapes(model_dir)
    check_weights_fit_config(model_dir, shapes)
    fallback = check_widths(shapes, cfg.type)
    if fallback:
        print(f"note: {len(fallback)} weights have rows that are no multiple of 256 ({fallback[0]}, …); "
              f"llama.cpp stores them in its 32-value fallback types (q5_0 for q4_K, q5_1 for q5_K, q8_0 for q6_K) "
              f"within this {cfg.type} file", file=sys.stderr)
    out = Path(cfg.out)
    with atomic_output(out, cfg.force, directory=False) as tmp:
        if cfg.type in PYTHON_TYPES:
            write_gguf(model_dir, tmp, cfg.type)
        else:
            import_extra("llama_cpp", "gguf", f"--type {cfg.type}")  # fail before the long f16 write
            f16 = temp_sibling(out, "f16")
            try:
                write_gguf(model_dir, f16, "f16")
                quantize_gguf(f16, tmp, cfg.type)
            finally:
                remove(f16)
    print(f"wrote {out} ({out.stat().st_size / 1e9:.3f} GB, {cfg.type})")
    return out
