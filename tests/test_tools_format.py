"""Tool specs, the call format and `hare tools data`: checks, round trips, splits by wording, teacher."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from conftest import stub_teacher

from hare.cli import main
from hare.errors import HareError
from hare.tools.calls import CallError, normalize, parse, render
from hare.tools.data import ToolDataConfig, generate
from hare.tools.spec import check_capacity, load_spec, parse_spec
from hare.tools.surface import DIGIT_WORDS

ANDROID = load_spec("android")


def fn(name: str, properties: dict | None = None, required: list | None = None) -> dict:
    return {"type": "function", "function": {"name": name, "description": f"Does {name}.", "parameters": {
        "type": "object", "properties": properties or {}, "required": required or []}}}


def test_bundled_android_spec_is_octopus_order():
    assert [f.name for f in ANDROID][:3] == ["take_a_photo", "get_trending_news", "get_weather_forecast"]
    assert len(ANDROID) == 20 and ANDROID[19].name == "open_or_lock_door" and ANDROID[19].index == 19
    assert ANDROID[0].defaults == {"camera": "back"} and ANDROID[10].defaults == {"label": "alarm"}


@pytest.mark.parametrize("items, message", [
    ([fn("a"), fn("a")], "duplicate function name 'a'"),
    ([fn("a", {"x": {"type": "strin"}})], "not a valid JSON Schema"),
    ([fn("a", {"class": {"type": "string"}})], "'class' of 'a' is not a Python identifier"),
    ([fn("a", {"x": {"type": "string"}}, ["y"])], "requires ['y']"),
    ([{"type": "function", "function": {"description": "no name"}}], "item 0 has no function name"),
    ({"name": "a"}, "non-empty JSON list"),
    ([fn("a", {"x": {"type": "integer", "minimum": 10, "maximum": 1}})], "properties.x: minimum 10, maximum 1 leave"),
    ([fn("a", {"x": {"type": "integer", "exclusiveMinimum": 2, "exclusiveMaximum": 3}})], "no integer satisfies"),
    ([fn("a", {"x": {"type": "number", "minimum": 1, "default": 0.5}})], "x.default: 0.5 is not a valid value"),
])
def test_bad_specs_name_the_item(items, message):
    with pytest.raises(HareError) as err:
        parse_spec(items, "my.json")
    assert message in str(err.value) and "my.json" in str(err.value)


def test_more_functions_than_tokens_is_refused():
    with pytest.raises(HareError, match="21 functions but the tokenizer has 20"):
        check_capacity(parse_spec([fn(f"f{i}") for i in range(21)]), 20)
    # past what `hare init --functional-tokens` takes, it does not suggest that command
    with pytest.raises(HareError, match="1001 functions.*split the spec: a model holds at most 1000") as err:
        check_capacity(parse_spec([fn(f"f{i}") for i in range(1001)]), 20)
    assert "hare init" not in str(err.value)


def test_render_leaves_out_defaults_but_not_choices_and_parse_fills_them():
    calls = [{"name": "take_a_photo", "arguments": {"camera": "back"}},
             {"name": "set_timer_alarm", "arguments": {"time": "07:30", "label": "alarm"}}]
    text = render(calls, ANDROID)
    assert text == "<api_0>(camera=' back');<api_10>(time=' 07:30')<api_end>"
    assert parse(text, ANDROID) == calls
    assert parse("<api_0>()<api_end>", ANDROID) == calls[:1]
    assert parse("<api_end>", ANDROID) == []


@pytest.mark.parametrize("value", ["San Francisco", "Ana", "the Premier League", "Min-jun Park"])
def test_string_values_tokenize_as_in_the_query(value):
    """The model copies a value it never saw token for token only if its tokens match the query's."""
    from hare.model.tokenizer import build_tokenizer

    tok = build_tokenizer()
    call = render([{"name": "get_weather_forecast", "arguments": {"location": value}}], ANDROID)
    query_ids = tok(f"what's the weather in {value}", add_special_tokens=False).input_ids
    call_ids = tok(call, add_special_tokens=False).input_ids
    value_ids = tok(f"in {value}", add_special_tokens=False).input_ids[1:]
    assert query_ids[-len(value_ids):] == value_ids
    assert any(call_ids[i:i + len(value_ids)] == value_ids for i in range(len(call_ids)))


@pytest.mark.parametrize("raw, kind", [
    ("hello there", "syntax"),
    ("<api_11>(level=", "syntax"),
    ("<api_11>(level=__import__('os').system('rm -rf /'))<api_end>", "syntax"),
    ("<api_42>()<api_end>", "unknown_function"),
    ("<api_0>(camera='side')<api_end>", "invalid_arguments"),
    ("<api_11>(level=11)<api_end>", "invalid_arguments"),
    ("<api_11>(brightness=3)<api_end>", "invalid_arguments"),
    ("<api_2>()<api_end>", "invalid_arguments"),  # location is required
])
def test_malformed_output_is_a_structured_error(raw, kind):
    result = parse(raw, ANDROID)
    assert isinstance(result, CallError) and result.kind == kind and result.raw == raw
    assert result.to_json()["error"]["type"] == kind


def test_parse_coerces_obvious_types_and_accepts_positional_arguments():
    assert parse("<api_11>(level='7')", ANDROID) == [{"name": "change_screen_brightness", "arguments": {"level": 7}}]
    assert parse("<api_15>(enabled='true')", ANDROID)[0]["arguments"] == {"enabled": True}
    assert parse("<api_7>('Ana', 'hi')", ANDROID)[0]["arguments"] == {"contact_name": "Ana", "message": "hi"}


def test_a_call_repeated_exactly_is_made_once_but_two_different_ones_both():
    twice = "<api_7>(contact_name='Ana', message='hi'); <api_7>(contact_name='Ana', message='hi')<api_end>"
    assert parse(twice, ANDROID) == [{"name": "send_text_message",
                                      "arguments": {"contact_name": "Ana", "message": "hi"}}]
    two = "<api_7>(contact_name='Ana', message='hi'); <api_7>(contact_name='Bo', message='hi')<api_end>"
    assert [c["arguments"]["contact_name"] for c in parse(two, ANDROID)] == ["Ana", "Bo"]


def test_normalize_compares_strings_loosely_and_numbers_by_value():
    a = [{"name": "send_text_message", "arguments": {"contact_name": " ana ", "message": "On my  way"}}]
    b = [{"name": "send_text_message", "arguments": {"contact_name": "Ana", "message": "on my way"}}]
    assert normalize(a, ANDROID) == normalize(b, ANDROID)
    assert normalize([{"name": "set_volume", "arguments": {"level": 3.0, "volume_type": "ring"}}], ANDROID) == \
        normalize([{"name": "set_volume", "arguments": {"level": 3, "volume_type": "ring"}}], ANDROID)
    assert normalize(b, ANDROID) != normalize([{"name": "send_text_message",
                                                "arguments": {"contact_name": "Ann", "message": "on my way"}}], ANDROID)


@pytest.fixture(scope="module")
def android_data():
    return generate(ToolDataConfig(per_function=60, irrelevant=120, parallel=60, seed=3))


def test_every_generated_record_round_trips_through_the_format(android_data):
    in_words = 0
    for record in android_data["train"] + android_data["val"]:
        for query in (None, record["query"]):  # canonical values, and values in the query's words
            assert normalize(parse(render(record["calls"], ANDROID, query), ANDROID), ANDROID) == \
                normalize(record["calls"], ANDROID), record
        in_words += render(record["calls"], ANDROID, record["query"]) != render(record["calls"], ANDROID)
        for call in record["calls"]:  # complete calls: defaults filled
            fn_ = next(f for f in ANDROID if f.name == call["name"])
            assert set(fn_.required) | set(fn_.defaults) <= set(call["arguments"])
    assert in_words > 100  # times, dates and formatted phone numbers are targets in the user's words


def test_validation_uses_unseen_templates_connectors_and_queries(android_data):
    train, val = android_data["train"], android_data["val"]
    templates = {split: {r["template"] for r in rs if r["kind"] == "single"} for split, rs in android_data.items()}
    assert templates["train"] and templates["val"] and not templates["train"] & templates["val"]
    assert len({r["template"].split(":")[0] for r in val if r["kind"] == "single"}) == 20  # every function
    assert not {r["query"].casefold() for r in train} & {r["query"].casefold() for r in val}
    kinds = {k: sum(r["kind"] == k for r in train) for k in ("single", "parallel", "irrelevant")}
    assert kinds["single"] > 900 and kinds["parallel"] > 50 and kinds["irrelevant"] > 50
    assert all(len(r["calls"]) == 2 and r["calls"][0]["name"] != r["calls"][1]["name"]
               for r in train if r["kind"] == "parallel")
    assert all(r["calls"] == [] for r in train if r["kind"] == "irrelevant")


@pytest.mark.parametrize("function, copied, query, widened", [
    ("set_timer_alarm", {"time": "11:10"}, "alarm for 11:10 pm pls", {"time": "23:10"}),
    ("set_timer_alarm", {"time": "7"}, "wake me at 7 tonight", {"time": "19:00"}),
    ("create_calendar_event", {"title": "x", "start_time": "June 3", "end_time": "3 pm"},
     "x on June 3, 2026 at 1 pm to 3 pm", {"start_time": "2026-06-03-13-00", "end_time": "2026-06-03-15-00"}),
    ("make_phone_call", {"phone_number": "+49 151"}, "call +49 151 23456789 now", {"phone_number": "+4915123456789"}),
    ("create_calendar_event", {"title": "x", "start_time": "3pm", "end_time": "4pm"},  # the date before the copy
     "x on 3 June 2026 at 3pm until 4pm", {"start_time": "2026-06-03-15-00", "end_time": "2026-06-03-16-00"}),
    ("set_timer_alarm", {"time": "eight"}, "alarm at quarter to eight", {"time": "07:45"}),
    ("set_timer_alarm", {"time": "07:30"}, "alarm at 7:30, thanks", {"time": "07:30"}),  # complete: unchanged
    ("set_timer_alarm", {"time": "23:10"}, "alarm for 11:10 pm", {"time": "23:10"}),  # not a copy: unchanged
])
def test_a_time_date_or_number_copied_short_is_widened_to_the_users_words(function, copied, query, widened):
    """The grammar lets a value end at any form the parser reads, so "11:10" of "11:10 pm" is a valid but
    wrong answer (23:10 meant); given the query, parsing widens it to the longest surface starting there."""
    fn = next(f for f in ANDROID if f.name == function)
    text = f"<api_{fn.index}>(" + ", ".join(f"{k}={v!r}" for k, v in copied.items()) + ")<api_end>"
    calls = parse(text, ANDROID, query)
    assert {k: calls[0]["arguments"][k] for k in widened} == widened
    if widened != {k: copied[k] for k in widened}:  # without the query the copy is read as it stands
        alone = parse(text, ANDROID)
        assert isinstance(alone, CallError) or {k: alone[0]["arguments"][k] for k in widened} != widened


@pytest.mark.parametrize("query, title, start, end", [
    ("Please create an event called Iftar at Yusuf's on January 20, 2027 starting at 6:30 pm and ending at 8 pm",
     "Iftar at Yusuf's", "2027-01-20-18-30", "2027-01-20-20-00"),  # the one date said, apart from the clock
    ("add June 3 launch to my calendar on 4 July 2027, 5pm to 6pm", "June 3 launch", "2027-07-04-17-00",
     "2027-07-04-18-00"),  # a date in the title's words is the title's
])
def test_a_clock_copied_alone_takes_the_one_date_said_apart_from_it(query, title, start, end):
    fn = next(f for f in ANDROID if f.name == "create_calendar_event")
    clock = re.findall(r"\d+(?::\d+)? ?pm", query)
    text = f"<api_{fn.index}>(title={' ' + title!r}, start_time=' {clock[0]}', end_time=' {clock[1]}')<api_end>"
    assert parse(text, ANDROID, query)[0]["arguments"] == {"title": title, "start_time": start, "end_time": end}


def test_an_abbreviated_weekday_dates_the_event_and_stays_out_of_its_title():
    """"on Tue" was no date: the event went to today, and "on Tue" into its title."""
    import datetime as dt

    fn = next(f for f in ANDROID if f.name == "create_calendar_event")
    text = f"<api_{fn.index}>(title=' team sync', start_time=' 10am', end_time=' 11am')<api_end>"
    call = parse(text, ANDROID, "schedule team sync on Tue at 10am until 11am")[0]["arguments"]
    start = dt.datetime.strptime(call["start_time"], "%Y-%m-%d-%H-%M")
    assert (call["title"], start.weekday(), start.hour) == ("team sync", 1, 10)  # Tuesday
    assert call["end_time"][:10] == call["start_time"][:10]


@pytest.mark.parametrize("query, start, end", [
    ("lunch on July 14 2026 at 12:30 for an hour", "2026-07-14-12-30", "2026-07-14-13-30"),
    ("lunch on July 14 2026 at 12:30 for 45 mins", "2026-07-14-12-30", "2026-07-14-13-15"),
    ("lunch on July 14 2026 at 12:30 for an hour and a half", "2026-07-14-12-30", "2026-07-14-14-00"),
    ("lunch on July 14 2026 at 12:30 for 1 hour 15 minutes", "2026-07-14-12-30", "2026-07-14-13-45"),
    ("lunch on July 14 2026 at 12:30 for half an hour", "2026-07-14-12-30", "2026-07-14-13-00"),
    ("lunch on July 14 2026 at 23:30 for ninety minutes", "2026-07-14-23-30", "2026-07-15-01-00"),
    ("lunch on July 14 2026 at 12:30 for two hours", "2026-07-14-12-30", "2026-07-14-14-30"),
    ("lunch on July 14 2026 at 12:30 for an hour or for 90 minutes", "2026-07-14-12-30", "2026-07-14-12-30"),  # which?
    ("lunch for 2 on July 14 2026 at 12:30", "2026-07-14-12-30", "2026-07-14-12-30"),  # "for 2" is no duration
])
def test_an_end_copied_from_the_start_lasts_as_long_as_the_request_says(query, start, end):
    """"at 12:30 for an hour" says one clock, so the end can only copy the start's: the duration sets it."""
    raw = "<api_12>(title=' lunch', start_time=' July 14 2026 at 12:30', end_time=' 12:30')<api_end>"
    (call,) = parse(raw.replace("12:30", start[-5:].replace("-", ":")), ANDROID, query)
    assert (call["arguments"]["start_time"], call["arguments"]["end_time"]) == (start, end)


@pytest.mark.parametrize("query, end, names", [
    ("car wash, it starts 4 May 2025 1:45 pm and goes until 2:30PM", "2025-05-04-14-30", ["create_calendar_event"]),
    ("car wash on 4 May 2025 at 1:45 pm, done by 2:30pm", "2025-05-04-14-30", ["create_calendar_event"]),
    ("car wash on 4 May 2025 at 1:45 pm - 2:30 pm", "2025-05-04-14-30", ["create_calendar_event"]),
    ("car wash on 4 May 2025 at 1:45 pm and set an alarm for 2:30PM", "2025-05-04-13-45",  # no end's words
     ["create_calendar_event", "set_timer_alarm"]),
    ("car wash on 4 May 2025 at 1:45 pm until 2:30PM or until 3pm", "2025-05-04-13-45",  # which?
     ["create_calendar_event", "set_timer_alarm"]),
    ("car wash on 4 May 2025 at 1:45 pm until 11am", "2025-05-04-13-45",  # earlier: no end of this start
     ["create_calendar_event", "set_timer_alarm"]),
])
def test_an_end_copied_from_the_start_is_the_clock_the_request_ends_it_at(query, end, names):
    """"it starts 4 May 2025 1:45 pm and goes until 2:30PM" came back as an event from 13:45 to 13:45 and an alarm at
    14:30: an end equal to its start is the one later clock that the request leads to with words of an end, and a
    call made of nothing but that clock and defaults goes with it."""
    calls = [{"name": "create_calendar_event", "arguments": {"title": "car wash", "start_time": "2025-05-04-13-45",
                                                             "end_time": "2025-05-04-13-45"}},
             {"name": "set_timer_alarm", "arguments": {"time": "14:30", "label": "alarm"}}]
    got = parse(render(calls, ANDROID, query), ANDROID, query)
    assert [c["name"] for c in got] == names
    assert got[0]["arguments"]["end_time"] == end
    contact = {"name": "create_contact", "arguments": {"name": "Kwame", "phone_number": "+233241234567"}}
    call = {"name": "make_phone_call", "arguments": {"phone_number": "+233241234567"}}
    query = "save Kwame +233 24 123 4567 to contacts then call him"  # one number, two calls: not a clock
    assert parse(render([contact, call], ANDROID, query), ANDROID, query) == [contact, call]


def test_an_end_before_its_start_is_the_clock_the_request_ends_it_at():
    """"Add Swim meet … from 8am to noon. Also set an alarm at 6:15 am" came back with the event ending at the
    alarm's 6:15, before it starts; an overnight end that the request gives ("10pm to 2am") stays."""
    query = "Add Swim meet to my calendar on April 17th 2027 from 8am to noon. Also set an alarm at 6:15 am called swim"
    raw = ("<api_12>(title=' Swim meet', start_time=' April 17th 2027 from 8am', end_time=' 6:15 am');"
           "<api_10>(time=' 6:15 am', label=' swim')<api_end>")
    event, alarm = parse(raw, ANDROID, query)
    assert (event["arguments"]["end_time"], alarm["arguments"]["time"]) == ("2027-04-17-12-00", "06:15")
    raw = "<api_12>(title=' party', start_time=' April 17th 2027 at 10pm', end_time=' 2am')<api_end>"
    (event,) = parse(raw, ANDROID, "party on April 17th 2027 at 10pm to 2am")
    assert event["arguments"]["end_time"] == "2027-04-17-02-00"


@pytest.mark.parametrize("query, start, read", [
    ("new event Sprint 42 retro 11/20/2026 3pm to 4pm", "4pm", "2026-11-20-15-00"),
    ("retro on June 3 2026 from 3pm until 4pm", "June 3 2026 at 4pm", "2026-06-03-15-00"),
    ("retro June 3 2026 3 - 4pm", "4pm", "2026-06-03-15-00"),  # a bare hour takes the end's pm
    ("retro June 3 2026 5pm to 4pm", "4pm", "2026-06-03-16-00"),  # a later clock starts nothing before it
    ("retro June 3 2026 at 4pm", "4pm", "2026-06-03-16-00"),  # no other clock
])
def test_a_start_written_as_its_end_is_the_clock_the_request_starts_it_at(query, start, read):
    """"new event Sprint 42 retro 11/20/2026 3pm to 4pm" came back as ' 4pm' for both start and end (the 150-step
    quickstart model of 45ad4d3): the start is the clock said right before the end's words, "to" between them."""
    event = next(f for f in ANDROID if f.name == "create_calendar_event")
    (call,) = parse(f"<api_{event.index}>(title=' retro', start_time=' {start}', end_time=' 4pm')<api_end>", ANDROID,
                    query)
    assert call["arguments"]["start_time"] == read
    assert call["arguments"]["end_time"] == read[:11] + "16-00"


def test_a_value_ends_before_the_requests_comma_not_with_it():
    raw = "<api_3>(recipient=' a@b.co', title=' Re: plans,', content=' see you then;')<api_end>"
    assert parse(raw, ANDROID, "email a@b.co subject Re: plans, and say see you then; thanks")[0]["arguments"] == {
        "recipient": "a@b.co", "title": "Re: plans", "content": "see you then"}


@pytest.mark.parametrize("query, place, read", [
    ("show me the weather forecast for Paris, France and then alarm at 4:50pm", "Paris", "Paris, France"),
    ("what should I wear in Cork, Ireland tomorrow? check the forecast", "cork", "Cork, Ireland"),
    ("forecast Washington, D.C. please", "Washington", "Washington, D.C"),
    ("forecast Tel Aviv, I'm in a hurry", "Tel Aviv", "Tel Aviv"),  # "I" begins no region
    ("weather in Oslo, thanks", "Oslo", "Oslo"),
    ("weather in Oslo, Thanks!", "Oslo", "Oslo"),  # nor thanks, nor a next request's first word
    ("weather in Oslo and Oslo, Norway", "Oslo", "Oslo"),  # said twice: which one is unknown
])
def test_a_place_copied_without_its_region_gets_it(query, place, read):
    """A small model ends "Paris, France" at its comma more often than the training data does: a place the
    request follows with a capitalised region after a comma is widened to it."""
    (call,) = parse(f"<api_2>(location=' {place}')<api_end>", ANDROID, query)
    assert call["arguments"]["location"] == read
    raw = f"<api_5>(origin=' {place}', destination=' Rome')<api_end>"  # any argument that names a place
    assert parse(raw, ANDROID, query + " to Rome")[0]["arguments"]["origin"] == read


@pytest.mark.parametrize("topic, query, read", [
    ("stock market news", "Show me trending stock market news in Japanese", "stock market"),
    ("tech headlines", "any tech headlines today", "tech"),
    ("Fox News", "what's trending on Fox News", "Fox News"),  # a name
    ("news", "any news", "news"),  # nothing else to ask about
])
def test_a_topic_copied_with_the_word_for_what_is_asked_about_it_ends_before_it(topic, query, read):
    """"Show me trending stock market news in Japanese" had the topic "stock market news" (the 150-step quickstart
    model of 45ad4d3): the people who labelled it, and the generator, leave "news" out."""
    news = next(f for f in ANDROID if f.name == "get_trending_news")
    (call,) = parse(f"<api_{news.index}>(query=' {topic}')<api_end>", ANDROID, query)
    assert call["arguments"]["query"] == read
    youtube = next(f for f in ANDROID if f.name == "search_youtube_videos")  # a search's words are the search's
    (call,) = parse(f"<api_{youtube.index}>(query=' cat videos')<api_end>", ANDROID, "youtube cat videos")
    assert call["arguments"]["query"] == "cat videos"


@pytest.mark.parametrize("query, origin, destination, read", [
    ("drive from Mumbai to Pune, fastest way", "Pune", "Mumbai", ("Mumbai", "Pune")),
    ("directions to the airport from home", "the airport", "home", ("home", "the airport")),
    ("directions to the airport from home", "home", "the airport", ("home", "the airport")),
    ("Pune to Mumbai", "Mumbai", "Pune", ("Mumbai", "Pune")),  # no "from": the model's reading stands
])
def test_a_trips_ends_written_the_other_way_round_from_the_request_are_swapped_back(query, origin, destination,
                                                                                     read):
    """"drive from Mumbai to Pune, fastest way" came back with origin "Pune" and destination "Mumbai" (a 58-step
    quickstart model): the start is what follows "from", the end what follows "to"."""
    route = next(f for f in ANDROID if f.name == "find_route_google_maps")
    (call,) = parse(f"<api_{route.index}>(origin=' {origin}', destination=' {destination}')<api_end>", ANDROID, query)
    assert (call["arguments"]["origin"], call["arguments"]["destination"]) == read


@pytest.mark.parametrize("origin, query, read", [
    ("from Mumbai", "drive from Mumbai to Pune, fastest way", "Mumbai"),
    ("pls, Brooklyn Bridge", "cycling directions pls, Brooklyn Bridge to Pune", "Brooklyn Bridge"),
    ("To Baridir", "cycle from To Baridir to Pune", "To Baridir"),  # capitalised: maybe the name's own
    ("thanks Marrakech", "from thanks Marrakech to Pune", "thanks Marrakech"),  # no comma: maybe a name
    ("the Tower", "from the Tower to Pune", "the Tower"),  # an article is a place's own
])
def test_a_place_copied_with_the_words_that_lead_to_it_begins_after_them(origin, query, read):
    """"drive from Mumbai to Pune" had the origin "from Mumbai", "cycling directions pls, Brooklyn Bridge to …"
    "pls, Brooklyn Bridge" (the 150-step quickstart model of 45ad4d3)."""
    route = next(f for f in ANDROID if f.name == "find_route_google_maps")
    (call,) = parse(f"<api_{route.index}>(origin=' {origin}', destination=' Pune')<api_end>", ANDROID, query)
    assert call["arguments"]["origin"] == read
    (call,) = parse("<api_2>(location=' in Oslo')<api_end>", ANDROID, "what's it like in Oslo")
    assert call["arguments"]["location"] == "Oslo"


@pytest.mark.parametrize("query, message, read", [
    ("shoot a quick text to Lena happy birthday!!", "happy birthday!", "happy birthday!!"),
    ("text Lena you did WHAT???", "you did WHAT?", "you did WHAT???"),
    ("can you text Lena and say tickets are booked!?", "tickets are booked!", "tickets are booked!"),  # "?" asks
    ("text Lena happy birthday!!", "happy birthday", "happy birthday"),  # stopped before the marks: a tail
])
def test_a_value_that_ends_inside_a_run_of_one_mark_takes_the_rest_of_it(query, message, read):
    """"shoot a quick text to Lena happy birthday!!" had the message "happy birthday!" (the 150-step quickstart
    model of 45ad4d3): a second "!" is never the request's own."""
    text = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{text.index}>(contact_name=' Lena', message=' {message}')<api_end>", ANDROID, query)
    assert call["arguments"]["message"] == read


@pytest.mark.parametrize("query, message, read", [
    ("Can you let Noa know by text that I said pizza's here and then I'm on the train?",
     "I said pizza's here and then I'm on the train?", "I said pizza's here and then I'm on the train"),
    ("hey could u text Noa that I'm outside?", "I'm outside?", "I'm outside"),
    ("Could you text Noa and ask: did you feed the cat?", "did you feed the cat?", "did you feed the cat?"),
    ("can you text Noa I'm late, is 8 ok?", "I'm late, is 8 ok?", "I'm late, is 8 ok?"),  # its last clause asks
    ("can you text Noa I'm late, right?", "I'm late, right?", "I'm late, right?"),
    ("text Noa want to get tacos later?", "want to get tacos later?", "want to get tacos later?"),  # no "can you"
    ("can you text Noa why?", "why?", "why?"),
])
def test_a_value_ends_before_the_closing_mark_of_a_request_put_as_a_question(query, message, read):
    """"Can you let Noa Horvath know by text that … I'm on the train?" had the message "… on the train?" (the
    150-step quickstart model of 45ad4d3): the mark is the request's, unless the message asks something itself."""
    text = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{text.index}>(contact_name=' Noa', message=' {message}')<api_end>", ANDROID, query)
    assert call["arguments"]["message"] == read


@pytest.mark.parametrize("raw, query, read", [
    ("<api_12>(title=' Board meeting tomorrow', start_time=' tomorrow from 2pm', end_time=' 4pm')",
     "Board meeting tomorrow from 2pm to 4pm", {"title": "Board meeting"}),
    ("<api_7>(contact_name=' dad happy birthday', message=' happy birthday!!')", "txt dad happy birthday!!",
     {"contact_name": "dad", "message": "happy birthday!!"}),
    ("<api_17>(music_service=' SoundCloud', music_name=' Tame Impala off SoundCloud')",
     "on the nest hub play Tame Impala off SoundCloud", {"music_name": "Tame Impala"}),
    ("<api_3>(recipient=' a@b.co', title=' Broken drill content', content=' The chuck is stuck')",
     "email a@b.co subject Broken drill content The chuck is stuck", {"title": "Broken drill"}),  # stops before
    ("<api_3>(recipient=' a@b.co', title=' Team offsite, just say Hi all', content=' Hi all')",
     "mail a@b.co titled Team offsite, just say Hi all", {"title": "Team offsite"}),
    ("<api_3>(recipient=' a@b.co', title=' Running late and the message Stuck', content=' Stuck')",
     "mail a@b.co titled Running late and the message Stuck", {"title": "Running late"}),
    ("<api_3>(recipient=' a@b.co', title=' Re: plans, and say See you', content=' See you')",
     "mail a@b.co subject Re: plans, and say See you", {"title": "Re: plans"}),
    ("<api_3>(recipient=' jo@b.co', title=' Hi', content=' free all week, send it to jo@b.co')",
     "subject Hi, body free all week, send it to jo@b.co", {"content": "free all week"}),
    ("<api_3>(recipient=' jo@b.co', title=' Hi', content=' I can send it')",  # apart: the sender's words
     "mail jo@b.co subject Hi body I can send it", {"content": "I can send it"}),
    ("<api_7>(contact_name=' Noor', message=' I just got home')", "text Noor I just got home",  # apart: kept
     {"contact_name": "Noor", "message": "I just got home"}),
    ("<api_7>(contact_name=' Al', message=' Al is late')", "text Al Al is late",  # "Al" said twice: kept
     {"contact_name": "Al", "message": "Al is late"}),
    ("<api_7>(contact_name=' Dmitri', message=' Dmitri dont forget the hdmi cable')",  # starts after the name
     "msg Dmitri dont forget the hdmi cable", {"contact_name": "Dmitri", "message": "dont forget the hdmi cable"}),
    ("<api_7>(contact_name=' Ana', message=' Ana: on my way')", "text Ana: on my way", {"message": "on my way"}),
    ("<api_7>(contact_name=' Bo', message=' Bo saying thats fine')", "text Bo saying thats fine",
     {"message": "thats fine"}),
])
def test_a_free_text_value_gives_way_to_the_words_another_argument_copied(raw, query, read):
    """Two arguments never take the same words of the request: a title or name that ran on into the words a
    later argument copied ends before them (and before the "on", "off", "content", "just say", … that led there,
    also where it stopped right before them), and a message that starts with the contact's words starts after them."""
    arguments = parse(raw + "<api_end>", ANDROID, query)[0]["arguments"]
    assert {k: arguments[k] for k in read} == read


def test_an_end_copied_from_the_durations_number_lasts_as_long_as_said():
    """"at 9:30 for 15 minutes" has one clock; an end copied as "15" (read 15:00) is the start plus 15 min."""
    raw = "<api_12>(title=' standup', start_time=' July 14 2026 at 9:30', end_time=' 15')<api_end>"
    (call,) = parse(raw, ANDROID, "standup on July 14 2026 at 9:30 for 15 minutes")
    assert (call["arguments"]["start_time"], call["arguments"]["end_time"]) == ("2026-07-14-09-30", "2026-07-14-09-45")


@pytest.mark.parametrize("written, query, read", [
    ({"query": "Real Madrid in spanish"}, "get me news on Real Madrid in spanish pls",
     {"query": "Real Madrid", "language": "es"}),
    ({"query": "Taylor Swift, in German"}, "top stories about Taylor Swift, in German please",
     {"query": "Taylor Swift", "language": "de"}),
    ({"query": "learning French"}, "news about learning French", {"query": "learning French", "language": "en"}),
    ({"query": "Tesla in Spanish", "language": "fr"}, "news on Tesla in Spanish, or French",  # it said one: kept
     {"query": "Tesla in Spanish", "language": "fr"}),
])
def test_a_value_that_runs_into_a_left_out_argument_hands_its_words_over(written, query, read):
    """'news on Real Madrid in spanish' copied whole into the topic, the language left at its default: given
    the query, parsing gives the language its words back, but only after 'in', 'on', … or a comma."""
    fn = next(f for f in ANDROID if f.name == "get_trending_news")
    text = f"<api_{fn.index}>(" + ", ".join(f"{k}={v!r}" for k, v in written.items()) + ")<api_end>"
    assert parse(text, ANDROID, query)[0]["arguments"] == read


@pytest.mark.parametrize("answer, query, language", [
    ("<api_1>(query=' remote work')", "any Japanese news stories about remote work?", "ja"),
    ("<api_10>(time=' 11:35');<api_1>(query=' public health')",
     "set an alarm for 11:35, then any japanese news stories about public health", "ja"),
    ("<api_1>(query=' the Spanish elections')", "news about the Spanish elections in Spanish", "es"),
    ("<api_1>(query=' the Spanish elections')", "news about the Spanish elections", "en"),  # the topic's word
    ("<api_1>(query=' the French Open')", "what's new with the French Open", "en"),
    ("<api_7>(contact_name=' Hans', message=' I speak German');<api_1>(query=' Berlin')",
     "text Hans I speak German and get me news about Berlin", "en"),  # the message's word
    ("<api_1>(query=' Tesla')", "news on Tesla in Spanish or French", "en"),  # two: which one is not said
])
def test_a_language_the_request_names_goes_to_a_left_out_language_argument(answer, query, language):
    """"any Japanese news stories about remote work": a model that leaves the language to its default gets it
    from the request, unless a value of the answer holds the word or the request names two languages."""
    calls = parse(answer + "<api_end>", ANDROID, query)
    assert next(c for c in calls if c["name"] == "get_trending_news")["arguments"]["language"] == language


@pytest.mark.parametrize("query, written, read", [
    ("text Priya: running 10 min late, sorry!", "running 10 min late", "running 10 min late, sorry!"),
    ("send a text to Fatima: can you pick up the kids today", "can you pick up the kids",
     "can you pick up the kids today"),
    ("text Fatima can you pick up the kids today, thanks!", "can you pick up the kids",  # the tail stays out
     "can you pick up the kids today"),
    ("text Fatima running late asap", "running late", "running late asap"),  # a bare tail is the message's
    ("text Fatima running late, no rush", "running late", "running late"),  # set off: politeness
    ("text Fatima I'm late please", "I'm late", "I'm late"),
    ("text Fatima running late on Signal", "running late", "running late"),  # the app it goes through
    ("text Fatima can you send me the address to the party?", "can you send me the address",
     "can you send me the address to the party?"),  # after any other preposition: the message's
    ("text Fatima don't forget mum's birthday on Sunday", "don't forget mum's birthday",
     "don't forget mum's birthday on Sunday"),
    ("text Fatima running late as a message", "running late", "running late"),  # framing words
    ("text Fatima running late and then call Bob", "running late", "running late"),  # a joiner: maybe a request
    ("text Fatima running late. Bob", "running late", "running late"),
    ("text Fatima late, the code is <api_3>", "late", "late"),  # nothing a value cannot hold
    ("text late Fatima, so sorry", "late", "late"),  # another value after it: its end is the model's
    ("msg Fatima on my way", "Fatima", "on my way"),  # the contact's words repeated: the rest alone
    ("text Fatima: on my way", "Fatima", "on my way"),
    ("text Fatima love you ❤️", "love you", "love you ❤️"),  # emoji end a message
    ("send a message to Fatima: happy birthday!! 🎉", "happy birthday!!", "happy birthday!! 🎉"),
    ("text Fatima see you soon 🙏", "see you soon", "see you soon"),  # the generator's politeness
])
def test_a_message_copied_short_of_the_requests_end_runs_on_to_it(query, written, read):
    """"text Priya: running 10 min late, sorry!" came out as "running 10 min late": a message, the one call of
    the answer, takes the rest of the request, but for a set-off tail of politeness, framing words, the app it
    goes through, another value's words, a joiner (the second look's to follow) and anything a value cannot
    hold."""
    fn = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{fn.index}>(contact_name=' Fatima', message={' ' + written!r})<api_end>",
                    ANDROID, query.replace("Priya", "Fatima"))
    assert call["arguments"]["message"] == read
    dnd = next(f for f in ANDROID if f.name == "enable_do_not_disturb")
    two = parse(f"<api_{fn.index}>(contact_name=' Fatima', message=' running late');<api_{dnd.index}>(enabled=True)"
                "<api_end>", ANDROID, "text Fatima running late and turn on do not disturb")
    assert two[0]["arguments"]["message"] == "running late"  # two calls: the rest is the other request


@pytest.mark.parametrize("query, contact, written, read", [
    ("text Sarah running late", "Sarah", "late", "running late"),
    ("text dad call me when you wake up", "dad", "when you wake up", "call me when you wake up"),
    ("tell Tom I'm running late", "Tom", "running late", "I'm running late"),
    ("text Sarah saying running late", "Sarah", "running late", "running late"),  # a word that leads in
    ("text Sarah sayng running late", "Sarah", "running late", "running late"),  # a slip on one
    ("let Sarah knw running late", "Sarah", "running late", "running late"),
    ("text Sarah the package is here", "Sarah", "package is here", "the package is here"),  # "the" is no "then"
    ("send Sarah a text running late", "Sarah", "running late", "running late"),
    ("text Sarah, ok, running late", "Sarah", "running late", "running late"),  # not plain words
    ("text Pieter my flight is at 4", "Pieter", "4", "my flight is at 4"),
    ("send this to Ana Murphy: want to get tacos later?", "Ana Murphy", "tacos later?", "want to get tacos later?"),
    ("text Bob: saying hi", "Bob", "hi", "hi"),  # after a colon too, a word that leads in stays out
    ("text Sarah one two three four five six late", "Sarah", "late", "late"),  # more than five
    ("text Sarah and Bo late", "Sarah", "late", "late"),  # two contacts
    ("text Sarah running late", "Ana", "late", "late"),  # no other value before it
])
def test_a_message_copied_short_of_its_start_runs_back_to_the_value_before_it(query, contact, written, read):
    """"text Sarah running late" came out as the message "late": a message that follows its call's other value
    after one to five plain words (a colon may come first), none of which leads into a message ("saying", "that",
    "a text", or a slip of the fingers on one), starts right after that value."""
    fn = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{fn.index}>(contact_name={' ' + contact!r}, message={' ' + written!r})<api_end>",
                    ANDROID, query)
    assert call["arguments"]["message"] == read


@pytest.mark.parametrize("query, written, read", [
    ("pull up youtube vids about how to play Wonderwall on guitar", "how to play Wonderwall",
     "how to play Wonderwall on guitar"),
    ("look up wildfires in California, would you?", "wildfires", "wildfires in California"),  # up to a comma
    ("look up cats at the zoo and then call +1 202 555 0164", "cats", "cats at the zoo"),  # up to a joiner
    ("look up cats on youtube", "cats", "cats"),  # where the request goes
    ("look up cats on you tube", "cats", "cats"),
    ("look up cats in the kitchen on the nest hub", "cats", "cats"),
    ("look up cats in 5 minutes", "cats", "cats"),  # a figure: another value's words
    ("look up cats for the kids", "cats", "cats"),  # "for" before an article or a pronoun: the request's
    ("look up cats for me", "cats", "cats"), ("look up cats for tomorrow", "cats", "cats"),
    ("look up Stardew Valley tips for beginners", "Stardew Valley tips", "Stardew Valley tips for beginners"),
    ("look up cats at the new house", "cats", "cats at the new house"),  # "new" is no slip of "news"
    ("look up cats in the nesw", "cats", "cats"),  # "nesw" is
    ("look up Notary - sign lease on youtube", "Notary", "Notary - sign lease"),  # after a dash too
    ("look up cats - then call Mom", "cats", "cats"),  # but not a next request
    ("look up cats - 2:30PM", "cats", "cats"), ("look up cats - :)", "cats", "cats"),  # no words after the dash
    ("look up cats at once", "cats", "cats"),  # politeness and urgency
    ("look up cats at \x00 home", "cats", "cats"),  # nothing a value cannot hold
    ("look up dinner with Jo and Sam at Padella", "dinner with Jo", "dinner with Jo and Sam at Padella"),  # a name
    ("look up Lunch & Learn on youtube", "Lunch", "Lunch & Learn"),
    ("look up Microsoft and OpenAI", "Microsoft", "Microsoft and OpenAI"),
    ("look up cats and Text Ana hi", "cats", "cats"),  # a next request, capitalised
    ("look up cats and I will call Mom", "cats", "cats"), ("look up cats and call Mom", "cats", "cats"),
    ("look up cats and Ana's number is +1 202 555 0164, save it", "cats", "cats"),  # more words: a next request
])
def test_a_value_ended_at_a_preposition_takes_the_phrases_it_begins(query, written, read):
    """"how to play Wonderwall" of "… about how to play Wonderwall on guitar": a free-text value the model ended
    at a preposition takes the phrases that follow, up to a comma, a joiner or another value, unless a phrase
    says where the request goes, holds a figure or is politeness; and a name joined by "and" or "&" ("dinner with
    Jo and Sam at Padella" had stopped at "Jo", "Lunch & Learn" at "Lunch")."""
    fn = next(f for f in ANDROID if f.name == "search_youtube_videos")
    calls = parse(f"<api_{fn.index}>(query={' ' + written!r})<api_end>", ANDROID, query)
    assert calls[0]["arguments"]["query"] == read


def test_a_topic_ended_before_a_language_or_a_message_before_its_question_mark_stays_so():
    """The language of "news about Tesla in Spanish" is no part of the topic, and a one-call message keeps the
    request's closing "?" (`run_on` reads a message's end, not `run_into`)."""
    news = next(f for f in ANDROID if f.name == "get_trending_news")
    (call,) = parse(f"<api_{news.index}>(query=' Tesla', language='es')<api_end>", ANDROID,
                    "news about Tesla in Spanish")
    assert call["arguments"] == {"query": "Tesla", "language": "es"}
    text = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{text.index}>(contact_name=' Carlos', message=' can you send me the address')<api_end>",
                    ANDROID, "text Carlos: can you send me the address to the party?")
    assert call["arguments"]["message"] == "can you send me the address to the party?"


@pytest.mark.parametrize("query, names, kept", [
    ("play Hit Me Hard and Soft on Amazon Music on the nest hub", ["Hit Me Hard and Soft", "Soft"], [0]),
    ("play Hit Me Hard and Soft on Amazon Music on the nest hub", ["Soft", "Hit Me Hard and Soft"], [1]),  # or after
    ("play Soft on Amazon Music and then Hit Me Hard and Soft", ["Hit Me Hard and Soft", "Soft"], [0, 1]),  # said alone
    ("play Soft and Hit Me Hard on Amazon Music", ["Soft", "Hit Me Hard"], [0, 1]),  # neither inside the other
])
def test_a_call_made_of_a_piece_of_anothers_words_is_dropped(query, names, kept):
    """"play Hit Me Hard and Soft on Amazon Music" came back with a second call for music " Soft": a call of
    the same function whose text the request says only inside another call's is no request of its own."""
    fn = next(f for f in ANDROID if f.name == "play_music_on_nest_hub")
    text = ";".join(f"<api_{fn.index}>(music_service=' Amazon Music', music_name=' {n}')" for n in names)
    calls = parse(text + "<api_end>", ANDROID, query)
    assert [c["arguments"]["music_name"] for c in calls] == [names[i] for i in kept]
    sms = next(f for f in ANDROID if f.name == "send_text_message")
    same = parse(f"<api_{sms.index}>(contact_name=' Bob', message=' running late');"
                 f"<api_{sms.index}>(contact_name=' Alice', message=' late')<api_end>", ANDROID,
                 "text Bob and Alice running late")
    assert len(same) == 2  # another contact is another request, whatever its message
    assert len(parse(text + "<api_end>", ANDROID)) == len(names)  # without the request, nothing to judge by


@pytest.mark.parametrize("query, written, read", [
    ("Echo Dot, conect please", 60, 10),  # no amount: the default
    ("connect my Logitech MX Master 3", 120, 10),  # the device's "3" is its name's
    ("pair my Echo Dot and give it a minute", 60, 60), ("pair Echo Dot, wait twenty seconds", 20, 20),
    ("pair Echo Dot and set the media volume to 5", 60, 60),  # an amount, if not this one's: left to the model
])
def test_a_number_or_language_the_request_does_not_give_keeps_its_default(query, written, read):
    """"connect my Echo Dot" gave timeout 60: where a request says no amount, an optional number is its default;
    where it names no language, so is the language."""
    fn = next(f for f in ANDROID if f.name == "connect_to_bluetooth_device")
    device = next(d for d in ("Logitech MX Master 3", "Echo Dot") if d in query)
    (call, *_) = parse(f"<api_{fn.index}>(device_name=' {device}', timeout={written})<api_end>", ANDROID, query)
    assert call["arguments"]["timeout"] == read
    volume = next(f for f in ANDROID if f.name == "set_volume")
    for level, timeout in [(5, 10), (7, 60)]:  # a figure another number took is that number's
        (call, *_) = parse(f"<api_{fn.index}>(device_name=' Echo Dot', timeout=60);<api_{volume.index}>(level={level}, "
                           f"volume_type='media')<api_end>", ANDROID, "pair Echo Dot and set the media volume to 5")
        assert call["arguments"]["timeout"] == timeout
    news = next(f for f in ANDROID if f.name == "get_trending_news")
    for query, language in [("top stories on Alzheimer's research", "en"), ("news on Spain in spanish", "es")]:
        (call, *_) = parse(f"<api_{news.index}>(query=' x', language='es')<api_end>", ANDROID, query)
        assert call["arguments"]["language"] == language  # a language nobody named is made up


def route(origin: str, destination: str) -> dict:
    return {"name": "find_route_google_maps", "arguments": {"origin": origin, "destination": destination,
                                                                "mode": "driving"}}


def test_a_call_that_only_repeats_words_another_call_took_is_dropped():
    """A second route "from the farmers market to the farmers market", a route to and from the e-mail address of
    the e-mail call beside it (quickstart models of 2026-12-04): no request of their own. Calls that share only
    some words, or one value (whose is it? `hare.tools.joins` asks the model again), all stay."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    query = "btw from Dubai Mall to the farmers market, whcih way should I go"
    first = route("Dubai Mall", "the farmers market")
    assert answer([first, route("the farmers market", "the farmers market")], query) == [first]
    query = "the subject should be Media kit, the body No rush on this, and it goes to joao28@company.co.uk"
    email = {"name": "send_email", "arguments": {"recipient": "joao28@company.co.uk", "title": "Media kit",
                                                 "content": "No rush on this"}}
    assert answer([email, route("joao28@company.co.uk", "joao28@company.co.uk")], query) == [email]
    texts = [{"name": "send_text_message", "arguments": {"contact_name": name, "message": "I'm late"}}
             for name in ("Bob", "Alice")]
    assert answer(texts, "text Bob and Alice I'm late") == texts
    search = {"name": "search_youtube_videos", "arguments": {"query": "Ted Lasso"}}
    video = {"name": "play_video_on_nest_hub", "arguments": {"video_name": "Ted Lasso", "video_service": "Peacock"}}
    assert len(answer([video, search], "show Ted Lasso from Peacock and search youtube")) == 2


@pytest.mark.parametrize("query, written, read", [
    ("what's happening with the stock market today", "the stock market today", "the stock market"),
    ("any news about Taylor Swift today?", "Taylor Swift today", "Taylor Swift"),
    ("news on the Mars rover right now please", "the Mars rover right now", "Mars rover"),  # a name: `unarticled`
    ("news about today", "today", "today"),  # nothing else: the topic
    ("news about Taylor Swift today and then text Bob", "Taylor Swift today", "Taylor Swift today"),  # not the end
    ("what's the latest news on the Champions League", "the Champions League", "Champions League"),
    ("any headlines about the Tokyo earthquake", "the Tokyo earthquake", "Tokyo earthquake"),
    ("news about the 2026 World Cup", "the 2026 World Cup", "2026 World Cup"),
    ("news about The Weeknd", "The Weeknd", "The Weeknd"),  # the name's own "The"
])
def test_a_topic_ends_before_when_it_asks_and_a_name_is_named_without_its_article(query, written, read):
    """"any news about Taylor Swift today?" came back with the topic "Taylor Swift today": the day is the request's,
    as the generator's topics never hold it. A search keeps it ("what happened today in history"). People label
    "… news on the Champions League" with the topic "Champions League" (4 of the 5 such topics of the hand-written
    requests; "the stock market" keeps its "the"), and so does the generator (`readings.unarticled`)."""
    news = next(f for f in ANDROID if f.name == "get_trending_news")
    (call,) = parse(f"<api_{news.index}>(query={' ' + written!r})<api_end>", ANDROID, query)
    assert call["arguments"]["query"] == read
    search = next(f for f in ANDROID if f.name == "search_youtube_videos")
    (call,) = parse(f"<api_{search.index}>(query=' clips from today')<api_end>", ANDROID, "find clips from today")
    assert call["arguments"]["query"] == "clips from today"
    (call,) = parse(f"<api_{search.index}>(query=' the Beatles live')<api_end>", ANDROID, "find the Beatles live")
    assert call["arguments"]["query"] == "the Beatles live"  # a search is no topic: its words stay


def test_generated_topics_that_are_names_are_labelled_without_their_article(android_data):
    topics = [(r["query"], c["arguments"]["query"]) for split in android_data.values() for r in split
              for c in r["calls"] if c["name"] == "get_trending_news"]
    named = [(q, t) for q, t in topics if re.search(r"\bthe " + re.escape(t) + r"\b", q) and t[:1].isupper()]
    assert named and not [t for _, t in topics if re.match(r"the [A-Z0-9]", t)]  # the query keeps the article
    assert any(t.startswith("the ") for _, t in topics)  # "the stock market": in lower case, the label's


@pytest.mark.parametrize("function, written, query, read", [
    ("open_or_lock_door", {"status": "open"}, "door lock now", {"status": "lock"}),
    ("set_volume", {"level": 0, "volume_type": "alarm"}, "now mue media", {"level": 0, "volume_type": "media"}),
    ("open_or_lock_door", {"status": "open"}, "Could you unlock the smart lock", {"status": "open"}),  # "unlock"
    ("take_a_photo", {"camera": "back"}, "take a photo of the front door", {"camera": "back"}),  # the default
    ("find_route_google_maps", {"origin": "Soho", "destination": "Bow", "mode": "walking"},
     "walk from Soho to Bow, I'm driving", {"mode": "walking"}),  # a tail's words are no choice
])
def test_a_choice_the_request_names_is_the_one_it_makes(function, written, query, read):
    """"door lock now" came back status='open': where the request names one of an argument's choices as a word of
    its own, not the model's, that one is taken (`readings.said_choice`)."""
    fn = next(f for f in ANDROID if f.name == function)
    said = ", ".join(f"{k}={(' ' + v) if isinstance(v, str) else v!r}" for k, v in written.items())
    text = f"<api_{fn.index}>({said})<api_end>"
    arguments = parse(text, ANDROID, query)[0]["arguments"]
    assert {k: arguments[k] for k in read} == read


@pytest.mark.parametrize("query, written, read", [
    ("ring volume to 0 and alarm volume to 8", ["ring", "ring"], ["ring", "alarm"]),  # hand-written, sets 2, 3, 5
    ("set the alarm volume to 9 and media volume to 2", ["media", "media"], ["alarm", "media"]),
    ("set the ringer to 2 and the alarm volume to 8", ["ring", "ring"], ["ring", "ring"]),  # "ringer": whose?
    ("alarm volume to 9 and to 2 as well", ["alarm", "alarm"], ["alarm", "alarm"]),  # one choice said: both
    ("text Bo 'ring me' and set media volume to 2 and alarm volume to 3", ["media", "media"], ["media", "alarm"]),
])
def test_calls_of_one_function_take_the_choices_the_request_names_in_turn(query, written, read):
    """"ring volume to 0 and alarm volume to 8" came back as two ring volumes: the generator never asks one function
    twice, so the model copies the first call's choice. Where the request names as many different choices as there
    are such calls, each once and as a word of its own, they take them in order (`together.in_turn`)."""
    by_name = {f.name: f for f in ANDROID}
    text = "".join(f"<api_{by_name['set_volume'].index}>(level={level}, volume_type=' {kind}')"
                   for level, kind in zip((2, 3), written, strict=True))
    if query.startswith("text"):
        text = f"<api_{by_name['send_text_message'].index}>(contact_name=' Bo', message=' ring me')" + text
    answer = parse(f"{text}<api_end>", ANDROID, query)
    assert [c["arguments"]["volume_type"] for c in answer if c["name"] == "set_volume"] == read


@pytest.mark.parametrize("query, cameras, kept", [
    ("wait, open the front camera and snap a pic ok?", ["front", "back"], ["front"]),
    ("flip to the front camera and take one of us", ["back", "front"], ["front"]),  # before it, too
    ("take one with the front and one with the back camera", ["front", "back"], ["front", "back"]),  # said
])
def test_a_second_call_of_a_function_made_of_unsaid_defaults_is_dropped(query, cameras, kept):
    """"open the front camera and snap a pic" came back as a front photo and a back one: a second call of one
    function whose every value is its default or a number the request never gives, beside one that says its own,
    is no request ("brightness to 2 …" came back with a second level 0); said, or a value of its own ("ring
    volume to 0 and alarm volume to 8"), it is one."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    photos = [{"name": "take_a_photo", "arguments": {"camera": c}} for c in cameras]
    assert [c["arguments"]["camera"] for c in answer(photos, query)] == kept
    volumes = [{"name": "set_volume", "arguments": {"level": level, "volume_type": kind}}
               for level, kind in ((0, "ring"), (8, "alarm"))]
    assert answer(volumes, "ring volume to 0 and alarm volume to 8") == volumes
    levels = [{"name": "change_screen_brightness", "arguments": {"level": level}} for level in (2, 0)]
    assert answer(levels, "lower the screen brightness to 2, it's late and my eyes are tired") == levels[:1]
    assert answer(levels[::-1], "dim it all the way, no, to two") == levels[::-1][1:]  # a number said in words
    assert answer(levels, "dim the screen, then brighten it") == levels  # neither says one: whose is idle?


@pytest.mark.parametrize("query, written, read", [
    ("ask Ana by text: don't let the kids have more candy, cheers", "don't let the kids have more candy, cheers",
     "don't let the kids have more candy"),
    ("text Ana I'm outside, thanks in advance!", "I'm outside, thanks in advance", "I'm outside"),
    ("text Ana we raised 5000 dollars, thank you all!", "we raised 5000 dollars, thank you all!",
     "we raised 5000 dollars, thank you all!"),  # not the generator's tail: the message's words
    ("text Ana no rush on this, whenever you get a chance", "no rush on this, whenever you get a chance",
     "no rush on this, whenever you get a chance"),
    ("text Ana get a refund please", "get a refund please", "get a refund please"),  # not set off
])
def test_a_value_that_runs_into_the_requests_set_off_tail_ends_before_it(query, written, read):
    """"… say don't forget your lunch, cheers" came out with the message "don't forget your lunch, cheers": a
    value that takes a tail of the generator's, set off by a comma, ends before it, as `run_on` stops there."""
    fn = next(f for f in ANDROID if f.name == "send_text_message")
    (call,) = parse(f"<api_{fn.index}>(contact_name=' Ana', message={' ' + written!r})<api_end>", ANDROID, query)
    assert call["arguments"]["message"] == read


@pytest.mark.parametrize("query, written, read", [
    ("how do I walk to Yosemite Valley from the nearest Walmart ok?", "the nearest Walmart ok", "the nearest Walmart"),
    ("directions to the pier from Hilo Airport this instant", "Hilo Airport this instant", "Hilo Airport"),
    ("directions to the pier from Now Coffee", "Now Coffee", "Now Coffee"),  # nothing after it
    ("directions to the pier from Cafe Right Now", "Cafe Right Now", "Cafe Right Now"),  # as written, not a tail
])
def test_a_value_that_runs_into_the_requests_closing_tail_ends_before_it(query, written, read):
    """"… from the nearest Walmart ok?" came back with the origin "the nearest Walmart ok": a value other than words
    to send that runs into a tail of the generator's that ends the request without a comma (" ok?", " this
    instant") ends before it. Words to send keep theirs ("… get a refund please" is the message's)."""
    fn = next(f for f in ANDROID if f.name == "find_route_google_maps")
    (call,) = parse(f"<api_{fn.index}>(origin={' ' + written!r}, destination=' the pier')<api_end>", ANDROID, query)
    assert call["arguments"]["origin"] == read


@pytest.mark.parametrize("query, written, read", [
    ("connect to Honda Civic via bluetooth, try for a full minute", 10, 60),
    ("pair Logitech K380, wait up to two minutes", 20, 120),
    ("pair Echo Dot, give it a minute and a half", 90, 90), ("Echo Dot, 15 second timeout", 15, 15),
    ("pair Echo Dot and wait half a minute", None, 30),  # left out, but said
    ("pair Echo Dot, timeout 45", 45, 45),  # no unit: the model's reading stands
    ("pair Echo Dot for a minute and then set a timer for 5 minutes", 60, 60),  # two spans: whose is which?
    ("pair Echo Dot for 2 hours", 60, 7200),  # the spec sets no maximum
    ("pair Echo Dot and wait up to seventy six seconds", 76, 76),  # 6 before: "seventy" was no number word
    ("pair Echo Dot, give up after eighty five secs", 85, 85), ("pair Echo Dot for ninety seconds", 90, 90),
])
def test_a_number_in_seconds_is_the_span_of_time_the_request_gives(query, written, read):
    """"try for a full minute" came out as timeout 10 and "two minutes" as 20 from two quickstart models: a
    number the spec counts in seconds is the request's one span of time, converted, as a reader would."""
    fn = next(f for f in ANDROID if f.name == "connect_to_bluetooth_device")
    device = next(d for d in ("Honda Civic", "Logitech K380", "Echo Dot") if d in query)
    timeout = "" if written is None else f", timeout={written}"
    (call, *_) = parse(f"<api_{fn.index}>(device_name=' {device}'{timeout})<api_end>", ANDROID, query)
    assert call["arguments"]["timeout"] == read


@pytest.mark.parametrize("query, written, read", [
    ("Full brightness please thank you so much", 1, 10),  # the quickstart model's "1" of "10"
    ("screen brightness all the way up", 1, 10), ("make the screen as bright as it goes", 7, 10),
    ("dim the screen all the way down", 1, 0), ("brightness as low as possible", 3, 0),
    ("brightness to 5, max", 5, 5),  # a figure: the model's reading stands
    ("brightness halfway, the max is too much", 5, 5),  # a middle said too
    ("crank the brightness all the way", 1, 1),  # up or down? the model's
    ("brightness all the way up, not the lowest", 10, 10),  # both ends said: the model's
])
def test_the_end_of_a_range_said_in_words_is_that_end(query, written, read):
    """"Full brightness please" came out as level 1 from the 150-step quickstart model (SmolLM2 writes "10" a digit
    at a time): a bounded number the request gives as an end of its range, in no figure, is that end."""
    fn = next(f for f in ANDROID if f.name == "change_screen_brightness")
    (call,) = parse(f"<api_{fn.index}>(level={written})<api_end>", ANDROID, query)
    assert call["arguments"]["level"] == read


def test_the_end_of_a_range_is_read_for_an_answers_one_bounded_number_only():
    """Two calls with bounded numbers: which of them "all the way up" speaks of is not known here (the generated
    "Turn the brightness all the way up, and mute my ringer too" had become ringer level 10); one of them beside
    a call without one is read."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    brightness = {"name": "change_screen_brightness", "arguments": {"level": 10}}
    ringer = {"name": "set_volume", "arguments": {"level": 0, "volume_type": "ring"}}
    query = "Turn the brightness all the way up, and mute my ringer too"
    assert answer([brightness, ringer], query) == [brightness, ringer]
    photo = {"name": "take_a_photo", "arguments": {"camera": "front"}}
    alarm = {"name": "set_volume", "arguments": {"level": 1, "volume_type": "alarm"}}
    query = "take a photo using the front-facing camera? and after that alarm volume all the way up ok?"
    assert answer([photo, alarm], query)[1]["arguments"]["level"] == 10


@pytest.mark.parametrize("query, written, read", [
    ("ugh this glare is killing my eyes, brightness 1", 10, 1),  # hand-written; the model went on past the "1"
    ("um can you turn the brightness up to like eight", 10, 8),  # in words
    ("brightness to 3, it's 9:30 and I'm in room 12", 10, 3),  # a time is no number; 12 is out of range
    ("brightness 4 for 5 minutes", 10, 4),  # nor is a span of time
    ("brightness to 7 please", 7, 7),  # said: the model's
    ("brightness 2 or 3", 10, 10),  # which one? the model's
    ("max brightness", 10, 10), ("dim the screen, I'm in room 12", 2, 2),  # none said in range: the model's
])
def test_a_number_the_request_never_says_is_the_one_it_says(query, written, read):
    fn = next(f for f in ANDROID if f.name == "change_screen_brightness")
    (call,) = parse(f"<api_{fn.index}>(level={written})<api_end>", ANDROID, query)
    assert call["arguments"]["level"] == read


def test_a_number_another_call_took_is_that_calls():
    """"turn off the ringer and lower the brightness to eight": the ringer's unsaid 0 stands, whether the other
    number is said in figures or in words; two calls with one said number each take their own."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    def ringer(level: int) -> dict:
        return {"name": "set_volume", "arguments": {"level": level, "volume_type": "ring"}}

    def brightness(level: int) -> dict:
        return {"name": "change_screen_brightness", "arguments": {"level": level}}

    for said in ("eight", "8"):
        query = f"turn off the ringer and lower the brightness to {said}, would you?"
        assert answer([ringer(0), brightness(8)], query) == [ringer(0), brightness(8)]
    query = "media vol 1 and brightness to five"
    assert answer([ringer(10), brightness(5)], query) == [ringer(1), brightness(5)]


@pytest.mark.parametrize("query, time, label", [
    ("7pm alarm called take meds", "7pm", "take meds"),  # hand-written; the model left the default
    ("13:05 alarm, label it laundry", "13:05", "laundry"),  # hand-written: "name it" after a comma
    ("Can you set an alarm for 11pm? Name it Bedtime.", "11pm", "Bedtime"),  # hand-written: a sentence of its own
    ("set an alarm for 6. I got called into work", "6", "alarm"),  # a stop before "called": not its name
    ("Set an alarm for 7:15 am labeled Gym, then turn on do not disturb", "7:15 am", "Gym"),  # up to the joiner
    ("set an alarm for 5am called leave for the airport, thanks", "5am", "leave for the airport"),  # the comma
    ("alarm at 6:30 named wake up please", "6:30", "wake up"),  # the tail
    ("set an alarm for 6 because I got called into work", "6", "alarm"),  # not right after the call's value
    ("I got called into work, set an alarm for 6", "6", "alarm"),  # before it
])
def test_a_label_left_at_its_default_takes_the_words_the_request_names_it_with(query, time, label):
    fn = next(f for f in ANDROID if f.name == "set_timer_alarm")
    (call,) = parse(f"<api_{fn.index}>(time=' {time}')<api_end>", ANDROID, query)
    assert call["arguments"]["label"] == label


@pytest.mark.parametrize("function, answer, query, read", [
    ("set_timer_alarm", "label=' name it stretch break', time=' noon'", "alarm at noon pls, name it stretch break",
     {"label": "stretch break"}),  # hand-written; the model copied the words that name it
    ("create_calendar_event", "title=' called Retro', start_time=' 2026-05-01 3pm', end_time=' 4pm'",
     "add an event called Retro on 2026-05-01 from 3pm to 4pm", {"title": "Retro"}),
    ("send_text_message", "contact_name=' Bo', message=' call it a day'", "text Bo call it a day",
     {"message": "call it a day"}),  # a message is no label: its words stay
    ("create_calendar_event", "title=' Named Entity workshop', start_time=' 2026-05-01 3pm', end_time=' 4pm'",
     "add Named Entity workshop on 2026-05-01 from 3pm to 4pm", {"title": "Named Entity workshop"}),
])
def test_a_label_begins_after_the_words_that_name_it(function, answer, query, read):
    fn = next(f for f in ANDROID if f.name == function)
    (call,) = parse(f"<api_{fn.index}>({answer})<api_end>", ANDROID, query)
    assert read.items() <= call["arguments"].items()


def test_a_span_of_time_copied_as_a_search_is_the_seconds_of_the_call_beside_it():
    """"Link my phone with Tile tracker and give it 27 seconds" came back as a timeout of 10 and a search for "27
    seconds" (and as two pairings, "Tile tracker" and "27 seconds", each with timeout 27): a value that is only a
    span of time goes to the seconds of another call, and the call it made alone goes. A search with more words
    than the span is a search ("60 second workouts")."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    def pair(timeout: int) -> dict:
        return {"name": "connect_to_bluetooth_device", "arguments": {"device_name": "Tile tracker", "timeout": timeout}}

    def search(words: str) -> dict:
        return {"name": "search_youtube_videos", "arguments": {"query": words}}

    query = "Link my phone with Tile tracker and give it 27 seconds, would you?"
    assert answer([pair(10), search("27 seconds")], query) == [pair(27)]
    as_device = {"name": "connect_to_bluetooth_device", "arguments": {"device_name": "27 seconds", "timeout": 27}}
    assert answer([pair(27), as_device], query) == [pair(27)]  # the seconds it gave both are the first's
    query = "pair Tile tracker for 30 seconds and search youtube for 60 second workouts"
    assert answer([pair(30), search("60 second workouts")], query) == [pair(30), search("60 second workouts")]
    assert answer([search("27 seconds")], "find a clip of 27 seconds") == [search("27 seconds")]  # no call beside


def test_a_call_made_only_of_politeness_and_another_calls_words_is_dropped():
    """Second calls of the quickstart model of 2026-12-05 on its 400 held-out requests: a search for the request's
    "I'm in a hurry", a text to the words of the number called saying "thanks in advance", a text to the device
    paired saying the seconds it was given. A text with words of its own stays, however polite, and so does a
    polite call with no call beside it."""
    def answer(calls: list[dict], query: str) -> list[dict]:
        return parse(render(calls, ANDROID, query), ANDROID, query)

    def call(name: str, **arguments: object) -> dict:
        return {"name": name, "arguments": arguments}

    def text(contact: str, message: str) -> dict:
        return call("send_text_message", contact_name=contact, message=message)

    search = call("search_youtube_videos", query="3 days in Rome")
    hurry = call("search_youtube_videos", query="I'm in a hurry")
    assert answer([search, hurry], "find youtube clips of 3 days in Rome, I'm in a hurry") == [search]
    assert answer([hurry], "find youtube clips of I'm in a hurry") == [hurry]  # alone: the only answer there is
    number = "plus three three, five four nine, two six eight, seven four five"
    dial = call("make_phone_call", phone_number="+33549268745")
    assert answer([dial, text(number, "thanks in advance")], f"can u call {number}, thanks in advance") == [dial]
    pair = call("connect_to_bluetooth_device", device_name="Pixel Watch 3", timeout=73)
    assert answer([pair, text("Pixel Watch 3", "73 seconds")],
                  "hey google, Link my phone with Pixel Watch 3 and give it 73 seconds") == [pair]
    dial = call("make_phone_call", phone_number="+14155550101")
    assert answer([dial, text("Bob", "thanks")], "call +1 415 555 0101 and text Bob thanks") == \
        [dial, text("Bob", "thanks")]
    bright = call("change_screen_brightness", level=10)
    pair = call("connect_to_bluetooth_device", device_name="Nothing")
    query = "full brightness please, and then link my phone with Nothing and give it seventy three seconds"
    pair73 = call("connect_to_bluetooth_device", device_name="Nothing", timeout=73)
    assert answer([bright, pair, pair, pair], query) == [bright, pair73]  # a call said thrice is one, not three echoes


@pytest.mark.parametrize("query, written, read", [
    ("Can you turn off Do Not Disturb now, I'm expecting a call", True, False),
    ("take my phone off dnd!!", True, False), ("get me out of do not disturb mode", True, False),
    ("kill DND, I'm expecting a call", True, False), ("hey google, switch do not disturb mode off", True, False),
    ("put my phone on do not disturb", False, True), ("go into dnd mode", False, True),
    ("turn off dnd and put on some music", True, False),  # "on" is said of the music, not of dnd
    ("turn off dnd, I'm on the train", True, False),  # a comma ends what is said of dnd
    ("I'm back, turn notifications on", True, True),  # notifications, not dnd: the model's answer stands
    ("I'm back, turn notifications on", False, False),
    ("put dnd on and then turn off the lights", False, True),
    ("dnd on or off, whichever", True, True),  # both said: the model's answer stands
    ("I'm going into a meeting, silence everything with dnd", False, True),  # what it is done with is on
    ("I'm done with do not disturb", True, True),  # "done with": both said, the model's answer stands
])
def test_a_switch_is_turned_as_the_request_says_beside_its_name(query, written, read):
    """"take my phone off dnd" and "kill DND" came out as enabled=True from the quickstart's model (11 of 840
    requests): an on/off argument takes the on or off said right beside the function's subject."""
    fn = next(f for f in ANDROID if f.name == "enable_do_not_disturb")
    (call,) = parse(f"<api_{fn.index}>(enabled={written})<api_end>", ANDROID, query)
    assert call["arguments"]["enabled"] is read


def test_a_switch_of_any_spec_is_named_by_its_function_and_its_initials():
    spec = parse_spec([fn("set_wifi_hotspot", {"on": {"type": "boolean"}}, ["on"]),
                       fn("mute", {"muted": {"type": "boolean", "description": "mute or not"}}, ["muted"])])
    (call,) = parse("<api_0>(on=True)<api_end>", spec, "switch the wifi hotspot off")
    assert call["arguments"] == {"on": False}
    (call,) = parse("<api_0>(on=False)<api_end>", spec, "wh on please")
    assert call["arguments"] == {"on": True}
    (call,) = parse("<api_1>(muted=True)<api_end>", spec, "stop mute")  # no switch: not said on or off of
    assert call["arguments"] == {"muted": True}


def test_copied_values_appear_in_the_query_and_transformed_ones_are_right(android_data):
    for r in android_data["train"] + android_data["val"]:
        for call in r["calls"]:
            if call["name"] in ("send_text_message", "get_weather_forecast", "search_youtube_videos"):
                for value in call["arguments"].values():
                    assert value.casefold() in r["query"].casefold(), r
            if call["name"] == "make_phone_call":  # "+44 …", "0044 …", "plus 44 …" or "plus four four …"; E.164
                spoken = re.sub(r"[a-z]+", lambda w: DIGIT_WORDS.get(w.group(0), " "), r["query"].lower())
                digits = "".join(ch for ch in spoken if ch.isdigit())
                assert call["arguments"]["phone_number"].startswith("+")
                assert call["arguments"]["phone_number"][1:] in digits


def test_made_up_values_keep_what_copying_must_learn():
    """Made-up training values carry commas inside sentences (held-out messages have them, and a model
    that never saw one ended values at the first comma), keep the numbers of names like "Galaxy Watch 6",
    and include names ending in two vowels ("Noa"), which the model had cut to "No"."""
    import random
    import re

    from hare.tools.slots import Filler

    filler = Filler(random.Random(0), "train", seed=0, val_fraction=0.2, novel=1.0)
    sentences = [filler.made_up("see you at the gym tonight") for _ in range(300)]
    assert 0.1 < sum("," in s for s in sentences) / len(sentences) < 0.5
    assert not any("," in filler.made_up("Galaxy Watch 6") for _ in range(100))  # names and titles: none
    devices = [filler.made_up("Galaxy Watch 6").split() for _ in range(100)]
    assert all(words[2].isdigit() for words in devices if len(words) >= 3)
    names = [filler.made_up("Noa") for _ in range(300)]
    assert any(re.search("[aeiou]{2}$", name) for name in names)


def test_a_share_of_messages_is_in_the_first_person(android_data):
    """People text "I'm late" and "I'll be there at 6"; with 2 % of training messages like that the model
    took the "I" of "text Maria I'm late" into the contact's name."""
    messages = [c["arguments"]["message"] for split in android_data.values() for r in split for c in r["calls"]
                if c["name"] == "send_text_message"]
    assert 0.1 < sum(m.startswith(("I ", "I'")) for m in messages) / len(messages) < 0.4


def test_near_misses_weigh_double_among_the_training_no_calls(android_data):
    """Near misses and "contrast" requests ("report {number} as spam") are the no-calls a model gets wrong;
    chit-chat, knowledge questions and gibberish it gets right. In training each of the two is drawn twice as
    often as each other kind (4 of 7 no-calls instead of 2 of 5)."""
    kinds = [r["template"].split(":")[1] for r in android_data["train"] if r["kind"] == "irrelevant"]
    assert 0.47 < sum(k in ("near_miss", "contrast") for k in kinds) / len(kinds) < 0.67


def test_a_requests_closing_punctuation_goes_but_a_values_own_stays():
    """Before a tail or a connector the request's closing "?" goes; stripping every closing mark also took a
    message's own "!", leaving a target that the query no longer held ("… say tickets are booked thank you")."""
    from hare.tools.data import unclosed

    assert unclosed("say tickets are booked!?", "tickets are booked!") == "say tickets are booked!"
    assert unclosed("say get up!!!", "get up!!!") == "say get up!!!"
    assert unclosed("is it raining in Paris?", "Paris") == "is it raining in Paris"
    assert unclosed("text Sam booked! for me?", "booked!") == "text Sam booked! for me"
    assert unclosed("take a photo!", "") == "take a photo"


def test_messages_join_clauses_and_keep_their_own_punctuation(android_data):
    """A share of training messages is two clauses joined by "and", "so", "but"…, and a share ends with its
    own "?", "!" or "." — which the query keeps even when a suffix follows — so the model copies a message
    to its end instead of cutting it at its first conjunction or dropping its question mark."""
    messages = [(r["query"], c["arguments"]["message"]) for r in android_data["train"] for c in r["calls"]
                if c["name"] == "send_text_message"]
    joined = sum(any(j in m for j in (" and ", " so ", " but ", " because ")) for _, m in messages) / len(messages)
    ended = [(q, m) for q, m in messages if m[-1] in "?!."]
    assert 0.15 < joined < 0.6 and 0.1 < len(ended) / len(messages) < 0.4
    assert all(m.casefold() in q.casefold() for q, m in ended)
    assert any(not q.endswith(m) for q, m in ended)  # a suffix after the message's own punctuation


def test_a_tail_after_words_the_user_chose_is_set_off_from_them(android_data):
    """After a message, a subject or a topic, a bare "now" or "!!" reads as part of it, so the generator adds
    only tails set off by a comma or polite words there, also where the template closed the value with a "?"
    ("can you text {contact_name} and say {message}?" + " straight away"); after a place or a name any tail goes."""
    from hare.tools.data import set_off
    from hare.tools.phrasing import load_phrase_bank

    ends = {t.id: t.text for p in load_phrase_bank(None, ANDROID).values() for t in p.templates}

    def tails(function: str, arg: str) -> list[str]:  # what follows a value that ends its template, but its "?"
        return [tail for split in android_data.values() for r in split for c in r["calls"]
                if c["name"] == function and ends.get(r["template"], "").rstrip("?.!").endswith("{" + arg + "}")
                for v in [c["arguments"][arg]] if r["query"].rfind(v) > 0
                for tail in [r["query"][r["query"].rfind(v) + len(v):]] if tail.strip("?.!")]

    worded = tails("send_text_message", "message") + tails("send_email", "content")
    assert len(worded) > 20 and all(set_off(t) for t in worded), [t for t in worded if not set_off(t)][:5]
    assert not all(set_off(t) for t in tails("get_weather_forecast", "location"))


@pytest.mark.parametrize("name", ["android_requests_by_hand.jsonl", *(f"android_requests_by_hand_{n}.jsonl"
                                                                      for n in range(2, 7))])
def test_the_requests_written_by_hand_are_valid_calls_and_never_generated(android_data, name):
    """examples/android_requests_by_hand*.jsonl are the check on real phrasing: every expected call passes the
    spec, all three kinds are there, and few queries are ones the generator writes (short common ones like
    "take a picture" are both)."""
    from pathlib import Path

    from hare.tools.records import read_records

    records = read_records(Path(__file__).parent.parent / "examples" / name, ANDROID)
    assert len(records) >= 100 and {r["kind"] for r in records} == {"single", "parallel", "irrelevant"}
    generated = {r["query"].casefold() for split in android_data.values() for r in split}
    assert sum(r["query"].casefold() in generated for r in records) < len(records) // 10


def test_every_function_gets_its_share_of_training_requests_and_and_joins_two():
    """A function with few wordings (a photo: one enum argument) still gets `per_function` training requests,
    repeating some — it had got ~60 % of the others' share, and "take a picture" became no call — while
    validation never repeats; and two requests are joined with a plain "and" in training, as people join them."""
    import collections

    data = generate(ToolDataConfig(per_function=300, irrelevant=0, parallel=300, seed=5))
    counts = collections.Counter(r["calls"][0]["name"] for r in data["train"] if r["kind"] == "single")
    assert set(counts.values()) == {300}
    photos = [r["query"].casefold() for r in data["train"] if r["calls"] and r["calls"][0]["name"] == "take_a_photo"]
    assert len(set(photos)) < len(photos)
    val = [r["query"].casefold() for r in data["val"]]
    assert len(val) == len(set(val))
    two = [r for r in data["train"] if r["kind"] == "parallel"]
    assert sum(" and " in r["query"] and " and also " not in r["query"] for r in two) > len(two) // 3


def test_greetings_open_a_two_call_request_and_never_its_second_half():
    """People say "hey google, X and Y please", not "X asap and then ugh, Y": a two-call request is dressed
    once, around both halves."""
    from hare.tools.asides import PREFIXES, SUFFIXES
    from hare.tools.phrasing import load_phrase_bank

    texts = {t.id: t.text.lower() for p in load_phrase_bank(None, ANDROID).values() for t in p.templates}
    greetings = {g.strip(" ,:").lower() for g in PREFIXES if len(g.strip(" ,:").split()) > 1} - {
        e.strip(" ,!").lower() for e in SUFFIXES}  # "real quick" ends requests too
    data = generate(ToolDataConfig(per_function=20, irrelevant=0, parallel=600, seed=3))
    two = [r for split in data.values() for r in split if r["kind"] == "parallel"]
    inside = [r["query"] for r in two for g in greetings if re.search(rf"(?<=.)\b{g}\b", r["query"].lower())
              and not any(g in texts.get(t, "") for t in r["template"].split("+"))]
    assert len(two) > 500 and not inside, inside[:3]


def test_near_misses_carry_values_as_calls_do():
    """"disconnect my AirPods", "block +1 202 …", "delete the event …": no function does these, yet they name a
    device, a number, an event as calls do. The no-call bank's contrast requests are filled from the same banks,
    so a value in a request is no sign of a call."""
    data = generate(ToolDataConfig(per_function=1, irrelevant=800, parallel=0, seed=2))
    contrast = [r["query"] for split in ("train", "val") for r in data[split] if r["template"] == "irrelevant:contrast"]
    assert len(contrast) > 100 and not any("{" in q for q in contrast)
    assert any(re.fullmatch(r"block (calls from )?\+?[\d ()+-]{8,}|block (calls from )?plus .+", q) for q in contrast)
    assert all(r["calls"] == [] for r in data["train"] if r["kind"] == "irrelevant")


def test_made_up_places_keep_their_region_comma():
    import random

    from hare.tools.slots import Filler

    filler = Filler(random.Random(0), "train", seed=0, val_fraction=0.2, novel=1.0)
    places = [filler.made_up("Austin, Texas") for _ in range(200)]
    assert sum(p.count(",") == 1 and not p.endswith(",") for p in places) > 100
    assert not any(p.endswith(",") for p in places)


def test_typos_slip_one_word_of_the_wording_and_never_a_value():
    """People mistype on phones, so a share of requests has one misspelt word; the values inside stay as
    typed (the call copies them), and the slip is one edit of a word of four or more letters."""
    import random

    from hare.tools.data import typo

    rng, text = random.Random(0), "please send {contact_name} a message saying {message} right now"
    words, slips = text.split(), 0
    for _ in range(200):
        slipped = typo(text, rng).split()
        assert len(slipped) == len(words) and "{contact_name}" in slipped and "{message}" in slipped
        changed = [(a, b) for a, b in zip(words, slipped, strict=True) if a != b]
        assert len(changed) <= 1  # none where two equal letters were swapped
        slips += len(changed)
        for a, b in changed:
            assert len(a) >= 4 and abs(len(a) - len(b)) <= 1 and a[0] == b[0]
    assert slips > 180
    assert typo("{level}", rng) == "{level}" and typo("go to {place}", rng) == "go to {place}"


def test_half_the_training_values_are_made_up_and_validation_values_are_real(android_data):
    from hare.tools.slots import values_bank

    cities = set(values_bank()["city"])
    locations = {split: [r["calls"][0]["arguments"]["location"] for r in records
                         if r["kind"] == "single" and r["calls"][0]["name"] == "get_weather_forecast"]
                 for split, records in android_data.items()}
    made_up = sum(loc not in cities for loc in locations["train"]) / len(locations["train"])
    assert 0.3 < made_up < 0.7
    assert locations["val"] and all(loc in cities for loc in locations["val"])


def test_service_names_are_a_catalogue_both_splits_draw_from_and_none_is_made_up(android_data):
    """Music and video services are names the assistant is built to know: training draws every one of them,
    never an invented one, and validation draws from the same catalogue (its templates stay unseen)."""
    from hare.tools.slots import values_bank

    for fn, arg, bank in (("play_music_on_nest_hub", "music_service", "music_service"),
                          ("play_video_on_nest_hub", "video_service", "video_service")):
        drawn = {split: {c["arguments"][arg] for r in records for c in r["calls"] if c["name"] == fn}
                 for split, records in android_data.items()}
        assert drawn["train"] <= set(values_bank()[bank]) and drawn["val"] <= set(values_bank()[bank])
        assert len(drawn["train"]) > 0.8 * len(values_bank()[bank])


def test_a_name_never_starts_with_the_requests_possessive():
    """"pair my {device_name}" drew "pair my my car" from a bank holding "my car", and people's "connect to my
    AirPods Pro" is the device "AirPods Pro": "my" is the request's word, never a name's."""
    from hare.tools.slots import values_bank

    for bank in ("device_name", "first_name", "last_name"):
        assert not [v for v in values_bank()[bank] if str(v).lower().startswith(("my ", "your "))], bank


def test_same_seed_same_data_other_seed_other_data():
    a = generate(ToolDataConfig(per_function=5, irrelevant=5, parallel=5, seed=1))
    assert a == generate(ToolDataConfig(per_function=5, irrelevant=5, parallel=5, seed=1))
    assert a != generate(ToolDataConfig(per_function=5, irrelevant=5, parallel=5, seed=2))


def test_any_spec_gets_generic_phrasing(tmp_path):
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps([
        fn("add_to_cart", {"product": {"type": "string", "description": "the product"},
                           "quantity": {"type": "integer", "minimum": 1, "maximum": 9, "default": 1}}, ["product"]),
        fn("set_dark_mode", {"enabled": {"type": "boolean"}}, ["enabled"]),
        fn("pay", {"method": {"type": "string", "enum": ["card", "cash"]}}, ["method"]),
    ]))
    data = generate(ToolDataConfig(spec=str(spec), per_function=30, irrelevant=10, parallel=10))
    functions = load_spec(spec)
    for r in data["train"] + data["val"]:
        assert isinstance(parse(render(r["calls"], functions), functions), list)
    carts = [r for r in data["train"] if r["kind"] == "single" and r["calls"][0]["name"] == "add_to_cart"]
    assert len(carts) >= 20 and all(r["calls"][0]["arguments"]["product"].casefold() in r["query"].casefold()
                                    for r in carts)
    assert {r["calls"][0]["arguments"]["quantity"] for r in carts} - {1}  # optional arguments sometimes said


def test_generated_calls_keep_every_constraint_of_a_custom_spec(tmp_path):
    """Fractional and exclusive bounds, a step, lengths, a pattern beside an enum, a pattern the values must be
    drawn again for (a made-up "Austin, Texas" breaks it): every written call is one the spec accepts, and every
    argument is still said."""
    from jsonschema import Draft202012Validator

    spec = tmp_path / "fan.json"
    spec.write_text(json.dumps([
        fn("set_fan", {"speed": {"type": "integer", "minimum": 3.5, "exclusiveMaximum": 7},
                       "step": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100, "multipleOf": 25},
                       "ratio": {"type": "number", "minimum": -2.5, "maximum": 2.5},
                       "room": {"type": "string", "pattern": "^[A-Z]{3}$", "enum": ["LIV", "KIT", "BED"]}},
           ["speed", "room"]),
        fn("send_note", {"message": {"type": "string", "minLength": 12, "maxLength": 40},
                         "city": {"type": "string", "pattern": "^[A-Z][A-Za-z .'-]{1,30}$"},
                         "language": {"type": "string", "pattern": "^[a-z]{2}$", "default": "en"}}, ["message"]),
    ]))
    data = generate(ToolDataConfig(spec=str(spec), per_function=150, irrelevant=5, parallel=60, seed=3))
    functions = {f.name: f for f in load_spec(spec)}
    said: dict[str, set] = {}
    for r in data["train"] + data["val"]:
        for call in r["calls"]:
            Draft202012Validator(functions[call["name"]].parameters).validate(call["arguments"])
            for k, v in call["arguments"].items():
                said.setdefault(k, set()).add(v)
    assert said["speed"] == {4, 5, 6} and said["step"] == {25, 50, 75, 100} and said["ratio"] <= {-2, -1, 0, 1, 2}
    assert len(said["city"]) > 20 and len(said["message"]) > 50 and len(said["language"]) > 5


def paraphrase(prompt: str) -> str:
    """A stub teacher: prefixes queries of even length with 'hey assistant,'; the others lose every value."""
    query = prompt.split("Request: ", 1)[1]
    return f"hey assistant, {query}" if len(query) % 2 == 0 else "please help me"


def test_teacher_paraphrases_are_kept_only_if_the_values_survive():
    with stub_teacher(paraphrase) as url:
        data = generate(ToolDataConfig(per_function=10, irrelevant=0, parallel=0, teacher_fraction=1.0,
                                       teacher=url))
    added = [r for r in data["train"] if r["template"].endswith(":teacher")]
    assert any(r["query"].startswith("hey assistant, ") for r in added)
    assert all(s.casefold() in r["query"].casefold() for r in added for s in r["keep"])
    assert not any(r["query"] == "please help me" for r in added)


def test_cli_writes_both_splits_and_the_spec(tmp_path, capsys):
    out = tmp_path / "tools"
    assert main(["tools", "data", "--out", str(out), "--per-function", "4", "--irrelevant", "4",
                 "--parallel", "4"]) == 0
    capsys.readouterr()
    assert len(load_spec(out / "tools.json")) == 20
    # Far more no-call queries than the bank holds distinct ones: training repeats them (their count weighs the
    # call-or-not decision), validation does not; both are said, not hidden.
    assert main(["tools", "data", "--out", str(tmp_path / "many"), "--per-function", "1", "--irrelevant", "5000",
                 "--parallel", "0"]) == 0
    said = capsys.readouterr().out
    assert "train: 5,020 queries (20 single, 0 parallel, 5,000 irrelevant)" in said, said
    assert "the 5,000 irrelevant queries repeat" in said and "of 1,250 irrelevant after dropping repeated" in said
    val = [json.loads(x)["query"] for x in (tmp_path / "many" / "val.jsonl").read_text().splitlines()]
    assert len(val) == len(set(val))
    lines = [json.loads(x) for x in (out / "val.jsonl").read_text().splitlines()]
    assert lines and set(lines[0]) == {"query", "calls", "template", "kind"}
    assert main(["tools", "data", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_call_grammar_accepts_every_rendered_target_token_by_token():
    """Constrained decoding must never forbid an answer the model was trained to give."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar

    tok = build_tokenizer()
    grammar = CallGrammar(ANDROID, tok)
    records = generate(ToolDataConfig(per_function=6, irrelevant=10, parallel=10, seed=3))["val"]
    for r in records:
        text = ""
        for token in tok(render(r["calls"], ANDROID, r["query"]), add_special_tokens=False).input_ids:
            text += grammar.pieces[token]
            assert grammar.allows(text), text
        assert grammar.pattern.fullmatch(text), text


@pytest.mark.parametrize("text", [
    "<api_0> (kamera=", "<api_0> (camera=' side'", "<api_11> (level=11)", "<api_11> (level=' 7'",
    "<api_15> (enabled=yes", "<api_8> (phone_number=' 055", "<api_5> (mode=", "<api_20>", "hello",
    "<api_2> (location=' Oslo')<round_end>", "<api_10> (time=' 7:30 xm'", "<api_10> (time=' 25:00'",
    "<api_8> (phone_number=' 555 0132'", "<api_3> (recipient=' our_name\",recipient",
    "<api_12> (title=' x', start_time=' June 3'",
])
def test_call_grammar_rejects_what_the_schema_forbids(text):
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar

    assert not CallGrammar(ANDROID, build_tokenizer()).allows(text)


TODAY = datetime.date(2026, 12, 1)
SPEC = {f.name: f.properties for f in ANDROID}


@pytest.mark.parametrize("words, canonical", [
    ("2:15 pm", "14:15"), ("14:15", "14:15"), ("7:30", "07:30"), ("five pm", "17:00"), ("12 am", "00:00"),
    ("12 pm", "12:00"), ("noon", "12:00"), ("midnight", "00:00"), ("1:00 p.m.", "13:00"), ("10 tonight", "22:00"),
    ("7 tomorrow morning", "07:00"), ("half past six in the morning", "06:30"), ("quarter to eight am", "07:45"),
    ("seven thirty am", "07:30"), ("ten past 9", "09:10"), ("2 at night", "02:00"),
    ("19:30 pm", "19:30 pm"), ("soon", "soon"),  # not a clock: left for validation to refuse
])
def test_times_in_the_users_words_become_24_hour_clocks(words, canonical):
    from hare.tools.surface import normalise

    assert normalise(SPEC["set_timer_alarm"]["time"], words, today=TODAY) == canonical


@pytest.mark.parametrize("words, canonical", [
    ("3 July 2027 at 18:45", "2027-07-03-18-45"), ("June 3, 2025 at 1 pm", "2025-06-03-13-00"),
    ("2025-06-03 at 1:00 pm", "2025-06-03-13-00"), ("9 am on March 5th, 2026", "2026-03-05-09-00"),
    ("Friday, the 5th of March 2027 at 10", "2027-03-05-10-00"),
    ("March 5 at 9am", "2027-03-05-09-00"),      # no year: the next March 5 from today
    ("December 24 at 8 pm", "2026-12-24-20-00"),  # … which may be this year's
    ("tomorrow at 9 am", "2026-12-02-09-00"), ("8:45 pm", "2026-12-01-20-45"),  # no date: today
    ("Friday at 6pm", "2026-12-04-18-00"), ("next Monday at 10", "2026-12-07-10-00"),  # 2026-12-01 is a Tuesday:
    ("tuesday at 9", "2026-12-08-09-00"),  # a weekday is the next such day after today
    ("fri at 3pm", "2026-12-04-15-00"), ("Tue. 10am", "2026-12-08-10-00"), ("next thurs at 10", "2026-12-03-10-00"),
    ("Sat 9am", "2026-12-05-09-00"), ("sat 9am", "sat 9am"),  # as typed; "sat", "sun", "mon", "wed" are words too
    ("2025-06-03-13-00", "2025-06-03-13-00"), ("February 30, 2026 at 9", "February 30, 2026 at 9"),
    ("25/02/2026 from 13:00", "2026-02-25-13-00"), ("02/25/2026 at 1 pm", "2026-02-25-13-00"),  # figures: the
    ("03.04.2026 at 8", "2026-03-04-08-00"), ("31/04/2026 at 8", "31/04/2026 at 8"),  # day over 12 settles it
])
def test_dates_in_the_users_words_become_the_specs_layout(words, canonical):
    from hare.tools.surface import normalise

    assert normalise(SPEC["create_calendar_event"]["start_time"], words, today=TODAY) == canonical


@pytest.mark.parametrize("words, canonical", [
    ("+61 (638) 507-377", "+61638507377"), ("+1 (415) 555-0132", "+14155550132"),
    ("+49-253-079-4311", "+492530794311"), ("+44 819 734 8581", "+448197348581"),
    ("0049 30 1234567", "+49301234567"), ("plus 44 7700 900123", "+447700900123"),
    ("plus one six four six, five five five, zero one nine two", "+16465550192"),  # spoken, as a voice assistant hears
    ("Plus four four seven seven oh oh nine oh oh one two three", "+447700900123"),
    ("plus one two three", "plus one two three"),  # three digits: no number
    ("415 555 0132", "+14155550132"), ("(646) 555-0112", "+16465550112"), ("1-303-555-0186", "+13035550186"),
    ("4155550132", "+14155550132"),  # North America's ten digits without a country code: the home region's
    ("555 0132", "555 0132"), ("0207 946 0958", "0207 946 0958"),  # other numbers without one: not read (refused)
    ("98765 43210", "98765 43210"), ("2025-06-03", "2025-06-03"),
])
def test_phone_numbers_keep_plus_and_digits(words, canonical):
    from hare.tools.surface import normalise

    assert normalise(SPEC["make_phone_call"]["phone_number"], words) == canonical


def test_languages_are_written_as_named_and_read_as_iso_codes():
    """"news in Turkish": the model copies "Turkish" and the parser gives `tr` (recalling codes, it wrote
    `tl`); the grammar admits every name the reader knows, the codes, and nothing else."""
    import re

    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar
    from hare.tools.surface import LANGUAGES, normalise, surface_pattern

    schema = SPEC["get_trending_news"]["language"]
    calls = [{"name": "get_trending_news", "arguments": {"query": "Tesla", "language": "tr"}}]
    assert render(calls, ANDROID, "news Tesla in Turkish") == "<api_1>(query=' Tesla', language=' Turkish')<api_end>"
    assert render(calls, ANDROID, "Tesla news please") == "<api_1>(query=' Tesla', language=' tr')<api_end>"
    grammar = re.compile(surface_pattern(schema))
    for code, names in LANGUAGES.items():
        for name in (*names, *(n.lower() for n in names), code):
            assert grammar.fullmatch(name) and normalise(schema, name) == code, name
    tool_grammar = CallGrammar(ANDROID, build_tokenizer())
    assert tool_grammar.allows("<api_1> (query=' Tesla', language=' Mandarin Chinese')")
    assert not tool_grammar.allows("<api_1> (query=' Tesla', language=' Klingon")
    assert parse("<api_1>(query=' Tesla', language=' fRENCH')<api_end>", ANDROID)[0]["arguments"]["language"] == "fr"


def test_language_names_are_typed_in_either_case_and_copied_as_typed(android_data):
    from hare.tools.surface import LANGUAGES

    named = [(r["query"], LANGUAGES[c["arguments"]["language"]][0]) for r in android_data["train"]
             for c in r["calls"] if c["name"] == "get_trending_news" and c["arguments"]["language"] != "en"]
    lower = [(q, n) for q, n in named if n not in q and n.lower() in q]
    assert 0.1 < len(lower) / len(named) < 0.5
    calls = {r["query"]: r["calls"] for r in android_data["train"]}
    assert all(f"language=' {n.lower()}'" in render(calls[q], ANDROID, q) for q, n in lower)


def test_a_spoken_phone_number_is_one_the_call_can_copy():
    """Said to a voice assistant, a number comes digit by digit; it is a number the query holds (so the
    grammar offers the calling functions, which need one, and keeps the value to it), the target copies
    those words, and the parser reads them as E.164. Before, "call plus one four one five …" had no
    number the grammar could see, and the model was pushed to other functions."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar, mark, typed_pattern

    query, spoken = "call plus one six four six, five five five, zero one nine two", "one six four six"
    calls = [{"name": "make_phone_call", "arguments": {"phone_number": "+16465550192"}}]
    target = render(calls, ANDROID, query)
    assert f"plus {spoken}" in target and parse(target, ANDROID, query) == calls
    grammar, call = CallGrammar(ANDROID, build_tokenizer()), next(f for f in ANDROID if f.name == "make_phone_call")
    assert grammar.typed_values(query, typed_pattern(call.properties["phone_number"])) == [query[5:]]
    assert grammar.offered(mark(call.index), query) and not grammar.offered(mark(call.index), "call mum")


def test_a_number_said_without_its_country_code_is_one_the_call_can_copy():
    """"call 202 555 0164" is how people ask for a number of their own region; it had no number the grammar
    could see, so the calling functions were not offered (the quickstart's model answered "dial 415 555 0198"
    with set_volume(level=4)). Now the target copies the user's digits and the parser reads them as +1."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar, mark, typed_pattern

    query = "dial (415) 555-0198 for me"
    calls = [{"name": "make_phone_call", "arguments": {"phone_number": "+14155550198"}}]
    target = render(calls, ANDROID, query)
    assert "(415) 555-0198" in target and parse(target, ANDROID, query) == calls
    grammar, call = CallGrammar(ANDROID, build_tokenizer()), next(f for f in ANDROID if f.name == "make_phone_call")
    assert grammar.typed_values(query, typed_pattern(call.properties["phone_number"])) == ["(415) 555-0198"]
    assert grammar.offered(mark(call.index), query)
    for other in ("set an alarm for 2025-06-03", "call +44 20 7946 0958", "volume 5 of 10 at 7:30"):
        assert grammar.typed_values(other, typed_pattern(call.properties["phone_number"])) in ([], ["+44 20 7946 0958"])


@pytest.mark.parametrize("said, value", [
    ("see attached, and", "see attached"), ("see attached and then", "see attached"), ("bring chips &", "bring chips"),
    ("running late, also", "running late"), ("Re: weekend plans,", "Re: weekend plans"),
    ("see you then", "see you then"), ("salt and pepper", "salt and pepper"), ("Rock and Roll", "Rock and Roll"),
    ("Grazie -", "Grazie"), ("Grazie \u2014", "Grazie"), ("7 - 3 is 4", "7 - 3 is 4"), ("a well-", "a well-"),
])
def test_a_value_that_ends_in_a_joint_ends_before_it(said, value):
    """"email jo@studio.io subject Draft, body see attached, and text Jo …" gave the body "see attached, and": the
    model stopped at the next request's joint. A value never ends in one; a bare "then" is a word ("see you then")."""
    raw = f"<api_3>(recipient=' jo@studio.io', title=' Draft', content=' {said}')<api_end>"
    assert parse(raw, ANDROID)[0]["arguments"]["content"] == value


def test_a_function_that_needs_a_time_is_offered_only_when_one_is_said():
    """"set a reminder to buy eggs" became set_timer_alarm(time='00:00'), and the "give it a minute" of "connect
    to Honda Accord and give it a minute" a second call, an alarm at 00:00: a required time or date the request
    does not say is one the model makes up, as a phone number was (`offered`)."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar, mark

    grammar = CallGrammar(ANDROID, build_tokenizer())
    alarm, event, news = (mark(next(f.index for f in ANDROID if f.name == name))
                          for name in ("set_timer_alarm", "create_calendar_event", "get_trending_news"))
    for said in ("set an alarm for 6:30 am", "wake me at seven", "alarm at noon", "alarm for 19.30"):
        assert grammar.offered(alarm, said), said
    for unsaid in ("set a reminder to buy eggs", "connect to Honda Accord and give it a minute", "time for bed"):
        assert not grammar.offered(alarm, unsaid) and not grammar.offered(event, unsaid), unsaid
    assert grammar.offered(event, "book dentist on June 3 2026 from 2 to 3 pm")
    assert grammar.offered(news, "any news?")  # its language has a default: nothing to make up


def test_an_end_time_without_a_date_takes_the_start_times_date():
    raw = "<api_12>(title=' review', start_time=' 3 July 2027 at 18:45', end_time=' 8:45 pm')<api_end>"
    assert parse(raw, ANDROID) == [{"name": "create_calendar_event", "arguments": {
        "title": "review", "start_time": "2027-07-03-18-45", "end_time": "2027-07-03-20-45"}}]
    assert isinstance(parse("<api_8>(phone_number=' 555 0132')<api_end>", ANDROID), CallError)


@pytest.mark.parametrize("start, end, read", [
    ("Saturday 14 March 2026, 2", "5 pm", ("2026-03-14-14-00", "2026-03-14-17-00")),  # the end's pm is the start's
    ("two on June 3, 2026", "five in the evening", ("2026-06-03-14-00", "2026-06-03-17-00")),
    ("June 3, 2026 at 10:30", "11 pm", ("2026-06-03-22-30", "2026-06-03-23-00")),
    ("June 3, 2026 at 9 am", "5", ("2026-06-03-09-00", "2026-06-03-17-00")),  # an end is never before its start
    ("June 3, 2026 at 11", "1 pm", ("2026-06-03-11-00", "2026-06-03-13-00")),  # 23:00 would be after the end
    ("June 3, 2026 at 02:00", "5 pm", ("2026-06-03-02-00", "2026-06-03-17-00")),  # "02:00" is a 24-hour clock
    ("June 3, 2026 at 10:30", "23:00", ("2026-06-03-10-30", "2026-06-03-23-00")),  # so is "23:00": no pm said
    ("June 3, 2026 at 9", "10", ("2026-06-03-09-00", "2026-06-03-10-00")),
    ("the 22nd of January 2027 between 4", "5 pm", ("2027-01-22-16-00", "2027-01-22-17-00")),
])
def test_a_range_reads_its_bare_hour_from_the_other_end(start, end, read):
    """"from 2 to 5 pm" is 14:00 to 17:00, as anyone reads it; alone, "2" stays 02:00 (a 24-hour clock)."""
    raw = f"<api_12>(title=' shift', start_time=' {start}', end_time=' {end}')<api_end>"
    (call,) = parse(raw, ANDROID)
    assert (call["arguments"]["start_time"], call["arguments"]["end_time"]) == read


def test_targets_copy_the_words_the_query_used():
    query = ("first make a new event called shift that runs from 3 July 2027 at 18:45 to 20:45, "
             "then call +1 (415) 555-0132")
    calls = [{"name": "create_calendar_event", "arguments": {
                 "title": "shift", "start_time": "2027-07-03-18-45", "end_time": "2027-07-03-20-45"}},
             {"name": "make_phone_call", "arguments": {"phone_number": "+14155550132"}}]
    assert render(calls, ANDROID, query) == ("<api_12>(title=' shift', start_time=' 3 July 2027 at 18:45', "
                                             "end_time=' 20:45');<api_8>(phone_number=' +1 (415) 555-0132')<api_end>")
    # A span that a shorter alternative of its pattern would end inside a word is still found: "11:25pm" (not
    # "11:25" + "pm"), "turkish" (not the code-like "tu"); the target then copies it instead of the canonical value.
    alarm = [{"name": "set_timer_alarm", "arguments": {"time": "23:25", "label": "alarm"}}]
    assert render(alarm, ANDROID, "alarm at 11:25pm") == "<api_10>(time=' 11:25pm')<api_end>"
    # ...and one whose first alternative to fit (the spec's canonical "11:25") stops short of its "PM".
    assert render(alarm, ANDROID, "alarm at 11:25 PM thx") == "<api_10>(time=' 11:25 PM')<api_end>"
    news = [{"name": "get_trending_news", "arguments": {"query": "Tesla", "language": "tr"}}]
    assert render(news, ANDROID, "news Tesla in turkish pls") == "<api_1>(query=' Tesla', language=' turkish')<api_end>"
    # Words that say it some other way ("in an hour") leave the canonical value in the target.
    assert "time=' 14:15'" in render([{"name": "set_timer_alarm", "arguments": {"time": "14:15", "label": "alarm"}}],
                                     ANDROID, "alarm in an hour")


@pytest.mark.parametrize("schema, kind", [
    ({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$"}, "datetime"),
    ({"type": "string", "format": "date"}, "date"), ({"type": "string", "format": "time"}, "time"),
    ({"type": "string", "pattern": "^\\+[0-9]{7,15}$"}, "phone"),
    ({"type": "string", "pattern": "^.*$"}, None), ({"type": "string"}, None),
    ({"type": "string", "enum": ["07:00"]}, None), ({"type": "integer"}, None),
    ({"type": "string", "pattern": "^[a-z]{2}$", "description": "ISO 639-1 code of the news language"}, "language"),
    ({"type": "string", "pattern": "^[a-z]{2}$", "description": "two-letter country code"}, None),
])
def test_kinds_are_recognised_from_any_specs_schema(schema, kind):
    from hare.tools.surface import kind_of

    found = kind_of(schema)
    assert (found[0].name if found else None) == kind


def test_every_time_and_date_the_grammar_admits_is_read():
    """The grammar and the reader are one description: no word sequence the model may write is left unread."""
    import itertools
    import re

    from hare.tools.surface import normalise, surface_pattern

    clocks = [" ".join(p).strip() for p in itertools.product(
        ["", "half past", "quarter to", "20 minutes past", "ten past"], ["0", "7", "12", "13", "20", "seven", "twelve"],
        ["", ":05", ":45", " thirty", " oh five"],
        ["", " am", "pm", " p.m.", " in the evening", " at night", " tonight"])]
    clocks = [re.sub(r"\s+(?=[:p])", "", c) if "pm" in c or ":" in c else c for c in clocks]
    dates = ["", "June 3", "3rd of June, 2026", "Friday, June 3, 2027", "2026-06-03", "tomorrow", "the 31st of May",
             "25/02/2026", "02/25/2026", "3.4.2026"]
    schemas = {k: SPEC[f][a] for k, (f, a) in {"time": ("set_timer_alarm", "time"),
                                               "datetime": ("create_calendar_event", "start_time")}.items()}
    admitted = 0
    for kind, schema in schemas.items():
        grammar = re.compile(surface_pattern(schema))
        for clock, date in itertools.product(clocks, dates if kind == "datetime" else [""]):
            for words in {f"{date} at {clock}" if date else clock, f"{clock} on {date}" if date else clock}:
                if grammar.fullmatch(words):
                    admitted += 1
                    assert re.fullmatch(schema["pattern"], normalise(schema, words, today=TODAY)), words
    assert admitted > 300


def test_apostrophes_in_values_are_written_as_the_user_typed_them(android_data):
    """"text Maria I'm late": a single-quoted value keeps its word-internal apostrophes, so the value copies
    the query token for token and the grammar lets the model write it (it used to write "I am late")."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar

    calls = [{"name": "send_text_message", "arguments": {"contact_name": "O'Brien", "message": "I'm late, don't wait"}}]
    text = render(calls, ANDROID, "text O'Brien I'm late, don't wait")
    assert text == "<api_7>(contact_name=' O'Brien', message=' I'm late, don't wait')<api_end>"
    assert parse(text, ANDROID) == calls
    tok = build_tokenizer()
    grammar = CallGrammar(ANDROID, tok)
    written = ""
    for token in tok(text, add_special_tokens=False).input_ids:
        written += grammar.pieces[token]
        assert grammar.allows(written), written
    assert not grammar.allows("<api_7> (contact_name=' Maria', message=' I' m")  # a closed value, then junk
    assert any("'" in v for r in android_data["train"] for c in r["calls"] for v in c["arguments"].values()
               if isinstance(v, str))  # the value banks say it too


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_record_at_the_quickstarts_size_is_a_valid_call(seed):
    """Made-up values must stay valid values (a made-up name once put a comma into an e-mail address, and the
    quickstart stopped at `tools train`)."""
    from hare.quickstart import NO_CALLS, TWO_CALLS, QuickstartConfig
    from hare.tools.calls import validate

    by_name = {f.name: f for f in ANDROID}
    n = QuickstartConfig().per_function
    data = generate(ToolDataConfig(per_function=n, irrelevant=NO_CALLS * n, parallel=TWO_CALLS * n, seed=seed))
    for record in data["train"] + data["val"]:
        for call in record["calls"]:
            assert not isinstance(validate(by_name[call["name"]], call["arguments"]), str), record


def test_latency_percentiles_follow_one_rule():
    """Every latency report uses one p50/p95 rule: the median, and the 95th percentile interpolated between
    ranks (so one slow call among twenty moves p95 only part of the way); a single call is both."""
    from hare.tools.evaluate import p50_p95

    assert p50_p95([0.2]) == (0.2, 0.2)
    p50, p95 = p50_p95([0.1] * 19 + [1.1])
    assert p50 == 0.1 and 0.1 < p95 < 1.1
    assert p50_p95([4.0, 1.0, 3.0, 2.0]) == (2.5, 3.85)  # order does not matter


def test_function_accuracy_counts_each_call():
    """Function accuracy compares the called functions with their multiplicity: one text where two were
    asked for, or a second, wrong call of the same function, is wrong (name sets had scored both right);
    order does not matter, and an unparsable answer is never right."""
    from hare.tools.calls import CallError
    from hare.tools.evaluate import functions_match

    text = {"name": "send_text_message", "arguments": {}}
    photo = {"name": "take_a_photo", "arguments": {}}
    assert functions_match([photo, text], [text, photo])
    assert functions_match([], [])
    assert not functions_match([text], [text, text])
    assert not functions_match([text, text], [text])
    assert not functions_match([text, photo], [text])
    assert not functions_match(CallError("syntax", "unbalanced parenthesis", "<api_3>(x="), [])


def test_a_call_whose_two_values_repeat_the_same_words_is_answered_again_begun_otherwise():
    """`hare.tools.joins`: "… use New plans as the subject and write The van is late" gave both the title and the
    body "The van is late". The look decodes again from where the first of the two values opened, its first token
    barred, then from the second's; an answer that calls the same functions and no longer repeats is kept."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar
    from hare.tools.joins import _repeated, run_look

    tok = build_tokenizer()
    grammar = CallGrammar(ANDROID, tok)
    email = next(f for f in ANDROID if f.name == "send_email")
    query = "email ana@x.io, use New plans as the subject and write The van is late"

    def answer(title: str, content: str) -> list[int]:
        text = f"<api_{email.index}>(recipient=' ana@x.io', title=' {title}', content=' {content}')"
        return tok(text, add_special_tokens=False).input_ids

    class Scripted:  # the model's answers, in the order the look asks for them
        def __init__(self, *answers: list[int]) -> None:
            self.tok, self.answers, self.asked = tok, list(answers), []

        def grammar(self, functions):
            return grammar

        def decode(self, query, functions, prefix=None, close=False, avoid=None):
            opened = "".join(grammar.pieces[t] for t in prefix)
            self.asked.append((opened[opened.rindex(", ") + 2:] if ", " in opened else opened, grammar.pieces[avoid]))
            return self.answers.pop(0), True, 0

    def look(model: Scripted, query: str):
        ids = answer("The van is late", "The van is late")
        calls = parse(tok.decode(ids) + "<api_end>", ANDROID, query)
        return run_look(_repeated(model, query, ANDROID, ids, calls), model.decode)

    fixed = Scripted(answer("New plans", "The van is late"))
    calls, _ = look(fixed, query)
    assert calls[0]["arguments"] == {"recipient": "ana@x.io", "title": "New plans", "content": "The van is late"}
    assert fixed.asked == [("title='", " The")]
    stubborn = Scripted(answer("the van is late", "The van is late"), answer("The van is late", "The van is late"))
    assert look(stubborn, query) is None  # the same words again (case aside), from either value: kept as answered
    assert [opened for opened, _ in stubborn.asked] == ["title='", "content='"]
    twice = Scripted()
    assert look(twice, query + ", The van is late") is None and not twice.asked  # said twice: both may take them


def test_a_second_call_of_the_same_function_that_its_words_alone_do_not_ask_for_is_dropped():
    """`hare.tools.joins`: "look for box breathing on youtube and show me what comes up" was answered with two
    searches, the second "what comes up". The words after the joiner, answered alone, ask for nothing: the second
    call goes. Alone they may ask for it ("… and search for cats too"): kept. Two functions: not looked at."""
    from hare.model.tokenizer import build_tokenizer
    from hare.tools.grammar import CallGrammar
    from hare.tools.joins import _unasked, run_look

    tok, grammar = build_tokenizer(), CallGrammar(ANDROID, build_tokenizer())
    search = next(f for f in ANDROID if f.name == "search_youtube_videos")

    class Scripted:  # the model's answer to the part it is asked about
        def __init__(self, answer: str) -> None:
            self.tok, self.answer, self.asked = tok, answer, []

        def grammar(self, functions):
            return grammar

        def decode(self, query, functions, prefix=None, close=False, avoid=None):
            self.asked.append(query)
            return tok(self.answer, add_special_tokens=False).input_ids, True, 0

    def look(model: Scripted, query: str, second: str, name: str = "search_youtube_videos"):
        calls = [{"name": "search_youtube_videos", "arguments": {"query": "box breathing"}},
                 {"name": name, "arguments": {"query": second}}]
        return run_look(_unasked(model, query, ANDROID, calls), model.decode)

    nothing = Scripted("")
    query = "look for box breathing on youtube and show me what comes up"
    assert look(nothing, query, "what comes up")[0] == [{"name": "search_youtube_videos",
                                                          "arguments": {"query": "box breathing"}}]
    assert nothing.asked == ["show me what comes up"]
    asked = Scripted(f"<api_{search.index}>(query=' cats')")
    assert look(asked, "look for box breathing on youtube and search for cats too", "cats") is None
    news = Scripted("")
    assert look(news, "look for box breathing on youtube and news on cats", "cats", "get_trending_news") is None
    assert not news.asked


def test_a_free_text_value_said_in_one_spelling_is_written_as_the_user_typed_it():
    """The grammar lets a copy take a span case aside, and a model at a near tie spelled "the farmers market"
    "the FARMeRs": a value the request says in one spelling (once or more) is the user's letters; one said in two
    spellings is left."""
    route = next(f for f in ANDROID if f.name == "find_route_google_maps")
    query = "from Dubai Mall to the farmers market, which way should I go"
    (call,) = parse(f"<api_{route.index}>(origin=' dubai MALL', destination=' THE farmers Market', mode=' driving')"
                    "<api_end>", ANDROID, query)
    assert call["arguments"] == {"origin": "Dubai Mall", "destination": "the farmers market", "mode": "driving"}
    (call,) = parse(f"<api_{route.index}>(origin=' PARIS', destination=' Lyon')<api_end>", ANDROID,
                    "from Paris to Lyon, not paris texas")
    assert call["arguments"]["origin"] == "PARIS"  # "Paris" or "paris": whose letters is open
    text = next(f for f in ANDROID if f.name == "send_text_message")
    query = "text mom 'landed safely' and text dad 'landed safely, see you soon'"
    calls = parse(f"<api_{text.index}>(contact_name=' mom', message=' landed safelY');<api_{text.index}>("
                  "contact_name=' dad', message=' landed safely, see you soon')<api_end>", ANDROID, query)
    assert [c["arguments"]["message"] for c in calls] == ["landed safely", "landed safely, see you soon"]


@pytest.mark.parametrize("function, written, query, read", [
    ("create_calendar_event", {"title": "caendar soccer practice", "start_time": "the 9th of January 2027 at 10:30",
                               "end_time": "12 PM"},
     "add to caendar soccer practice on the 9th of January 2027 at 10:30 finishing at 12 PM", "soccer practice"),
    ("connect_to_bluetooth_device", {"device_name": "Bleutooth AirPods Pro 2"}, "Bleutooth AirPods Pro 2",
     "AirPods Pro 2"),
    ("set_timer_alarm", {"time": "4:40pm", "label": "set me an alarrm"}, "set me an alarrm for 4:40pm", "alarm"),
    ("connect_to_bluetooth_device", {"device_name": "Bluetooth speaker"}, "pair my Bluetooth speaker",
     "Bluetooth speaker"),  # spelt right, the word may be the device's own
    ("create_calendar_event", {"title": "Events team sync", "start_time": "June 3 2026 at 9am", "end_time": "10am"},
     "add Events team sync on June 3 2026 at 9am to 10am", "Events team sync"),  # a plural is no slip
    ("send_text_message", {"contact_name": "Ana", "message": "the evnet starts at 8"},
     "text Ana the evnet starts at 8", "the evnet starts at 8"),  # a message's words are the sender's
])
def test_a_value_begun_with_the_command_misspelt_begins_after_it(function, written, query, read):
    """"add to caendar soccer practice …" came back with the title "caendar soccer practice" and "Bleutooth AirPods
    Pro 2" with that device (4 of the 400 held-out requests): a value that begins with a slip of a word of its
    function's name begins after it, and one that is nothing but the command goes back to its default."""
    fn = next(f for f in ANDROID if f.name == function)
    text = ", ".join(f"{k}={' ' + v!r}" for k, v in written.items())
    (call,) = parse(f"<api_{fn.index}>({text})<api_end>", ANDROID, query)
    free = next(k for k in ("title", "device_name", "label", "message") if k in written)
    assert call["arguments"][free] == read


@pytest.mark.parametrize("function, written, query, name, read", [
    ("search_youtube_videos", {"query": "16 unboxing"}, "can u search yt for iphone 16 unboxing", "query",
     "iphone 16 unboxing"),
    ("send_email", {"recipient": "team@acme.io", "title": "Sprint planning", "content": "is on the calendar"},
     "email team@acme.io subject Sprint planning body Invite is on the calendar", "content",
     "Invite is on the calendar"),
    ("set_timer_alarm", {"time": "22:45", "label": "meds"}, "set alarm for 22:45 labelled take meds", "label",
     "take meds"),
    ("search_youtube_videos", {"query": "cat videos"}, "search youtube for some cat videos", "query", "cat videos"),
    ("send_email", {"recipient": "jo@acme.io", "title": "Sick day", "content": "see you"},
     "email jo@acme.io, subject is Sick day, body see you", "title", "Sick day"),  # "is" links, it names nothing
    ("send_email", {"recipient": "jo@acme.io", "title": "Sick day", "content": "see you"},
     "email jo@acme.io, the subject should be Sick day, body see you", "title", "Sick day"),
    ("search_youtube_videos", {"query": "unboxing"}, "search for 16 unboxing", "query", "unboxing"),  # a figure
    ("get_weather_forecast", {"location": "Paris"}, "weather for this weekend in Paris", "location", "Paris"),
])
def test_a_value_copied_short_of_its_start_runs_back_to_the_word_that_opens_it(function, written, query, name, read):
    """"search yt for iphone 16 unboxing" came back as the query "16 unboxing", "body Invite is on the calendar"
    as "is on the calendar" and "labelled take meds" as "meds" (3 of the 440 hand-written requests): a value a
    word or two after "for", "body", "labelled" … starts at them, but not over a pronoun, an article, a linking
    verb or a figure."""
    fn = next(f for f in ANDROID if f.name == function)
    text = ", ".join(f"{k}={' ' + v!r}" for k, v in written.items())
    (call,) = parse(f"<api_{fn.index}>({text})<api_end>", ANDROID, query)
    assert call["arguments"][name] == read


def test_a_value_that_ran_over_a_joiner_into_another_calls_words_ends_before_the_joiner():
    """"msg Giulia: it's done, then i want to add Ngozi to my contacts, …" came back with the message "it's done,
    then i want to add Ngozi" beside a contact "Ngozi": two calls never take the same words said once, so the
    message ends at the joiner before them. A message that names what the request says twice keeps it."""
    text, contact = (next(f for f in ANDROID if f.name == n) for n in ("send_text_message", "create_contact"))

    def answer(message: str, query: str) -> str:
        raw = (f"<api_{text.index}>(contact_name=' Giulia', message={' ' + message!r});"
               f"<api_{contact.index}>(name=' Ngozi', phone_number=' +91 (512) 387-9892')<api_end>")
        return parse(raw, ANDROID, query)[0]["arguments"]["message"]

    query = "erm, msg Giulia: it's done, then i want to add Ngozi to my contacts, their cell is +91 (512) 387-9892"
    assert answer("it's done, then i want to add Ngozi", query) == "it's done"
    query = "msg Giulia: tell Ngozi it's done, and add Ngozi to my contacts, their cell is +91 (512) 387-9892"
    assert answer("tell Ngozi it's done", query) == "tell Ngozi it's done"  # said twice: whose is open
    query = "msg Giulia: I met Ngozi; save the contact, +91 (512) 387-9892"
    assert answer("I met Ngozi", query) == "I met Ngozi"  # no joiner before them: which call is wrong is open
