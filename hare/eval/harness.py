"""`hare eval lm`: the Open LLM Leaderboard suite through lm-eval, printed as HARE's Markdown table.

MMLU 5-shot (acc), ARC-Challenge 25-shot (acc_norm), TruthfulQA 0-shot (mc2), Winogrande 5-shot (acc),
HellaSwag 10-shot (acc_norm) and GSM8K 5-shot (exact match, strict "#### n" filter) — the settings
of the HARE README. Scoring is lm-eval's own (`simple_evaluate` on an in-memory `HFLM`); HARE only
supplies task YAMLs (`hare/eval/tasks/`) that read local files, so evaluation runs offline.

Data: `--data-dir` holds one file per task in the dataset's usual schema (`mmlu.jsonl`,
`arc_challenge.jsonl`, `truthfulqa_mc.jsonl`, `winogrande.jsonl`, `hellaswag.jsonl`, `gsm8k.jsonl`;
`.json` or `.parquet` also work). Without it, the shipped tiny fixtures are used: a handful of
invented items per task, enough to check the pipeline, meaningless as scores. Few-shot examples are
drawn from the same file as the evaluated items (lm-eval never shows an item as its own example).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from hare.config import option, shown
from hare.errors import HareError, first_line
from hare.eval.report import average, format_size, markdown_table
from hare.io.read import read_json, read_jsonl
from hare.model.args import ModelArgs

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

TASK_DIR = Path(__file__).parent / "tasks"
FIXTURE_DIR = TASK_DIR / "fixtures"
SUFFIXES = (".jsonl", ".json", ".parquet")


class Task(NamedTuple):
    column: str  # header in the leaderboard table
    file: str  # data file stem; the shipped YAML is hare_<file>.yaml and the lm-eval task hare_<file>
    metric: str  # lm-eval result key "<metric>,<filter>"
    fields: tuple[str, ...]  # what every item needs (the task YAML's templates read them)

    @property
    def lm_name(self) -> str:
        return f"hare_{self.file}"


TASKS: dict[str, Task] = {
    "mmlu": Task("MMLU", "mmlu", "acc,none", ("question", "choices", "answer")),
    "arc": Task("ARC", "arc_challenge", "acc_norm,none", ("question", "choices", "answerKey")),
    # mc2: the YAML's process_results
    "truthfulqa": Task("TruthfulQA", "truthfulqa_mc", "acc,none", ("question", "mc2_targets")),
    "winogrande": Task("Winogrande", "winogrande", "acc,none", ("sentence", "option1", "option2", "answer")),
    "hellaswag": Task("HellaSwag", "hellaswag", "acc_norm,none", ("endings", "label")),
    "gsm8k": Task("GSM8K", "gsm8k", "exact_match,strict-match", ("question", "answer")),
}


@dataclass(kw_only=True)
class LmEvalConfig(ModelArgs):
    suite: Literal["leaderboard"] = option("leaderboard", "benchmark suite (the HARE README's six tasks)")
    tasks: list[str] | None = option(None, f"run only these tasks of the suite: {', '.join(TASKS)}")
    limit: int | None = option(None, "evaluate at most this many items per task (few-shot pool stays whole)")
    batch_size: int = option(8, "lm-eval batch size")
    data_dir: str | None = option(None, "folder with local task files (mmlu.jsonl, arc_challenge.jsonl, …); "
                                        "default: the shipped tiny fixtures")
    output: str | None = option(None, "also write the full results (scores and lm-eval's raw numbers) as JSON here")
    name: str | None = option(None, "the model's name in the table (default: its run directory, e.g. `chat` for "
                                    "runs/chat/final)")


def select_tasks(names: list[str] | None) -> list[str]:
    """The suite's task keys, in table order; unknown names are a user error."""
    if not names:
        return list(TASKS)
    unknown = [n for n in names if n.lower() not in TASKS]
    if unknown:
        raise HareError(f"unknown task {', '.join(repr(n) for n in unknown)}; choose from: {', '.join(TASKS)}")
    wanted = {n.lower() for n in names}
    return [n for n in TASKS if n in wanted]


def find_data(data_dir: str | None, names: list[str]) -> dict[str, Path]:
    """Task key → data file; every missing file is named in one error."""
    root = Path(data_dir).expanduser() if data_dir else FIXTURE_DIR
    if data_dir and not root.is_dir():
        raise HareError(f"--data-dir '{data_dir}' is not a directory; point it at the folder with the task files")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for name in names:
        candidates = [root / (TASKS[name].file + s) for s in SUFFIXES]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            missing.append(str(candidates[0]))
        else:
            found[name] = hit
    if missing:
        raise HareError(
            f"{len(missing)} task file(s) missing: {', '.join(missing)} (.json or .parquet also accepted); "
            "add them in each dataset's usual schema, or pick fewer with --tasks"
        )
    return {name: check_task_file(TASKS[name], path) for name, path in found.items()}


def check_task_file(task: Task, path: Path) -> Path:
    """`path`, if every item has the fields `task` reads, with values it can use (`VALUE_CHECKS`): lm-eval opens
    the file through `datasets` only after the model is loaded, and a bad line ended there in a traceback ("An
    error occurred while generating the dataset"). JSON lines, one JSON array, or parquet."""
    fix = f"{task.column} items need {', '.join(task.fields)} (the dataset's usual schema)"
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            items = [(f"row {n}", row) for n, row in enumerate(pq.read_table(path).to_pylist(), 1)]
        except Exception as err:  # pyarrow's ArrowInvalid and OSError: not a parquet file
            raise HareError(f"'{path}' is not a readable parquet file ({first_line(err)}); {fix}") from None
    elif _opens_with(path, b"["):
        array = read_json(path, "task file", fix)
        items = [(f"item {n}", item) for n, item in enumerate(array if isinstance(array, list) else [array], 1)]
    else:
        items = [(f"line {number}", record) for number, _, record in read_jsonl(path)]
    if not items:
        raise HareError(f"'{path}' holds no items; {fix}")
    for where, item in items:
        missing = [f for f in task.fields if f not in item] if isinstance(item, dict) else list(task.fields)
        if missing:
            raise HareError(f"'{path}' {where} has no {', '.join(missing)}; {fix}")
        question = item.get("question", "")
        problem = VALUE_CHECKS[task.file](item) if isinstance(question, str) else \
            f"question must be text, not {shown(question)}"
        if problem:
            raise HareError(f"'{path}' {where}: {problem}; {fix}")
    shots, count = _shots(task), len(items)
    if count <= shots:  # lm-eval draws an item's examples from the same file, itself left out: a ValueError there
        raise HareError(f"'{path}' holds {count} item(s), but {task.column} is {shots}-shot and takes its examples "
                        f"from the same file: give it at least {shots + 1}")
    return path


def _texts(value: Any, least: int = 1) -> bool:
    return isinstance(value, list) and len(value) >= least and all(isinstance(v, str) for v in value)


def _mmlu_problem(item: dict[str, Any]) -> str:
    if not _texts(item["choices"], 4):
        return f"choices must be a list of at least 4 texts (the prompt shows A-D), not {shown(item['choices'])}"
    answer = item["answer"]
    if not (isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < 4 or answer in list("ABCD")):
        return f"answer must be 0-3 (or A-D), not {shown(answer)}"
    return ""


def _arc_problem(item: dict[str, Any]) -> str:
    choices = item["choices"]
    if not (isinstance(choices, dict) and _texts(choices.get("text")) and isinstance(choices.get("label"), list)
            and len(choices["label"]) == len(choices["text"])):
        return "choices must be {text: [...], label: [...]}, one label per text"
    if item["answerKey"] not in choices["label"]:
        return f"answerKey {shown(item['answerKey'])} is none of the labels {shown(choices['label'])}"
    return ""


def _truthfulqa_problem(item: dict[str, Any]) -> str:
    targets = item["mc2_targets"]
    if not (isinstance(targets, dict) and _texts(targets.get("choices")) and isinstance(targets.get("labels"), list)
            and len(targets["labels"]) == len(targets["choices"]) and set(targets["labels"]) <= {0, 1}
            and 1 in targets["labels"]):
        return "mc2_targets must be {choices: [...], labels: [...]}, a 0 or 1 per choice and at least one 1"
    return ""


def _winogrande_problem(item: dict[str, Any]) -> str:
    if not (isinstance(item["sentence"], str) and "_" in item["sentence"]):
        return "sentence must be text with a '_' where an option goes"
    if not (isinstance(item["option1"], str) and isinstance(item["option2"], str)):
        return "option1 and option2 must be texts"
    if str(item["answer"]) not in ("1", "2"):
        return f"answer must be '1' or '2', not {shown(item['answer'])}"
    return ""


def _hellaswag_problem(item: dict[str, Any]) -> str:
    endings, label = item["endings"], str(item["label"]).strip()
    if not _texts(endings):
        return f"endings must be a list of texts, not {shown(endings)}"
    if not (label.isdigit() and int(label) < len(endings)):
        return f"label must name one of the {len(endings)} endings (0-{len(endings) - 1}), not {shown(item['label'])}"
    if not isinstance(item.get("ctx"), str) and not (isinstance(item.get("ctx_a"), str)
                                                     and isinstance(item.get("ctx_b"), str)):
        return "the item needs its context: ctx, or ctx_a and ctx_b, as text"
    return ""


def _gsm8k_problem(item: dict[str, Any]) -> str:
    return "" if isinstance(item["answer"], str) else f"answer must be text, not {shown(item['answer'])}"


# Task file stem → what is wrong with an item's values ('' when nothing): the task YAMLs index choices by the
# answer, look the ARC key up among the labels, and read HellaSwag's label as an int, so an item that has its fields
# but not such values had ended in lm-eval (IndexError, ValueError) with a traceback after the model loaded.
VALUE_CHECKS = {"mmlu": _mmlu_problem, "arc_challenge": _arc_problem, "truthfulqa_mc": _truthfulqa_problem,
                "winogrande": _winogrande_problem, "hellaswag": _hellaswag_problem, "gsm8k": _gsm8k_problem}


def _shots(task: Task) -> int:
    """The few-shot count of the task's shipped lm-eval YAML (read as text: its `!function` tags are lm-eval's)."""
    found = re.search(r"^num_fewshot:\s*(\d+)", (TASK_DIR / f"{task.lm_name}.yaml").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def _opens_with(path: Path, char: bytes) -> bool:
    """Whether the file's first non-blank byte is `char`, read up to that byte only (the reader reads it whole next)."""
    with path.open("rb") as f:
        while chunk := f.read(4096):
            if chunk.lstrip():
                return chunk.lstrip()[:1] == char
    return False


def write_task_yamls(files: dict[str, Path], where: Path) -> None:
    """One YAML per task that includes the shipped config and points `data_files` at the chosen file."""
    import yaml

    for name, path in files.items():
        task = TASKS[name]
        cfg = {
            "include": str(TASK_DIR / f"{task.lm_name}.yaml"),
            "task": task.lm_name,
            "dataset_path": "parquet" if path.suffix == ".parquet" else "json",
            "dataset_kwargs": {"data_files": {"test": str(path.resolve())}},
        }
        (where / f"{task.lm_name}.yaml").write_text(yaml.safe_dump(cfg))


def evaluate(
    model: PreTrainedModel, tok: PreTrainedTokenizerFast, files: dict[str, Path],
    limit: int | None = None, batch_size: int = 8,
) -> dict[str, Any]:
    """lm-eval's `simple_evaluate` on the given tasks; returns its results dict."""
    import lm_eval
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    evaluator.get_git_commit_hash = _git_hash  # lm-eval's own prints git's "fatal: …" outside a checkout
    with tempfile.TemporaryDirectory(prefix="hare-tasks-") as tmp:
        write_task_yamls(files, Path(tmp))
        manager = TaskManager(include_path=tmp, include_defaults=False)
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size)
        return lm_eval.simple_evaluate(
            model=lm, tasks=[TASKS[n].lm_name for n in files], task_manager=manager, limit=limit,
            log_samples=False,
        )


def _git_hash() -> str | None:
    """The commit lm-eval records in its results (of the working directory), asked without letting git
    print "fatal: not a git repository" to the user's terminal when there is none."""
    import subprocess

    try:
        return subprocess.run(["git", "describe", "--always"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def summarise(results: dict[str, Any], names: list[str], model_name: str, params: int) -> dict[str, Any]:
    """HARE's row: scores in percent by table column, their mean, and lm-eval's raw numbers."""
    scores = {TASKS[n].column: 100 * float(results["results"][TASKS[n].lm_name][TASKS[n].metric]) for n in names}
    return {
        "model": model_name,
        "size": format_size(params),
        "params": params,
        "avg": average(scores),
        "scores": scores,
        "metrics": {TASKS[n].column: TASKS[n].metric for n in names},
        "n_shot": {TASKS[n].column: results.get("n-shot", {}).get(TASKS[n].lm_name) for n in names},
        "lm_eval": results["results"],
    }


def run(cfg: LmEvalConfig) -> dict[str, Any]:
    from hare.io.atomic import check_apart, check_output, write_text
    from hare.io.sources import display_name
    from hare.model.load import load_model

    if cfg.limit is not None and cfg.limit < 1:
        raise HareError(f"--limit must be at least 1, got {cfg.limit}")
    if cfg.batch_size < 1:
        raise HareError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    names = select_tasks(cfg.tasks)
    files = find_data(cfg.data_dir, names)
    if cfg.output:  # a directory there had been refused only after the whole evaluation; a task file, replaced
        check_apart(cfg.output, [cfg.model, *files.values()], "--output")
        check_output(cfg.output, directory=False, flag="--output")
    model, tok = load_model(cfg.model, cfg.device, cfg.dtype)
    results = evaluate(model, tok, files, cfg.limit, cfg.batch_size)
    params = sum(p.numel() for p in model.parameters())
    summary = summarise(results, names, cfg.name or display_name(cfg.model), params)
    summary.update(suite=cfg.suite, data=str(cfg.data_dir or "fixtures"), limit=cfg.limit)
    if cfg.data_dir is None:
        print(f"Data: no --data-dir, so HARE's tiny invented fixtures ({FIXTURE_DIR}); "
              "these scores only show that the pipeline works.\n")
    print(markdown_table([summary]))
    if cfg.output:
        write_text(cfg.output, json.dumps(summary, indent=2, default=str) + "\n")
    return summary
