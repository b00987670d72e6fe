"""Command configs are dataclasses; this module turns them into command-line flags.

Each field becomes `--field-name`, its type decides parsing (Literal → choices, bool → --x/--no-x),
and its `help` metadata becomes the `--help` text, so a command's options are documented in exactly
one place: the dataclass that its `run(cfg)` receives. Tests build configs directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from hare.errors import HareError, first_line

T = TypeVar("T")
# What torch.manual_seed (and torch.Generator.manual_seed) accepts; outside it torch fails with a bare
# "Overflow when unpacking long long".
TORCH_SEEDS = (-0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF)


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


# --- the checks configs share: one wording, and nan, inf and huge integers handled once ------------------


def shown(value: Any) -> str:
    """`repr(value)`, cut short: a 400-digit override stays readable inside a one-line error."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}… ({len(text)} characters)"


def check_range(name: str, value: float, low: float = -math.inf, high: float = math.inf, *,
                above: bool = False, below: bool = False, fix: str = "") -> None:
    """Refuse a number that is not finite or lies outside [low, high] (`above`/`below`: excluding the bound).

    One rule for every numeric setting because a plain `value < low` lets nan through (every comparison
    with nan is false), and an inf or nan temperature or learning rate only surfaces later, as a traceback
    deep in torch or as nan losses after hours of training."""
    finite = not isinstance(value, float) or math.isfinite(value)
    if finite and (low < value if above else low <= value) and (value < high if below else value <= high):
        return
    if low > -math.inf and high < math.inf:
        rule = f"in {'(' if above else '['}{_bound(low)}, {_bound(high)}{')' if below else ']'}"
    elif low > -math.inf:
        rule = f"{'greater than' if above else 'at least'} {_bound(low)}"
    elif high < math.inf:
        rule = f"{'less than' if below else 'at most'} {_bound(high)}"
    else:
        rule = "a finite number"
    if not finite and rule != "a finite number":
        rule = f"finite and {rule}"
    raise HareError(f"{name} must be {rule}, got {shown(value)}{'; ' + fix if fix else ''}")


def check_workers(value: int) -> None:
    """--workers: each is a process, so 10**20 of them had the command spawn until the machine gave out."""
    check_range("--workers", value, 1, 256, fix="one a core is enough")


def check_share(name: str, value: float, high: float = 0.5) -> None:
    """A held-out share, taken as every round(1/x)-th item: 0, or one in a million up to `high` (1e-310 made
    1/x overflow)."""
    check_range(name, value, 0, high, fix="0 holds out nothing")
    if 0 < value < 1e-6:
        raise HareError(f"{name} must be 0 or at least 1e-06 (one in a million), got {shown(value)}")


def _bound(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_seed(name: str, seed: int | None) -> None:
    """A seed that torch can take (None: no seed), refused here with the range rather than by torch."""
    if seed is not None:
        check_range(name, seed, *TORCH_SEEDS, fix="that is what torch's random generator accepts")


def validate_config(cfg: Any) -> None:
    """Run the `validate()` of every section nested in the dataclass `cfg`, then `cfg`'s own.

    `load_config` calls it, so a bad value is refused as the config is read: before a command reads its
    data, loads a model or writes into its output directory."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate_config(value)
    check = getattr(cfg, "validate", None)
    if callable(check):
        check()


# --- nested configs: YAML file → dotted `key=value` overrides → validated dataclass -----------------


def _number(value: Any, kind: str) -> float:
    """`value` as a float, or a ValueError in the config's words (Python's "could not convert string to float"
    named no setting a user knows)."""
    if isinstance(value, dict | list):
        raise ValueError(f"expected {kind}, not a {'section' if isinstance(value, dict) else 'list'}")
    try:
        return float(value)  # YAML reads 1e999 as a string, which float() makes inf
    except OverflowError:  # an integer too long for a float
        return math.inf
    except ValueError:
        raise ValueError(f"expected {kind}") from None


def _coerce(value: Any, tp: Any, key: str) -> Any:
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
            if isinstance(value, dict):
                raise ValueError("expected a list like [a, b]")
            inner = get_args(tp)[0]  # one value alone is a list of one (a string was a list of its characters)
            items = [_coerce(v, inner, key) for v in (value if isinstance(value, list | tuple) else [value])]
            return tuple(items) if origin is tuple else items
        if tp is bool:
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value  # exactly, however long: float() would overflow past 1.8e308
            number = _number(value, "an integer")
            if isinstance(value, bool) or not number.is_integer():
                raise ValueError("expected an integer")
            return int(number)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            number = _number(value, "a number")
            if not math.isfinite(number):
                raise ValueError("expected a finite number")
            return number
        if tp is str and isinstance(value, dict | list):  # str() had made `out=[1,2]` a folder named "[1, 2]"
            raise ValueError("expected text; quote it if the brackets are part of it")
        return tp(value)
    except (TypeError, ValueError) as err:
        raise HareError(f"config key '{key}' has bad value {shown(value)}: {err}") from None


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build a (nested) dataclass from plain data, naming any unknown or ill-typed key."""
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
    """YAML file (optional) with `a.b=value` overrides applied on top; values are parsed as YAML.
    The result is validated (`validate_config`)."""
    import yaml

    from hare.io.read import read_yaml

    data: dict[str, Any] = read_yaml(path, "config file", "check --config") if path else {}
    if data is None:  # an empty --config had silently meant "the defaults"
        raise HareError(f"config file '{path}' is empty; write the sections to change (e.g. train: {{max_steps: "
                        "100}) or leave out --config")
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
        try:
            node[leaf] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as err:
            why = getattr(err, "problem", None) or first_line(err)
            raise HareError(f"override '{key}' has a value that is not YAML, {shown(raw)} ({why}); write a number, "
                            "true/false, a list like [1, 2], or quoted text") from None
    cfg = from_dict(cls, data)
    validate_config(cfg)
    return cfg


def to_yaml(cfg: Any) -> str:
    import yaml

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return yaml.safe_dump(plain(dataclasses.asdict(cfg)), sort_keys=False)
