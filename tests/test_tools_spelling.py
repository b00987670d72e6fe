"""Slips in a request read as the words the tool model was trained on (`hare.tools.spelling`)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TOOL_RECORDS, one_line_error

from hare.cli import main
from hare.tools.calls import CallError
from hare.tools.decoder import ToolCaller
from hare.tools.spec import load_spec
from hare.tools.spelling import WORDS_FILE, Spelling, count_words, fingers_slip, restore

COUNTS = {"texts": 40, "the": 500, "take": 60, "bump": 30, "thermostat": 50, "mute": 40, "media": 40, "tell": 50,
          "alarm": 40, "up": 90, "to": 400, "now": 80, "weather": 40, "in": 300}


@pytest.mark.parametrize(("typed", "read", "words"), [
    ("bump the tehrmostat up to 68", "bump the thermostat up to 68", {"tehrmostat": "thermostat"}),  # swapped
    ("now mue media", "now mute media", {"mue": "mute"}),  # a letter dropped, down to three
    ("Tehrmostat to 68, now mutte media!", "Thermostat to 68, now mute media!",  # a capital at the start stays
     {"Tehrmostat": "Thermostat", "mutte": "mute"}),
    ('"wether" in Oslo', '"weather" in Oslo', {"wether": "weather"}),  # in quotes
])
def test_a_slip_on_a_trained_word_is_read_as_it(tok, typed, read, words):
    assert Spelling(COUNTS, tok).fix(typed) == (read, words)


@pytest.mark.parametrize(("query", "why"), [
    ("text Tane Williams I'm here", "a capitalised word inside a sentence is a name"),
    ("email tane@mail.com and tane.w@x.io", "part of an address"),
    ("set two alarms", "an inflection of a trained word is no slip"),
    ("how tall is everest", "the tokenizer has the word whole: a word someone meant"),
    ("flights to texas", "… or has it whole capitalised (a name said in lower case)"),
    ("TKAE a photo", "an acronym or a shout"),
    ("go to the tk", "under three letters"),
])
def test_words_that_are_no_slip_are_read_as_typed(tok, query, why):
    assert len(tok.tokenize("a tall")) == 2 and len(tok.tokenize("a tehrmostat")) > 2  # the premise of "tall"
    assert Spelling(COUNTS, tok).fix(query) == (query, {}), why


@pytest.mark.parametrize(("word", "meant", "slip"), [
    ("nees", "news", True), ("zeto", "zero", True),  # e-w, t-r: keys side by side
    ("wnat", "what", True), ("wsnt", "want", True),  # n below h; s beside a
    ("tehrmostat", "thermostat", True), ("mue", "mute", True), ("alarrm", "alarm", True),  # swapped, dropped, added
    ("fave", "five", False), ("nite", "nine", False), ("wont", "want", False),  # far keys: other words
    ("news", "news", False), ("nwes", "news", True), ("nws", "news", True), ("nwse", "news", False),
])
def test_a_slip_of_a_finger_is_one_key_dropped_added_swapped_or_beside(word, meant, slip):
    assert fingers_slip(word, meant) is slip


def test_a_word_the_requests_said_often_enough_is_their_own(tok):
    """Read only at RATIO times rarer than the word it slips on: a spelling trained on is the model's to read."""
    assert Spelling(COUNTS | {"tehrmostat": 2}, tok).fix("the tehrmostat")[0] == "the thermostat"  # 50 ≥ 20 × 2
    assert Spelling(COUNTS | {"tehrmostat": 3}, tok).fix("the tehrmostat")[0] == "the tehrmostat"  # 50 < 20 × 3
    assert Spelling({"thermostat": 9}, tok).fix("the tehrmostat")[0] == "the tehrmostat"  # too rare to read as


def test_a_word_spelt_as_it_sounds_is_read_as_the_trained_word_unless_it_also_slips_on_one(tok):
    """"nite" is "night" and "selfy" "selfie" (no slip: "nite" is far from "nine" on the keys), but "foto" sounds
    like "photo" and is a swap from "foot", and "fone" is "phone" or a slip on "fine": read as typed."""
    counts = {"night": 70, "selfie": 100, "photo": 190, "foot": 30, "phone": 330, "fine": 30, "take": 60, "a": 900}
    spelling = Spelling(counts, tok)
    assert spelling.fix("an alarm at 7 tomorrow nite") == ("an alarm at 7 tomorrow night", {"nite": "night"})
    assert spelling.fix("take a selfy") == ("take a selfie", {"selfy": "selfie"})
    assert spelling.fix("take a foto") == ("take a foto", {})
    assert spelling.fix("is everything fone") == ("is everything fone", {})
    assert Spelling(counts | {"foot": 0}, tok).fix("take a foto") == ("take a photo", {"foto": "photo"})
    assert Spelling(counts | {"photo": 0}, tok).fix("take a foto") == ("take a foot", {"foto": "foot"})
    assert Spelling(counts | {"nite": 4}, tok).fix("nite")[0] == "nite"  # said: trained on, the model's to read


def test_copied_values_get_the_typed_spelling_back_and_the_specs_words_stay():
    functions = load_spec("android")
    calls = [{"name": "send_text_message", "arguments": {"contact_name": "Bob", "message": "I'm running late"}},
             {"name": "set_volume", "arguments": {"level": 3, "volume_type": "media"}},
             {"name": "set_timer_alarm", "arguments": {"time": "07:00", "label": "alarm"}}]
    typed = "text Bob I'm runnig late, meida volume 3 and an alrm for 7"
    back = restore(calls, {"runnig": "running", "meida": "media", "alrm": "alarm"}, typed, functions)
    assert back[0]["arguments"] == {"contact_name": "Bob", "message": "I'm runnig late"}
    assert back[1:] == calls[1:]  # an enum's word and a default are the spec's, not copies of the request
    # A word the request also says as it is: which one the value copied is unknown, so the value stays.
    assert restore(calls, {"runnig": "running"}, "running? text Bob I'm runnig late", functions) == calls
    error = CallError("syntax", "cut short", "")
    assert restore(error, {"runnig": "running"}, "runnig", functions) is error


def test_tools_train_keeps_the_words_of_its_requests_beside_the_model(tool_model):
    counts = json.loads((tool_model / WORDS_FILE).read_text())
    assert counts == count_words(r["query"] for r in TOOL_RECORDS)
    assert counts["weather"] == 2 and counts["oslo"] == 1 and "Oslo" not in counts
    assert list(counts.values()) == sorted(counts.values(), reverse=True)  # most said first


def test_the_caller_answers_a_slip_as_the_word_it_slips_on(tool_model, tmp_path, capsys):
    """Single calls and a batch read "wether in Lmia" as "weather in Lima" and answer alike; the value keeps
    the typed spelling. `--no-spelling` reads it as typed."""
    model = tmp_path / "model"
    shutil.copytree(tool_model, model)
    (model / WORDS_FILE).write_text(json.dumps({"weather": 40, "lima": 40, "take": 40, "selfie": 40}))
    caller = ToolCaller.load(str(model), device="cpu")
    right = caller("weather in lima")
    assert right.calls == [{"name": "get_weather_forecast", "arguments": {"location": "lima"}}], right.raw
    slipped = caller("wether in lmia")
    assert slipped.calls == [{"name": "get_weather_forecast", "arguments": {"location": "lmia"}}], slipped.raw
    assert slipped.raw == right.raw and slipped.read_as == {"wether": "weather", "lmia": "lima"}
    batch = caller.batch(["tkae a selfie", "wether in lmia", "weather in lima"], size=2)
    assert [r.calls for r in batch] == [caller("take a selfie").calls, slipped.calls, right.calls]
    assert batch[0].read_as == {"tkae": "take"} and batch[2].read_as == {}
    assert ToolCaller.load(str(model), device="cpu", spelling=False)("wether in lmia").raw != right.raw
    capsys.readouterr()
    assert main(["tools", "call", "--model", str(model), "--raw", "wether in lmia"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["read_as"] == {"wether": "weather", "lmia": "lima"}


@pytest.mark.parametrize("content", ['{"weather": 40', '["weather", 40]', '{"weather": "40"}'])
def test_a_damaged_words_file_is_one_clear_error(tool_model, tmp_path, capsys, content):
    model = tmp_path / "model"
    shutil.copytree(tool_model, model)
    (model / WORDS_FILE).write_text(content)
    capsys.readouterr()
    assert main(["tools", "call", "--model", str(model), "take a selfie"]) == 2
    one_line_error(capsys, str(model / WORDS_FILE), "train the tool model again, or delete")
    assert main(["tools", "call", "--model", str(model), "--no-spelling", "take a selfie"]) in (0, None)
