"""Bad files as a new user makes them: every command answers with one line naming the file and the fix,
exit code 2, no traceback, and nothing written.

Each case builds its inputs in `tmp_path` and runs the command in-process (`hare.cli.main`); the model
cases stop at the checkpoint check, so the matrix runs in seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hare.cli import main
from hare.eval.harness import FIXTURE_DIR

BAD_UTF8 = b"caf\xe9 \xff\xfe"
PROGRESS = re.compile(r"\w+: \d+ \w+ \[")  # a tqdm line, e.g. "packing: 0 docs [00:00, ? docs/s]"
CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
RECORD = {"query": "say hi", "calls": []}
SPEC = [{"type": "function", "function": {"name": "f", "parameters": {
    "type": "object", "properties": {"a": {"type": "string"}}, "required": []}}}]


def _jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _truncated_gz(path: Path, record: object) -> Path:
    whole = gzip.compress(("".join(json.dumps(record) + "\n" for _ in range(200))).encode())
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _spec(path: Path, spec: object = SPEC) -> Path:
    path.write_text(json.dumps(spec))
    return path


def _spec_with(params: object) -> list[dict]:
    return [{"type": "function", "function": {"name": "f", "parameters": params}}]


@pytest.fixture(scope="module")
def corrupt_models(micro_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of a good checkpoint, each broken in one way a crash or a bad copy leaves them."""
    root = tmp_path_factory.mktemp("corrupt")
    broken: dict[str, Callable[[Path], None]] = {
        "empty config": lambda d: (d / "config.json").write_text(""),
        "non-UTF-8 config": lambda d: (d / "config.json").write_bytes(b'{"model_type": "' + BAD_UTF8 + b'"}'),
        "truncated weights": lambda d: (d / "model.safetensors").write_bytes(
            (d / "model.safetensors").read_bytes()[:100_000]),
        "config apart from weights": lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "intermediate_size": 384})),
        # Layers the weights lack had been initialised at random with exit 0; the other two were tracebacks.
        "more layers than weights": lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "num_hidden_layers": 5})),
        "unknown model type": lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "model_type": "nosuchmodel"})),
        "negative size": lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "hidden_size": -1})),
    }
    out = {}
    for name, breaks in broken.items():
        out[name] = shutil.copytree(micro_dir, root / name.replace(" ", "-"))
        breaks(out[name])
    return out


def model_commands(model: Path, tmp: Path) -> dict[str, list[str]]:
    """Every command that loads a checkpoint, with otherwise good inputs."""
    chats = _jsonl(tmp / "chats.jsonl", CHAT)
    text = tmp / "text.txt"
    text.write_text("The hare eats grass.")
    return {
        "sft": ["sft", "--model", str(model), "--data", str(chats), "--out", str(tmp / "out")],
        "tools call": ["tools", "call", "--model", str(model), "--spec", str(_spec(tmp / "spec.json")), "hi"],
        "eval ppl": ["eval", "ppl", "--model", str(model), "--data", str(text)],
        "generate": ["generate", "--model", str(model), "--prompt", "x"],
        "export gguf": ["export", "gguf", "--model", str(model), "--out", str(tmp / "out.gguf")],
        "quantize fp8": ["quantize", "fp8", "--model", str(model), "--out", str(tmp / "out")],
    }


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], *fragments: str) -> str:
    code = main(argv)
    # a progress bar that was running when the error came is not part of the message
    err = "\n".join(line for line in capsys.readouterr().err.strip().splitlines() if not PROGRESS.match(line))
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("command", ["sft", "tools call", "eval ppl", "generate", "export gguf", "quantize fp8"])
@pytest.mark.parametrize("damage", ["empty config", "non-UTF-8 config", "truncated weights",
                                    "config apart from weights", "more layers than weights", "unknown model type",
                                    "negative size"])
def test_corrupt_model_directory(command, damage, corrupt_models, tmp_path, capsys):
    model = corrupt_models[damage]
    argv = model_commands(model, tmp_path)[command]
    _refused(capsys, argv, str(model))
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("command", [["tools", "call", "hi"], ["tools", "eval", "--data", "r.jsonl"]])
def test_a_tool_model_that_does_not_exist_is_named_as_missing(command, tmp_path, capsys):
    """Not "has no tools.json; pass --spec", which sends one looking for a spec when the path is wrong."""
    missing = str(tmp_path / "runs" / "tools" / "final")
    err = _refused(capsys, [*command, "--model", missing], missing, "does not exist")
    assert "tools.json" not in err
    err = _refused(capsys, [*command, "--model", "smollm2-135m-instruct"], "smollm2-135m-instruct")
    assert "does not exist" not in err  # a named base exists; what it lacks is a tool model's spec


def _data_cases(tmp: Path, model: Path) -> dict[str, tuple[list[str], str]]:
    """name → (argv, the file its one-line error must name)."""
    spec = str(_spec(tmp / "spec.json"))
    utf8_jsonl = tmp / "bad.jsonl"
    utf8_jsonl.write_bytes(b'\n{"text": "' + BAD_UTF8 + b'"}\n')  # after a blank line, which is skipped
    utf8_yaml = tmp / "bad.yaml"
    utf8_yaml.write_bytes(b"strategies:\n  math: 1  # " + BAD_UTF8 + b"\n")
    utf8_txt = tmp / "bad.txt"
    utf8_txt.write_bytes(BAD_UTF8)
    empty = tmp / "empty.jsonl"
    empty.write_text("")
    not_json = tmp / "notjson.jsonl"
    not_json.write_text('\n{oops\n')
    out = str(tmp / "out")
    sft = ["sft", "--model", str(model), "--out", out, "--data"]
    ev = ["tools", "eval", "--model", str(model), "--spec", spec, "--data"]
    ppl = ["eval", "ppl", "--model", str(model), "--data"]
    pack = ["data", "pack", "--out", out, "--inputs"]
    return {
        "mixture not UTF-8": (["data", "synth", "--out", out, "--num-docs", "2", "--mixture", str(utf8_yaml)],
                              str(utf8_yaml)),
        "config not UTF-8": (["sft", "--config", str(utf8_yaml), "--model", str(model), "--out", out],
                             str(utf8_yaml)),
        "phrase bank not UTF-8": (["tools", "data", "--spec", spec, "--out", out, "--phrases", str(utf8_yaml)],
                                  str(utf8_yaml)),
        "sft data not UTF-8": ([*sft, str(utf8_jsonl)], f"{utf8_jsonl}' line 2"),
        "sft data truncated gz": ([*sft, str(_truncated_gz(tmp / "chats.jsonl.gz", CHAT))], "chats.jsonl.gz"),
        "sft data missing": ([*sft, str(tmp / "missing.jsonl")], "missing.jsonl"),
        "sft data not JSON": ([*sft, str(not_json)], f"{not_json}' line 2"),
        "tools eval data not UTF-8": ([*ev, str(utf8_jsonl)], f"{utf8_jsonl}' line 2"),
        "tools eval data truncated gz": ([*ev, str(_truncated_gz(tmp / "rec.jsonl.gz", RECORD))], "rec.jsonl.gz"),
        "tools eval data empty": ([*ev, str(empty)], str(empty)),
        "tools eval output is a directory": ([*ev, str(_jsonl(tmp / "r.jsonl", RECORD)), "--output", str(tmp)],
                                             str(tmp)),
        "ppl text not UTF-8": ([*ppl, str(utf8_txt)], str(utf8_txt)),
        "ppl jsonl not UTF-8": ([*ppl, str(utf8_jsonl)], f"{utf8_jsonl}' line 2"),
        "ppl truncated gz": ([*ppl, str(_truncated_gz(tmp / "t.jsonl.gz", {"text": "x"}))], "t.jsonl.gz"),
        "ppl data missing": ([*ppl, str(tmp / "missing.txt")], "missing.txt"),
        "pack not UTF-8": ([*pack, str(utf8_jsonl)], f"{utf8_jsonl}' line 2"),
        "pack truncated gz": ([*pack, str(_truncated_gz(tmp / "p.jsonl.gz", {"text": "x"}))], "p.jsonl.gz"),
        "dedup not JSON": (["data", "dedup", "--inputs", str(not_json), "--out", str(tmp / "out.jsonl")],
                           f"{not_json}' line 2"),
        "spec parameters true": (["tools", "call", "--model", str(model), "--spec",
                                  str(_spec(tmp / "s1.json", _spec_with(True))), "hi"], "s1.json"),
        "spec property true": (["tools", "data", "--spec", str(_spec(tmp / "s2.json", _spec_with(
            {"type": "object", "properties": {"a": True}}))), "--out", out], "s2.json"),
        "spec empty enum": (["tools", "data", "--spec", str(_spec(tmp / "s3.json", _spec_with(
            {"type": "object", "properties": {"a": {"type": "string", "enum": []}}}))), "--out", out], "s3.json"),
        "spec not UTF-8": (["tools", "call", "--model", str(model), "--spec", str(utf8_txt), "hi"], str(utf8_txt)),
        # past a float: JSON writes 10**400 as an integer, which math.isfinite cannot take
        "spec bound past a float": (["tools", "data", "--spec", str(_spec(tmp / "s4.json", _spec_with(
            {"type": "object", "properties": {"a": {"type": "integer", "maximum": 10**400}}}))), "--out", out],
            "s4.json"),
        "spec repeat past re": (["tools", "data", "--spec", str(_spec(tmp / "s5.json", _spec_with(
            {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a{1,4294967295}$"}}}))),
            "--out", out], "s5.json"),
        "tools train missing model": (["tools", "train", "--model", str(tmp / "nonexistent"), "--data",
                                       str(_jsonl(tmp / "t.jsonl", RECORD)), "--spec", spec, "--out", out],
                                      "nonexistent"),
    }


CASES = ["mixture not UTF-8", "config not UTF-8", "phrase bank not UTF-8", "sft data not UTF-8",
         "sft data truncated gz", "sft data missing", "sft data not JSON", "tools eval data not UTF-8",
         "tools eval data truncated gz", "tools eval data empty", "tools eval output is a directory",
         "ppl text not UTF-8", "ppl jsonl not UTF-8", "ppl truncated gz", "ppl data missing", "pack not UTF-8",
         "pack truncated gz", "dedup not JSON", "spec parameters true", "spec property true", "spec empty enum",
         "spec not UTF-8", "spec bound past a float", "spec repeat past re", "tools train missing model"]


@pytest.mark.parametrize("case", CASES)
def test_bad_data_file(case, micro_dir, tmp_path, capsys):
    argv, named = _data_cases(tmp_path, micro_dir)[case]
    _refused(capsys, argv, named)
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


# Specs that `hare tools data` cannot honour: argument schema → what its one-line refusal must say. Each would
# have given a traceback or data that breaks the spec (strings for an array, 3 for `minimum: 3.5`, free text for a
# pattern).
BAD_SPECS = {
    "minimum above maximum": ({"type": "integer", "minimum": 5, "maximum": 3}, "minimum 5, maximum 3 leave no value"),
    "no integer between bounds": ({"type": "integer", "minimum": 3.2, "maximum": 3.8}, "no integer satisfies"),
    "exclusive bounds meet": ({"type": "number", "exclusiveMinimum": 3, "maximum": 3}, "leave no value"),
    "no integer multiple": ({"type": "integer", "minimum": 1, "maximum": 4, "multipleOf": 5}, "change multipleOf"),
    "minLength above maxLength": ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength 5 > maxLength 2"),
    "minLength past any value": ({"type": "string", "minLength": 500}, "minLength: 500 is longer"),
    "default outside enum": ({"type": "string", "enum": ["a", "b"], "default": "c"}, "properties.a.default"),
    "default breaks pattern": ({"type": "string", "pattern": "^[A-Z]{3}$", "default": "abcd"}, "change the default"),
    "default below minimum": ({"type": "integer", "minimum": 1, "default": 0}, "properties.a.default: 0"),
    "array argument": ({"type": "array", "items": {"type": "string"}}, "type 'array'"),
    "object argument": ({"type": "object", "properties": {}}, "type 'object'"),
    "null argument": ({"type": "null"}, "type 'null'"),
    "pattern no bank value fits": ({"type": "string", "pattern": "^[A-Z]{3}$"}, "argument 'a'"),
    "number with no whole value": ({"type": "number", "minimum": 0.2, "maximum": 0.8}, "argument 'a'"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_spec_that_tools_data_cannot_honour(case, tmp_path, capsys):
    schema, fragment = BAD_SPECS[case]
    spec = _spec(tmp_path / "s.json", _spec_with({"type": "object", "properties": {"a": schema}, "required": ["a"]}))
    err = _refused(capsys, ["tools", "data", "--spec", str(spec), "--out", str(tmp_path / "out")], "s.json",
                   "'f'", fragment)
    assert re.search(r"; (make|widen|swap|lower|change|give) ", err), err  # and says how to fix it
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_tools_data_asked_for_nothing(tmp_path, capsys):
    argv = ["tools", "data", "--spec", str(_spec(tmp_path / "s.json")), "--out", str(tmp_path / "out"),
            "--per-function", "0", "--irrelevant", "0", "--parallel", "0"]
    _refused(capsys, argv, "nothing to generate")
    # --parallel alone with one function asks for nothing too: two calls need two functions
    _refused(capsys, [*argv, "--parallel", "5"], "nothing to generate")
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_tools_data_stops_when_no_drawn_call_fits(tmp_path, capsys):
    """A phrase bank whose only wording fixes a value the spec forbids: every draw fails the check, and the run
    stops naming function, argument and fix rather than write the call."""
    spec = _spec(tmp_path / "s.json", _spec_with({"type": "object", "properties": {
        "level": {"type": "integer", "minimum": 0, "maximum": 10}}, "required": ["level"]}))
    bank = tmp_path / "bank.yaml"
    bank.write_text("f:\n  slots:\n    level: int\n  templates:\n    - 'max it out || level=11'\n")
    _refused(capsys, ["tools", "data", "--spec", str(spec), "--phrases", str(bank), "--out", str(tmp_path / "out")],
             "s.json", "f: level: 11 is greater than the maximum of 10", "phrase bank slot")
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("flag, value", [("per_function", 10**20), ("per_function", 100_001),
                                         ("irrelevant", 10**20), ("parallel", 10**20), ("per_function", -1)])
def test_tools_data_counts_past_their_bound_are_refused_before_any_drawing(flag, value):
    """--per-function 10**20 drew requests for ever; the bound is refused as the settings are checked."""
    from hare.errors import HareError
    from hare.tools.data import ToolDataConfig

    with pytest.raises(HareError, match=rf"--{flag.replace('_', '-')} must be in \[0, [\d,]+\], got"):
        ToolDataConfig(**{flag: value}).validate()


# (phrase bank YAML, what the one-line error names besides the file)
BAD_BANKS = {
    "a list, not a mapping": ("- f\n- g\n", "mapping of function names"),
    "a number": ("5\n", "mapping of function names"),
    "entry a number": ("f: 5\n", "'f'"),
    "entry a list": ("f: [1]\n", "'f'"),
    "templates of numbers": ("f:\n  slots: {a: first_name}\n  templates: [5]\n", "f.templates[0]"),
    "templates a string": ("f:\n  slots: {a: first_name}\n  templates: 'say {a}'\n", "f.templates"),
    "templates empty": ("f:\n  slots: {a: first_name}\n  templates: []\n", "f.templates"),
    "templates missing": ("f:\n  slots: {a: first_name}\n", "f.templates"),
    "unknown key": ("f:\n  slot: {a: first_name}\n  templates: ['say {a}']\n", "f.slot"),
    "slots a list": ("f:\n  slots: [a]\n  templates: ['say {a}']\n", "f.slots"),
    "slot a list": ("f:\n  slots: {a: [1]}\n  templates: ['say {a}']\n", "f.slots.a"),
    "surfaces a number": ("f:\n  slots: {a: {x: 5}}\n  templates: ['say {a}']\n", "f.slots.a.x"),
    "surface a number": ("f:\n  slots: {a: {x: [5]}}\n  templates: ['say {a}']\n", "f.slots.a.x[0]"),
    "no surfaces": ("f:\n  slots: {a: {x: []}}\n  templates: ['say {a}']\n", "f.slots.a.x"),
}


@pytest.mark.parametrize("case", list(BAD_BANKS))
def test_tools_data_phrase_bank_of_the_wrong_shape(case, tmp_path, capsys):
    text, key = BAD_BANKS[case]
    spec = _spec(tmp_path / "s.json", _spec_with({"type": "object", "properties": {
        "a": {"type": "string", "enum": ["x", "y"]}}, "required": ["a"]}))
    bank = tmp_path / "bank.yaml"
    bank.write_text(text)
    _refused(capsys, ["tools", "data", "--spec", str(spec), "--phrases", str(bank), "--out", str(tmp_path / "out")],
             str(bank), key)
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_tools_data_phrase_bank_may_leave_out_the_slots_of_a_function_without_arguments(tmp_path, capsys):
    """`slots` absent for a function that takes nothing was a KeyError; it reads as no slots."""
    spec = _spec(tmp_path / "s.json", _spec_with({"type": "object", "properties": {}}))
    bank = tmp_path / "bank.yaml"
    bank.write_text("f:\n  templates: ['do the thing', 'please do the thing', 'thing now']\n")
    assert main(["tools", "data", "--spec", str(spec), "--phrases", str(bank), "--out", str(tmp_path / "out"),
                 "--per-function", "3", "--irrelevant", "0", "--parallel", "0"]) == 0
    queries = [json.loads(line)["query"] for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert queries and all("thing" in q for q in queries)  # the bank's wordings (asides and case vary)


def test_prompt_from_stdin_not_utf8(micro_dir, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD_UTF8), encoding="utf-8"))
    _refused(capsys, ["generate", "--model", str(micro_dir), "--prompt", "-"], "stdin", "UTF-8")


@pytest.mark.parametrize("out", ["file/x.gguf", "file/deeper/x.gguf", "/proc/x.gguf"])
def test_export_to_a_path_that_cannot_be_written(out, micro_dir, tmp_path, capsys):
    """Refused before the conversion, naming what is in the way; nothing is left beside it."""
    (tmp_path / "file").write_text("a file, not a folder")
    target = out if out.startswith("/") else str(tmp_path / out)
    blocker = "/proc" if out.startswith("/") else str(tmp_path / "file")
    _refused(capsys, ["export", "gguf", "--model", str(micro_dir), "--out", target], target, blocker, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _outputs_onto_inputs(tmp: Path, model: Path) -> dict[str, tuple[list[str], Path]]:
    """(argv, the input it names as its output): with --force or --overwrite, each replaced what it read."""
    corpus = _jsonl(tmp / "corpus.jsonl", {"text": "a document about hares"}, {"text": "one about tortoises"})
    records = _jsonl(tmp / "val.jsonl", RECORD)
    (tmp / "docs").mkdir()
    docs = _jsonl(tmp / "docs" / "a.jsonl", {"text": "hares run"})
    weights = model / "model.safetensors"
    (tmp / "tasks").mkdir()
    tasks = Path(shutil.copy(FIXTURE_DIR / "gsm8k.json", tmp / "tasks"))
    return {
        "dedup report onto its input": (["data", "dedup", "--inputs", str(corpus), "--out", str(tmp / "clean.jsonl"),
                                         "--report", str(corpus), "--overwrite"], corpus),
        "decontam report onto its benchmark": (["data", "decontam", "--inputs", str(corpus), "--benchmarks",
                                                str(records), "--out", str(tmp / "clean.jsonl"), "--report",
                                                str(records), "--overwrite"], records),
        "tools eval report onto its data": (["tools", "eval", "--model", str(model), "--data", str(records),
                                             "--output", str(records)], records),
        "export onto the checkpoint's weights": (["export", "gguf", "--model", str(model), "--out", str(weights),
                                                  "--force"], weights),
        "pack over its inputs": (["data", "pack", "--inputs", str(tmp / "docs"), "--out", str(tmp / "docs"),
                                  "--overwrite"], docs),
        "bench tools rows onto its data": (["bench", "tools", "--model", str(model), "--data", str(records),
                                            "--output", str(records)], records),
        "eval lm results onto a task file": (["eval", "lm", "--model", str(model), "--tasks", "gsm8k", "--data-dir",
                                              str(tasks.parent), "--output", str(tasks)], tasks),
        "leakage rewrites onto the benchmark": (["eval", "leakage", "--model", str(model), "--benchmark", str(corpus),
                                                 "--teacher", "http://127.0.0.1:9", "--save-rewrites", str(corpus)],
                                                corpus),
    }


@pytest.mark.parametrize("case", ["dedup report onto its input", "decontam report onto its benchmark",
                                  "tools eval report onto its data", "export onto the checkpoint's weights",
                                  "pack over its inputs", "bench tools rows onto its data",
                                  "eval lm results onto a task file", "leakage rewrites onto the benchmark"])
def test_an_output_that_is_an_input_is_refused(case, micro_dir, tmp_path, capsys):
    """Refused before any work, the input untouched: --force and --overwrite had let each replace what it read."""
    model = Path(shutil.copytree(micro_dir, tmp_path / "model"))
    argv, victim = _outputs_onto_inputs(tmp_path, model)[case]
    before = victim.read_bytes()
    _refused(capsys, argv, "would destroy what this command reads")
    assert victim.read_bytes() == before


@pytest.mark.parametrize("command", ["dedup", "decontam"])
def test_dedup_and_decontam_keep_an_existing_report_and_refuse_an_empty_corpus(command, tmp_path, capsys):
    """Without --overwrite an existing --report is kept, as --out is (it had been replaced without a word); a
    corpus of empty files is refused, as pack refuses it (an empty --out had been written, exit 0)."""
    bench = _jsonl(tmp_path / "gsm8k.jsonl", {"question": "How many legs do three hares have?", "answer": "#### 12"})
    argv = ["data", command, *(["--benchmarks", str(bench)] if command == "decontam" else []),
            "--out", str(tmp_path / "clean.jsonl")]
    corpus = _jsonl(tmp_path / "corpus.jsonl", {"text": "a document about hares"})
    report = tmp_path / "report.json"
    report.write_text("last week's report")
    _refused(capsys, [*argv, "--inputs", str(corpus), "--report", str(report)], str(report), "--overwrite")
    assert report.read_text() == "last week's report"
    empty = _jsonl(tmp_path / "empty.jsonl")
    _refused(capsys, [*argv, "--inputs", str(empty)], "hold no documents")
    assert not (tmp_path / "clean.jsonl").exists()
    assert main([*argv, "--inputs", str(corpus), "--report", str(report), "--overwrite"]) == 0
    assert json.loads(report.read_text())["kept"] == 1


@pytest.mark.parametrize("holds", ["notes.txt", "final"])
def test_training_into_a_folder_that_holds_something_else(holds, micro_dir, tmp_path, capsys):
    """A new run's config.yaml, metrics.jsonl and final/ had been written among a folder's own files, and over a
    finished run's final model, without a word; --resume is the way to continue a run."""
    out = tmp_path / "out"
    out.mkdir()
    if holds == "final":
        (out / holds).mkdir()
    else:
        (out / holds).write_text("mine")
    chats = _jsonl(tmp_path / "chats.jsonl", CHAT)
    _refused(capsys, ["sft", "--model", str(micro_dir), "--data", str(chats), "--out", str(out)],
             "finished run (final/)" if holds == "final" else "not a training run's (notes.txt)")
    assert [p.name for p in out.iterdir()] == [holds]


@pytest.mark.parametrize("out", ["file", "file/run", "/proc/run"])
def test_training_into_a_path_that_cannot_be_written(out, micro_dir, tmp_path, capsys):
    """Refused before the first step (a traceback from mkdir at the first write had ended the run)."""
    (tmp_path / "file").write_text("a file, not a folder")
    target = out if out.startswith("/") else str(tmp_path / out)
    chats = _jsonl(tmp_path / "chats.jsonl", CHAT)
    _refused(capsys, ["sft", "--model", str(micro_dir), "--data", str(chats), "--out", target], target, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chats.jsonl", "file"]


def test_tool_records_that_are_not_records(micro_dir, tmp_path, capsys):
    """A directory is said to be one (not "not found"), and arguments that are no object are the record's
    shape, not a call to an argument named after the string's first letter."""
    ev = ["tools", "eval", "--model", str(micro_dir), "--spec", str(_spec(tmp_path / "spec.json")), "--data"]
    _refused(capsys, [*ev, str(tmp_path)], str(tmp_path), "is a directory")
    bad = _jsonl(tmp_path / "r.jsonl", {"query": "x", "calls": [{"name": "f", "arguments": "front"}]})
    _refused(capsys, [*ev, str(bad)], "r.jsonl:1", '"arguments"')


def test_serve_threads_below_zero(micro_dir, capsys):
    _refused(capsys, ["serve", "--model", str(micro_dir), "--threads", "-3"], "--threads")


def _setting_cases(tmp: Path, model: Path) -> dict[str, tuple[list[str], str]]:
    """name → (argv, what the one-line refusal names): settings that had failed later, inside a library."""
    src = _jsonl(tmp / "docs.jsonl", {"text": "The hare eats grass."})
    chats = _jsonl(tmp / "chats.jsonl", CHAT)
    out = str(tmp / "out")
    sft = ["sft", "--model", str(model), "--data", str(chats), "--out", out]
    spec = str(_spec(tmp / "spec.json"))
    (tools_data := tmp / "tools-data").mkdir()
    _jsonl(tools_data / "val.jsonl", RECORD)
    records = str(_jsonl(tmp / "records.jsonl", RECORD))
    return {
        "pack share past a float": (["data", "pack", "--inputs", str(src), "--out", out, "--val-fraction", "1e-310"],
                                    "--val-fraction"),
        "sft share past a float": ([*sft, "data.val_fraction=1e-310"], "data.val_fraction"),
        "tools data share leaving training nothing": (["tools", "data", "--spec", spec, "--out", out,
                                                       "--val-fraction", "0.99"], "--val-fraction"),
        "init seed past 64 bits": (["init", "--out", out, "--seed", str(10**20)], "--seed"),
        "quickstart minutes nan": (["quickstart", "--out", out, "--minutes", "nan"], "--minutes"),
        "quickstart no documents": (["quickstart", "--out", out, "--docs", "0"], "--docs"),
        "quickstart queries past the bound": (["quickstart", "--out", out, "--per-function", str(10**20)],
                                              "--per-function"),
        "quickstart spec missing": (["quickstart", "--out", out, "--spec", str(tmp / "nowhere.json")],
                                    "nowhere.json"),
        "quickstart preset unknown": (["quickstart", "--out", out, "--preset", "nope"], "unknown preset 'nope'"),
        "quickstart steps and epochs": (["quickstart", "--out", out, "--tool-steps", "5", "--tool-epochs", "2"],
                                        "--tool-epochs"),
        "quickstart soup of none": (["quickstart", "--out", out, "--tool-soup", "0"], "--tool-soup"),
        "tools train soup of none": (["tools", "train", "--model", str(model), "--data", spec, "--spec", spec,
                                      "--out", out, "--soup", "0"], "--soup"),
        "quickstart out a file": (["quickstart", "--out", str(src)], "is a file"),
        "quickstart into a model's folder": (["quickstart", "--out", str(model)], "not a quickstart run's"),
        "presets functional tokens": (["presets", "--functional-tokens", "5000"], "--functional-tokens"),
        "lora rank 0": ([*sft, "lora.enabled=true", "lora.r=0"], "lora.r"),
        "lora dropout 2": ([*sft, "lora.enabled=true", "lora.dropout=2"], "lora.dropout"),
        "lora no target": ([*sft, "lora.enabled=true", "lora.target_modules=[]"], "lora.target_modules"),
        "lora target no layer has": ([*sft, "lora.enabled=true", "lora.target_modules=[qproj]"], "q_proj"),
        "bench train sequences past the context": (["bench", "train", "--preset", "hare-micro", "--seq-len",
                                                     "100000", "--steps", "2"], "--seq-len"),  # 160 GB asked for
        "serve threads past any CPU": (["serve", "--model", str(model), "--threads", "100000"], "--threads"),
        "serve prompt cap below 0": (["serve", "--model", str(model), "--max-prompt-tokens", "-1"],
                                     "--max-prompt-tokens"),
        "teacher without a scheme": (["tools", "data", "--spec", spec, "--out", out, "--teacher", "notaurl"],
                                     "notaurl"),
        "eval ppl no records": (["eval", "ppl", "--model", str(model), "--data", str(_jsonl(tmp / "e.jsonl"))],
                                "e.jsonl"),
        "text with a lone surrogate": (["data", "pack", "--inputs", str(_jsonl(tmp / "s.jsonl", {"text": "a\ud800"})),
                                        "--out", out], "s.jsonl' line 1"),
        "JSON nested past the parser": (["data", "pack", "--inputs", str(tmp / "deep.jsonl"), "--out", out],
                                        "deep.jsonl' line 1"),
        "tokenizer.json cut short": (["generate", "--model", str(tmp / "cut"), "--prompt", "x"], "tokenizer"),
        "workers past any machine": (["data", "pack", "--inputs", str(src), "--out", out, "--workers", str(10**20)],
                                     "--workers"),
        "fp8 report of no samples": (["quantize", "fp8", "--model", str(model), "--out", out, "--eval-samples", "0"],
                                     "--eval-samples"),
        "gptq no calibration": (["quantize", "gptq", "--model", str(model), "--out", out, "--calib-samples", "0"],
                                "--calib-samples"),
        "peak below zero": ([*sft, "log.peak_flops=-1"], "log.peak_flops"),
        "validation every -1 steps": ([*sft, "log.eval_every_steps=-1"], "log.eval_every_steps"),  # ran after each
        "validation of no batches": ([*sft, "log.eval_batches=0"], "log.eval_batches"),
        "teacher share below zero": (["tools", "data", "--spec", spec, "--out", out, "--teacher-fraction", "-5"],
                                     "--teacher-fraction"),
        "bench threads below zero": (["bench", "decode", "--threads", "-1"], "--threads"),
        "bench two tokens": (["bench", "decode", "--new-tokens", "2"], "--new-tokens"),
        "sft step under one row": ([*sft, "data.epochs=1", "train.global_batch_tokens=1"],
                                   "train.global_batch_tokens"),
        "sft rows past the context": ([*sft, "data.epochs=1", "data.seq_len=100000"], "max_position_embeddings"),
        "eval window 0": (["eval", "ppl", "--model", str(model), "--data", str(src), "--window", "0"], "--window"),
        "data from a device": (["eval", "ppl", "--model", str(model), "--data", "/dev/zero"], "not a regular file"),
        "tools eval limit below 0": (["tools", "eval", "--model", str(model), "--spec", spec, "--data", str(src),
                                      "--limit", "-1"], "--limit"),
        "bench tools limit below 0": (["bench", "tools", "--model", str(model), "--data", str(src), "--limit", "-1"],
                                      "--limit"),
        "bench tools output a directory": (["bench", "tools", "--model", str(model), "--data", str(src), "--output",
                                            str(tmp)], "--output"),
        "tools train data missing": (["tools", "train", "--model", str(model), "--data", str(tmp / "nowhere"), "--out",
                                      out], "does not exist"),
        # The conversations had been left in an --out made for them (and written into a folder of other files).
        "tools train rows past the context": (["tools", "train", "--model", str(model), "--data", records, "--spec",
                                               spec, "--out", out, "data.seq_len=100000"], "max_position_embeddings"),
        "tools train onto other files": (["tools", "train", "--model", str(model), "--data", records, "--spec", spec,
                                          "--out", str(tools_data)], "not a training run's"),
        "fp8 in place": (["quantize", "fp8", "--model", str(model), "--out", str(model), "--force"],
                         "is the input"),
        "gptq in place": (["quantize", "gptq", "--model", str(model), "--out", str(model), "--force"],
                          "is the input"),
        "fp8 over the model's folder": (["quantize", "fp8", "--model", str(model), "--out", str(model.parent),
                                         "--force"], "holds the input"),
        "time budget past a float": ([*sft, "schedule.name=constant", "train.max_minutes=1e308"],
                                     "train.max_minutes"),
        "functional tokens past any API": ([*sft, f"model.functional_tokens={10**20}"], "model.functional_tokens"),
        "call tokens weighted nothing": ([*sft, "model.call_token_weight=0"], "model.call_token_weight"),
        "pretraining functional tokens": (["pretrain", "--data", str(tmp), "--out", out,
                                           f"model.functional_tokens={10**20}"], "model.functional_tokens"),
        "pack tokenizer not a checkpoint": (["data", "pack", "--inputs", str(src), "--out", out, "--tokenizer",
                                             str(tmp)], "point --tokenizer at"),
        "sft --no-merge without --lora": ([*sft, "--no-merge"], "add --lora"),
        "leakage --save-rewrites without --teacher": (["eval", "leakage", "--model", str(model), "--benchmark",
                                                       str(src), "--rewritten", str(src), "--save-rewrites", out],
                                                      "drop --save-rewrites"),
        # a folder there had been found only after every call to the teacher, and named --out
        "leakage --save-rewrites a folder": (["eval", "leakage", "--model", str(model), "--benchmark", str(src),
                                              "--teacher", "http://127.0.0.1:9", "--save-rewrites", str(tools_data)],
                                             "--save-rewrites"),
        "leakage benchmark empty": (["eval", "leakage", "--model", str(model), "--benchmark",
                                     str(_jsonl(tmp / "empty.jsonl")), "--rewritten", str(src)], "holds no items"),
        "tools eval data the data directory": (["tools", "eval", "--model", str(model), "--spec", spec,
                                                "--data", str(tools_data)],
                                               f"pass one of its files, e.g. {tools_data / 'val.jsonl'}"),
    }


def _setting_case_names() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:  # the cases write their small input files; only the names are kept
        return list(_setting_cases(Path(tmp), Path(tmp) / "model"))


@pytest.mark.parametrize("case", _setting_case_names())
def test_bad_setting_or_input_is_one_line(case, micro_dir, tmp_path, capsys):
    (tmp_path / "deep.jsonl").write_text('{"text": ' + "[" * 5000 + "]" * 5000 + "}\n")
    cut = shutil.copytree(micro_dir, tmp_path / "cut")
    (cut / "tokenizer.json").write_text((micro_dir / "tokenizer.json").read_text()[:1000])
    argv, named = _setting_cases(tmp_path, micro_dir)[case]
    _refused(capsys, argv, named)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    assert [p.name for p in (tmp_path / "tools-data").iterdir()] == ["val.jsonl"]  # nothing written beside it
