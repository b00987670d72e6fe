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


def positional(help: str) -> Any:  # noqa: A002
    """A list field filled from the remaining positional words (e.g. `key=value` overrides)."""
    return dataclasses.field(default_factory=list, metadata={"help": help, "positional": True})


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
        if f.metadata.get("positional"):
            parser.add_argument(f.name, nargs="*", default=f.default_factory(), help=kwargs["help"])  # type: ignore[misc]
            continue
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


# --- nested configs: YAML file → dotted `key=value` overrides → validated dataclass -----------------


def _coerce(value: Any, tp: Any, key: str) -> Any:
    from hare.errors import HareError

    tp = _unwrap_optional(tp)
    if value is None:
        return None
    origin = get_origin(tp)
    try:
        if origin is Literal:
            if value not in get_args(tp):
                raise ValueError(f"choose one of {', '.join(map(str, get_args(tp)))}")
            return value
        if origin in (tuple, list):
            inner = get_args(tp)[0]
            items = [_coerce(v, inner, key) for v in value]
            return tuple(items) if origin is tuple else items
        if tp is bool:
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if tp is int:
            number = float(value)
            if isinstance(value, bool) or not number.is_integer():
                raise ValueError("expected an integer")
            return int(number)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        return tp(value)
    except (TypeError, ValueError) as err:
        raise HareError(f"config key '{key}' has bad value {value!r}: {err}") from None


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build a (nested) dataclass from plain data, naming any unknown or ill-typed key."""
    from hare.errors import HareError

    if not isinstance(data, dict):
        raise HareError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            where = f" in '{prefix.rstrip('.')}'" if prefix else ""
            raise HareError(f"unknown config key '{prefix}{key}'; valid keys{where}: {', '.join(names)}")
        tp = _unwrap_optional(hints[key])
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {}, f"{prefix}{key}.")  # type: ignore[arg-type]
        else:
            kwargs[key] = _coerce(value, tp, prefix + key)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise HareError(f"config{' section ' + prefix.rstrip('.') if prefix else ''} is incomplete: {err}") from None


def load_config(cls: type[T], path: str | None, overrides: list[str]) -> T:
    """YAML file (optional) with `a.b=value` overrides applied on top; values are parsed as YAML."""
    import yaml

    from hare.errors import HareError
    from hare.io.read import read_yaml

    data: dict[str, Any] = (read_yaml(path, "config file", "check --config") or {}) if path else {}
    if not isinstance(data, dict):
        raise HareError(f"config file '{path}' must be a mapping of sections (e.g. train: {{max_steps: 100}})")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise HareError(f"override '{item}' must look like section.key=value (e.g. train.max_steps=100)")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise HareError(f"override '{item}': '{part}' is not a config section")
        node[leaf] = yaml.safe_load(raw) if raw else ""
    return from_dict(cls, data)


def to_yaml(cfg: Any) -> str:
    import yaml

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return yaml.safe_dump(plain(dataclasses.asdict(cfg)), sort_keys=False)
