"""Reading user files: text, JSON, YAML and JSON lines, each failure one `HareError` naming file, line and fix.

A user's file can be missing, a directory, not UTF-8, not JSON, or a `.gz` cut short by an
interrupted download; Python answers each with a different exception and a traceback. Every
command reads through these functions instead, so each of those is one line and exit code 2.
JSON-lines files ending in `.gz` are decompressed on the fly; blank lines are skipped.
"""

from __future__ import annotations

import functools
import gzip
import json
import sys
import zlib
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import IO, Any

from hare.errors import HareError, first_line


def check_file(path: Path, what: str, fix: str) -> None:
    if not path.is_file():
        state = ("is a directory" if path.is_dir() else "is not a regular file (a device or a pipe)"
                 if path.exists() else "does not exist")
        raise HareError(f"{what} '{path}' {state}; {fix}")


def read_text(path: str | Path, what: str = "file", fix: str = "check the path") -> str:
    """The whole UTF-8 text of `path`; `what` names the file in errors ("mixture file"), `fix` says what to do."""
    path = Path(path)
    check_file(path, what, fix)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise HareError(f"{what} '{path}' is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise HareError(f"cannot read {what} '{path}' ({err.strerror or err}); {fix}") from None


def _parse(path: str | Path, what: str, fix: str, language: str, parse: Callable[[str], Any],
           error: type[Exception]) -> Any:
    text = read_text(path, what, fix)
    try:
        return encodable(parse(text))
    except error as err:
        mark = getattr(err, "problem_mark", None)  # YAML's: what it found and where ("found character '\\t'…")
        why = f"{err.problem}, line {mark.line + 1}" if mark and getattr(err, "problem", None) else first_line(err)
        raise HareError(f"{what} '{path}' is not valid {language} ({why}); {fix}") from None
    except RecursionError:
        raise HareError(f"{what} '{path}' nests deeper than a parser goes; {fix}") from None
    except ValueError as err:  # encodable's: a JSON escape wrote a lone surrogate
        raise HareError(f"{what} '{path}' {err}; {fix}") from None


def read_json(path: str | Path, what: str = "file", fix: str = "check the path") -> Any:
    return _parse(path, what, fix, "JSON", json.loads, ValueError)


def read_yaml(path: str | Path, what: str = "file", fix: str = "check the path") -> Any:
    import yaml

    return _parse(path, what, fix, "YAML", lambda text: yaml.load(text, _unique_keys_loader()), yaml.YAMLError)


@functools.cache
def _unique_keys_loader() -> type:
    """PyYAML's safe loader, refusing a key said twice in one mapping: it kept the last silently, so a second
    `train:` section dropped the first one whole."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    continue  # PyYAML itself refuses an unhashable key, with its own message
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping (line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeys


def read_stdin(what: str) -> str:
    """All of stdin as UTF-8 text (`--prompt -`); decoded here, since Python's own decoding of stdin
    depends on the locale and may pass undecodable bytes on as surrogates that fail much later."""
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise HareError(f"{what} on stdin is not UTF-8 text (byte {err.start}); pipe UTF-8 text") from None


def _surrogate_at(text: str) -> int | None:
    """Where `text` holds a lone UTF-16 surrogate (the one kind of str that is not text), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def encodable(value: Any) -> Any:
    """`value`, refusing lone surrogates anywhere in it (strings, and inside lists and objects, walked without
    recursion: JSON may nest a thousand levels deep). JSON's escapes can write one ("\\ud800"), and no tokenizer
    takes it, so every JSON reader (files, the API's bodies) checks here."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:  # YAML's aliases can make a list hold itself
                continue
            seen.add(id(item))
            stack += [*item.keys(), *item.values()] if isinstance(item, dict) else item
        elif isinstance(item, str) and _surrogate_at(item) is not None:
            raise ValueError("contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text")
    return value


def utf8_text(text: str, what: str, fix: str = "type or pass UTF-8") -> str:
    """`text`, if it is text: bytes that are not UTF-8 reach Python from argv or a terminal as lone surrogates
    (surrogateescape), and JSON's escapes can write one ("\\ud800"); no tokenizer takes them, so one line
    naming where they came from instead."""
    at = _surrogate_at(text)
    if at is not None:
        raise HareError(f"{what} is not UTF-8 text (a lone UTF-16 surrogate at character {at}); {fix}")
    return text


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without its newline) of each non-blank line of a JSON-lines file (.gz too)."""
    path = Path(path)
    check_file(path, "JSON-lines file", "check the path")
    opened: IO[bytes] = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # type: ignore[assignment]
    try:
        with opened as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield number, line.rstrip(b"\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise HareError(f"'{path}' is a truncated or corrupt gzip file ({first_line(err)}); "
                        "write or download it again") from None
    except OSError as err:
        raise HareError(f"cannot read '{path}' ({err.strerror or err}); check the file") from None


def parse_line(path: str | Path, number: int, line: bytes) -> dict[str, Any]:
    """One JSON-lines line as an object; a line that is not UTF-8, not JSON or not an object names file and line."""
    try:
        record = json.loads(line.decode("utf-8"))
    except RecursionError:
        raise HareError(f"'{path}' line {number} nests deeper than a parser goes; fix or remove that line") from None
    except UnicodeDecodeError as err:
        raise HareError(f"'{path}' line {number} is not UTF-8 text (byte {err.start}); save the file as UTF-8") \
            from None
    except ValueError as err:
        raise HareError(f"'{path}' line {number} is not valid JSON ({err}); fix or remove that line") from None
    try:
        encodable(record)  # JSON's escapes can write a lone surrogate, which no tokenizer takes
    except ValueError as err:
        raise HareError(f"'{path}' line {number} {err}; fix or remove that line") from None
    if not isinstance(record, dict):
        raise HareError(f"'{path}' line {number} is not a JSON object; write one object per line")
    return record


def read_jsonl(path: str | Path) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """(line number, raw line, object) of each non-blank line; the one JSON-lines reader of HARE."""
    for number, line in jsonl_lines(path):
        yield number, line, parse_line(path, number, line)
