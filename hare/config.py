"""Command configs are dataclasses; this module turns them into command-line flags.

Each field becomes `--field-name`, its type decides parsing (Literal → choices, bool → --x/--no-x),
and its `help` metadata becomes the `--help` text, so a command's options are documented in exactly
one place: the dataclass that its `run(cfg)` receives. Tests build configs directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:  # noqa: A002
    """A dataclass field with `--help` text; no default makes the flag required."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per field of the dataclass `cls` to `parser`."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _unwrap_optional(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        kwargs: dict[str, Any] = {"dest": f.name, "help": f.metadata.get("help", "")}
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            kwargs["default"] = default
            if default is not None and tp is not bool:
                kwargs["help"] += f" (default: {default})"
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(tp) is Literal:
            kwargs["choices"] = list(get_args(tp))
            kwargs["type"] = type(get_args(tp)[0])
        elif get_origin(tp) is list:
            kwargs["nargs"] = "+"
            kwargs["type"] = get_args(tp)[0]
        else:
            kwargs["type"] = tp
        parser.add_argument(flag, **kwargs)


def from_namespace(cls: type[T], ns: argparse.Namespace) -> T:
    """Build the dataclass `cls` from parsed arguments."""
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)})
