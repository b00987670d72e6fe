"""Strategy mixtures: which generator writes document i, drawn from normalised YAML weights.

A mixture file looks like `{strategies: {math: 0.3, textbook: 0.2, ...}}`; weights need not sum
to 1 (they are normalised) but must be finite non-negative numbers with a positive sum. The default
mixture ships inside the package (`hare/data/synth/hare-mix.yaml`).
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hare.config import shown
from hare.data.synth.common import Context
from hare.errors import HareError
from hare.io.read import read_yaml

DEFAULT_MIXTURE = Path(__file__).with_name("hare-mix.yaml")
# strategy → (module, generate function, templates attribute)
STRATEGIES: dict[str, tuple[str, str, str]] = {
    "math": ("arithmetic", "generate", "TEMPLATES"),
    "conversion": ("conversion", "generate", "TEMPLATES"),
    "logic": ("logic", "generate", "TEMPLATES"),
    "textbook": ("textbook", "generate", "TEMPLATES"),
    "nlp_tasks": ("nlp_tasks", "generate", "TEMPLATES"),
    "dialogue": ("chat", "generate_dialogue", "DIALOGUES"),
    "tool_use": ("chat", "generate_tool_use", "TOOL_TEMPLATES"),
    "teacher": ("teacher", "generate", "PROMPTS"),
}
Generator = Callable[[random.Random, Context], dict[str, Any]]


def _module(name: str) -> Any:
    return importlib.import_module(f"hare.data.synth.{STRATEGIES[name][0]}")


def generator(name: str) -> Generator:
    return getattr(_module(name), STRATEGIES[name][1])


def templates(name: str) -> list[str]:
    """The template ids a strategy can use (for coverage)."""
    return list(getattr(_module(name), STRATEGIES[name][2]))


@dataclass(frozen=True)
class Mixture:
    weights: dict[str, float]  # normalised, only strategies with weight > 0, in STRATEGIES order
    source: str

    def choose(self, rng: random.Random) -> str:
        names = list(self.weights)
        cumulative = list(itertools.accumulate(self.weights.values()))
        return names[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(names) - 1)]


def _finite_weight(weight: Any) -> bool:
    """A number >= 0 that is finite as a float (YAML's .inf and .nan are floats; a 400-digit int is no float)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        return False
    try:
        return math.isfinite(weight) and weight >= 0
    except OverflowError:
        return False


def parse_mixture(data: Any, source: str) -> Mixture:
    """Validate `{strategies: {name: weight}}` and normalise the weights."""
    valid = ", ".join(STRATEGIES)
    if not isinstance(data, dict) or not isinstance(data.get("strategies"), dict):
        raise HareError(f"mixture '{source}' must be a mapping 'strategies: {{name: weight}}' with names from: {valid}")
    raw = data["strategies"]
    for name, weight in raw.items():
        if name not in STRATEGIES:
            raise HareError(f"mixture '{source}' names unknown strategy '{name}'; valid strategies: {valid}")
        if not _finite_weight(weight):  # .inf normalised to nan: NaN weights in manifest.json, and exit 0
            raise HareError(f"mixture '{source}': weight of '{name}' must be a finite number >= 0, "
                            f"got {shown(weight)}")
    total = sum(raw.values())
    if not math.isfinite(total):
        raise HareError(f"mixture '{source}': the weights of {', '.join(raw)} sum past the largest float; "
                        "scale them down (only their ratios count)")
    if not total > 0:
        raise HareError(f"mixture '{source}': weights must sum to a positive number; give weight to some of: {valid}")
    weights = {name: round(raw[name] / total, 6) for name in STRATEGIES if raw.get(name, 0) > 0}
    return Mixture(weights, source)


def load_mixture(path: str | None) -> Mixture:
    """The mixture at `path`, or the built-in default when None."""
    file = Path(path).expanduser() if path else DEFAULT_MIXTURE
    source = str(path) if path else "hare-mix (built in)"
    return parse_mixture(read_yaml(file, "mixture file", "check --mixture"), source)
