"""E-mail addresses said aloud, read as typed before the tool model sees the request (`hare.tools.dictated`)."""

from __future__ import annotations

import pytest

from hare.tools.decoder import ToolCaller
from hare.tools.dictated import addresses


@pytest.mark.parametrize(("said", "read"), [
    ("send an email to tomasz dot wojcik at outlook dot com subject invoice 2291",  # the sixth hand-written set's
     "send an email to tomasz.wojcik@outlook.com subject invoice 2291"),
    ("mail anna underscore lee at uni dash bonn dot de the slides", "mail anna_lee@uni-bonn.de the slides"),
    ("Email J Dot Park at Acme dot co dot uk about lunch", "Email J.Park@Acme.co.uk about lunch"),
    ("send mail to bob at gmail dot com. thanks", "send mail to bob@gmail.com. thanks"),  # the sentence's stop
    ("email john at example.com saying hi", "email john@example.com saying hi"),  # half typed
    ("email kim at kim dot io and lee at lee dot io", "email kim@kim.io and lee@lee.io"),
])
def test_an_address_said_aloud_is_read_as_typed(said, read):
    assert addresses(said) == read


@pytest.mark.parametrize(("query", "why"), [
    ("what's trending at bbc dot com", "a site said aloud: the request speaks of no mail"),
    ("meet me at the office, email Sam", "no top-level domain after the place"),
    ("email Sam: I'm at home dot", "no domain after the dot"),
    ("email bob@x.com", "typed already"),
    ("email Sam I'll be at acme dot company", "'company' is no top-level domain"),
])
def test_words_that_are_no_address_stay(query, why):
    assert addresses(query) == query, why


def test_long_runs_of_words_that_almost_make_an_address_are_read_in_one_pass():
    """Any request reaches this reader: "a-a-a-…-a at x" had 2^n ways to split into parts before failing (2.6 s at n
    = 10; at n = 40 it would never return), and "a dot a dot …" was scanned again from each of its words."""
    run = "a-" * 40 + "a"
    assert addresses(f"email {run} at {run}") == f"email {run} at {run}"  # no top-level domain: no address
    assert addresses(f"email {run} at b dot com") == f"email {run}@b.com"
    dotted = "a dot " * 2000
    assert addresses(f"meet at 5, email {dotted}x") == f"meet at 5, email {dotted}x"


def test_the_caller_reads_the_address_before_the_model_and_records_no_slip(tool_model):
    """Read ahead of the spelling, and not as a slip: the address is the value, not given back as said."""
    caller = ToolCaller.load(str(tool_model), device="cpu")
    assert caller.read("email bob dot lee at example dot com the weather in Oslo") == (
        "email bob.lee@example.com the weather in Oslo", {})
