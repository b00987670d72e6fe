"""SFT: label masks per format, packing without leaks, token addition, memorising chats, LoRA/full on 2 ranks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import torchrun, write_jsonl

from hare.config import load_config
from hare.errors import HareError
from hare.train.loss import IGNORE
from hare.train.sft import SFTConfig, add_hare_tokens, train
from hare.train.sft_data import Sample, collate, encode, read_conversations

FACTS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Egypt", "Cairo"),
         ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("Norway", "Oslo"), ("Cuba", "Havana"),
         ("Greece", "Athens"), ("Iran", "Tehran"), ("Nepal", "Kathmandu"), ("Poland", "Warsaw"),
         ("Sweden", "Stockholm"), ("Canada", "Ottawa"), ("Ghana", "Accra"), ("Laos", "Vientiane"),
         ("Mali", "Bamako"), ("Fiji", "Suva")]


RECORDS = {
    "openai": {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
                            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"},
                            {"role": "assistant", "content": "4"}]},
    "alpaca": {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    "sharegpt": {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there."},
                                   {"from": "human", "value": "Bye"}, {"from": "gpt", "value": " See you!"}]},
    "firefly": {"system": "You are a hare.", "conversation": [{"human": "Who are you?", "assistant": "A hare."},
                                                              {"human": "Fast?", "assistant": "Very fast."}]},
}


@pytest.mark.parametrize("fmt", list(RECORDS))
def test_labels_cover_exactly_the_assistant_replies(fmt, tok, tmp_path):
    from hare.model.tokenizer import DEFAULT_SYSTEM_PROMPT

    (where, messages), = read_conversations(str(write_jsonl(tmp_path / "d.jsonl", [RECORDS[fmt]])))
    assert where.endswith("d.jsonl:1")
    sample = encode(tok, messages, DEFAULT_SYSTEM_PROMPT)
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *messages]

    def ids(prefix: list[dict], generation_prompt: bool = False) -> list[int]:
        text = tok.apply_chat_template(prefix, tokenize=False, add_generation_prompt=generation_prompt)
        return tok(text, add_special_tokens=False).input_ids

    # Independent expectation: the tokens a reply adds to the rendered prefix, reply + "<round_end>\n".
    expected = [IGNORE] * len(sample.ids)
    for k, message in enumerate(messages):
        if message["role"] == "assistant":
            start, end = len(ids(messages[:k], True)), len(ids(messages[:k + 1]))
            expected[start:end] = sample.ids[start:end]
            assert tok.decode(sample.ids[start:end]).startswith(message["content"].strip())
            assert sample.ids[end - 3:end] == [32001, 28705, 13]  # <round_end> "▁" "\n"
    assert sample.ids == ids(messages)
    assert sample.labels == expected, fmt


def test_packed_rows_compute_the_same_losses_as_separate_rows(tok):
    from hare.model.init import build_model
    from hare.train.loss import CausalLMLoss

    model, _ = build_model("hare-micro")
    loss_module = CausalLMLoss(model).eval()
    samples = [encode(tok, RECORDS["openai"]["messages"], ""),
               encode(tok, [{"role": "user", "content": "Yo"}, {"role": "assistant", "content": "Hey!"}], "Hi.")]
    packed = collate([samples], pad_id=0)
    assert packed["attention_mask"].shape[-1] == packed["input_ids"].shape[1]
    separate = collate([[s] for s in samples], pad_id=0)
    with torch.no_grad():
        n_packed = (packed["targets"] != IGNORE).sum()
        n_separate = (separate["targets"] != IGNORE).sum()
        assert n_packed == n_separate
        packed_loss = loss_module(**packed)
        separate_loss = loss_module(**separate)
    assert packed_loss.item() == pytest.approx(separate_loss.item(), rel=1e-5)


def test_a_packed_row_holds_the_samples_shared_head_once(tok):
    """Tool requests all begin with the same system turn: a packed row holds it once, each request
    attends to that copy at the same positions, and the loss and every gradient are those of the
    requests trained one row each."""
    from hare.model.init import build_model
    from hare.train.loss import CausalLMLoss
    from hare.train.sft_data import pack, row_length, shared_head

    model, _ = build_model("hare-micro")
    loss_module = CausalLMLoss(model)
    chats = [("take a selfie", "<api_0>()"), ("what's the weather in Paris", "Paris it is."), ("hi", "Hello!")]
    samples = [encode(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "Call functions.")
               for q, a in chats]
    head = shared_head(samples)
    text = tok.decode(samples[0].ids[:head])  # the system turn and the user turn's opening, up to the request
    assert "Call functions." in text and text.endswith("user\n") and "take" not in text
    assert row_length(samples) == sum(len(s.ids) for s in samples) - 2 * head
    rows = pack(samples, row_length(samples) - 1)  # the saving is what lets them fit one row
    assert len(rows) == 1 and sorted(map(id, rows[0])) == sorted(map(id, samples))

    def loss_and_grads(batch):
        model.zero_grad(set_to_none=True)
        loss = loss_module(**batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    packed_loss, packed_grads = loss_and_grads(collate([samples], pad_id=0))
    separate_loss, separate_grads = loss_and_grads(collate([[s] for s in samples], pad_id=0))
    assert packed_loss.item() == pytest.approx(separate_loss.item(), rel=1e-5)
    for a, b in zip(packed_grads, separate_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_packing_fills_rows_with_a_random_draw_of_samples():
    """`hare tools data` writes each function's requests together; rows filled in file order held one function
    each. Packed, 120 samples in four such blocks come back each once, no row over its length, rows nearly full,
    and most rows mixing blocks."""
    import math
    import random

    from hare.train.sft_data import Sample, pack, row_length

    sizes = [random.Random(1).randint(5, 12) for _ in range(120)]
    ids = [[k, k // 30, *range(100, 98 + n)] for k, n in enumerate(sizes)]  # token 1: the sample's block
    samples = [Sample(i, list(i)) for i in ids]
    rows = pack(samples, 64)
    assert sorted(id(s) for r in rows for s in r) == sorted(map(id, samples))
    assert all(row_length(r) <= 65 for r in rows) and len(rows) <= math.ceil(sum(sizes) / 65) + 1
    assert sum(len({s.ids[1] for s in r}) > 1 for r in rows) > len(rows) / 2
    assert pack([], 9) == []


def test_base_model_without_hare_tokens_gets_them(tmp_path):
    from tokenizers import Tokenizer
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    from hare.model.tokenizer import CHAT_TEMPLATE, _base_tokenizer_json

    plain = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_base_tokenizer_json()),
                                    bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>")
    model = MistralForCausalLM(MistralConfig(vocab_size=32000, hidden_size=64, intermediate_size=256,
                                             num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2))
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    assert add_hare_tokens(model, plain, functional_tokens=0) == 2
    assert plain.convert_tokens_to_ids(["<round_start>", "<round_end>"]) == [32000, 32001]
    assert plain.chat_template == CHAT_TEMPLATE
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == head.shape[0] == 32064
    assert torch.equal(emb[:32000], before_in) and torch.equal(head[:32000], before_out)
    torch.testing.assert_close(emb[32000:], before_in.mean(0).expand(64, -1))
    torch.testing.assert_close(head[32001], before_out.mean(0))
    assert model.generation_config.eos_token_id[0] == 32001


def test_call_token_weight_lands_on_the_functional_tokens_and_api_end_alone():
    from transformers import MistralConfig, MistralForCausalLM

    from hare.model.tokenizer import API_END, ROUND_END, build_tokenizer, functional_token
    from hare.train.sft import call_weights

    tok = build_tokenizer(3)
    model = MistralForCausalLM(MistralConfig(vocab_size=32064, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2))
    weights = call_weights(model, tok, 4.0)
    heavy = {tok.convert_tokens_to_ids(t) for t in [*map(functional_token, range(3)), API_END]}
    assert weights.shape == (32064,) and set(torch.nonzero(weights != 1).flatten().tolist()) == heavy
    assert weights[sorted(heavy)].eq(4).all() and weights[tok.convert_tokens_to_ids(ROUND_END)] == 1
    assert call_weights(model, tok, 1.0) is None and call_weights(model, build_tokenizer(0), 4.0) is None


# hare-micro on 64-token rows, 10 rows (640 tokens) a step, fp32 so that resumed losses compare exactly.
SMALL = ["data.seq_len=64", "train.global_batch_tokens=640", "train.micro_batch_size=5", "train.device=cpu",
         "train.precision=fp32", "optim.lr=3e-3", "schedule.warmup_steps=3", "log.progress=false",
         "log.peak_flops=1e11", "checkpoint.every_steps=0"]


def sft_config(base: Path, data: Path, out: Path, *extra: str) -> SFTConfig:
    return load_config(SFTConfig, None, [
        f"model.path={base}", f"data.paths={json.dumps([str(data)])}", f"out={out}", *SMALL, *extra])


def metric_losses(out: Path) -> dict[int, float]:
    """Step → training loss from metrics.jsonl; a step run again after a resume keeps its last value."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    records = [{"messages": [{"role": "user", "content": f"What is the capital of {country}?"},
                             {"role": "assistant", "content": f"The capital of {country} is {city}."}]}
               for country, city in FACTS]
    return write_jsonl(tmp_path_factory.mktemp("sft") / "chats.jsonl", records)


@pytest.mark.slow
def test_fine_tuned_model_answers_every_conversation_through_chat(micro_dir, chats, tmp_path):
    from hare.chat import ChatSession
    from hare.model.args import SamplingArgs
    from hare.model.load import load_model

    final = train(sft_config(micro_dir, chats, tmp_path / "run", "data.epochs=60"))
    first, *_, last = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert last["loss"] < 0.2 < 5 < first["loss"]
    model, tok = load_model(str(final), device="cpu")
    wrong = []
    for country, city in FACTS:
        session = ChatSession(model, tok, SamplingArgs(temperature=0, max_new_tokens=30))
        reply = session.send(f"What is the capital of {country}?")
        if reply != f"The capital of {country} is {city}.":
            wrong.append((country, reply))
    assert not wrong


COMMON = ["data.seq_len=64", "train.global_batch_tokens=640", "train.micro_batch_size=5", "train.device=cpu",
          "train.precision=fp32", "optim.lr=3e-3", "schedule.warmup_steps=1", "log.progress=false",
          "log.peak_flops=1e11", "train.max_steps=6", "checkpoint.every_steps=3"]


@pytest.mark.distributed
@pytest.mark.parametrize("mode", ["full", "lora"])
def test_two_rank_fine_tuning(mode, micro_dir, chats, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / mode
    extra = ["--lora", "lora.r=8", "train.parallel=fsdp2"] if mode == "lora" else []
    result = torchrun("sft", "--model", str(micro_dir), "--data", str(chats), "--out", str(out), *extra, *COMMON)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = metric_losses(out)
    assert sorted(losses) == list(range(1, 7)) and losses[6] < losses[1]
    if mode == "full":  # DDP over 2 ranks takes the same steps as 1 process: step-pure batches
        one = tmp_path / "one-rank"
        train(load_config(SFTConfig, None, [f"model.path={micro_dir}", f"data.paths={json.dumps([str(chats)])}",
                                            f"out={one}", *COMMON]))
        for step, loss in metric_losses(one).items():
            assert losses[step] == pytest.approx(loss, rel=1e-4, abs=1e-4), (step, loss, losses[step])
    tuned = AutoModelForCausalLM.from_pretrained(out / "final", dtype=torch.float32)  # vanilla transformers
    base = AutoModelForCausalLM.from_pretrained(micro_dir, dtype=torch.float32)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(tuned.state_dict()[q], base.state_dict()[q])
    same_embeddings = torch.equal(tuned.state_dict()["model.embed_tokens.weight"],
                                  base.state_dict()["model.embed_tokens.weight"])
    assert same_embeddings == (mode == "lora")  # LoRA leaves non-adapted weights alone
    assert not any("lora" in key for key in tuned.state_dict())


@pytest.mark.parametrize("record, message", [
    ({"messages": [{"role": "user", "content": "Hi"}]}, "bad.jsonl:2: conversation has no assistant turn"),
    ({"conversation": [{"human": "Hi", "assistant": "Yo"}]}, "bad.jsonl:2: a firefly record in a openai file"),
    ({"messages": [{"role": "user"}]}, "bad.jsonl:2: not a valid openai record"),
])
def test_bad_records_name_file_and_line(record, message, tmp_path):
    good = RECORDS["openai"]
    path = write_jsonl(tmp_path / "bad.jsonl", [good, record])
    with pytest.raises(HareError, match=message):
        list(read_conversations(str(path)))


def test_unknown_format_and_too_long_without_truncation(micro_dir, chats, tmp_path, tok):
    with pytest.raises(HareError, match="unknown SFT format 'chatml'"):
        list(read_conversations(str(chats), "chatml"))
    with pytest.raises(HareError, match=r"chats.jsonl:1: \d+ tokens exceed data.seq_len=8"):
        train(sft_config(micro_dir, chats, tmp_path / "run", "data.seq_len=8", "data.truncate=false",
                         "train.global_batch_tokens=80"))


def test_truncation_drops_whole_trailing_turns(tok):
    from hare.train.sft_data import Limits, fit_to_length

    messages = RECORDS["openai"]["messages"]
    full = encode(tok, messages, "")
    limits = Limits(seq_len=len(full.ids) - 2)
    sample = fit_to_length(tok, messages, "", limits, "x:1")
    assert isinstance(sample, Sample) and limits.stats["truncated"] == 1
    assert sample.ids == encode(tok, messages[:3], "").ids


@pytest.mark.parametrize("recipe", sorted((Path(__file__).resolve().parents[1] / "configs" / "sft").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_sft_recipes_load(recipe):
    from hare.train.sft import SFTArgs, resolve

    cfg = resolve(SFTArgs(config=str(recipe), model="m", data=["d.jsonl"]))
    assert cfg.data.paths == ["d.jsonl"] and cfg.model.path == "m"
    assert (cfg.train.global_batch_tokens // cfg.data.seq_len) % cfg.train.micro_batch_size == 0
    if recipe.stem == "hare-chat":
        assert cfg.optim.lr == 1e-6 and cfg.train.global_batch_tokens // cfg.data.seq_len == 1024


def test_validation_holds_out_conversations(micro_dir, chats, tmp_path):
    out = tmp_path / "val"
    train(sft_config(micro_dir, chats, out, "data.val_fraction=0.25", "train.max_steps=4",
                     "train.global_batch_tokens=320", "log.eval_every_steps=2", "log.eval_batches=1"))
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in val] == [2, 4] and val[1]["loss"] < val[0]["loss"]


def test_lora_run_resumes_to_identical_losses(micro_dir, chats, tmp_path):
    import shutil

    out = tmp_path / "lora"
    cfg = ["lora.enabled=true", "lora.r=4", "train.max_steps=6", "checkpoint.every_steps=3"]
    train(sft_config(micro_dir, chats, out, *cfg))
    before = metric_losses(out)
    shutil.rmtree(out / "step-00000006")
    shutil.rmtree(out / "final")
    train(sft_config(micro_dir, chats, out, *cfg), resume=True)
    assert metric_losses(out) == before


def test_an_unmerged_lora_adapter_generates_like_the_merged_model(micro_dir, chats, tmp_path, capsys):
    """`sft --lora --no-merge` writes a PEFT adapter; `hare generate` (every loader) puts it on its base and
    answers as the merged export of the same run does; commands that need whole weights say what it is."""
    from hare.cli import main

    cfg = ["lora.enabled=true", "lora.r=4", "train.max_steps=3", "optim.lr=1e-2"]
    merged = train(sft_config(micro_dir, chats, tmp_path / "merged", *cfg))
    adapter = train(sft_config(micro_dir, chats, tmp_path / "adapter", *cfg, "lora.merge=false"))
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "config.json").exists()
    capsys.readouterr()
    texts = []
    for model in (merged, adapter):
        assert main(["generate", "--model", str(model), "--prompt", "The capital of", "--max-new-tokens", "8",
                     "--temperature", "0", "--device", "cpu", "--dtype", "float32"]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] and texts[0].startswith("The capital of")
    assert main(["export", "gguf", "--model", str(adapter), "--out", str(tmp_path / "x.gguf")]) == 2
    assert "is a LoRA adapter" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_while_checkpointing_then_resume_repeats_every_loss(micro_dir, chats, tmp_path):
    """`hare sft` SIGKILLed halfway through writing step 4's checkpoint (hare.train.checkpoint.kill_point)
    resumes from step 2, ignores step-4.tmp, and logs the losses of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys

    extra = ["train.max_steps=6", "checkpoint.every_steps=2"]
    train(sft_config(micro_dir, chats, tmp_path / "reference", *extra))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "hare", "sft", "--model", str(micro_dir), "--data", str(chats), "--out", str(out),
           *SMALL, *extra]
    killed = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "HARE_KILL_AT": "checkpoint:4"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (out / "step-00000004.tmp").is_dir() and not (out / "final").exists()
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from step-00000002" in resumed.stdout
    # The resumed steps match the in-process reference bit for bit when run alone; across processes on a
    # busy machine a step has differed in the 7th digit (CPU kernel scheduling), which no resume bug makes.
    assert metric_losses(out) == pytest.approx(metric_losses(tmp_path / "reference"), rel=1e-6, abs=0)


def test_overrides_after_data_files_are_overrides():
    from hare.train.sft import SFTArgs, resolve

    cfg = resolve(SFTArgs(model="m", data=["a.jsonl", "b.jsonl", "train.max_steps=5"], overrides=["optim.lr=1e-4"]))
    assert cfg.data.paths == ["a.jsonl", "b.jsonl"]
    assert cfg.train.max_steps == 5 and cfg.optim.lr == 1e-4


def test_mfu_counts_what_fine_tuning_does(micro_dir, chats, tmp_path, capsys):
    """Counted, not assumed 6·N: masked prompts skip the output layer (the loss computes it only where
    a target counts), LoRA skips the frozen weights' gradients, frozen layers stop the backward pass.
    Against a peak below what a step achieves (1 FLOP/s here), MFU reads 100 %, never more, and the
    summary says the peak was raised."""
    from transformers import AutoConfig

    from hare.train.metrics import flops_per_token

    def counted(name: str, *extra: str) -> tuple[float, float]:
        train(sft_config(micro_dir, chats, tmp_path / name, "train.max_steps=2", "log.peak_flops=1", *extra))
        rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return rows[0]["flops_per_token"], max(r["mfu"] for r in rows if r["kind"] == "train")

    full, mfu = counted("full")
    assert mfu == 1.0 and "raised to a step's achieved rate" in capsys.readouterr().out
    assert full < 0.8 * flops_per_token(AutoConfig.from_pretrained(micro_dir), 64)
    assert counted("lora", "lora.enabled=true", "lora.r=4")[0] < 0.8 * full
    assert counted("frozen", "model.freeze_layers=1")[0] < 0.8 * full


def test_the_log_counts_what_a_tiny_run_has(micro_dir, tmp_path, capsys):
    """One conversation is "1 conversation … in 1 sequence (each step repeats them), … 10 per step (2
    micro-batches of 5 × 1 rank)", not "1 sequences": the log says what the run trains on."""
    one = write_jsonl(tmp_path / "one.jsonl", [{"messages": [{"role": "user", "content": "Hi"},
                                                             {"role": "assistant", "content": "Hello!"}]}])
    train(sft_config(micro_dir, one, tmp_path / "run", "train.max_steps=1"))
    out = capsys.readouterr().out
    assert "1 conversation (0 held out" in out and "in 1 sequence (each step repeats them)" in out
    assert "10 per step (2 micro-batches of 5 × 1 rank)" in out


def test_max_steps_on_the_command_line_sets_the_run_length():
    """The shipped tiny recipe trains by epochs; `train.max_steps=N` asked for on the command line is
    obeyed (it was silently ignored), and giving epochs as well is refused, not half-obeyed."""
    from hare.train.sft import SFTArgs, resolve

    recipe = str(Path(__file__).resolve().parents[1] / "configs" / "sft" / "tiny-cpu.yaml")
    assert resolve(SFTArgs(config=recipe, model="m")).data.epochs > 0
    cfg = resolve(SFTArgs(config=recipe, model="m", overrides=["train.max_steps=7"]))
    assert cfg.train.max_steps == 7 and cfg.data.epochs == 0
    cfg = resolve(SFTArgs(config=recipe, model="m", overrides=["train.max_steps=7", "data.epochs=0"]))
    assert cfg.train.max_steps == 7 and cfg.data.epochs == 0
    with pytest.raises(HareError, match="give one of them"):
        resolve(SFTArgs(config=recipe, model="m", overrides=["train.max_steps=7", "data.epochs=2"]))


def test_cli_error_is_one_line(chats, tmp_path):
    from hare.cli import main

    assert main(["sft", "--model", str(tmp_path / "nope"), "--data", str(chats), "--out", str(tmp_path / "o")]) == 2


def test_tied_embeddings_stay_tied_through_fine_tuning(tmp_path, chats):
    """A model whose lm_head is its embedding (tiny presets may tie) exports one shared matrix."""
    from hare.model.init import build_model
    from hare.model.load import load_model, save_checkpoint

    model, tok = build_model("hare-micro")
    model.config.tie_word_embeddings = True
    model.tie_weights()
    base = save_checkpoint(model, tok, tmp_path / "tied")
    final = train(sft_config(base, chats, tmp_path / "run", "train.max_steps=3"))
    tuned, _ = load_model(str(final), device="cpu")
    assert tuned.config.tie_word_embeddings
    assert tuned.lm_head.weight.data_ptr() == tuned.model.embed_tokens.weight.data_ptr()
    assert not torch.equal(tuned.model.embed_tokens.weight, model.model.embed_tokens.weight)
