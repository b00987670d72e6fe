"""Evaluation: the leaderboard suite through lm-eval, sliding-window perplexity, leakage Δ, compare, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import one_line_error, stub_teacher

from hare.cli import main
from hare.eval.harness import FIXTURE_DIR, TASKS
from hare.eval.report import COLUMNS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

HEADER = "| Model | Size | avg | MMLU | ARC | TruthfulQA | Winogrande | HellaSwag | GSM8K |"



def test_fixtures_hold_enough_items_for_each_shot_count():
    shots = {"mmlu": 5, "arc_challenge": 25, "truthfulqa_mc": 0, "winogrande": 5, "hellaswag": 10, "gsm8k": 5}
    for stem, n in shots.items():
        lines = (FIXTURE_DIR / f"{stem}.json").read_text().splitlines()
        assert len(lines) >= n + 2, stem


@pytest.mark.slow
def test_leaderboard_suite_runs_end_to_end_on_the_fixtures(micro_dir, tmp_path, capfd, monkeypatch):
    out = tmp_path / "micro.json"
    monkeypatch.chdir(tmp_path)  # not a git checkout: lm-eval's `git describe` must not print "fatal: …"
    assert main(["eval", "lm", "--model", str(micro_dir), "--limit", "2", "--device", "cpu",
                 "--output", str(out)]) == 0
    captured = capfd.readouterr()
    assert "fixtures" in captured.out and "fatal" not in captured.err
    table = captured.out.strip().splitlines()[-3:]
    assert table[0] == HEADER
    assert table[2].startswith("| micro (first 2 items) | 17.6M | ")  # a partial run says so
    result = json.loads(out.read_text())
    assert list(result["scores"]) == list(COLUMNS)
    assert all(0 <= v <= 100 for v in result["scores"].values())
    assert result["avg"] == pytest.approx(sum(result["scores"].values()) / 6)
    assert result["size"] == "17.6M" and result["params"] > 17_000_000
    assert result["n_shot"] == {"MMLU": 5, "ARC": 25, "TruthfulQA": 0, "Winogrande": 5, "HellaSwag": 10, "GSM8K": 5}
    for task in TASKS.values():  # lm-eval's raw metric is the one the table shows
        assert 100 * result["lm_eval"][task.lm_name][task.metric] == pytest.approx(result["scores"][task.column])


def _mmlu_prompt(item: dict) -> str:
    """hare_mmlu.yaml's doc_to_text, and lm-eval's " " before the answer."""
    letters = "ABCD"
    return item["question"].strip() + "".join(f"\n{letters[i]}. {c}" for i, c in enumerate(item["choices"])) + \
        "\nAnswer:"


@pytest.mark.slow
def test_eval_lm_scores_a_model_that_memorised_the_answers(micro_dir, tmp_path, capsys):
    """The score must move with what the model knows: the untrained micro model is near chance on the
    MMLU fixtures, the same model taught their answers (each question after random other solved ones,
    as lm-eval's 5-shot prompt puts it) scores 100 — a harness that scored the wrong choice, misread
    the answer index or mixed up items could not."""
    import random

    from hare.model.load import load_model, save_checkpoint

    items = [json.loads(x) for x in (FIXTURE_DIR / "mmlu.json").read_text().splitlines()]
    model, tok = load_model(str(micro_dir), "cpu", "float32")
    rng = random.Random(0)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    letter_ids = [tok(f" {c}", add_special_tokens=False).input_ids[-1] for c in "ABCD"]
    model.train()
    for _ in range(400):
        rows = []
        for item in items:
            shots = rng.sample([x for x in items if x is not item], 5)
            context = "The following are multiple choice questions (with answers).\n\n" + "".join(
                _mmlu_prompt(x) + " " + "ABCD"[x["answer"]] + "\n\n" for x in shots) + _mmlu_prompt(item)
            rows.append((tok(context).input_ids, letter_ids[item["answer"]]))
        width = max(len(ids) for ids, _ in rows)
        ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r, _ in rows])  # left-padded
        mask = (ids != tok.pad_token_id).long()
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1].float()
        answers = torch.tensor([a for _, a in rows])
        if (logits.softmax(-1)[torch.arange(len(rows)), answers] > 0.9).all():
            break
        torch.nn.functional.cross_entropy(logits, answers).backward()
        opt.step()
        opt.zero_grad()
    else:
        raise AssertionError("the micro model did not learn the fixture answers in 400 steps")
    taught = tmp_path / "taught"
    save_checkpoint(model.eval(), tok, taught)

    def mmlu(model_dir: Path) -> float:
        out = tmp_path / f"{model_dir.name}.json"
        assert main(["eval", "lm", "--model", str(model_dir), "--tasks", "mmlu", "--device", "cpu",
                     "--output", str(out)]) == 0
        return json.loads(out.read_text())["scores"]["MMLU"]

    assert mmlu(taught) == 100
    assert mmlu(micro_dir) <= 50
    capsys.readouterr()


@pytest.fixture(scope="module")
def micro(micro_dir):
    from hare.model.load import load_model

    return load_model(str(micro_dir), "cpu")


def direct_nll(model, ids: list[int], begin: int, targets: range) -> float:
    """NLL of ids[t] for t in targets, seeing ids[begin:t] only, straight from the logits."""
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids[begin:targets.stop]])).logits[0].float(), -1)
    return -sum(logp[t - begin - 1, ids[t]].item() for t in targets)


def test_perplexity_matches_a_hand_computation(micro):
    from hare.eval.ppl import perplexity, sliding_nll

    model, tok = micro
    ids = tok("The hare eats grass near the river and the fox eats mice.").input_ids
    total, n = sliding_nll(model, ids, window=512, stride=256)
    assert n == len(ids) - 1
    assert total == pytest.approx(direct_nll(model, ids, 0, range(1, len(ids))), rel=1e-4)
    result = perplexity(model, tok, [tok.decode(ids[1:])], window=512, stride=256)
    assert result["ppl"] == pytest.approx(torch.tensor(total / n).exp().item(), rel=1e-4)
    assert result["tokens_per_s"] > 0


def test_sliding_window_scores_each_token_once_with_its_window(micro):
    from hare.eval.ppl import sliding_nll

    model, tok = micro
    ids = tok(" ".join(["The hare eats grass near the river."] * 4)).input_ids
    window, stride = 8, 3
    assert len(ids) > 3 * window
    expected, prev_end = 0.0, 1
    for begin in range(0, len(ids), stride):  # the windows, computed independently
        end = min(begin + window, len(ids))
        expected += direct_nll(model, ids, begin, range(prev_end, end))
        prev_end = end
        if end == len(ids):
            break
    total, n = sliding_nll(model, ids, window, stride)
    assert n == len(ids) - 1
    assert total == pytest.approx(expected, rel=1e-4)


def test_ppl_command_reads_jsonl(micro_dir, tmp_path, capsys):
    from hare.eval.ppl import PplConfig, run

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "The owl hunts mice at night."}) + "\n" + json.dumps({"text": "Hi."}) + "\n")
    result = run(PplConfig(model=str(micro_dir), data=str(data), window=16, stride=4, device="cpu"))
    assert result["texts"] == 2 and result["ppl"] > 1
    assert "tokens/s" in capsys.readouterr().out


GSM8K_REWRITES = [
    "Morning: {a} seeds. Evening: {b} seeds. Sum them up for the {animal}.\nAdd {a} to {b}; the total is {c}.",
    "How many seeds in total, if {a} are gathered early and {b} late by a {animal}?\nTogether that makes {c}.",
]


def leakage_files(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """Four GSM8K fixture items and hand-written paraphrases of them."""
    import re

    items = [json.loads(line) for line in (FIXTURE_DIR / "gsm8k.json").read_text().splitlines()[:4]]
    rewrites = []
    for k, item in enumerate(items):
        a, b = map(int, re.findall(r"(\d+) seeds", item["question"]))
        animal = item["question"].split()[1]
        rewrites.append({"text": GSM8K_REWRITES[k % 2].format(a=a, b=b, c=a + b, animal=animal)})
    bench, rewritten = tmp_path / "bench.jsonl", tmp_path / "rewritten.jsonl"
    bench.write_text("".join(json.dumps(i) + "\n" for i in items))
    rewritten.write_text("".join(json.dumps(r) + "\n" for r in rewrites))
    return bench, rewritten, [f"{i['question']}\n{i['answer']}" for i in items]


@pytest.mark.slow
def test_leakage_delta_is_large_after_memorising_and_near_zero_before(micro_dir, tmp_path):
    from hare.eval.leakage import LeakageConfig, run
    from hare.model.init import build_model
    from hare.model.load import save_checkpoint

    bench, rewritten, texts = leakage_files(tmp_path)
    clean = run(LeakageConfig(model=str(micro_dir), benchmark=str(bench), rewritten=str(rewritten), device="cpu"))
    assert abs(clean["delta"]) < 5

    model, tok = build_model("hare-micro")
    batches = [torch.tensor([tok(t).input_ids]) for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(20):  # memorise the benchmark items (a contaminated pretraining run, in miniature)
        for ids in batches:
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad()
    leaked = save_checkpoint(model.eval(), tok, tmp_path / "leaked")
    result = run(LeakageConfig(model=str(leaked), benchmark=str(bench), rewritten=str(rewritten), device="cpu"))
    assert result["original"]["accuracy"] >= 60  # the first position (after BOS) cannot know the item
    assert result["delta"] > 40


def test_positions_are_evenly_spaced_and_in_range():
    """Each prefix leaves room for the n-gram after it, the first follows BOS, the last reaches the end,
    and the gaps between them differ by at most one token (as even as integers allow)."""
    from hare.eval.leakage import positions

    for length in range(6, 80):
        for points in (2, 3, 5, 7):
            got = positions(length, 5, points)
            last = length - 5
            assert got[0] == 1 and got[-1] == last and len(got) == min(points, last), (length, points, got)
            gaps = [b - a for a, b in zip(got, got[1:], strict=False)]
            assert all(g > 0 for g in gaps) and max(gaps, default=0) - min(gaps, default=0) <= 1, (length, got)
    assert positions(6, 5, 5) == [1] and positions(5, 5, 5) == [] and positions(30, 5, 1) == [25]
    assert positions(30, 5, 10**20) == list(range(1, 26))  # at once: never more points than positions


def test_compare_builds_one_table_from_several_results(tmp_path, capsys):
    a = {"model": "a", "size": "1.1B", "avg": 40.17, "scores": dict(zip(COLUMNS, [35.74, 38.4, 42.08, 59.27,
                                                                                 57.46, 8.04], strict=True))}
    b = {"model": "b", "size": "17.6M", "avg": 30.0, "scores": {"MMLU": 25.0, "GSM8K": 35.0}}
    files = []
    for r in (a, b):
        files.append(tmp_path / f"{r['model']}.json")
        files[-1].write_text(json.dumps(r))
    assert main(["eval", "compare", *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == HEADER
    assert lines[2] == "| a | 1.1B | 40.17 | 35.74 | 38.40 | 42.08 | 59.27 | 57.46 | 8.04 |"
    assert lines[3] == "| b | 17.6M | 30.00 | 25.00 | – | – | – | – | 35.00 |"


def test_missing_data_files_are_listed_in_one_error(tmp_path, capsys):
    (tmp_path / "mmlu.jsonl").write_text("{}\n")
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--data-dir", str(tmp_path)]) == 2
    err = one_line_error(capsys)
    for stem in ("arc_challenge", "truthfulqa_mc", "winogrande", "hellaswag", "gsm8k"):
        assert str(tmp_path / f"{stem}.jsonl") in err
    assert "mmlu" not in err.replace(str(tmp_path), "")


def test_unknown_task_is_a_one_line_error(capsys):
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--tasks", "mmlu", "bogus"]) == 2
    assert "unknown task 'bogus'" in one_line_error(capsys)


@pytest.mark.parametrize("command", [["lm"], ["ppl", "--data", "x.txt"],
                                     ["leakage", "--benchmark", "b.jsonl", "--rewritten", "r.jsonl"]])
def test_bad_model_dir_is_a_one_line_error(command, tmp_path, capsys):
    for name in ("x.txt", "b.jsonl", "r.jsonl"):
        (tmp_path / name).write_text(json.dumps({"text": "one two three four five six seven"}) + "\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["eval", *command, "--model", str(tmp_path / "no-such-model")]) == 2
    finally:
        os.chdir(cwd)
    assert "does not exist" in one_line_error(capsys)


def test_leakage_rewrites_through_a_teacher_server(micro_dir, tmp_path):
    from hare.errors import HareError
    from hare.eval.leakage import LeakageConfig, run

    prompts = []

    def paraphrase(prompt: str) -> str:
        prompts.append(prompt)
        return " ".join(reversed(prompt.split("\n\n", 1)[1].split()))  # a "paraphrase"

    bench, _, texts = leakage_files(tmp_path)
    saved = tmp_path / "rewrites.jsonl"
    with stub_teacher(paraphrase) as url:
        result = run(LeakageConfig(model=str(micro_dir), benchmark=str(bench), teacher=url,
                                   save_rewrites=str(saved), device="cpu"))
    # Closed now, the same URL refuses connections: "teacher down".
    assert len(prompts) == len(texts) and all(t in p for t, p in zip(texts, prompts, strict=True))
    rewrites = [json.loads(line)["text"] for line in saved.read_text().splitlines()]
    assert rewrites == [" ".join(reversed(t.split())) for t in texts]
    assert result["rewritten"]["predictions"] > 0
    with pytest.raises(HareError, match="exactly one of --rewritten"):
        run(LeakageConfig(model=str(micro_dir), benchmark=str(bench), device="cpu"))
    with pytest.raises(HareError, match=f"{url}/v1/chat/completions is unreachable"):
        run(LeakageConfig(model=str(micro_dir), benchmark=str(bench), teacher=url, device="cpu"))


@pytest.mark.parametrize("field, value", [("avg", "40"), ("scores", [1, 2]), ("scores", {"MMLU": "high"}),
                                          ("model", 7), ("size", None), ("limit", "all")])
def test_compare_names_a_field_of_the_wrong_type(field, value, tmp_path, capsys):
    row = {"model": "a", "size": "1.1B", "avg": 40.17, "scores": {"MMLU": 35.74}, field: value}
    (tmp_path / "a.json").write_text(json.dumps(row))
    assert main(["eval", "compare", str(tmp_path / "a.json")]) == 2
    err = one_line_error(capsys)
    assert "a.json" in err and field in err


@pytest.mark.parametrize("content, named", [
    ("not json\n", "line 1 is not valid JSON"),
    ('{"question": "q", "choices": {"text": ["a"], "label": ["A"]}}\n', "line 1 has no answerKey"),
    ('[{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}, {"question": "q"}]',
     "item 2 has no choices, answerKey"),
    ("\n", "holds no items"),
    # values lm-eval cannot use had ended in its IndexError or ValueError after the model loaded
    ('{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "E"}\n', "answerKey 'E' is none"),
    ('{"question": 5, "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}\n', "question must be text"),
    ('{"question": "q", "choices": {"text": ["a", "b"], "label": ["A"]}, "answerKey": "A"}\n', "one label per text"),
    # 25-shot, the examples drawn from the same file without the item itself: lm-eval's "Sample larger than population"
    ('{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}\n' * 25, "at least 26"),
])
def test_a_task_file_lm_eval_cannot_read_is_named_before_the_model_loads(content, named, tmp_path, capsys):
    """The model does not exist: the file is refused first (lm-eval had failed in `datasets` with a traceback)."""
    (tmp_path / "arc_challenge.jsonl").write_text(content)
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--data-dir", str(tmp_path), "--tasks", "arc"]) == 2
    err = one_line_error(capsys)
    assert "arc_challenge.jsonl" in err and named in err


def test_a_parquet_task_file_is_counted_by_its_rows(tmp_path, capsys):
    """3 rows for the 25-shot ARC are refused by name."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = {"question": ["q"] * 3, "choices": [{"text": ["a"], "label": ["A"]}] * 3, "answerKey": ["A"] * 3}
    pq.write_table(pa.table(rows), tmp_path / "arc_challenge.parquet")
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--data-dir", str(tmp_path), "--tasks", "arc"]) == 2
    err = one_line_error(capsys)
    assert "arc_challenge.parquet" in err and "holds 3 item(s)" in err and "at least 26" in err


@pytest.mark.parametrize("task, item, named", [
    ("mmlu", {"question": "q", "choices": ["a", "b", "c", "d"], "answer": 4}, "answer must be 0-3"),
    ("mmlu", {"question": "q", "choices": ["a", "b", "c"], "answer": 0}, "at least 4 texts"),
    ("hellaswag", {"ctx": "c", "endings": ["a", "b"], "label": "9"}, "one of the 2 endings"),
    ("hellaswag", {"endings": ["a", "b"], "label": "1"}, "needs its context"),
    ("winogrande", {"sentence": "a _ b", "option1": "x", "option2": "y", "answer": "3"}, "'1' or '2'"),
    ("winogrande", {"sentence": "a _ b", "option1": 5, "option2": "y", "answer": "1"}, "must be texts"),
    ("winogrande", {"sentence": "no blank", "option1": "x", "option2": "y", "answer": "1"}, "with a '_'"),
    ("truthfulqa", {"question": "q", "mc2_targets": {"choices": ["a"], "labels": [0]}}, "at least one 1"),
    ("gsm8k", {"question": "q", "answer": 17}, "answer must be text"),
])
def test_a_task_item_with_values_lm_eval_cannot_use_is_named(task, item, named, tmp_path, capsys):
    """Every other item is fine; the bad one, the file's last, is named by its line before the model loads."""
    from hare.eval.harness import FIXTURE_DIR, TASKS

    fixture = FIXTURE_DIR / f"{TASKS[task].file}.json"
    lines = fixture.read_text().splitlines()
    (tmp_path / fixture.name.replace(".json", ".jsonl")).write_text("\n".join([*lines, json.dumps(item)]) + "\n")
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--data-dir", str(tmp_path), "--tasks", task]) == 2
    err = one_line_error(capsys)
    assert f"line {len(lines) + 1}:" in err and named in err


def test_output_that_is_a_directory_is_refused_before_the_evaluation(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main(["eval", "lm", "--model", "nowhere/at/all", "--output", str(tmp_path / "out")]) == 2
    assert "is a directory" in one_line_error(capsys)
