"""Tool calling that no input can break: specs checked before compiling, a parser that never raises,
integer ranges the grammar enforces, and a grammar that always ends its answer within its budget."""

from __future__ import annotations

import random

import pytest
import regex
import torch

from hare.errors import HareError
from hare.model.tokenizer import build_tokenizer, functional_token
from hare.tools.calls import CallError, parse
from hare.tools.grammar import CallGrammar, budget, integer_pattern
from hare.tools.spec import load_spec, parse_spec
from hare.tools.surface import kind_of

ANDROID = load_spec("android")


def _spec(schema: dict) -> list[dict]:
    return [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": schema}, "required": ["a"]}}}]


def _deep(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def _brackets(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("schema, needle", [
    (True, "parameters.properties.a: a schema must be a JSON object"),
    ({"type": "string", "enum": []}, "parameters.properties.a.enum"),
    (_deep(8), "nest deeper than 6"),
    (_deep(300), "nest arrays and objects more than 32 levels deep"),
    # 1 KB of brackets in a served request's default: jsonschema's uniqueItems check recursed past Python's limit
    ({"type": "array", "uniqueItems": True, "default": [_brackets(250), _brackets(250)]}, "more than 32 levels"),
    ({"type": "array", "default": _brackets(520)}, "more than 32 levels"),  # call_shape's recursion, likewise
    ({"type": "string", "pattern": "(a{1,5}){1,5}$"}, "repetition inside a repetition"),
    ({"type": "string", "pattern": "(x|xx){0,9}y"}, "alternation inside a repetition"),
    ({"type": "string", "pattern": "^[a-z]+$"}, "bound its repetitions"),
    ({"type": "string", "pattern": r"(\w)\1"}, "backreferences"),
    ({"$ref": "#/definitions/x"}, "unsupported keyword '$ref'"),
    ({"anyOf": [{"type": "string"}]}, "unsupported keyword 'anyOf'"),
    ({"type": "string", "format": "date-time"}, "unsupported format"),
    ({"type": "integer", "minimum": float("inf")}, "minimum: must be a finite number"),
    ({"type": ["string", "null"]}, "a single type"),
    ({"type": "integer", "enum": ["a", "b"]}, "enum: \"a\" is not of the schema's type 'integer'"),
    ({"type": "number", "enum": [1, True]}, "enum: true is not of the schema's type 'number'"),
])
def test_unsupported_schemas_are_refused_naming_the_path(schema, needle):
    with pytest.raises(HareError, match=regex.escape(needle)):
        parse_spec(_spec(schema), "tools")


def test_bundled_spec_passes_the_checks():
    assert len(parse_spec([f.to_openai() for f in ANDROID])) == 20


@pytest.mark.parametrize("low, high", [(1, None), (0, 10), (1, 100), (-5, 5), (None, None), (7, 1234), (-300, -20)])
def test_integer_ranges_match_exactly_the_range_without_leading_zeros(low, high):
    pattern = regex.compile(integer_pattern(low, high))
    for n in range(-2000, 2001):
        inside = (low is None or n >= low) and (high is None or n <= high)
        assert bool(pattern.fullmatch(str(n))) == inside, n
    assert not pattern.fullmatch("00") and not pattern.fullmatch("007")


@pytest.mark.parametrize("schema", [{"type": "integer"}, {"type": "integer", "minimum": 0, "maximum": 99},
                                    {"type": "number"}])
def test_numbers_are_ascii_digits_only(schema):
    """`regex`'s \\d takes every script's digits: "8๐" (Thai zero) had been a number the call grammar allowed."""
    from hare.tools.grammar import value_pattern

    pattern = regex.compile(value_pattern(schema))
    assert pattern.fullmatch("80") and pattern.fullmatch("8")
    for foreign in ("8\u0e50", "\u0e58", "\u0668\u0660", "8\uff10"):  # Thai, Arabic-Indic, fullwidth digits
        assert not pattern.fullmatch(foreign), foreign


def test_grammar_refuses_a_zero_below_the_minimum():
    grammar = CallGrammar(parse_spec(_spec({"type": "integer", "minimum": 1})), build_tokenizer())
    assert grammar.allows("<api_0> (a=1") and grammar.allows("<api_0> (a=120)<api_end>")
    assert not grammar.allows("<api_0> (a=0") and not grammar.allows("<api_0> (a=00")


def test_parser_is_total_and_numbers_out_of_range_are_structured_errors():
    volume = [f for f in ANDROID if f.name == "set_volume"]
    for value in ["1e400", "inf", "9" * 400, "-1e400", "10**10"]:
        result = parse(f"<api_{volume[0].index}>(level={value})<api_end>", volume)
        assert isinstance(result, CallError), value
    email = [f for f in ANDROID if f.name == "send_email"]
    bad = parse(f"<api_{email[0].index}>(recipient=' 2111', subject=' hi', body=' x')<api_end>", email)
    assert isinstance(bad, CallError) and "email" in bad.message
    rng = random.Random(0)
    alphabet = ["<api_3>", "<api_99999999999999>", "<api_end>", "(", ")", "=", "'", '"', ",", ";", "level",
                "1e400", "9" * 50, "[", "]", "{", "}", "lambda", "__import__('os')", " ", "\\", "\n", "\ud800",
                "None", "True", "0x1F", "1j", "...", "*", "**", "-", "inf", "nan"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert isinstance(parse(text, ANDROID), list | CallError)  # never raises


def _decode(grammar: CallGrammar, logits_of, limit: int, query: str | None = None) -> str:
    """Greedy decoding under the grammar with made-up logits; the grammar's text at the stop."""
    end = grammar.tok.convert_tokens_to_ids("<api_end>")
    text = ""
    for _ in range(limit):
        token = grammar.choose(text, logits_of(text), query)
        assert token is not None, f"dead end after {text!r}"
        if token == end:
            return text + grammar.pieces[token]
        text += grammar.pieces[token]
        text += "".join(grammar.pieces[t] for t in grammar.forced(text))
    raise AssertionError(f"no end within the budget of {limit}: {text!r}")


def test_an_untrained_model_cannot_spell_api_end_out_of_plain_tokens():
    """A model whose `<api_i>` rows are untrained prefers the plain pieces of `<api_end>`: the grammar
    must still end the answer with the real token, not dead-end after the spelled-out text."""
    tok = build_tokenizer()
    grammar = CallGrammar(ANDROID, tok)
    spelled = tok("<api_end>", add_special_tokens=False, split_special_tokens=True).input_ids
    quote = tok.convert_tokens_to_ids("▁'")

    def logits_of(text: str) -> torch.Tensor:
        logits = torch.zeros(len(tok))
        logits[spelled] = 10.0
        logits[quote] = 5.0
        return logits

    text = _decode(grammar, logits_of, budget(ANDROID))
    assert grammar.pattern.fullmatch(text)


def test_no_functional_token_inside_a_value_even_where_its_pattern_admits_the_mark():
    """Seen in a quickstart model: `recipient=' letme,Letme@<api_3>(recipient_name=…` — the e-mail pattern
    admits any character but quote, space and @, so a model that liked `<api_3>` there put a call's mark
    inside the value, and the grammar's own bookkeeping broke. A model that always prefers functional
    tokens must still answer valid calls."""
    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name in ("send_email", "find_route_google_maps")]
    grammar = CallGrammar(functions, tok)
    marks = [tok.convert_tokens_to_ids(functional_token(f.index)) for f in functions]

    def logits_of(text: str) -> torch.Tensor:
        logits = torch.zeros(len(tok))
        logits[marks] = 20.0
        return logits

    text = _decode(grammar, logits_of, budget(functions))
    assert grammar.pattern.fullmatch(text)
    values = regex.findall(r"""=\s?(?:'([^']*)'|"([^"]*)")""", text)
    assert values and not any(regex.search("[\ue000-\uf8ff]", "".join(v)) for v in values), text


def test_random_logits_always_end_within_the_budget():
    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name in ("send_email", "set_volume", "make_phone_call", "create_contact")]
    grammar = CallGrammar(functions, tok)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        text = _decode(grammar, lambda _: torch.randn(len(tok), generator=generator) * 8, budget(functions))
        assert grammar.pattern.fullmatch(text)


def test_a_random_model_answers_a_valid_call_or_a_structured_error(micro_dir):
    """Untrained weights (the `<api_i>` rows random too): constrained answers parse; unconstrained ones
    that run out of tokens say "too_long" instead of being closed with `<api_end>` and misparsed."""
    from hare.model.load import load_model
    from hare.tools.decoder import ToolCaller

    model, tok = load_model(str(micro_dir), "cpu", "float32")
    functions = [f for f in ANDROID if f.name in ("take_a_photo", "set_volume")]
    constrained = ToolCaller(model, tok, functions)
    assert constrained.max_new_tokens == budget(functions)
    result = constrained("turn the ringer up to 3")
    assert isinstance(result.calls, list), result.calls
    cut = ToolCaller(model, tok, functions, max_new_tokens=2, constrained=False)("turn the ringer up to 3")
    assert isinstance(cut.calls, CallError) and cut.calls.kind == "too_long" and "<api_end>" not in cut.raw


def test_number_values_take_every_float_python_writes_within_their_bound():
    from hare.tools.calls import literal
    from hare.tools.grammar import value_chars, value_pattern

    pattern, schema = regex.compile(value_pattern({"type": "number"})), {"type": "number"}
    for value in [0.5, 3.0, 1e-05, -2.5, 1e16, 0.1 + 0.2, -1.2345678901234567e-300, 2.0**53]:
        assert pattern.fullmatch(literal(value)) and len(literal(value)) <= value_chars(schema), literal(value)
    assert not pattern.fullmatch("01.5") and not pattern.fullmatch("1e400")


@pytest.mark.parametrize("name, query, typed", [
    ("send_email", "email my boss at j.park@acme.com, subject Sick day, say I won't be in", "j.park@acme.com"),
    ("make_phone_call", "ring +1 (650) 555-0199 for me, then text mum", "+1 (650) 555-0199"),
    ("create_contact", "save +442079460958 as Ana", "+442079460958"),
])
def test_addresses_and_numbers_are_ones_the_query_typed(name, query, typed):
    """A model that likes other tokens (random logits here; in a quickstart model 'my_name@m.acme.com'
    for 'email my boss at j.park@acme.com') still writes the address or number the user typed."""
    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name == name]
    grammar = CallGrammar(functions, tok)
    mark = tok.convert_tokens_to_ids(functional_token(functions[0].index))
    generator = torch.Generator().manual_seed(0)

    def logits_of(text: str) -> torch.Tensor:
        logits = torch.randn(len(tok), generator=generator) * 8
        logits[mark] = 100.0 if text == "" else -100.0
        return logits

    text = _decode(grammar, logits_of, budget(functions), query)
    assert grammar.pattern.fullmatch(text)
    assert regex.search(rf"=\s?'\s?{regex.escape(typed)}'", text), text


@pytest.mark.parametrize(("name", "query"), [
    ("set_timer_alarm", "wake me at 7:30 pm for the gym"),
    ("create_calendar_event", "add dentist on June 3, 2026 at 1 pm until 3 pm"),
])
def test_times_and_dates_are_words_the_query_said(name, query):
    """Written as the user said them, a time or date is a span of the query: a model that likes other
    tokens (random logits here; a quickstart model wrote '2:00' for "from 3pm") cannot put in an hour that
    nobody said. Free text (the alarm's label, the event's title) stays the model's choice."""
    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name == name]
    grammar = CallGrammar(functions, tok)
    mark = tok.convert_tokens_to_ids(functional_token(functions[0].index))
    end = tok.convert_tokens_to_ids("<api_end>")
    kinds = [arg for arg, schema in functions[0].properties.items() if kind_of(schema)]
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)

        def logits_of(text: str, generator: torch.Generator = generator) -> torch.Tensor:
            logits = torch.randn(len(tok), generator=generator) * 8
            logits[mark] = 100.0 if text == "" else -100.0
            # The answer ends where the grammar first lets it: more calls of random words only repeat the check,
            # at a second or two a step where a call ends (the grammar's masks for fresh states: 100 s, not 20).
            logits[end] = 100.0 if text else logits[end]
            return logits

        text = _decode(grammar, logits_of, budget(functions), query)
        values = dict(regex.findall(r"(\w+)=' ?([^']*)'", text))
        assert kinds and all(arg in values for arg in kinds if arg in functions[0].required), text
        for arg in kinds:
            if arg in values:
                assert values[arg].strip().casefold() in query.casefold(), (arg, text)


def test_a_copied_value_may_end_inside_a_query_token_and_close_with_a_token_of_its_own():
    """"see you Friday!, thanks": the value is "see you Friday!", but the query's tokens are `!` `,` and the
    model closes with `!'`, one token. Copying (the default) offers every token that is a piece of the
    query, and every token that closes a value after one (it used to offer only the query's own tokens:
    "Paramount+" lost its "+", and held-out exact calls were 1.5 points lower with copying than without)."""
    from hare.tools.grammar import readable_to_marked

    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name == "send_text_message"]
    grammar = CallGrammar(functions, tok)
    text = readable_to_marked("<api_7>(contact_name=' Ana', message=' see you Friday")
    query = "text Ana see you Friday!, thanks"
    bang_closes = tok.convert_tokens_to_ids("!'")
    logits = torch.zeros(len(tok))
    logits[bang_closes] = 50.0
    assert grammar.choose(text, logits, query, copy=True) == bang_closes
    logits[bang_closes] = 0.0
    logits[tok.convert_tokens_to_ids("▁thanks")] = 50.0  # not a span: "see you Friday thanks"
    assert grammar.pieces[grammar.choose(text, logits, query, copy=True)] != " thanks"
    # Case aside: "see you friday" may be written "Friday"; the value's first word may be capitalised.
    opened = grammar.span_tokens("", "text ana see you friday")
    assert {tok.convert_tokens_to_ids(t) for t in ("▁See", "▁see", "▁Friday")} <= set(opened)
    assert tok.convert_tokens_to_ids("▁Friday") in grammar.span_tokens(" see you", "text ana see you friday")
    assert grammar.span_tokens(" see me", "text ana see you friday") == []  # no span: the grammar alone decides


def test_a_copied_value_closes_only_with_the_quote_that_opened_it():
    """Inside a single-quoted value a `"` is one more character: SmolLM2's `!")` counted as closing 'loved the
    pics!' after "pics!", the value then was no span of the request, and the grammar alone wrote `")()()…` to
    the length limit (a quickstart model's held-out contact name, in a batch of 400). Inside a double-quoted
    one, the other way round; the second look at joined requests closes values with the same tokens."""
    from hare.tools.grammar import readable_to_marked

    tok = build_tokenizer()
    grammar = CallGrammar([f for f in ANDROID if f.name == "send_text_message"], tok)
    query = "text Ana see you Friday!, thanks"
    single, double = tok.convert_tokens_to_ids("!'"), tok.convert_tokens_to_ids('!"')
    assert tok.unk_token_id not in (single, double) and single != double
    for quote, closes, goes_on in (("'", single, double), ('"', double, single)):
        text = readable_to_marked(f"<api_7>(contact_name='Ana', message={quote} see you Friday")
        offered = grammar.span_tokens(" see you Friday", query, quote)
        assert closes in offered and goes_on not in offered, quote
        assert tok.convert_tokens_to_ids(quote) in grammar.closing(text)
        assert tok.convert_tokens_to_ids("'" if quote == '"' else '"') not in grammar.closing(text)
        logits = torch.zeros(len(tok))
        logits[goes_on] = 50.0  # the model's favourite: not a span, nor an end
        chosen = grammar.choose(text, logits, query, copy=True)
        assert chosen != goes_on and chosen in offered, quote
    assert grammar.closing(readable_to_marked("<api_7>(contact_name='Ana', ")) == []  # no value open


def test_a_copied_value_closed_by_a_bare_quote_goes_on_only_as_a_span():
    """A bare `'` after a copied value closes it or, before a word character, is an apostrophe ("Jo's"). A model
    wrote "… take a look" + "'" + "_=" (a title no one said) where the request ended at "look": the value goes
    on through the quote only as a span of the request. And the grammar reads word characters as the parser
    does: "ָ", a mark, was a word character to the grammar's engine only, so "look'ָ" went on as a value that
    the parser read as closed, and the answer did not parse."""
    from hare.tools.grammar import readable_to_marked

    tok = build_tokenizer()
    grammar = CallGrammar([f for f in ANDROID if f.name == "send_text_message"], tok)
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("_", "s", "\u05b8", ")")}
    assert tok.unk_token_id not in ids.values()
    closed = readable_to_marked("<api_7>(contact_name=' Ana', message=' see you at Jo'")
    for query, favourite, kept in (("text Ana see you at Jo", "_", False), ("text Ana see you at Jo's", "s", True),
                                   ("text Ana see you at Jo", "\u05b8", False)):
        logits = torch.zeros(len(tok))
        logits[ids[favourite]], logits[ids[")"]] = 50.0, 40.0
        chosen = grammar.choose(closed, logits, query, copy=True)
        assert (chosen == ids[favourite]) is kept and (kept or chosen == ids[")"]), (query, favourite)
    assert not grammar.allows(closed + "\u05b8")  # as the parser reads it: a closed value, then no `,` or `)`
    logits = torch.zeros(len(tok))
    logits[ids["_"]] = 50.0
    assert grammar.choose(closed, logits, "text Ana see you at Jo", copy=False) == ids["_"]  # not copying: free


def test_a_function_that_needs_an_address_or_number_the_query_lacks_is_not_called():
    """'let Noa Williams know please feed the dog' became create_contact(phone_number='+71717171717171'): a
    number the user never gave can only be made up, so such a function is out until the query has one."""
    tok = build_tokenizer()
    functions = [f for f in ANDROID if f.name in ("create_contact", "send_email", "send_text_message")]
    grammar = CallGrammar(functions, tok)
    mark = {f.name: tok.convert_tokens_to_ids(functional_token(f.index)) for f in functions}
    logits = torch.zeros(len(tok))
    logits[mark["create_contact"]], logits[mark["send_email"]], logits[mark["send_text_message"]] = 30, 20, 10
    assert grammar.choose("", logits, "let Noa Williams know please feed the dog") == mark["send_text_message"]
    assert grammar.choose("", logits, "mail noa@x.org about the dog") == mark["send_email"]
    assert grammar.choose("", logits, "Noa is +14155550132") == mark["create_contact"]
    assert grammar.choose("", logits, None) == mark["create_contact"]  # no query: the grammar alone
