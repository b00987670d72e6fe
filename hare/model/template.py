"""Chat template → token ids, where only the template itself may produce control tokens.

Rendering a conversation to text and tokenizing that text with special-token parsing on lets a
user who types `<round_end>\n<round_start>system\n…` (or `<|im_end|>` on a ChatML base, or `<api_3>`)
close their turn and open a system turn: the tokenizer cannot tell the template's `<round_end>` from
the user's. So the template is rendered once with a placeholder per message, which tells template
text from message text, and the message text goes back in as plain characters: a fast tokenizer
splits text at its added tokens and tokenizes each run between them on its own, so tokenizing the
runs ourselves — control tokens found only in template text, runs with `split_special_tokens` —
gives exactly the usual ids for ordinary text and plain-text ids for an injected control token.

Used by `hare serve`, `hare chat`, `hare tools call` and SFT data, for any tokenizer's special tokens.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

from hare.errors import HareError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

Span = tuple[int, int]
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")  # private-use characters: no template writes them
_CALL_TOKEN = re.compile(r"<api_(?:\d+|end)>")  # the only tokens a trusted message's text may place


def render(tok: PreTrainedTokenizerFast, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
           trusted_roles: Collection[str] = ()) -> tuple[str, list[Span]]:
    """The conversation's text through `tok`'s chat template, and the character spans of the message
    contents that must stay plain text: all of every message's, except the call tokens (`<api_i>`,
    `<api_end>`) in those of `trusted_roles` (SFT trusts assistant replies, whose tool calls are
    functional tokens; a "</s>" or "<round_end>" typed in a reply is still text, or the model would
    learn to end its turn mid-reply)."""
    if tok.chat_template is None:
        raise HareError("this tokenizer has no chat template; use a HARE checkpoint (see `hare init`)")
    marked = [{**m, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)]
    skeleton = _skeleton(tok, marked, add_generation_prompt)
    parts, spans, length = [], [], 0
    for k, piece in enumerate(_PLACEHOLDER.split(skeleton)):
        if k % 2:  # a message's content
            message = messages[int(piece)]
            piece = str(message.get("content") or "")
            calls = list(_CALL_TOKEN.finditer(piece)) if message.get("role") in trusted_roles else []
            edges = [0, *(x for m in calls for x in m.span()), len(piece)]
            spans += [(length + a, length + b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]
        parts.append(piece)
        length += len(piece)
    return "".join(parts), spans


_SKELETONS: dict[str, str] = {}
_SKELETONS_KEPT = 4096
# Longer conversations are rendered every time: a served request of 45,000 messages in random roles is a shape
# of its own, and 4096 such skeletons kept (5.7 MB each) grew the server by gigabytes.
_SKELETON_TURNS = 64


def _skeleton(tok: PreTrainedTokenizerFast, marked: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    """The template rendered around placeholders, remembered: it depends on the template, the special tokens
    and the messages without their contents (roles, mostly), so a dataset of one conversation shape renders
    it once instead of once per sample (jinja is most of SFT encoding's time). A template that reads the
    clock (`strftime_now`, Llama 3's date line) is rendered every time."""
    def rendered() -> str:
        return str(tok.apply_chat_template(marked, tokenize=False, add_generation_prompt=add_generation_prompt))

    if "strftime_now" in str(tok.chat_template) or len(marked) > _SKELETON_TURNS:
        return rendered()
    key = json.dumps([tok.chat_template, tok.special_tokens_map, marked, add_generation_prompt], default=str)
    if key not in _SKELETONS:
        if len(_SKELETONS) >= _SKELETONS_KEPT:
            _SKELETONS.clear()
        _SKELETONS[key] = rendered()
    return _SKELETONS[key]


def plain_spans(tok: PreTrainedTokenizerFast, messages: list[dict[str, Any]], text: str,
                add_generation_prompt: bool = False, trusted_roles: Collection[str] = ()) -> list[Span]:
    """The plain-text spans of `text`, a rendering of `messages` made elsewhere (SFT renders with
    generation markers); an error when the template changes message text, as the spans would then
    not be where the contents are."""
    rendered, spans = render(tok, messages, add_generation_prompt, trusted_roles)
    if rendered != text:
        raise HareError("the chat template changes the message text (trims or rewrites it), so user text "
                        "cannot be kept apart from control tokens; use a template that inserts contents as given")
    return spans


def _control_pattern(tok: PreTrainedTokenizerFast) -> re.Pattern[str] | None:
    """Every added token's text, longest first (the tokenizer also prefers the longest match)."""
    return _alternatives(tuple(sorted({t.content for t in tok.added_tokens_decoder.values()}, key=len, reverse=True)))


@functools.lru_cache(maxsize=64)
def _alternatives(contents: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(map(re.escape, contents))) if contents else None


def pieces(tok: PreTrainedTokenizerFast, text: str, plain: list[Span]) -> Iterator[tuple[int, int, bool]]:
    """`text` as (start, end, is_control) stretches: control tokens found outside the `plain` spans
    only, and the runs of text between them."""
    pattern = _control_pattern(tok)
    stretches, at = [], 0
    for a, b in sorted(plain):
        stretches.append((at, a))
        at = max(at, b)
    start = 0
    for a, b in [*stretches, (at, len(text))]:
        for match in pattern.finditer(text, a, b) if pattern else ():
            if match.start() > start:
                yield start, match.start(), False
            yield match.start(), match.end(), True
            start = match.end()
    if start < len(text):
        yield start, len(text), False


def encode(tok: PreTrainedTokenizerFast, text: str, plain: list[Span]) -> tuple[list[int], list[Span]]:
    """Token ids of `text` and each token's character span; no control token comes from inside `plain`."""
    # The runs go to the Rust tokenizer itself, set as `tok(run, add_special_tokens=False,
    # split_special_tokens=True)` sets it: the same ids and offsets at a third of the time, the rest
    # being transformers' per-call bookkeeping (most of SFT encoding's time after the template's).
    # The flag is the tokenizer's, shared by every thread, and is left set: restoring it had raced with a server
    # thread encoding a client's text through `text_ids` (transformers sets it per call, then encodes), which
    # then and again (once in 5 s of two threads each) read a typed "<api_end>" as the control token.
    backend = tok.backend_tokenizer
    backend.no_padding()
    backend.no_truncation()
    backend.encode_special_tokens = True
    ids: list[int] = []
    offsets: list[Span] = []
    for start, end, control in pieces(tok, text, plain):
        if control:
            ids.append(tok.convert_tokens_to_ids(text[start:end]))
            offsets.append((start, end))
            continue
        run = backend.encode(text[start:end], add_special_tokens=False)
        ids.extend(run.ids)
        offsets.extend((start + a, start + b) for a, b in run.offsets)
    return ids, offsets


def chat_ids(tok: PreTrainedTokenizerFast, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
             trusted_roles: Collection[str] = ()) -> list[int]:
    """Token ids of a conversation (with the assistant prompt by default); message text stays text."""
    text, plain = render(tok, messages, add_generation_prompt, trusted_roles)
    return encode(tok, text, plain)[0]


def segments(tok: PreTrainedTokenizerFast, messages: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """A conversation with the assistant prompt as (text, is_control) pieces, for engines that tokenize
    with another library (llama.cpp): runs to tokenize without special-token parsing, tokens to look up."""
    text, plain = render(tok, messages)
    return [(text[a:b], control) for a, b, control in pieces(tok, text, plain)]
