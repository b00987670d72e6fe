"""SFT data: four conversation formats → HARE chat messages → token ids with assistant-only labels.

Formats (one JSON object per line; `auto` detects the format from the first record, and a file that
mixes formats is an error naming the line):
  openai    {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}
  alpaca    {"instruction": ..., "input"?: ..., "output": ..., "system"?: ...}
  sharegpt  {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}
  firefly   {"system"?: ..., "conversation": [{"human": ..., "assistant": ...}, ...]}

Labels come from the chat template's own `{% generation %}` markers: the template is rendered once
per sample, the marked character spans (each assistant reply plus its "<round_end>\\n") are mapped
onto tokens through the tokenizer's offsets, and every other token gets label -100. Rendering the
whole conversation and tokenizing it once keeps the ids identical to what inference tokenizes.
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hare.config import shown
from hare.errors import HareError, first_line
from hare.io.extras import import_extra
from hare.io.read import read_jsonl, utf8_text
from hare.io.sources import local_path, offline_unless_hub_reachable
from hare.model import template
from hare.train.loss import IGNORE

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

FORMATS = ("openai", "alpaca", "sharegpt", "firefly")
_KEYS = {"openai": "messages", "sharegpt": "conversations", "firefly": "conversation", "alpaca": "instruction"}
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
ROLES = ("system", "user", "assistant")  # what the HARE chat template renders; system only as the first message
Message = dict[str, str]
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def detect_format(record: dict[str, Any]) -> str | None:
    found = [name for name, key in _KEYS.items() if key in record]
    return found[0] if len(found) == 1 else None


def to_messages(record: dict[str, Any], fmt: str) -> list[Message]:
    """Convert one record of format `fmt` to chat messages (KeyError/TypeError on a malformed record,
    ValueError with the reason on a ShareGPT speaker that is none of the known ones)."""
    if fmt == "openai":
        return [{"role": m["role"], "content": m["content"]} for m in record["messages"]]
    if fmt == "alpaca":
        prompt = record["instruction"] + (f"\n\n{record['input']}" if record.get("input") else "")
        system = [{"role": "system", "content": record["system"]}] if record.get("system") else []
        return [*system, {"role": "user", "content": prompt}, {"role": "assistant", "content": record["output"]}]
    if fmt == "sharegpt":
        unknown = [t["from"] for t in record["conversations"] if t["from"] not in _SHAREGPT_ROLES]
        if unknown:
            raise ValueError(f"unknown ShareGPT speaker \"from\": {shown(unknown[0])}; use one of "
                             f"{', '.join(_SHAREGPT_ROLES)}")
        return [{"role": _SHAREGPT_ROLES[t["from"]], "content": t["value"]} for t in record["conversations"]]
    messages = [{"role": "system", "content": record["system"]}] if record.get("system") else []
    for turn in record["conversation"]:
        messages += [{"role": "user", "content": turn["human"]}, {"role": "assistant", "content": turn["assistant"]}]
    return messages


def _records(source: str) -> Iterator[tuple[str, Any]]:
    """(`file:line`, record) from a local JSONL(.gz) file, or (`name[i]`, row) from a hub dataset."""
    path = local_path(source)
    if path is not None:
        if not path.exists():
            raise HareError(f"SFT data file '{source}' does not exist; check the path (hub datasets are owner/name)")
        yield from ((f"{path}:{number}", record) for number, _, record in read_jsonl(path))
        return
    datasets = import_extra("datasets", "data", f"the hub dataset '{source}'")
    offline_unless_hub_reachable()
    try:
        rows = datasets.load_dataset(source, split="train")
    except Exception as err:  # noqa: BLE001 (datasets raises many types for "not reachable")
        raise HareError(f"'{source}' is neither a local file nor a loadable Hugging Face dataset "
                        f"({first_line(err)})") from None
    yield from ((f"{source}[{i}]", row) for i, row in enumerate(rows))


def read_conversations(source: str, fmt: str = "auto") -> Iterator[tuple[str, list[Message]]]:
    """Yield (`file:line`, messages) for every record; every problem names its file and line."""
    if fmt != "auto" and fmt not in FORMATS:
        raise HareError(f"unknown SFT format '{fmt}'; choose auto or one of: {', '.join(FORMATS)}")
    file_format = None if fmt == "auto" else fmt
    for where, record in _records(str(source)):
        found = detect_format(record) if isinstance(record, dict) else None
        if file_format is None:
            if found is None:
                raise HareError(f"{where}: cannot tell the format; records need one of the keys "
                                f"{', '.join(_KEYS.values())} (or pass --format)")
            file_format = found
        elif found is not None and found != file_format:
            raise HareError(f"{where}: a {found} record in a {file_format} file; keep one format per file")
        try:
            messages = to_messages(record, file_format)
        except (KeyError, TypeError) as err:
            raise HareError(f"{where}: not a valid {file_format} record (missing or bad {err})") from None
        except ValueError as err:
            raise HareError(f"{where}: {err}") from None
        check_messages(messages, where)
        if not any(m["role"] == "assistant" for m in messages):
            raise HareError(f"{where}: conversation has no assistant turn, so there is nothing to learn")
        yield where, messages


def check_messages(messages: list[Message], where: str) -> None:
    """Roles the chat template renders and contents that are text, checked as the file is read: otherwise the
    template (an unknown role, null or a list) or the tokenizer (a lone surrogate such as "\\ud800", which is
    valid JSON but not text) fails with a traceback that names neither the file nor the line."""
    for number, message in enumerate(messages, 1):
        role, content = message["role"], message["content"]
        if role not in ROLES or (role == "system" and number > 1):
            raise HareError(f"{where}: message {number} has role {shown(role)}; roles are system (first message "
                            "only), user and assistant")
        if not isinstance(content, str):
            kind = {type(None): "null", list: "a list", dict: "an object", bool: "true/false"}.get(
                type(content), "a number")
            raise HareError(f"{where}: message {number} ({role}): its content is {kind}, not a string; write the "
                            "message's text as one string")
        utf8_text(content, f"{where}: message {number} ({role})", "fix that escape (e.g. \\ud800) in the file")


@dataclass
class Sample:
    """One tokenized conversation: ids and labels of equal length (-100 where no loss is taken)."""

    ids: list[int]
    labels: list[int]
    where: str = ""


def render(tok: PreTrainedTokenizerFast, messages: list[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The conversation's text and the character spans of its assistant replies (with their end-of-turn).

    HARE's template marks replies with `{% generation %}`; a foreign base's own template (ChatML and
    the like) has no markers, so each reply's span is found by rendering the conversation up to its
    prompt and up to its end: a template that renders turn by turn gives the reply as the difference.
    """
    from transformers.utils.chat_template_utils import render_jinja_template

    if _GENERATION.search(tok.chat_template):
        (text,), (spans,) = render_jinja_template([messages], chat_template=tok.chat_template,
                                                  return_assistant_tokens_mask=True, **tok.special_tokens_map)
        return text, spans
    text = tok.apply_chat_template(messages, tokenize=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        head, _ = template.render(tok, messages[:k], add_generation_prompt=True)
        upto, _ = template.render(tok, messages[: k + 1], add_generation_prompt=False)
        if not (upto.startswith(head) and text.startswith(upto)):
            raise HareError("the tokenizer's chat template does not render a conversation turn by turn, so the "
                            "assistant replies cannot be found; fine-tune with HARE's template instead")
        spans.append((len(head), len(upto)))
    return text, spans


def encode(tok: PreTrainedTokenizerFast, messages: list[Message], system: str) -> Sample:
    """Render through the chat template and label exactly the characters of the assistant replies."""
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    text, spans = render(tok, messages)
    # System, user and tool text stay text; replies are trusted (tool-call targets are functional tokens).
    ids, offsets = template.encode(tok, text, template.plain_spans(tok, messages, text, trusted_roles={"assistant"}))
    labels = [IGNORE] * len(ids)
    for i, (start, end) in enumerate(offsets):
        # A token belongs to a reply if its characters lie inside a marked span; the "▁" that the
        # tokenizer inserts before "\n" after <round_end> has an empty span at the "\n", hence <=.
        if any(s <= start and (end <= e if end > start else start < e) for s, e in spans):
            labels[i] = ids[i]
    return Sample(ids, labels)


@dataclass
class Limits:
    seq_len: int
    truncate: bool = True
    stats: dict[str, int] = field(default_factory=lambda: {"truncated": 0, "dropped": 0})


def fit_to_length(tok: PreTrainedTokenizerFast, messages: list[Message], system: str, limits: Limits,
                  where: str) -> Sample | None:
    """Encode; if too long, drop whole trailing turns until the sample fits (None if nothing fits)."""
    sample = encode(tok, messages, system)
    if len(sample.ids) <= limits.seq_len + 1:
        return sample
    if not limits.truncate:
        raise HareError(f"{where}: {len(sample.ids)} tokens exceed data.seq_len={limits.seq_len}; "
                        "raise data.seq_len or allow truncation (data.truncate=true)")
    cuts = [i + 1 for i, m in enumerate(messages) if m["role"] == "assistant"][:-1]
    for cut in reversed(cuts):
        sample = encode(tok, messages[:cut], system)
        if len(sample.ids) <= limits.seq_len + 1:
            limits.stats["truncated"] += 1
            return sample
    limits.stats["dropped"] += 1
    return None


def shared_head(row: list[Sample]) -> int:
    """How many leading tokens a packed row holds once for all its samples: the tokens they all begin with
    (a fixed system turn and the user turn's opening, 11 of a tool request's ~60 with SmolLM2's template),
    as long as no label is taken on them or on the token after them. Their hidden states depend on nothing
    after them, so each sample, attending to the one copy at the same positions, computes what it did alone."""
    if len(row) < 2:
        return 0
    first = row[0].ids
    head = min(len(s.ids) for s in row) - 1  # every sample keeps a token of its own
    for s in row:
        trained = next((i for i, label in enumerate(s.labels) if label != IGNORE), len(s.labels))
        head = min(head, trained - 1)
        head = next((i for i in range(head) if s.ids[i] != first[i]), head)
    return max(head, 0)


def row_length(row: list[Sample]) -> int:
    head = shared_head(row)
    return head + sum(len(s.ids) - head for s in row)


def collate(rows: list[list[Sample]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad rows to the longest; a row with several samples holds their shared head once
    (`shared_head`), then each sample's rest with positions continuing the head's, and gets a causal mask
    in which a token sees the head and its own sample only, so no token attends across samples
    (packing changes no loss)."""
    import torch

    length = max(row_length(row) for row in rows) - 1
    input_ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    packed = any(len(row) > 1 for row in rows)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    segment = torch.full((len(rows), length), -1, dtype=torch.long)  # 0: the shared head, k + 1: sample k
    lengths = torch.zeros(len(rows), dtype=torch.long)  # unpadded, for the frozen-trunk store
    for b, row in enumerate(rows):
        head = shared_head(row)
        ids = row[0].ids[:head] + [i for s in row for i in s.ids[head:]]
        labels = row[0].labels[:head] + [label for s in row for label in s.labels[head:]]
        n = lengths[b] = len(ids) - 1
        input_ids[b, :n] = torch.tensor(ids[:-1])
        targets[b, :n] = torch.tensor(labels[1:])  # a sample's first own label is never trained (shared_head),
        positions[b, :head] = torch.arange(head)   # so no target crosses from one sample into the next
        segment[b, :head] = 0
        start = head
        for k, s in enumerate(row):
            end = min(start + len(s.ids) - head, n)
            positions[b, start:end] = torch.arange(head, head + end - start)
            segment[b, start:end] = k + 1
            start = end
    batch = {"input_ids": input_ids, "targets": targets, "lengths": lengths}
    if packed:
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        seen = (segment[:, :, None] == segment[:, None, :]) | (segment[:, None, :] == 0)
        pad_self = torch.eye(length, dtype=torch.bool)[None] & (segment[:, :, None] < 0)
        batch["attention_mask"] = ((seen & (segment[:, :, None] >= 0) & causal) | pad_self)[:, None]
        batch["position_ids"] = positions
    return batch


def pack(samples: list[Sample], seq_len: int) -> list[list[Sample]]:
    """Rows of whole samples, their shared head once, in at most `seq_len + 1` tokens: each sample, in an order
    shuffled once (seeded, so rows are the same on every run and rank), goes to the fullest row it fits.
    Filled in file order, a row closed as soon as the next sample missed its room: the quickstart's tool
    fine-tune had its 11,600 requests in 2,309 rows of 256 tokens, 87 % full, and each row held one function's
    requests, as `hare tools data` writes them; now 2,036 rows, 98.6 % full (13 % more requests in a step's
    time), each a random draw. Sizes count the head all samples share (`shared_head`) once; a row's own
    shared head is at least as long, so a row is never over."""
    if not samples:
        return []
    head = shared_head(samples)
    rows: list[list[Sample]] = []
    rooms: list[tuple[int, int]] = []  # (room left, row), sorted: the tightest room that fits is found by bisection
    for sample in random.Random(0).sample(samples, len(samples)):
        size = len(sample.ids) - head
        at = bisect.bisect_left(rooms, (size, -1))
        if at < len(rooms):
            room, row = rooms.pop(at)
            rows[row].append(sample)
        else:
            room, row = seq_len + 1 - head, len(rows)
            rows.append([sample])
        bisect.insort(rooms, (room - size, row))
    return rows
