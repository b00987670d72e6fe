"""Functions named by the task YAMLs (`!function lm_utils.…`), as lm-eval's own leaderboard tasks do them."""

from __future__ import annotations

import re
from typing import Any


def _clean(text: str) -> str:
    # HellaSwag's WikiHow items carry "[title]"-style artifacts; lm-eval strips them the same way.
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag_docs(dataset: Any) -> Any:
    """Query = "activity: context", choices = the cleaned endings, gold = int(label)."""

    def one(doc: dict[str, Any]) -> dict[str, Any]:
        if doc.get("ctx_a") is not None and doc.get("ctx_b") is not None:
            ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        else:
            ctx = doc["ctx"]
        label = doc.get("activity_label")
        return {"query": _clean(f"{label}: {ctx}" if label else ctx),
                "choices": [_clean(e) for e in doc["endings"]], "gold": int(doc["label"])}

    return dataset.map(one)


def winogrande_text(doc: dict[str, Any]) -> int:
    """Partial scoring: the *context* varies (option filled in), the continuation after "_" is scored."""
    return {"1": 0, "2": 1}[str(doc["answer"])]


def winogrande_target(doc: dict[str, Any]) -> str:
    return doc["sentence"][doc["sentence"].index("_") + 1:].strip()


def winogrande_choices(doc: dict[str, Any]) -> list[str]:
    head = doc["sentence"][: doc["sentence"].index("_")]
    return [head + doc["option1"], head + doc["option2"]]


def truthfulqa_mc2(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """MC2: the normalised probability mass on the true answers."""
    import numpy as np

    probs = np.exp(np.array([ll for ll, _ in results]))
    probs = probs / probs.sum()
    labels = np.array(doc["mc2_targets"]["labels"])
    return {"acc": float(probs[labels == 1].sum())}
