"""`hare data decontam`: contaminated documents go, clean ones stay, every benchmark schema is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hare.cli import main
from hare.data.decontam import DecontamConfig, detect_schema, load_benchmark, run
from hare.errors import HareError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"
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
# Shares one 13-gram with an MMLU item but far less than half of its n-grams.
PARTIAL = ("Quiz night notes: which organ of a garden snail is mainly responsible for scraping algae from the "
           "surface of a rock, nobody knew.")


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


@pytest.mark.parametrize("name, schema", SCHEMAS.items())
def test_every_fixture_schema_is_detected(name, schema):
    found, items = load_benchmark(FIXTURES / name)
    assert found == schema and len(items) == 3 and all(len(t.split()) > 8 for t in items)


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
    assert report["dropped_documents"][0] | {"overlap": 0} == {"doc": f"{corpus}:1", "benchmark": "hellaswag.jsonl",
                                                             "item": 2, "overlap": 0}
    assert json.loads((tmp_path / "r.json").read_text())["dropped"] == 2


def test_gpt3_mode_drops_on_any_shared_ngram(tmp_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [EMBEDDED, CLEAN, PARTIAL])
    report = run(DecontamConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl"), benchmarks=[str(FIXTURES)],
                                mode="gpt3", workers=2))
    assert report["dropped"] == 2 and report["kept"] == 1
    assert {d["benchmark"] for d in report["dropped_documents"]} == {"hellaswag.jsonl", "mmlu.jsonl"}


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
        err = capsys.readouterr().err
        assert code == 2 and bad in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()
