"""`hare data decontam`: contaminated documents go, clean ones stay, every benchmark schema is read.

`fixtures/decontam/corpus.jsonl` quotes each fixture item (six schemas) in four framings found on the
web — "(A) … (B) … Answer: B" inside a paragraph, "Question:/A./Answer:" lines, numbered with "A)"
letters, and the answer in prose (GSM8K as "Problem: … Solution: …" without "#### n", Winogrande with
the blank filled, HellaSwag as a continuation) — beside clean documents on the same topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import one_line_error, write_jsonl

from hare.cli import main
from hare.data.benchmark_items import detect_schema, load_benchmark
from hare.data.decontam import DecontamConfig, decontam_words, run
from hare.errors import HareError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
CORPUS = Path(__file__).parent / "fixtures" / "decontam" / "corpus.jsonl"
SCHEMAS = {"mmlu.jsonl": "mmlu", "arc_challenge.jsonl": "arc", "truthfulqa_mc.jsonl": "truthfulqa",
           "winogrande.jsonl": "winogrande", "hellaswag.jsonl": "hellaswag", "gsm8k.jsonl": "gsm8k"}
# A HellaSwag item, lightly reworded ("children" → "kids", punctuation) and embedded in other text.
EMBEDDED = ("Holiday blog, day three. Two children build a sandcastle near the water at low tide! A wave rolls in "
            "and washes away the outer wall, so the kids quickly dig a moat to protect the towers. Then we had lunch.")
# A GSM8K item with its worked answer, inside a page of other text.
GSM = ("Practice sheet. Priyanka bakes 4 trays of muffins with 9 muffins on each tray. She sells 23 muffins at the "
       "school fair and gives 5 to her neighbours. How many muffins does she have left? She baked 4 * 9 = 36 muffins. "
       "She gave away 23 + 5 = 28 muffins. She has 36 - 28 = 8 left. #### 8")
CLEAN = "Hares are fast runners and can reach speeds of seventy kilometres per hour across open fields in spring."
# Shares one of the four 13-grams of an MMLU question (16 words once the article "a" is dropped).
PARTIAL = ("Quiz night notes: which organ of a garden snail is mainly responsible for scraping algae from the "
           "glass of an aquarium, nobody knew.")


def decontam(tmp_path: Path, texts: list[str], benchmarks: Path = FIXTURES, **options) -> dict:
    corpus = write_jsonl(tmp_path / "c.jsonl", texts)
    return run(DecontamConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl"), benchmarks=[str(benchmarks)],
                              overwrite=True, **options))


def dropped_lines(report: dict) -> list[int]:
    return [int(d["doc"].rsplit(":", 1)[1]) for d in report["dropped_documents"]]


@pytest.mark.parametrize("name, schema", SCHEMAS.items())
def test_every_fixture_schema_is_detected(name, schema):
    found, items = load_benchmark(FIXTURES / name)
    assert found == schema and len(items) == (4 if schema == "mmlu" else 3)
    for item in items:
        assert item.question and len(item.answers) == 1
        assert schema == "gsm8k" or item.answers[0] in item.choices
    if schema == "winogrande":  # cut at the blank, so no n-gram spans it
        assert items[0].question == ("Marisol gave the heavy toolbox to Dmitri because ",
                                     " had hurt her back while moving furniture the day before.")
        assert items[0].answers == ("Marisol",)
    if schema == "gsm8k":
        assert items[0].answers[0].endswith("She has 36 - 28 = 8 left.") and "<<" not in items[0].answers[0]


def test_parquet_benchmarks_are_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in (FIXTURES / "arc_challenge.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "arc.parquet")
    assert load_benchmark(tmp_path / "arc.parquet") == load_benchmark(FIXTURES / "arc_challenge.jsonl")


def test_contaminated_documents_dropped(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [EMBEDDED, CLEAN, GSM, PARTIAL])
    out = tmp_path / "clean.jsonl"
    report = run(DecontamConfig(inputs=[str(corpus)], out=str(out), benchmarks=[str(FIXTURES)],
                                report=str(tmp_path / "r.json")))
    kept = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert kept == [CLEAN, PARTIAL]
    by_name = {b["name"]: b for b in report["benchmarks"]}
    assert by_name["hellaswag.jsonl"]["documents_dropped"] == 1 and by_name["hellaswag.jsonl"]["items_hit"] == 1
    assert by_name["gsm8k.jsonl"]["documents_dropped"] == 1
    assert sum(b["documents_dropped"] for b in report["benchmarks"]) == 2
    assert [d["doc"] for d in report["dropped_documents"]] == [f"{corpus}:1", f"{corpus}:3"]
    # a short context, so its ending must show too: 4 of the ending's 15 4-grams hold "kids" instead of "children"
    assert report["dropped_documents"][0] == {"doc": f"{corpus}:1", "benchmark": "hellaswag.jsonl", "item": 2,
                                              "matched": {"question": 1.0, "answer": 0.7333}}
    assert json.loads((tmp_path / "r.json").read_text())["dropped"] == 2


def test_gpt3_mode_drops_on_any_shared_ngram(tmp_path):
    assert decontam(tmp_path, [EMBEDDED, CLEAN, PARTIAL])["dropped"] == 1
    report = decontam(tmp_path, [EMBEDDED, CLEAN, PARTIAL], mode="gpt3", workers=2)
    assert report["dropped"] == 2 and report["kept"] == 1
    assert {d["benchmark"] for d in report["dropped_documents"]} == {"hellaswag.jsonl", "mmlu.jsonl"}


@pytest.mark.parametrize("mode", ["hare", "gpt3"])
def test_the_framings_corpus(tmp_path, mode):
    docs = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    assert {d["benchmark"] for d in docs if d["contaminated"]} == set(SCHEMAS)
    assert len({d["framing"] for d in docs}) == 5 and sum(not d["contaminated"] for d in docs) >= 20
    report = run(DecontamConfig(inputs=[str(CORPUS)], out=str(tmp_path / "o.jsonl"), benchmarks=[str(FIXTURES)],
                                mode=mode))
    dropped = {int(d["doc"].rsplit(":", 1)[1]) - 1: d for d in report["dropped_documents"]}
    for i, doc in enumerate(docs):
        if doc["contaminated"]:
            assert i in dropped, doc
            assert (dropped[i]["benchmark"], dropped[i]["item"]) == (doc["benchmark"], doc["item"]), doc
    false_positives = [docs[i]["text"] for i in dropped if not docs[i]["contaminated"]]
    # GPT-3's rule convicts on one shared n-gram: the page asking the short MMLU question without its answer
    assert false_positives == ([] if mode == "hare" else [next(d["text"] for d in docs if d["text"].startswith(
        "Which gas makes up most of the air we breathe? Our class guessed oxygen"))])


def test_labels_and_markers_neither_make_nor_break_a_match():
    plain = decontam_words("Which gas? Oxygen Nitrogen Argon. 4 * 9 = 36 muffins.")
    for framed in ("Question: Which gas? (A) Oxygen (B) Nitrogen (C) Argon. Answer: B 4 * 9 = <<4*9=36>>36 muffins.",
                   "1. Which gas?\nA. Oxygen\nB) Nitrogen\nC: Argon.\nAnswer: (B)\n4 * 9 = 36 muffins.",
                   "Problem: Which gas?\n(a) Oxygen (b) Nitrogen (c) Argon.\nSolution: 4 * 9 = 36 muffins.\n####"):
        assert decontam_words(framed) == plain, framed
    # the article goes with the letter A, on both sides alike; numbers inside a line stay
    assert decontam_words("I bought a car. A dog barked.") == ["i", "bought", "car", "dog", "barked"]
    assert decontam_words("So 36 - 28 = 8. Then 9) went") == ["so", "36", "28", "8", "then", "9", "went"]


def write_items(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_short_question_needs_its_answer(tmp_path):
    question = "Which planet in our solar system has the most moons?"  # 10 words: three 8-grams, no 13-gram
    bench = write_items(tmp_path / "b" / "mmlu.jsonl", [
        {"question": question, "choices": ["Earth", "Mars", "Saturn", "Venus"], "answer": 2},
        {"question": "Define entropy.", "choices": ["a", "b"], "answer": 0}])  # 2 words: skipped
    report = decontam(tmp_path, [f"Quiz: {question} Nobody knew.", f"Quiz: {question} Is it Mars or Earth?",
                                 f"Quiz: {question} (A) Earth (B) Mars (C) Saturn Answer: C",
                                 f"{question} Saturn, with well over a hundred."], bench)
    assert dropped_lines(report) == [3, 4]
    assert report["dropped_documents"][0]["matched"] == {"question": 1.0, "answer": 1.0}
    assert report["benchmarks"][0] | {"file": ""} == {
        "file": "", "name": "mmlu.jsonl", "schema": "mmlu", "items": 2, "items_skipped_too_short": 1,
        "items_needing_answer": 1, "documents_dropped": 2, "items_hit": 1}


def test_threshold_boundary(tmp_path):
    words = ("the old ferry crossed the wide grey estuary twice each morning carrying farmers and their sheep to "
             "the island market").split()  # 20 words: eight 13-grams, convicts alone
    bench = write_items(tmp_path / "b" / "gsm8k.jsonl", [{"question": " ".join(words), "answer": "2 trips\n#### 2"}])
    at = " ".join(words[:16])  # 4 of 8 13-grams: exactly the threshold, kept
    above = " ".join(words[:17])  # 5 of 8: just above it, dropped
    report = decontam(tmp_path, [f"Diary. {at}. Rain later.", f"Diary. {above}. Rain later."], bench)
    assert dropped_lines(report) == [2]
    assert report["dropped_documents"][0]["matched"] == {"question": 0.625}
    assert dropped_lines(decontam(tmp_path, [at], bench, threshold=0.49)) == [1]


def test_unknown_schema_lists_the_supported_ones(tmp_path):
    with pytest.raises(HareError, match="supported: mmlu"):
        detect_schema({"prompt": "x", "completion": "y"}, tmp_path / "x.jsonl")
    (tmp_path / "odd.jsonl").write_text(json.dumps({"prompt": "x"}) + "\n")
    corpus = write_jsonl(tmp_path / "c.jsonl", [CLEAN])
    with pytest.raises(HareError, match="odd.jsonl.*winogrande"):
        run(DecontamConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl"),
                           benchmarks=[str(tmp_path / "odd.jsonl")]))


def test_unreadable_benchmark_files(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [CLEAN])
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "broken.jsonl").write_text("{oops\n")
    for bad in ("broken.parquet", "broken.jsonl", "missing.jsonl"):
        code = main(["data", "decontam", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                     "--benchmarks", str(tmp_path / bad)])
        assert code == 2
        one_line_error(capsys, bad)
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("question", [5, ["Which gas do plants take in?"], None, {"text": "x"}])
def test_a_question_that_is_not_text_is_refused_naming_file_line_and_field(question, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [CLEAN])
    bench = write_jsonl(tmp_path / "bench.jsonl", [
        {"question": "Which gas do green plants take in from the air to make food?", "answer": "CO2 #### 1"},
        {"question": question, "answer": "x #### 2"}])
    code = main(["data", "decontam", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                 "--benchmarks", str(bench)])
    assert code == 2
    one_line_error(capsys, "bench.jsonl' line 2", "'question'")
    assert not (tmp_path / "o.jsonl").exists()


def test_a_report_path_that_is_a_directory_is_refused_before_the_output(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [CLEAN])
    (tmp_path / "reports").mkdir()
    code = main(["data", "decontam", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                 "--benchmarks", str(FIXTURES), "--report", str(tmp_path / "reports")])
    assert code == 2
    one_line_error(capsys, "--report", "reports", "is a directory")
    assert not (tmp_path / "o.jsonl").exists() and not list(tmp_path.glob(".o.jsonl*"))
    code = main(["data", "decontam", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                 "--benchmarks", str(FIXTURES), "--report", str(tmp_path / "o.jsonl")])
    assert code == 2
    one_line_error(capsys, "--report", "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "reports"]
