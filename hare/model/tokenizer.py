"""The HARE tokenizer: Mistral's v1 sentencepiece model, rebuilt offline as a Hugging Face fast tokenizer.

HARE reuses Mistral's 32,000-piece vocabulary and adds its own tokens after it:
`<round_start>` (32000), `<round_end>` (32001, the chat end-of-turn), then Octopus-style functional
tokens `<api_0>` … `<api_{N-1}>` and `<api_end>` for tool calling.

Why not `LlamaTokenizer(vocab_file=…)`: in transformers 5 that builds a 3-token vocabulary, and the
generic sentencepiece conversion orders BPE merges by piece id. Sentencepiece applies merges by piece
*score*, so we derive the merges ourselves in score order. One more trap: the 15 whitespace pieces
("▁▁" … 16 × "▁") share one score, and sentencepiece breaks score ties by position (leftmost pair
first), so runs of spaces grow from the left. A BPE merge list has no ties; ranking the tied merges
longest-left-part first reproduces that left-to-right growth. `tests/test_tokenizer.py` checks
token-for-token parity with `sentencepiece` itself, indented code included.

Text handling follows sentencepiece's `add_dummy_prefix` the way Llama/Mistral "legacy" tokenizers
and llama.cpp do: every run of plain text gets one leading "▁", including text right after an added
token. Keeping that rule identical across transformers, vLLM and llama.cpp is what matters, since
the chat template puts added tokens in the middle of text.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hare.config import check_range

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

BASE_VOCAB_SIZE = 32_000
ROUND_START = "<round_start>"
ROUND_END = "<round_end>"
API_END = "<api_end>"
DEFAULT_FUNCTIONAL_TOKENS = 20
MAX_FUNCTIONAL_TOKENS = 1000  # `check_functional_tokens`
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# Firefly's registered `hare` template. Assistant turns, including their closing "<round_end>\n",
# sit inside {% generation %} so `return_assistant_tokens_mask=True` yields the SFT loss mask.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{ '<round_start>system\\n' + messages[0]['content'] + '<round_end>\\n' }}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{{ '<round_start>system\\n" + DEFAULT_SYSTEM_PROMPT + "<round_end>\\n' }}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '<round_start>user\\n' + message['content'] + '<round_end>\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<round_start>assistant\\n' }}"
    "{%- generation -%}{{ message['content'] + '<round_end>\\n' }}{%- endgeneration -%}"
    "{%- else -%}"
    "{{ raise_exception('HARE chat roles are system (first only), user and assistant; got ' + message['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<round_start>assistant\\n' }}{%- endif -%}"
)


def functional_token(index: int) -> str:
    """The token that stands for function `index` of a tool-calling model."""
    return f"<api_{index}>"


def check_functional_tokens(name: str, value: int) -> None:
    """One `<api_i>` per function of an API: a thousand is past any phone's API, and 10**20 of them had the
    token list built until memory gave out."""
    check_range(name, value, 0, MAX_FUNCTIONAL_TOKENS, fix="one per function of your API")


def added_tokens(num_functional_tokens: int = DEFAULT_FUNCTIONAL_TOKENS) -> list[str]:
    """HARE's tokens after the base vocabulary, in id order starting at 32000."""
    apis = [functional_token(i) for i in range(num_functional_tokens)]
    return [ROUND_START, ROUND_END, *apis, API_END] if num_functional_tokens else [ROUND_START, ROUND_END]


def vocab_size_with_added_tokens(num_functional_tokens: int = DEFAULT_FUNCTIONAL_TOKENS) -> int:
    return BASE_VOCAB_SIZE + len(added_tokens(num_functional_tokens))


def sentencepiece_model_path() -> Path:
    """Mistral's v1 `tokenizer.model`, shipped inside the `mistral-common` wheel (no hub download)."""
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"


@functools.lru_cache(maxsize=1)
def _base_tokenizer_json() -> str:
    """Serialized `tokenizers.Tokenizer` equivalent to the sentencepiece model (cached: ~0.5 s to build)."""
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import Tokenizer, decoders, models, normalizers

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(sentencepiece_model_path().read_bytes())
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    NORMAL = 1  # sentencepiece piece type; control, unknown and byte pieces never come from merges
    ranked = []
    for piece in (p for p in proto.pieces if p.type == NORMAL):
        for cut in range(1, len(piece.piece)):
            left, right = piece.piece[:cut], piece.piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-piece.score, -len(left), -len(right), vocab[left], left, right))
    ranked.sort()
    merges = [(left, right) for *_, left, right in ranked]

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return tok.to_str()


def build_tokenizer(num_functional_tokens: int = DEFAULT_FUNCTIONAL_TOKENS) -> PreTrainedTokenizerFast:
    """The HARE tokenizer with `num_functional_tokens` tool tokens and the chat template."""
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_base_tokenizer_json())
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]]
    )
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in added_tokens(num_functional_tokens)]
    )
    # Plain encodes start with <s> as in pretraining; the chat template is tokenized without it.
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",  # Mistral has no pad token; padded positions are masked anyway
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def text_ids(tok: PreTrainedTokenizerFast, texts: list[str], bos: bool) -> list[list[int]]:
    """Token ids of each text as plain text: a prompt, document or file that contains "</s>", "<round_end>"
    or "<api_3>" gets those characters, never the control tokens, which only the chat template and HARE's
    own code place; `bos` prepends `<s>` (the tokenizer's own special tokens)."""
    return tok(texts, add_special_tokens=bos, split_special_tokens=True, verbose=False).input_ids


def num_functional_tokens(tok: PreTrainedTokenizerFast) -> int:
    """How many `<api_i>` tokens a tokenizer carries (0 for a chat-only tokenizer)."""
    vocab = tok.get_vocab()
    n = 0
    while functional_token(n) in vocab:
        n += 1
    return n


def call_token_ids(tok: PreTrainedTokenizerFast) -> list[int]:
    """Ids of the functional tokens (`<api_i>`), which open a tool call: plain generation (chat, completions)
    never samples them, since a tool model asked without tools would otherwise answer with call text that
    decoding strips of its functional token ("(camera='front')"); tool calls decode under the call grammar.
    `<api_end>` ends plain generation instead (`answer_end_ids`)."""
    vocab = tok.get_vocab()  # built anew on every call (~20 ms for a 49K vocabulary): once here
    return [vocab[t] for t in itertools.takewhile(vocab.__contains__, map(functional_token, itertools.count()))]


def answer_end_ids(tok: PreTrainedTokenizerFast) -> list[int]:
    """`<api_end>`'s id where the vocabulary has it, to end plain generation: a tool model ends every answer
    there, and answers a request no function serves with it alone (plain chat, to it). Banned with the call
    tokens, it had made the model write call-like text up to the token cap (1,024 tokens, ~75 s on a CPU)."""
    found = tok.convert_tokens_to_ids(API_END)
    return [found] if isinstance(found, int) and found != tok.unk_token_id else []


def is_hare_vocabulary(tok: PreTrainedTokenizerFast) -> bool:
    """True for Mistral's v1 pieces with HARE's tokens after them (a HARE model, not a foreign base)."""
    return tok.convert_ids_to_tokens(1) == "<s>" and tok.convert_tokens_to_ids(ROUND_START) == BASE_VOCAB_SIZE


def save_tokenizer(tok: PreTrainedTokenizerFast, directory: str | os.PathLike) -> None:
    """Save in HF form; for HARE's vocabulary also `tokenizer.model` and `added_tokens.json`.

    llama.cpp's `convert_hf_to_gguf.py` and older sentencepiece-based loaders read those two files
    rather than `tokenizer.json`. A foreign base (another vocabulary, e.g. SmolLM2's byte-level BPE)
    is saved as transformers saves it: Mistral's sentencepiece model would misdescribe it.
    """
    directory = Path(directory)
    tok.save_pretrained(directory)
    if not is_hare_vocabulary(tok):
        return
    shutil.copyfile(sentencepiece_model_path(), directory / "tokenizer.model")
    extra = {t: i for t, i in tok.get_vocab().items() if i >= BASE_VOCAB_SIZE}
    (directory / "added_tokens.json").write_text(json.dumps(extra, indent=2) + "\n")


def fingerprint(tok: PreTrainedTokenizerFast) -> str:
    """A short hash of the token → id mapping; data packed with one tokenizer is only valid for it."""
    import hashlib

    items = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]
