"""Constrained decoding: every answer the tool decoder produces is a well-formed call list for the spec.

The call format (`hare.tools.calls`) and each function's JSON Schema compile into one regular
expression over the answer text: a functional token, its arguments in property order (required ones
present, optional ones possibly left out), each value shaped by its schema (enum members, booleans,
integers within `minimum`/`maximum`, string `pattern`s and e-mail format, any quoted string
otherwise), `;` between at most `MAX_CALLS` calls and `<api_end>` at the end. At each step the
decoder takes the most likely token whose text keeps the answer a prefix of some match (`regex`'s
partial matching), so the model still decides everything the grammar leaves open — which function,
which optional arguments, which words become a value — but can no longer misspell an argument name,
break the syntax or pick a value outside an enum or range. Given the query, a value the user types
(an e-mail address, a phone number) or says in words the parser reads (a time, a date, a language:
`hare.tools.surface`) is one the query holds, where it holds any: an hour nobody said is the costliest
wrong value, and a small model writes one (`start_time=' January 8th 2026 2:00'` for "on January 8th
2026 from 3pm"; held to the query's times, two quickstart models, same weights, gave 3 and 4 more exact
calls of the 440 hand-written requests, 1 and 0 more of 400 held-out ones, none fewer). A function that needs
such a value the query does not hold is not offered (`offered`): "set a reminder to buy eggs" and the "give it a
minute" of "connect to Honda Accord and give it a minute" had become alarms at a made-up 00:00 (2026-12-04, one
quickstart model, one request at a time: 7 more exact calls of 1,655 held-out and hand-written, none fewer; a
time mistyped beyond reading, "midniht", goes with it: 4 of 1,500 generated alarm and event requests). Free-text
values (strings with no enum, pattern or format) are spans of the query too, as Octopus-style values are
words the user said: a small model otherwise makes words up ("the city" for "the airport", "how are black
holes work?"). Any token whose text comes next in the query may write one (in any case: "use spotify" may
be `Spotify`), and any that closes a value after such text (`!')`): offered only the query's own tokens, a
value lost its closing "!" or "+" where the query joins it to the next character, and copying measured worse
(400 held-out: exact 81.5 % against 83.0 %). With every piece, on three quickstart models (2026-12-02, same
weights): 2, 3 and 2 more exact calls of the 440 hand-written requests, 3, 1 and 2 more of 400 held-out.
`--no-copy-values` turns it off (hare-tiny from scratch measured better without it in 2026-11, before the
pieces: 81.5 % function accuracy against 76.2 %).
When no span fits, the grammar alone decides. Parsing and validation still run afterwards.

Three rules keep decoding total, whatever the weights (an untrained model included):
- In the grammar's text a functional token is one private-use character (`mark`), which only that
  token's id produces, so a model cannot spell `<api_end>` out of `<`, `api`, `_end`, `>` and then
  find that no stop token continues it.
- Every part of an answer is bounded (strings at `VALUE_CHARS` characters — patterns are checked to
  be no wider —, numbers at 16 digits, one space where the format has one, `MAX_CALLS` calls) and
  every token adds at least one character, so `budget` tokens always suffice to finish: the grammar
  closes values and calls in time instead of running out mid-string.
- When no token continues (a pattern the vocabulary cannot spell), `choose` answers None and the
  caller reports a structured error; matching a user's pattern is also bounded by `MATCH_TIMEOUT`."""

from __future__ import annotations

import math
import re
from functools import cache
from re import _parser as sre_parse
from typing import TYPE_CHECKING, Any

import regex

from hare.model.tokenizer import ROUND_END, ROUND_START, functional_token
from hare.tools.calls import APOSTROPHE, LARGEST_NUMBER, WORD_CHAR, literal
from hare.tools.spec import EMAIL, VALUE_CHARS, Function, is_free_text
from hare.tools.surface import PHONE, kind_of, surface_pattern, word_spans, words_pattern

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from transformers import PreTrainedTokenizerFast

END_MARK = "\ue000"  # <api_end> in the grammar's text
_MARK_BASE, _MARK_LAST = 0xE100, 0xF8FF  # <api_i> is chr(_MARK_BASE + i)
_MARKS = f"[{chr(_MARK_BASE)}-{chr(_MARK_LAST)}]"
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_WORD = re.compile(r"\w")  # (?<!\w): where a span of the query may start, (?!\w): where it may end
_BYTE = re.compile(r"<0x([0-9A-F]{2})>")
_TOKEN = re.compile(r"<api_([0-9]{1,9}|end)>")
_LAST_CALL = re.compile(f".*({_MARKS})", re.DOTALL)
_APOSTROPHE = APOSTROPHE.pattern
_STRING = regex.compile(rf"'(?:[^']|{_APOSTROPHE})*'|\"[^\"]*\"")
_CLOSING = {"'": regex.compile(rf"'(?!{WORD_CHAR})"), '"': regex.compile('"')}  # "I'm" does not close a value
_CALL_OR_VALUE = re.compile(f"({_MARKS})|(\\w+)= ?(['\"])")
SPAN_PIECE = 32  # characters: longer tokens (runs of spaces or dashes) are never a value's piece of a query
TOP_K = 64  # candidates checked first; then 32x as many; then the whole vocabulary
MAX_CALLS = 4  # per answer: a request names a few independent actions, and a looping model must stop
MATCH_TIMEOUT = 0.05  # seconds per partial match; patterns are checked up front, this is the backstop
_DIGITS = len(str(LARGEST_NUMBER))


def mark(index: int) -> str:
    """The character that stands for `<api_index>` in the grammar's text."""
    return chr(_MARK_BASE + index)


def readable_to_marked(text: str) -> str:
    """Answer text as the tokenizer writes it (`<api_3>(…)<api_end>`) → the grammar's text."""
    return _TOKEN.sub(lambda m: END_MARK if m.group(1) == "end" else mark(int(m.group(1))), text)


def _enumerate(values: list[Any]) -> str:
    return "(?:" + "|".join(re.escape(literal(v)) for v in values) + ")"


def value_pattern(schema: dict[str, Any]) -> str:
    """The literals `render` may write for a value with this schema (and the obvious variants)."""
    if "enum" in schema:
        return _enumerate(list(schema["enum"]))
    kind = schema.get("type")
    if kind == "boolean":
        return "(?:True|False)"
    if kind == "integer":
        return integer_pattern(_bound(schema, "minimum", math.ceil), _bound(schema, "maximum", math.floor))
    if kind == "number":
        low = _bound(schema, "minimum", math.ceil)
        sign = "" if low is not None and low >= 0 else "-?"
        # As Python writes floats (`literal`): `0.5`, `3`, `1e-05`.
        return f"{sign}(?:0|[1-9][0-9]{{0,{_DIGITS - 1}}})(?:\\.[0-9]{{1,{_DIGITS + 1}}})?(?:e[-+][0-9]{{2,3}})?"
    if kind == "string":
        body = surface_pattern(schema) or schema.get("pattern")
        if body:
            body = body.removeprefix("^").removesuffix("$")
        elif schema.get("format") == "email":
            body = EMAIL
        if body:
            return f"(?:' ?(?:{body})')"
        # No "<" or newline: a value is one line of words; inside '…' an apostrophe between letters ("I'm").
        return (f"""(?:'(?:[^'\\\\\\n<]|{_APOSTROPHE}){{0,{VALUE_CHARS}}}'"""
                f"""|"[^"\\\\\\n<]{{0,{VALUE_CHARS}}}")""")
    return f"[^;<\ue000-\uf8ff]{{0,{VALUE_CHARS}}}?"  # arrays, objects, untyped: left to validation


def _bound(schema: dict[str, Any], key: str, to_int: Any) -> int | None:
    return to_int(schema[key]) if isinstance(schema.get(key), int | float) else None


def integer_pattern(low: int | None, high: int | None) -> str:
    """Integers in [low, high] (None: that side open, up to ±2**53), written without leading zeros.

    A range, not `-?\\d+`: `timeout=00` under `minimum: 1` must be impossible, not left to validation.
    """
    low = -LARGEST_NUMBER if low is None else max(low, -LARGEST_NUMBER)
    high = LARGEST_NUMBER if high is None else min(high, LARGEST_NUMBER)
    parts = []
    if low < 0 and high >= low:
        parts.append("-" + _naturals(max(1, -high), -low))
    if high >= 0 and high >= low:
        parts.append(_naturals(max(0, low), high))
    return "(?:" + ("|".join(parts) or "(?!)") + ")"


def _naturals(low: int, high: int) -> str:
    """0 <= low <= high, by number of digits."""
    parts = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        a, b = max(low, 10 ** (digits - 1) if digits > 1 else 0), min(high, 10**digits - 1)
        if a <= b:
            parts.append(_same_length(str(a), str(b)))
    return "(?:" + "|".join(parts) + ")"


def _same_length(a: str, b: str) -> str:
    """Digit strings from a to b (equal length): the classic split into prefix + [x-y] + [0-9]{k} pieces
    (not `\\d`, which in `regex` matches every script's digits: "8๐" had been a number)."""
    if a == b:
        return a
    rest = len(a) - 1
    if a[1:] == "0" * rest and b[1:] == "9" * rest:
        return f"[{a[0]}-{b[0]}]" + (f"[0-9]{{{rest}}}" if rest else "")
    if a[0] == b[0]:
        return a[0] + "(?:" + _same_length(a[1:], b[1:]) + ")"
    parts = [a[0] + "(?:" + _same_length(a[1:], "9" * rest) + ")"]
    if int(b[0]) - int(a[0]) > 1:
        parts.append(f"[{int(a[0]) + 1}-{int(b[0]) - 1}][0-9]{{{rest}}}")
    parts.append(b[0] + "(?:" + _same_length("0" * rest, b[1:]) + ")")
    return "(?:" + "|".join(parts) + ")"


def value_chars(schema: dict[str, Any]) -> int:
    """The most characters `value_pattern` lets a value take."""
    if "enum" in schema:
        return max(len(literal(v)) for v in schema["enum"])
    if schema.get("type") == "string" and (schema.get("pattern") or schema.get("format") == "email"):
        body = surface_pattern(schema) or schema.get("pattern") or EMAIL
        return sre_parse.parse(body.removeprefix("^").removesuffix("$")).getwidth()[1] + 3
    return {"boolean": 5, "integer": _DIGITS + 1, "number": 2 * _DIGITS + 8}.get(schema.get("type"),
                                                                                  VALUE_CHARS + 3)


def budget(functions: list[Function]) -> int:
    """Tokens that always suffice for a complete answer under the grammar (each adds >= 1 character):
    `MAX_CALLS` of the longest call with every argument at its longest (`<api_i> (`, `)`, and `, name=`
    per argument), the ` ; ` between calls, `<api_end>`."""
    longest = max((4 + sum(len(name) + 3 + value_chars(s) for name, s in f.properties.items()) for f in functions),
                  default=0)
    return MAX_CALLS * (longest + 3) + 1


def function_pattern(fn: Function) -> str:
    """`<api_i>(a=…, b=…)` with the arguments in property order, optional ones skippable."""
    args = [(name, f"{name}={value_pattern(schema)}", name in fn.required) for name, schema in fn.properties.items()]

    def after(k: int) -> str:  # arguments from k on, each preceded by a comma
        return "".join(f"(?:, ?{a})" + ("" if req else "?") for _, a, req in args[k:])

    def first(k: int) -> str:  # arguments from k on, the first one without a comma
        if k == len(args):
            return ""
        _, a, req = args[k]
        return a + after(k + 1) if req else f"(?:{a}{after(k + 1)}|{first(k + 1)})"

    return mark(fn.index) + r" ?\(" + first(0) + r"\)"


def _placeholder(schema: dict[str, Any]) -> str:
    """A value literal of the schema's type, written as `render` would."""
    if "enum" in schema:
        return literal(schema["enum"][0])
    return {"integer": "1", "number": "1.0", "boolean": "True"}.get(schema.get("type", ""), literal("x"))


def answer_pattern(functions: list[Function]) -> str:
    call = "(?:" + "|".join(function_pattern(fn) for fn in functions) + ")"
    return f"(?:{call}(?: ?; ?{call}){{0,{MAX_CALLS - 1}}})?{END_MARK}"


@cache
def token_texts(tok: PreTrainedTokenizerFast) -> tuple[list[str | None], list[int]]:
    """Each token's text as it extends an answer (None for tokens an answer never contains: control
    tokens, bytes outside ASCII, empty pieces and pieces with private-use characters, which the
    grammar keeps for functional tokens), and the tokens that can end a value (their text starts with
    a quote). Functional tokens read as their `mark`. Once per tokenizer: every spec's grammar shares them."""
    texts: list[str | None] = []
    control = {tok.bos_token, tok.eos_token, tok.unk_token, tok.pad_token, ROUND_START, ROUND_END}
    control |= {t.content for t in tok.added_tokens_decoder.values() if not _TOKEN.fullmatch(t.content)}
    text_of = _byte_level_text if _is_byte_level(tok) else _sentencepiece_text
    for piece in tok.convert_ids_to_tokens(list(range(len(tok)))):
        if piece is None or piece in control:
            texts.append(None)
        elif token := _TOKEN.fullmatch(piece):
            index = token.group(1)
            fits = index == "end" or _MARK_BASE + int(index) <= _MARK_LAST
            texts.append(readable_to_marked(piece) if fits else None)
        else:
            text = text_of(piece)
            texts.append(text if text and not _PRIVATE.search(text) else None)
    return texts, [t for t, piece in enumerate(texts) if piece and piece[0] in "'\""]


def _is_byte_level(tok: PreTrainedTokenizerFast) -> bool:
    """GPT-2-style byte-level BPE (SmolLM2, Llama 3, Qwen): pieces spell bytes as printable characters."""
    return type(tok.backend_tokenizer.decoder).__name__ == "ByteLevel"


def _sentencepiece_text(piece: str) -> str | None:
    byte = _BYTE.fullmatch(piece)
    if byte:
        code = int(byte.group(1), 16)
        return chr(code) if 32 <= code < 127 else None
    return piece.replace("\u2581", " ")


@cache
def _tokens_by_first(tok: PreTrainedTokenizerFast) -> dict[str, list[int]]:
    """Token ids by the first character of their text in an answer."""
    out: dict[str, list[int]] = {}
    for token, piece in enumerate(token_texts(tok)[0]):
        if piece:
            out.setdefault(piece[0], []).append(token)
    return out


def _cased(piece: str) -> set[str]:
    """The piece as typed, in lower and upper case, and capitalised: "use spotify" may be written `Spotify`."""
    lead = len(piece) - len(piece.lstrip())
    return {piece, piece.lower(), piece.upper(), piece[:lead] + piece[lead:lead + 1].upper() + piece[lead + 1:]}


@cache
def _tokens_by_text(tok: PreTrainedTokenizerFast) -> tuple[dict[str, list[int]], dict[tuple[str, str], list[int]], int]:
    """Token ids by their text in an answer; those that close a value after some text (`!')`), by that text
    and the quote they close with; and the longest text (at most `SPAN_PIECE` characters)."""
    whole: dict[str, list[int]] = {}
    closing: dict[tuple[str, str], list[int]] = {}
    for token, piece in enumerate(token_texts(tok)[0]):
        if piece and len(piece) <= SPAN_PIECE:
            whole.setdefault(piece, []).append(token)
            head, *quote = re.split("(['\"])", piece, maxsplit=1)
            if head and quote:
                closing.setdefault((head, quote[0]), []).append(token)
    return whole, closing, max(map(len, whole))


@cache
def _byte_decoder() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def _byte_level_text(piece: str) -> str | None:
    """The piece's bytes as text; None for a piece that is not whole UTF-8 (part of a character)."""
    decoder = _byte_decoder()
    try:
        return bytes(decoder[c] for c in piece).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


def typed_pattern(schema: dict[str, Any]) -> str | None:
    """For an e-mail address or a phone number, what finds one in a query; None for other values."""
    if schema.get("type") != "string" or "enum" in schema:
        return None
    found = kind_of(schema)
    if found is not None:
        return PHONE if found[0].name == "phone" else None  # the user's digits, grouped as typed
    return EMAIL if schema.get("format") == "email" and "pattern" not in schema else None


class CallGrammar:
    """Token choice under the answer grammar of one spec."""

    def __init__(self, functions: list[Function], tok: PreTrainedTokenizerFast) -> None:
        self.pattern = regex.compile(answer_pattern(functions))
        self.tok = tok
        self.pieces, closers = token_texts(tok)
        # A value ends only at the quote that opened it: inside 'loved the pics!' the SmolLM2 token `!")` is three
        # more characters, not its end, and a value that took it as one was no span any more (the grammar alone
        # then wrote `")()()…` to the length limit).
        self.closers = {quote: [t for t in closers if self.pieces[t][0] == quote] for quote in "'\""}
        self.free_text = {(f.index, name) for f in functions for name, s in f.properties.items() if is_free_text(s)}
        # Addresses and numbers are typed, never worded: when the query holds any, the value is one of them.
        self.typed = {(f.index, name): pattern for f in functions for name, s in f.properties.items()
                      if isinstance(s, dict) and (pattern := typed_pattern(s))}
        # Times, dates and languages, written as the user said them: when the query says any, one of those.
        self.spoken = {(f.index, name): pattern for f in functions for name, s in f.properties.items()
                       if isinstance(s, dict) and (f.index, name) not in self.typed and (pattern := words_pattern(s))}
        self._found: tuple[str | None, dict[str, list[str]]] = (None, {})
        # Per functional token (its mark), how to find its required typed and spoken values in a query: for `offered`.
        finders = {key: (self.typed_values, pattern) for key, pattern in self.typed.items()} | {
            key: (self.spoken_values, pattern) for key, pattern in self.spoken.items()}
        self.needs = {mark(f.index): needed for f in functions
                      if (needed := [finders[f.index, n] for n in f.required if (f.index, n) in finders])}
        self.functions = {f.index: f for f in functions}
        self._names = {f.index: self._name_tokens(f) for f in functions}

    def _name_tokens(self, fn: Function) -> list[list[int]]:
        """For each argument, the tokens that lead up to its value as training tokenized them: `▁( contact _
        name` for the first, `▁message` after the previous value's closing `',`; the `='`/`=` token too
        unless the value is free text (which may be quoted with `"`)."""
        text = functional_token(fn.index) + "(" + ", ".join(
            f"{name}={_placeholder(schema)}" for name, schema in fn.properties.items()) + ")"
        ids = self.tok(text, add_special_tokens=False).input_ids
        pieces = self.tok.convert_ids_to_tokens(ids)
        out, start, names = [], 1, list(fn.properties)
        for i, piece in enumerate(pieces):
            if piece.startswith("=") and len(out) < len(names):
                out.append(ids[start:i + ((fn.index, names[len(out)]) not in self.free_text)])
            elif piece.endswith(","):
                start = i + 1
        return out if len(out) == len(fn.properties) else []

    def forced(self, text: str) -> list[int]:
        """Tokens the answer must continue with after `text` — the argument name that comes next when it
        is required — so the decoder can feed them in one forward pass instead of one step each."""
        call = _LAST_CALL.search(text)
        if call is None:
            return []
        fn = self.functions.get(ord(call.group(1)) - _MARK_BASE)
        names = self._names.get(fn.index, []) if fn else []
        rest = _STRING.sub("", text[call.end():])  # values out of the way; a "," can then only part arguments
        if not names or "'" in rest or '"' in rest or not (rest == "" or rest.endswith(",")):  # or inside a value
            return []
        said = re.findall(r"(\w+)=", rest)
        k = list(fn.properties).index(said[-1]) + 1 if said else 0
        if k >= len(names) or list(fn.properties)[k] not in fn.required:
            return []
        ids = names[k]
        return ids if self.fits(text + "".join(self.pieces[t] or "" for t in ids)) else []

    def allows(self, text: str) -> bool:
        """Whether answer text as the tokenizer writes it (`<api_2> (location=' Oslo'`) can still become
        a valid answer."""
        return self.fits(readable_to_marked(text))

    def fits(self, text: str) -> bool:
        """Whether the grammar's text (functional tokens as marks) is a prefix of a valid answer."""
        try:
            return self.pattern.fullmatch(text, partial=True, timeout=MATCH_TIMEOUT) is not None
        except TimeoutError:
            return False

    @staticmethod
    def in_value(text: str) -> bool:
        """Whether the answer `text` ends inside a quoted value (where its tokens are the query's)."""
        return (last := last_value(text)) is not None and last[3]

    def typed_values(self, query: str, pattern: str) -> list[str]:
        """The query's e-mail addresses or phone numbers (`pattern` finds them), as typed."""
        return self._in_query(query, pattern, lambda: [m.group(0) for m in re.finditer(
            rf"(?<![\w@+.\-])(?:{pattern})(?![\w@\-])", query)])

    def spoken_values(self, query: str, pattern: str) -> list[str]:
        """The query's times, dates or languages (`pattern`, a kind's words), each run of words that is one."""
        return self._in_query(query, pattern, lambda: word_spans(query, pattern))

    def _in_query(self, query: str, pattern: str, find: Callable[[], list[str]]) -> list[str]:
        """`find()` for this query and pattern, once per query: a value asks again at every token."""
        if self._found[0] != query:
            self._found = (query, {})
        found = self._found[1]
        if pattern not in found:
            found[pattern] = find()
        return found[pattern]

    def offered(self, piece: str, query: str | None) -> bool:
        """False for the functional token of a function that needs an e-mail address, a phone number, a time or
        a date when the query says none: the model would have to make one up (it did:
        create_contact(phone_number='+71717171717171') for 'let Noa know...', set_timer_alarm(time='00:00') for
        "set a reminder to buy eggs", and an alarm for "connect to Honda Accord and give it a minute")."""
        needed = self.needs.get(piece)
        return query is None or needed is None or all(find(query, pattern) for find, pattern in needed)

    @staticmethod
    def types(opened: str, piece: str, values: list[str]) -> bool:
        """False when the open value `opened`, with `piece` after it, is not on its way to one of `values`
        (or, if the piece closes it — `'`, `')`, `');` —, is not one of them)."""
        value, closes, _ = (opened + piece).partition("'")
        return any(v == value.lstrip() if closes else v.startswith(value.lstrip()) for v in values)

    def typed_tokens(self, opened: str, typed: list[str]) -> list[int]:
        """Tokens that may take the open value `opened` on towards one of `typed`, or close it at one: those
        whose text starts with the next character (a query's own tokens can dead-end: `▁(` is one, `(` is
        needed after `+1 `)."""
        value = opened.lstrip()
        nexts = {v[len(value)] for v in typed if v.startswith(value) and len(v) > len(value)}
        nexts |= {"'"} if value in typed else set()
        nexts |= {" "} if not opened else set()
        by_first = _tokens_by_first(self.tok)
        return [t for c in nexts for t in by_first.get(c, [])]

    def closing(self, text: str) -> list[int]:
        """The tokens that close the value `text` ends in: those that begin with the quote that opened it."""
        last = last_value(text)
        return self.closers[_opening_quote(text, last[2])] if last is not None and last[3] else []

    @staticmethod
    def is_span(value: str, query: str) -> bool:
        """Whether the free-text `value` (after the format's space) begins at a word of the query, case aside."""
        value = value.lstrip().lower()
        return any(query[i:i + len(value)].lower() == value for i in _word_starts(query))

    def span_tokens(self, opened: str, query: str, quote: str = "'") -> list[int]:
        """Tokens that take the open free-text value `opened` on as a span of the query (case aside) or close
        it where a span ends: at each place where the value so far starts a word of the query, any token whose
        text comes next there (not only the query's own tokens: "Friday!" of "Friday!, thanks", whose `!,` is
        one token) and any that closes the value (opened with `quote`) after such text (`!')`). Nothing when the
        value is no span."""
        by_text, by_head, longest = _tokens_by_text(self.tok)
        value = opened.lstrip()  # the format's space, then the user's words
        if opened:
            rests = [query[i + len(value):] for i in _word_starts(query)
                     if query[i:i + len(value)].lower() == value.lower()]
        else:
            rests = [" " + query[i:] for i in _word_starts(query)]
        ids: set[int] = set()
        for rest in rests:
            if value and not _WORD.match(rest[:1]):  # the value may end here
                ids.update(self.closers[quote])
            for end in range(1, min(len(rest), longest) + 1):
                for piece in _cased(rest[:end]):
                    ids.update(by_text.get(piece, ()))
                    if not _WORD.match(rest[end:end + 1]):
                        ids.update(by_head.get((piece, quote), ()))
        return sorted(ids)

    def choose(self, text: str, logits: torch.Tensor, query: str | None = None, copy: bool = False) -> int | None:
        """The most likely token that keeps `text` a prefix of a valid answer. Given the `query`, inside an
        e-mail address or phone number the most likely one that keeps the value one of the query's (where
        it has any), and with `copy` inside a free-text value one that keeps it a span of the query; when
        none does, the grammar alone decides. None when no token of the vocabulary continues the answer."""
        pieces = self.pieces

        # A functional token inside a quoted value would be read as the start of a call (a string's
        # pattern — the user's, or the e-mail one — may admit the mark's character): never there.
        in_value = (last := last_value(text)) is not None and last[3]

        def valid(ids: list[int], keep: Callable[[str], bool] | None) -> int | None:
            for token in ids:
                piece = pieces[token] if token < len(pieces) else None
                if piece is None or (in_value and _PRIVATE.fullmatch(piece)) or not self.offered(piece, query):
                    continue
                if self.fits(text + piece) and (keep is None or keep(text + piece)):
                    return token
            return None

        key = last[:2] if query is not None and in_value else None
        typed = (self.typed_values(query, self.typed[key]) if key in self.typed
                 else self.spoken_values(query, self.spoken[key]) if key in self.spoken else [])
        if typed or (copy and key in self.free_text):
            opened = last[2] if last is not None else ""
            ids = (self.typed_tokens(opened, typed) if typed
                   else self.span_tokens(opened, query, _opening_quote(text, opened)))
            ranked = [ids[i] for i in logits[ids].argsort(descending=True).tolist()]

            def keep(new: str) -> bool:
                return self.types(opened, new[len(text):], typed)

            if (token := valid(ranked, keep if typed else None)) is not None:
                return token
        # A copied value just closed by a bare quote could also go on through it as an apostrophe ("I'm"): it
        # does so only as a span of the query ("… take a look" + "'" + "_=" had made a title no one said).
        spans = None
        if copy and query is not None and last is not None and not in_value and last[:2] in self.free_text \
                and text.endswith(("'", '"')):
            def spans(new: str) -> bool:
                value = last_value(new)
                return value is None or not value[3] or self.is_span(value[2], query)

        # Most answers take one of the few likeliest tokens: a top-k costs a fraction of sorting the whole
        # vocabulary (5 ms at 49K entries, as long as the model's forward pass for one token).
        if (token := valid(logits.topk(min(TOP_K, len(logits))).indices.tolist(), spans)) is not None:
            return token
        order = logits.argsort(descending=True).tolist()
        for ids in (order[TOP_K:32 * TOP_K], order[32 * TOP_K:]):  # checks cost ~10 µs each
            if (token := valid(ids, spans)) is not None:
                return token
        return None


def _word_starts(query: str) -> list[int]:
    """Where a span of the query may start: a character that is no space, after no word character."""
    return [i for i, c in enumerate(query) if not c.isspace() and (i == 0 or not _WORD.match(query[i - 1]))]


def calls_opened(text: str) -> int:
    """How many calls the answer `text` (the grammar's text) has begun."""
    return len(re.findall(_MARKS, text))


def _opening_quote(text: str, value: str) -> str:
    """The quote that opened `value`, the still open value `text` ends in (as `last_value` reads it)."""
    return text[len(text) - len(value) - 1]


def last_value(text: str) -> tuple[int, str, str, bool] | None:
    """(function index, argument, value, still open) of the string value that `text` (a valid answer
    prefix) ends in or has just closed (with at most the `,`/`)` after it); None when it ends elsewhere."""
    fn, pos = -1, 0
    while match := _CALL_OR_VALUE.search(text, pos):
        if match.group(1):
            fn, pos = ord(match.group(1)) - _MARK_BASE, match.end()
            continue
        close = found.start() if (found := _CLOSING[match.group(3)].search(text, match.end())) else -1
        if close < 0:
            return fn, match.group(2), text[match.end():], True
        pos = close + 1
        if len(text) - pos <= 1:
            return fn, match.group(2), text[match.end():close], False
    return None
