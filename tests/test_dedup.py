"""`hare data dedup`: exact and near duplicates go, distinct documents and first occurrences stay."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import one_line_error, write_jsonl

from hare.cli import main
from hare.data.dedup import DedupConfig, run
from hare.data.ngrams import normalize, shingles, words
from hare.errors import HareError

BASE = ("The red fox crossed the frozen river at dawn while the village still slept and the baker lit his ovens "
        "for the first loaves of the morning, humming an old song about the sea.")
NEAR = BASE.replace("about the sea.", "about the ocean.")
OTHER = "Copper conducts electricity well, which is why most household wiring uses copper cables inside walls."


def test_exact_and_near_duplicates_removed(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [BASE, OTHER, "  THE red fox crossed the frozen river, at dawn " + BASE[44:]])
    b = write_jsonl(tmp_path / "b.jsonl", [NEAR, "A completely different sentence about hares eating clover."])
    out = tmp_path / "out.jsonl.gz"
    report = run(DedupConfig(inputs=[str(a), str(b)], out=str(out), report=str(tmp_path / "r.json")))
    with gzip.open(out, "rt") as f:
        kept = [json.loads(line)["text"] for line in f]
    assert kept == [BASE, OTHER, "A completely different sentence about hares eating clover."]
    assert report["documents"] == 5 and report["kept"] == 3
    assert report["exact_duplicates"] == 1 and report["near_duplicates"] == 1
    exact, near = report["removed"]
    assert exact == {"doc": f"{a}:3", "duplicate_of": f"{a}:1", "kind": "exact", "jaccard": 1.0}
    assert near["doc"] == f"{b}:1" and near["duplicate_of"] == f"{a}:1" and near["kind"] == "near"
    assert 0.8 <= near["jaccard"] < 1
    assert json.loads((tmp_path / "r.json").read_text())["removed"] == report["removed"]


def test_normalisation_is_documented_behaviour():
    assert normalize("Hello,  World!\n") == normalize("hello world") == "hello world"


def test_bad_line_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine"}) + "\n{not json\n")
    with pytest.raises(HareError, match=r"bad.jsonl' line 2"):
        run(DedupConfig(inputs=[str(bad)], out=str(tmp_path / "o.jsonl")))
    assert not (tmp_path / "o.jsonl").exists() and not list(tmp_path.glob(".o.jsonl*"))
    missing = write_jsonl(tmp_path / "m.jsonl", ["x"])
    code = main(["data", "dedup", "--inputs", str(missing), "--out", str(tmp_path / "o.jsonl"),
                 "--text-field", "body"])
    err = capsys.readouterr().err
    assert code == 2 and "m.jsonl' line 1" in err and "Traceback" not in err


# 45 words, 41 word 5-grams; one changed word leaves 36 shared of 46: Jaccard 0.78, just below 0.8
FERRY = ("On the first cold morning of autumn the ferry left the harbour late because fog had settled over the water "
         "and the captain waited for the lighthouse beam to cut through before steering past the rocks toward the "
         "island where the market opened at nine")
FERRY_SKIPPER = FERRY.replace("the captain", "the skipper")


def test_a_near_miss_just_below_the_threshold_is_kept(tmp_path):
    a, b = (set(shingles(words(t), 5)) for t in (FERRY, FERRY_SKIPPER))
    assert 0.75 < len(a & b) / len(a | b) < 0.8
    corpus = write_jsonl(tmp_path / "c.jsonl", [FERRY, FERRY_SKIPPER])
    report = run(DedupConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl")))
    assert report["kept"] == 2 and report["removed"] == []
    report = run(DedupConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl"), threshold=0.7, overwrite=True))
    assert report["near_duplicates"] == 1 and 0.7 <= report["removed"][0]["jaccard"] < 0.8


def test_report_names_the_sources_that_repeat(tmp_path):
    rows = [{"text": BASE, "strategy": "textbook", "template": "planet_intro"},
            {"text": BASE, "strategy": "textbook", "template": "planet_intro"},
            {"text": NEAR, "strategy": "textbook", "template": "planet_age"},
            {"text": OTHER, "strategy": "math", "template": "shop"}]
    corpus = tmp_path / "s.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run(DedupConfig(inputs=[str(corpus)], out=str(tmp_path / "o.jsonl")))
    assert report["by_source"] == {"textbook/planet_intro": {"documents": 2, "exact": 1, "near": 0},
                                   "textbook/planet_age": {"documents": 1, "exact": 0, "near": 1},
                                   "math/shop": {"documents": 1, "exact": 0, "near": 0}}
    assert [r["source"] for r in report["removed"]] == ["textbook/planet_intro", "textbook/planet_age"]
    plain = run(DedupConfig(inputs=[str(write_jsonl(tmp_path / "p.jsonl", [BASE, BASE]))], out=str(tmp_path / "p.out")))
    assert "by_source" not in plain and "source" not in plain["removed"][0]


@pytest.mark.parametrize("num_perm", [8, 1025, 10**20])
def test_num_perm_outside_its_range_is_refused_before_the_work(num_perm, tmp_path):
    """10**20 permutations had datasketch loop for ever building its hash functions."""
    cfg = DedupConfig(inputs=[str(write_jsonl(tmp_path / "a.jsonl", [BASE]))], out=str(tmp_path / "o.jsonl"),
                      num_perm=num_perm)
    with pytest.raises(HareError, match=r"--num-perm must be in \[16, 1024\], got"):
        cfg.validate()


def test_a_report_path_that_is_a_directory_is_refused_before_the_output(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "a.jsonl", [BASE, OTHER])
    (tmp_path / "reports").mkdir()
    code = main(["data", "dedup", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                 "--report", str(tmp_path / "reports")])
    assert code == 2
    one_line_error(capsys, "--report", "reports", "is a directory")
    assert not (tmp_path / "o.jsonl").exists() and not list(tmp_path.glob(".o.jsonl*"))
    code = main(["data", "dedup", "--inputs", str(corpus), "--out", str(tmp_path / "o.jsonl"),
                 "--report", str(corpus / "r.json")])
    assert code == 2
    one_line_error(capsys, "a.jsonl' is a file, not a folder; choose another --report")
    # an --out that is a directory is refused before the work too, even with --overwrite
    code = main(["data", "dedup", "--inputs", str(corpus), "--out", str(tmp_path / "reports"), "--overwrite"])
    assert code == 2
    one_line_error(capsys, "--out", "reports", "is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "reports"]
