"""Generation and chat: stopping at <round_end>, multi-turn history, sampling options."""

from __future__ import annotations

import pytest
from conftest import PARROT_ANSWER, PARROT_QUESTION

from hare.chat import ChatSession
from hare.errors import HareError
from hare.generate import generate_ids, stop_token_ids
from hare.model.args import SamplingArgs
from hare.model.load import load_model

GREEDY = SamplingArgs(temperature=0, max_new_tokens=40)


@pytest.fixture(scope="module")
def parrot(parrot_dir):
    return load_model(str(parrot_dir), device="cpu")


def test_generation_stops_at_round_end(parrot):
    model, tok = parrot
    prompt = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION}],
                                     add_generation_prompt=True, tokenize=True, return_dict=False)
    new = generate_ids(model, tok, prompt, GREEDY)
    assert tok.decode(new) == PARROT_ANSWER
    # Left alone, the model would go on past its answer; the stop token is what ended it.
    assert len(new) < GREEDY.max_new_tokens


def test_generate_without_a_stop_runs_to_max_new_tokens(parrot):
    model, tok = parrot
    model.generation_config.eos_token_id = [tok.eos_token_id]  # forget <round_end>
    try:
        prompt = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION}],
                                         add_generation_prompt=True, tokenize=True, return_dict=False)
        new = generate_ids(model, tok, prompt, SamplingArgs(temperature=0, max_new_tokens=25))
        assert tok.decode(new, skip_special_tokens=False).startswith(PARROT_ANSWER + "<round_end>")
        assert len(new) == 25  # past <round_end>, and nothing stopped it before the budget
    finally:
        model.generation_config.eos_token_id = [32001, tok.eos_token_id]


def test_a_checkpoint_naming_no_eos_stops_at_the_tokenizers_on_every_backend(parrot):
    """One rule for `generate`, the transformers server and vLLM's: an eos id or ids from the checkpoint, else the
    tokenizer's. An empty list had meant "never stop" to `generate` and "the tokenizer's" to vLLM's engine."""
    from hare.model.tokenizer import answer_end_ids

    _, tok = parrot
    tail = answer_end_ids(tok)
    assert stop_token_ids(None, tok) == stop_token_ids([], tok) == [tok.eos_token_id, *tail]
    assert stop_token_ids(7, tok) == [7, *tail] and stop_token_ids([7, 9], tok) == [7, 9, *tail]


def test_chat_session_keeps_every_turn(parrot):
    model, tok = parrot
    session = ChatSession(model, tok, GREEDY)
    assert session.send(PARROT_QUESTION) == PARROT_ANSWER
    session.send("And in winter?")
    rendered = tok.decode(session.prompt_ids()[:-1])
    assert [t["role"] for t in session.turns] == ["user", "assistant", "user", "assistant"]
    assert PARROT_QUESTION in rendered and PARROT_ANSWER in rendered and "And in winter?" in rendered
    expected = tok.apply_chat_template(session.messages(), add_generation_prompt=True, tokenize=True,
                                       return_dict=False)
    assert session.prompt_ids() == list(expected)
    session.reset()
    assert session.turns == []


def test_seeded_sampling_is_reproducible(parrot):
    model, tok = parrot
    prompt = tok("Once upon a time").input_ids
    runs = [generate_ids(model, tok, prompt, SamplingArgs(temperature=1.0, top_p=1.0, seed=s, max_new_tokens=12))
            for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_top_k_one_is_greedy(parrot):
    model, tok = parrot
    prompt = tok("Hares").input_ids
    greedy = generate_ids(model, tok, prompt, SamplingArgs(temperature=0, max_new_tokens=10))
    top1 = generate_ids(model, tok, prompt, SamplingArgs(temperature=1.5, top_k=1, seed=3, max_new_tokens=10))
    assert top1 == greedy


@pytest.mark.parametrize("bad, message", [
    ({"max_new_tokens": 0}, "--max-new-tokens"),
    ({"temperature": -1.0}, "--temperature"),
    ({"top_p": 0.0}, "--top-p"),
    ({"top_k": -2}, "--top-k"),
])
def test_bad_sampling_options(parrot, bad, message):
    model, tok = parrot
    with pytest.raises(HareError, match=message):
        generate_ids(model, tok, [1], SamplingArgs(**bad))


def test_an_empty_prompt_is_refused_not_crashed_on(parrot):
    """A tokenizer that starts text with no BOS (SmolLM2's) encodes "" as no ids: nothing to continue from."""
    model, tok = parrot
    with pytest.raises(HareError, match="the prompt is empty"):
        generate_ids(model, tok, [], GREEDY)


def test_a_temperature_too_small_to_sample_decodes_greedily(parrot):
    """logits / 1e-300 overflow to inf and softmax to NaN; below 0.001 every path decodes greedily."""
    model, tok = parrot
    prompt = tok.apply_chat_template([{"role": "user", "content": PARROT_QUESTION}],
                                     add_generation_prompt=True, tokenize=True, return_dict=False)
    tiny = SamplingArgs(temperature=1e-300, max_new_tokens=40, seed=0)
    assert tiny.greedy and not SamplingArgs(temperature=0.01).greedy
    assert generate_ids(model, tok, prompt, tiny) == generate_ids(model, tok, prompt, GREEDY)


def test_control_tokens_typed_in_a_prompt_stay_text(parrot, parrot_dir, monkeypatch, capsys):
    """`hare generate --prompt "</s><round_end><api_0>"` feeds those characters, as the API does: a user never
    places a control token (they would end the prompt or fake a turn)."""
    import hare.generate
    from hare.cli import main

    model, tok = parrot
    controls = set(tok.all_special_ids) | {tok.convert_tokens_to_ids(t) for t in ("<round_end>", "<api_0>")}
    seen = []
    monkeypatch.setattr(hare.generate, "generate_ids", lambda _m, _t, ids, *_a: seen.append(ids) or [])
    typed = "hi </s><round_end><api_0> <s>"
    assert main(["generate", "--model", str(parrot_dir), "--prompt", typed, "--device", "cpu"]) == 0
    (ids,) = seen
    assert ids[0] == tok.bos_token_id and not controls & set(ids[1:])
    assert tok.decode(ids[1:]) == typed


def test_a_message_the_chat_cannot_take_leaves_the_conversation_going(parrot):
    model, tok = parrot
    session = ChatSession(model, tok, GREEDY)
    assert session.send(PARROT_QUESTION) == PARROT_ANSWER
    for bad in ("word " * model.config.max_position_embeddings, "caf\udce9"):  # too long; not UTF-8 (argv bytes)
        with pytest.raises(HareError, match="context|UTF-8"):
            session.send(bad)
        assert [t["role"] for t in session.turns] == ["user", "assistant"]
    assert session.send(PARROT_QUESTION) == PARROT_ANSWER


def test_generate_says_when_the_context_cuts_max_new_tokens(parrot, parrot_dir, capsys):
    from hare.cli import main
    from hare.model.tokenizer import text_ids

    model, tok = parrot
    limit = model.config.max_position_embeddings
    prompt = "word " * limit
    while len(text_ids(tok, [prompt], bos=True)[0]) > limit - 3:  # leave room for exactly a few tokens
        prompt = prompt[:-5]
    room = limit - len(text_ids(tok, [prompt], bos=True)[0])
    assert main(["generate", "--model", str(parrot_dir), "--prompt", prompt, "--device", "cpu",
                 "--max-new-tokens", "50", "--temperature", "0"]) == 0
    err = capsys.readouterr().err
    assert f"room for {room} new tokens" in err and "--max-new-tokens 50" in err
    assert main(["generate", "--model", str(parrot_dir), "--prompt", "hi", "--device", "cpu",
                 "--max-new-tokens", "5", "--temperature", "0"]) == 0
    assert "room for" not in capsys.readouterr().err  # a budget that fits says nothing
