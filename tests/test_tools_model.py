"""`hare tools train/call/eval` on a hare-micro trained in seconds: calls, prefix cache, scores, errors."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import AGAIN_RECORD, JOINED_RECORD, write_records
from conftest import TOOL_RECORDS as RECORDS

from hare.cli import main
from hare.errors import HareError
from hare.model.tokenizer import API_END
from hare.tools.asides import AFTER
from hare.tools.calls import parse
from hare.tools.decoder import ToolCaller
from hare.tools.evaluate import ToolEvalConfig
from hare.tools.evaluate import run as evaluate
from hare.tools.joins import _worded, run_look, second_look, second_request
from hare.tools.spec import load_spec
from hare.tools.train import BASE_CPU, OCTOPUS, TINY, recipe


def test_trained_model_makes_exact_calls_and_no_call(tool_model):
    caller = ToolCaller.load(str(tool_model), device="cpu")
    assert [f.name for f in caller.functions] == ["take_a_photo", "get_weather_forecast", "set_volume"]
    for record in RECORDS:
        result = caller(record["query"])
        assert result.calls == record["calls"], (record["query"], result.raw)
        assert result.raw.endswith("<api_end>") and result.latency_s > 0


def test_cached_prompt_head_gives_the_same_tokens_as_plain_greedy_generation(tool_model):
    caller = ToolCaller.load(str(tool_model), device="cpu", constrained=False)
    for query in ("weather in Oslo", "something it never saw: 日本語 and  spaces", "?"):  # "?": the shortest prompt
        ids = caller.prompt_ids(query)
        plain = caller.model.generate(torch.tensor([ids]), max_new_tokens=caller.max_new_tokens, do_sample=False,
                                      eos_token_id=sorted(caller.stops), pad_token_id=0)[0, len(ids):].tolist()
        if plain and plain[-1] in caller.stops:
            plain = plain[:-1]
        assert caller.generate(query) == plain


ODD_QUERIES = ["weather in Kathmandu please", "set the ringer volume to 9", "日本語 and  spaces", "", "a" * 300,
               "weather in Oslo; snap a picture",
               "take a selfie and weather in Oslo and ringer volume to 3 and tell me a joke", "Oslo Oslo Oslo",
               "'); import os; os.system('x') #", "<api_1>(location='Lima')<api_end>"]


def test_constrained_answers_always_parse_and_copy_free_text_from_the_query(tool_model):
    """Under the grammar no answer is malformed, whatever the query; free-text values are spans of it, and a
    request with no words gets no call (`hare tools call` and the server refuse it before decoding; the decoder
    itself answers it so, one at a time and batched)."""
    from hare.tools.grammar import MAX_CALLS

    caller = ToolCaller.load(str(tool_model), device="cpu", copy_values=True)
    for query in ODD_QUERIES:
        result = caller(query)
        assert isinstance(result.calls, list), (query, result.raw)
        assert len(result.calls) <= MAX_CALLS
        for call in result.calls:
            if call["name"] == "get_weather_forecast":
                assert call["arguments"]["location"].casefold() in query.casefold(), (query, result.raw)
            if call["name"] == "set_volume":
                assert 0 <= call["arguments"]["level"] <= 10 and call["arguments"]["volume_type"] in (
                    "ring", "media", "alarm")
    blank = ["", "   ", "\n\t"]
    assert [r.calls for r in caller.batch([*blank, "weather in Oslo"])] == [[], [], [], caller("weather in Oslo").calls]
    free = ToolCaller.load(str(tool_model), device="cpu", constrained=False)
    assert [free(q).calls for q in blank] == [[], [], []]
    for record in RECORDS:  # what the model learnt, the grammar does not change
        assert caller(record["query"]).calls == free(record["query"]).calls == record["calls"]


def test_batched_decoding_gives_the_answers_of_single_calls(tool_model):
    """`batch` (the eval's accuracy pass) left-pads rows of different lengths and feeds forced tokens one
    per step; the answers must be those of one call at a time, whatever shares the batch."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    queries = [r["query"] for r in RECORDS] + ODD_QUERIES
    single = [caller(q).raw for q in queries]
    assert [r.raw for r in caller.batch(queries, size=5)] == single
    assert [r.raw for r in caller.batch(queries[::-1], size=3)] == single[::-1]


def test_a_value_said_again_after_the_joiner_cuts_at_its_first_saying(joined_tool_model):
    """`hare.tools.joins`: the joiner after a value's first saying counts ("create an event Book club … and email …
    subject Book club" had no look)."""
    caller = ToolCaller.load(str(joined_tool_model), device="cpu")
    weather, picture = JOINED_RECORD["calls"][0], AGAIN_RECORD["calls"][0]
    assert caller(AGAIN_RECORD["query"]).calls == [picture]
    again = "weather in Oslo; snap a picture of Oslo"
    assert second_request(caller, again, caller.functions, [], [weather])[0] == [weather, picture]


def test_a_value_that_ran_into_the_next_request_is_cut_where_the_rest_is_a_request_of_its_own(joined_tool_model):
    """`hare.tools.joins`: an answer whose value ran over "then" into the next request is decoded again with
    the value closed at the joiner; the model's calls after it are kept because the rest alone gets them too.
    Where the rest is no request ("tell me a joke" gets no call), the value stays whole."""
    caller = ToolCaller.load(str(joined_tool_model), device="cpu")
    weather, selfie = JOINED_RECORD["calls"]
    for rest, expected in (("take a selfie", [weather, selfie]), ("tell me a joke", None)):
        query = f"weather in Oslo then {rest}"
        swallowed = caller.tok(f"<api_1>(location=' Oslo then {rest}')", add_special_tokens=False).input_ids
        calls = parse(caller.tok.decode(swallowed) + API_END, caller.functions, query)
        assert calls == [{"name": "get_weather_forecast", "arguments": {"location": f"Oslo then {rest}"}}]
        found = second_request(caller, query, caller.functions, swallowed, calls)
        assert (found and found[0]) == expected, query


def test_a_request_the_answer_dropped_is_added_when_the_words_before_it_get_the_answer_alone(tool_model):
    """`hare.tools.joins`: after every copied value, a joiner; the words before it get the answer's calls on
    their own, the words after it another function's: both are the answer, in one call and in a batch. The
    rest of a request that names the same function again adds nothing (a fragment reads as the request)."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    weather, selfie = RECORDS[2]["calls"][0], RECORDS[1]["calls"][0]
    query = "weather in Oslo; snap a picture"
    assert caller(query).calls == [weather, selfie]
    assert caller.batch([query, "take a selfie"])[0].calls == [weather, selfie]
    assert second_request(caller, query, caller.functions, [], [weather])[0] == [weather, selfie]
    # " + " joins two requests as typed in haste ("walking directions … to Pantheon + weather in Rome" lost its
    # second); "Disney+" and "+1 415 …" are no joiner.
    assert second_request(caller, "weather in Oslo + snap a picture", caller.functions, [], [weather])[0] == [
        weather, selfie]
    hasty = "Bluey on Disney+ on the hub, call +1 415 555 0132 + snap a picture"
    assert [j.group() for j in AFTER.finditer(hasty)] == [" + "]
    assert second_request(caller, "take a selfie; snap a picture", caller.functions, [],
                          [RECORDS[0]["calls"][0]]) is None
    # The words before the joiner alone may differ from the answer in a number or a choice, not in its functions or
    # words: theirs are taken ("connect to Bose QuietComfort 45 and turn media volume to 4" gave timeout 40).
    ringer, loud = RECORDS[4]["calls"][0], {"name": "set_volume", "arguments": {"level": 8, "volume_type": "ring"}}
    assert second_request(caller, "ringer volume to 3; snap a picture", caller.functions, [], [loud])[0] == [
        ringer, RECORDS[1]["calls"][0]]
    # The request before the joiner dropped: the words after it get the answer alone, those before it add theirs.
    picture = {"name": "take_a_photo", "arguments": {"camera": "back"}}
    assert second_request(caller, query, caller.functions, [], [selfie])[0] == [weather, selfie]
    assert second_request(caller, "weather in Oslo; snap a picture", caller.functions, [], [picture])[0] == [weather,
                                                                                                           picture]
    # Words before a request that only announce it ("hi, I need to send an email. to …") gave a text to "an"
    # saying "an": a call whose texts hold no word of three letters is not added.
    sms = {"name": "send_text_message", "arguments": {"contact_name": "an", "message": "an"}}
    assert not _worded([sms], load_spec("android")) and _worded([picture, weather], caller.functions)


def test_a_decode_told_to_avoid_a_token_picks_another_there(tool_model):
    """The second look for a repeated value (`hare.tools.joins`) decodes again from where the value opened with
    its first token barred: the answer goes on from the prefix with another pick, then as the model likes."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    ids, ended, _ = caller.decode("weather in Oslo", None)
    opened = next(k for k in range(len(ids)) if caller.tok.decode(ids[:k]).endswith("='"))
    again, _, _ = caller.decode("weather in Oslo", None, ids[:opened], avoid=ids[opened])
    assert ended and again[:opened] == ids[:opened] and len(again) > opened and again[opened] != ids[opened]


def test_a_time_said_after_a_joiner_is_a_value_of_the_answer_not_a_dropped_request(tool_model):
    """`hare.tools.joins`: "car wash … starts 4 May 2025 1:45 pm and goes until 2:30PM" was answered right, then the
    look for a dropped request read only the values written as said ("car wash"), not the end's 2025-05-04-14-30,
    and answered "goes until 2:30PM" again as an alarm. A value is placed by the words the request says it in."""
    caller, android = ToolCaller.load(str(tool_model), device="cpu"), load_spec("android")
    event = {"name": "create_calendar_event", "arguments": {"title": "car wash", "start_time": "2025-05-04-13-45",
                                                            "end_time": "2025-05-04-14-30"}}

    def decode(*request: object) -> None:
        raise LookupError("looked again")

    query = "car wash, it starts 4 May 2025 1:45 pm and goes until 2:30PM"
    assert run_look(second_look(caller, query, android, [], [event]), decode) is None
    with pytest.raises(LookupError):  # the end said before the joiner: what follows it may be a dropped request
        run_look(second_look(caller, "car wash 4 May 2025 1:45 pm until 2:30PM and snap a picture", android, [],
                             [event]), decode)


def test_a_value_said_right_after_a_joiner_is_answered_again_as_a_second_request(tool_model):
    """`hare.tools.joins`: "set an alarm for 05:50 and set the alarm volume to 9" gave the alarm the label "set
    the alarm volume". A value that begins right after a joiner is answered again as the request's two parts,
    kept when the words before the joiner get the answer's functions and those after it others."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    weather, ringer = RECORDS[2]["calls"][0], RECORDS[4]["calls"][0]
    for rest, expected in (("ringer volume to 3", [weather, ringer]), ("tell me a joke", None)):
        led = {"name": "get_weather_forecast", "arguments": {"location": rest}}
        found = second_request(caller, f"weather in Oslo; {rest}", caller.functions, [], [led])
        assert (found and found[0]) == expected, rest
    # A quoted value before the joiner ("text Ben 'leaving now' and lock the door" was a text saying "lock the
    # door"): the closing quote ends the first request as a word does.
    led = {"name": "get_weather_forecast", "arguments": {"location": "ringer volume to 3"}}
    assert second_request(caller, "weather in 'Oslo' and ringer volume to 3", caller.functions, [], [led])[0] == [
        weather, ringer]
    for said in ("text Ben 'leaving now' and lock", 'email "Draft"; lock', "pair Nothing Ear (a) and give it 9",
                 "text Jo 'you up?' and lock"):
        assert len(list(AFTER.finditer(said))) == 1, said


def test_two_calls_that_take_the_same_words_are_answered_again_part_by_part(tool_model):
    """`hare.tools.joins`: two calls whose values take the same once-said words ("show Ted Lasso … and after
    that search … for French for travelers" gave both calls "French for travelers") are answered again as the
    request's parts, split at a joiner; the parts' answers are kept only when they call the same functions."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    (oslo,), (picture,) = RECORDS[2]["calls"], RECORDS[1]["calls"]
    took = {"name": "take_a_photo", "arguments": {"camera": "Oslo"}}  # the second call took the first's words
    found = second_request(caller, "weather in Oslo; snap a picture", caller.functions, [], [oslo, took])
    assert found is not None and found[0] == [oslo, picture]
    assert second_request(caller, "weather in Oslo; tell me a joke", caller.functions, [], [oslo, took]) is None
    # The parts may call another function than the answer did ("… on the nest hub usinng Audiomack, then shoot Ana
    # a msg saying where are you?" was a video of "Where are you?"): as many calls, no shared words.
    volume = {"name": "set_volume", "arguments": {"level": 3, "volume_type": "Oslo"}}
    found = second_request(caller, "weather in Oslo; snap a picture", caller.functions, [], [oslo, volume])
    assert found is not None and found[0] == [oslo, picture]
    # One function twice may share its words ("text Bob and Alice I'm late"): no second look at them.
    assert second_request(caller, "weather in Oslo; is it raining in Lima", caller.functions, [], [oslo, oslo]) is None


def test_a_batch_decodes_the_second_looks_as_rows_of_its_passes(joined_tool_model, monkeypatch):
    """`hare.tools.joins` decodes parts of a request again. In a batch (the eval's accuracy pass, the server)
    those decodes are rows of the batch's own passes, not calls one at a time between them (which took 40 %
    of `hare tools eval`'s time), and the answers are those of single calls: a value closed at a joiner and
    the words after it alone (the swallowing answer is given, as this model does not write it), the words
    before a joiner alone."""
    from hare.tools.decoder import Rows

    caller = ToolCaller.load(str(joined_tool_model), device="cpu")
    swallowing = "weather in Oslo then take a selfie"
    swallowed = caller.tok("<api_1>(location=' Oslo then take a selfie')", add_special_tokens=False).input_ids
    parsed = caller._parsed
    monkeypatch.setattr(caller, "_parsed", lambda query, new, *rest: parsed(
        query, swallowed if query == swallowing else new, *rest))
    queries = ["weather in Oslo; snap a picture", swallowing, "take a selfie", "ringer volume to 3 and weather in Lima",
               "weather in Oslo then tell me a joke", "weather in Lima"]
    single = [caller(q) for q in queries]
    weather, selfie = JOINED_RECORD["calls"]
    assert single[1].calls == [weather, selfie]
    looks: list[tuple[bool, str]] = []  # (closing a value, query) of each second look's decode that joined
    enter = Rows._enter

    def spy(self, rows):
        looks.extend((r.answer.closers is not None, r.answer.query) for r in rows if r.owner is not None)
        return enter(self, rows)

    def one_at_a_time(*args, **kwargs):
        raise AssertionError("a second look decoded outside the batch")

    monkeypatch.setattr(Rows, "_enter", spy)
    monkeypatch.setattr(caller, "decode", one_at_a_time)
    for size in (6, 2):
        looks.clear()
        batched = caller.batch(queries, size=size)
        assert [(r.calls, r.raw) for r in batched] == [(r.calls, r.raw) for r in single]
        assert (True, swallowing) in looks and (False, "take a selfie") in looks, looks
        assert (False, "weather in Oslo") in looks, looks  # the words before "; " alone


def test_rows_join_a_batch_under_way_and_leave_when_they_end(tool_model, monkeypatch):
    """A server's batch changes between passes: rows added while others are half-way through their
    answers (their caches padded to one length) and rows leaving as soon as they end must still give the
    answers, and the logits, of one call at a time; a discarded row leaves without disturbing the others."""
    import torch

    from hare.tools.decoder import Rows

    caller = ToolCaller.load(str(tool_model), device="cpu", dtype="float32")
    caller.draft = 0  # the same tokens fed in every pass, alone or not: logits comparable pass by pass
    queries = [r["query"] for r in RECORDS] + ODD_QUERIES
    single = {q: caller(q).raw for q in queries}
    seen: dict[str, list[torch.Tensor]] = {}  # each row's logits, pass by pass
    adding: list[str] = []  # the keys of the rows whose prompts a pass computes (`add`, a second look's decodes)
    run_pass, run_enter = Rows._pass, Rows._enter

    def spy_pass(self, ids, mask, cache, keep):
        logits = run_pass(self, ids, mask, cache, keep)
        for key, row in zip(adding or [r.key for r in self.live], logits, strict=True):
            seen.setdefault(key, []).append(row[-1])
        return logits

    def spy_enter(self, rows):
        adding[:] = [row.key for row in rows]
        try:
            return run_enter(self, rows)
        finally:
            adding.clear()

    monkeypatch.setattr(Rows, "_pass", spy_pass)
    monkeypatch.setattr(Rows, "_enter", spy_enter)
    alone = {}
    for q in queries:
        seen.clear()
        rows = Rows(caller)
        rows.add([(q, q, None)])
        while rows:
            rows.step()
        alone[q] = seen[q]
    seen.clear()
    rows, answers, widths = Rows(caller), {}, []

    def add(batch):
        answers.update((q, r.raw) for q, r in rows.add([(q, q, None) for q in batch]))
        widths.append(len(rows))

    add(queries[:2])
    answers.update((q, r.raw) for q, r in rows.step())
    add(queries[2:5])  # longer prompts than the rows under way
    rows.discard(lambda q: q == queries[4])
    for q in queries[5:]:
        answers.update((q, r.raw) for q, r in rows.step())
        add([q])
    while rows:
        answers.update((q, r.raw) for q, r in rows.step())
    assert max(widths) >= 4, widths  # rows did join a batch under way
    assert answers == {q: single[q] for q in queries if q != queries[4]}
    for q in answers:
        assert len(seen[q]) == len(alone[q]), q
        for together, by_itself in zip(seen[q], alone[q], strict=True):
            torch.testing.assert_close(together, by_itself, atol=1e-4, rtol=1e-4)


def test_required_argument_names_are_fed_in_one_pass(tool_model, monkeypatch):
    """After `<api_i>` the grammar knows `(name` up to the `=` of a required argument: one forward pass
    takes those tokens together, so a call costs fewer passes than it has tokens, with the same answer."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    caller.draft = 0  # forced tokens alone (drafts are the next test's)
    passes = []
    step = caller._logits
    monkeypatch.setattr(caller, "_logits", lambda ids, cache, keep=1: passes.append(len(ids)) or step(ids, cache, keep))
    result = caller("ringer volume to 3")
    assert result.calls == [{"name": "set_volume", "arguments": {"level": 3, "volume_type": "ring"}}]
    # The prompt pass, then one pass per step: together the steps feed every new token, and at least one
    # step fed more than its chosen token (the forced `(level` / `, volume_type` pieces).
    assert sum(passes[1:]) == result.new_tokens
    assert len(passes) - 1 < result.new_tokens and max(passes[1:]) > 1, passes
    assert caller.grammar(caller.functions).forced("<api_2> (level=3, volume_type=' ri,") == []  # inside a value



def test_query_tokens_drafted_into_a_value_give_the_same_answers_in_fewer_passes(tool_model, monkeypatch):
    """After a value's first token the decoder feeds the query's next tokens with it (prompt lookup) and
    keeps those the greedy grammar step picks anyway: the same answers as undrafted decoding, fewer
    passes, and a draft that runs past the value is dropped from the cache, not kept."""
    caller = ToolCaller.load(str(tool_model), device="cpu", dtype="float32")
    queries = [r["query"] for r in RECORDS] + ODD_QUERIES
    passes, dropped = [], []
    step, drop = caller._logits, caller._drop
    monkeypatch.setattr(caller, "_logits", lambda ids, cache, keep=1: passes.append(keep) or step(ids, cache, keep))
    monkeypatch.setattr(caller, "_drop", lambda count, cache: dropped.append(count) or drop(count, cache))
    caller.draft = 0
    plain = [caller(q).raw for q in queries]
    plain_passes, passes[:] = len(passes), []
    caller.draft = 8
    assert [caller(q).raw for q in queries] == plain
    assert max(passes) > 1 and len(passes) < plain_passes, (len(passes), plain_passes)
    assert dropped
    # In a batch a row's draft fills its padding next to a wider row; a rejected tail is masked out.
    assert [r.raw for r in caller.batch(queries, size=5)] == plain

def test_new_tokens_start_from_their_function_description(micro_dir):
    from hare.model.load import load_model
    from hare.train.sft import init_token_rows

    model, tok = load_model(str(micro_dir), "cpu", "float32")
    table = model.get_input_embeddings().weight
    before = table.detach().clone()
    init_token_rows(model, tok, {"<api_1>": "weather forecast", "<api_2>": "weather report"})
    ids = tok("weather forecast", add_special_tokens=False).input_ids
    api = tok.convert_tokens_to_ids(["<api_1>", "<api_2>"])
    assert torch.allclose(table[api[0]], before[api[0]] + before[ids].mean(0))
    assert torch.nn.functional.cosine_similarity(table[api[0]], table[api[1]], dim=0) < 0.9  # still apart


def test_cli_call_prints_json_and_eval_scores_with_failures(tool_model, tmp_path, capsys):
    assert main(["tools", "call", "--model", str(tool_model), "--device", "cpu", "take a selfie", "--raw"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["result"] == RECORDS[0]["calls"] and line["latency_ms"] > 0
    wrong = {"query": "weather in Oslo",
             "calls": [{"name": "get_weather_forecast", "arguments": {"location": "Bergen"}}]}
    data = write_records(tmp_path / "eval.jsonl", [*RECORDS, wrong])
    report = evaluate(ToolEvalConfig(model=str(tool_model), data=str(data), device="cpu",
                                     output=str(tmp_path / "r.json")))
    n = len(RECORDS) + 1
    assert report["queries"] == n and report["function_accuracy"] == 1.0
    assert report["exact_call_accuracy"] == pytest.approx((n - 1) / n) and report["no_call_accuracy"] == 1.0
    assert report["failures"] == [{"query": "weather in Oslo", "expected": wrong["calls"], "got": RECORDS[2]["calls"]}]
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["latency_ms_p95"] >= report["latency_ms_p50"] > 0 and saved["latency_calls"] == n
    assert "exact-call accuracy" in capsys.readouterr().out


def _respecified(spec: list[dict], change: str) -> list[dict]:
    spec = json.loads(json.dumps(spec))
    if change == "reordered":
        spec.reverse()
    elif change == "one left out":
        spec.pop()
    elif change == "a parameter changed":
        spec[0]["function"]["parameters"]["properties"]["zoom"] = {"type": "integer"}
    else:  # "prose only": what a client may reword
        for item in spec:
            item["function"]["description"] = "reworded " + item["function"]["description"]
    return spec


@pytest.mark.parametrize("change", ["reordered", "one left out", "a parameter changed", "prose only"])
def test_a_spec_other_than_the_trained_one_is_refused(tool_model, tmp_path, capsys, change):
    """`<api_i>` is the i-th function the model was trained on: another --spec made its calls name the wrong
    function without a word (the server refuses such tools, 400 tool_schema_mismatch); reworded descriptions pass."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_respecified(json.loads((tool_model / "tools.json").read_text()), change)))
    code = main(["tools", "call", "--model", str(tool_model), "--spec", str(spec), "--device", "cpu", "take a selfie"])
    said = capsys.readouterr()
    if change == "prose only":
        assert code == 0 and json.loads(said.out) == RECORDS[0]["calls"]
    else:
        assert code == 2 and said.out == "" and "Traceback" not in said.err
        assert "is not the API spec" in said.err and "drop --spec" in said.err


def test_eval_file_with_unknown_function_names_the_line(tool_model, tmp_path, capsys):
    data = write_records(tmp_path / "eval.jsonl", [RECORDS[0], {"query": "order pizza", "calls": [{"name": "order"}]}])
    assert main(["tools", "eval", "--model", str(tool_model), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "eval.jsonl:2: unknown function 'order'" in err and "Traceback" not in err


@pytest.mark.parametrize("query, needle", [("  ", "request is empty"), ("weather in Oslo " * 600, "shorten it"),
                                           ("caf\udce9", "request 2 is not UTF-8")])
def test_a_request_the_model_cannot_take_is_one_line_and_no_answer(tool_model, tmp_path, capsys, query, needle):
    """Empty, past the context (it failed deep in the model), or argv bytes that are not UTF-8: refused before
    anything is decoded, as the server refuses them; in an eval file the record is named."""
    assert main(["tools", "call", "--model", str(tool_model), "--device", "cpu", "take a selfie", query]) == 2
    said = capsys.readouterr()
    assert said.out == ""  # not even the good request before it is answered
    assert needle in said.err and len(said.err.strip().splitlines()) == 1 and "Traceback" not in said.err
    if "UTF-8" not in needle:
        data = write_records(tmp_path / "eval.jsonl", [RECORDS[0], {"query": query, "calls": []}])
        assert main(["tools", "eval", "--model", str(tool_model), "--data", str(data)]) == 2
        err = capsys.readouterr().err
        assert "record 2: the request" in err and needle in err and "Traceback" not in err


def test_model_without_functional_tokens_is_refused(tmp_path):
    from hare.model.init import InitConfig
    from hare.model.init import run as init

    plain = init(InitConfig(out=str(tmp_path / "plain"), functional_tokens=0))
    with pytest.raises(HareError, match="no functional tokens"):
        ToolCaller.load(str(plain), spec="android")
    with pytest.raises(HareError, match="pass --spec"):
        ToolCaller.load(str(plain))


def test_recipe_follows_model_size(tmp_path):
    from hare.model.presets import padded_vocab_size, preset_config

    for preset, device, expected in (("hare-1.1b", "cuda", OCTOPUS), ("hare-tiny", "cpu", TINY),
                                     ("hare-1.1b", "cpu", [*BASE_CPU, "model.freeze_layers=14"])):
        preset_config(preset, padded_vocab_size(32023)).save_pretrained(tmp_path / preset)
        assert recipe(str(tmp_path / preset), device) == expected
    assert "lora.enabled=true" in OCTOPUS and "optim.lr=5e-5" in OCTOPUS and "data.epochs=3" in OCTOPUS


def test_max_steps_given_is_the_run_length(micro_dir, tmp_path, capsys):
    """The CPU recipes train by epochs; `train.max_steps=N` on the command line sets the length instead
    (it was silently ignored), and `--print-config` shows it."""
    import yaml

    from hare.tools.spec import load_spec, save_spec

    save_spec(load_spec("android"), tmp_path)
    write_records(tmp_path / "train.jsonl", RECORDS)
    assert main(["tools", "train", "--model", str(micro_dir), "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--print-config", "train.max_steps=7"]) in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["max_steps"] == 7 and printed["data"]["epochs"] == 0


# Three functions of the android spec as <api_0>…<api_2>, the tokens the tool model has.
PHONE_SPEC = ("make_phone_call", "connect_to_bluetooth_device", "send_text_message")
EMAIL_SPEC = ("send_email", "connect_to_bluetooth_device", "send_text_message")


@pytest.mark.parametrize(("names", "query", "said", "meant"), [
    (PHONE_SPEC, "connect me to +34 314 796163",
     {"name": "connect_to_bluetooth_device", "arguments": {"device_name": "+34 314 796163", "timeout": 10}},
     {"name": "make_phone_call", "arguments": {"phone_number": "+34314796163"}}),
    (EMAIL_SPEC, "subject Rent, body paid in full, send it to kenji59@company.co.uk",
     {"name": "send_text_message", "arguments": {"contact_name": "kenji59@company.co.uk", "message": "paid in full"}},
     {"name": "send_email", "arguments": {"recipient": "kenji59@company.co.uk", "title": "Rent",
                                          "content": "paid in full"}}),
])
def test_a_number_or_address_filed_as_free_text_is_answered_again_with_that_function_barred(tool_model, names, query,
                                                                                            said, meant):
    """A phone number or an e-mail address said whole as a device's or a contact's name, where another function
    takes it in an argument of its own: the answer is decoded again from the call's functional token, that token
    barred, and kept when the value then fills such an argument (the decodes are answered by hand here: what is
    tested is the look, not what a three-function model would answer)."""
    from dataclasses import replace

    from hare.tools.calls import render
    from hare.tools.joins import _misfiled

    caller = ToolCaller.load(str(tool_model), device="cpu")
    functions = [replace(next(f for f in load_spec("android") if f.name == n), index=i) for i, n in enumerate(names)]

    def answer(calls: list[dict]) -> list[int]:
        return caller.tok(render(calls, functions, query), add_special_tokens=False).input_ids

    ids, barred = answer([said]), caller.tok.convert_tokens_to_ids(f"<api_{names.index(said['name'])}>")
    look = _misfiled(caller, query, functions, ids, [said])
    assert next(look) == (query, functions, ids[:ids.index(barred)], False, barred)
    with pytest.raises(StopIteration) as kept:
        look.send((answer([meant]), True, 0))
    assert kept.value.value[0] == [meant]
    look = _misfiled(caller, query, functions, ids, [said])
    next(look)
    with pytest.raises(StopIteration) as stays:  # filed the same way again: the answer stays
        look.send((ids, True, 0))
    assert stays.value.value is None
    with pytest.raises(StopIteration) as nothing:  # nothing misfiled: no decode asked
        next(_misfiled(caller, query, functions, answer([meant]), [meant]))
    assert nothing.value.value is None
