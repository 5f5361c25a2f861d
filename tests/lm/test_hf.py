import json
import math
import random

import pytest

PREFIX = "Question: Why do short posts get more replies?\nAnswer: Because"
CONTS = [
    " readers can answer them in a few seconds.",
    " they ask one clear question.",
    " people are busy and scroll fast, so a short post invites a quick reply.",
    " brevity.",
]
SENTENCE = "The cat sat on the warm mat and watched the birds outside the kitchen window."


@pytest.mark.slow
def test_batched_score_equals_one_at_a_time_fp32(hf32):
    prefixes = [PREFIX] * len(CONTS) + ["", "Numbers: 12 34", "A different prefix entirely,"]
    conts = CONTS + ["Hello there.", " 56 78 90", " with its own continuation."]
    batched = hf32.score(prefixes, conts)
    for p, c, b in zip(prefixes, conts, batched, strict=True):
        single = hf32.score([p], [c])[0]
        assert len(single) == len(b) > 0
        assert max(abs(x - y) for x, y in zip(single, b, strict=True)) < 1e-3


@pytest.mark.slow
def test_shared_prefix_with_different_middles_matches_plain_batches(hf32):
    from reer_pipeline.lm.hf import plan_batches

    middles = [" first idea.", " a second, longer idea about it.", " third."]
    prefixes = [PREFIX + m + " So the answer is" for m in middles]
    seqs_cont = [" yes."] * 3
    shared = hf32.score(prefixes, seqs_cont)
    plain = [hf32.score([p], [c])[0] for p, c in zip(prefixes, seqs_cont, strict=True)]
    for a, b in zip(shared, plain, strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-3
    from reer_pipeline.lm.hf import encode_pairs

    seqs, starts = encode_pairs(hf32.tokenizer, prefixes, seqs_cont)
    assert all(s > 8 for s, _ in plan_batches(seqs, starts, 4096))  # the prefix is reused


@pytest.mark.slow
def test_shuffled_sentence_has_far_higher_perplexity(hf32):
    words = SENTENCE.split()
    random.Random(0).shuffle(words)
    orig, shuf = hf32.score(["", ""], [SENTENCE, " ".join(words)])
    ppl = [math.exp(-sum(x) / len(x)) for x in (orig, shuf)]
    assert ppl[1] > 5 * ppl[0]


@pytest.mark.slow
def test_generate_n_per_prompt_with_chat_template_and_stop(hf32):
    before = hf32.usage.completion_tokens
    out = hf32.generate(
        [[{"role": "user", "content": "Name three fruits."}], "Once upon a time"],
        n=3,
        temperature=0.9,
        top_p=0.95,
        max_tokens=12,
        stop=["\n"],
    )
    assert [len(o) for o in out] == [3, 3]
    assert all(isinstance(t, str) and "\n" not in t for o in out for t in o)
    assert 0 < hf32.usage.completion_tokens - before <= 6 * 12


@pytest.mark.slow
def test_constrained_generation_follows_json_schema(hf32):
    from reer_pipeline.lm.constrained import json_schema_grammar

    schema = {
        "type": "object",
        "properties": {
            "hook": {"type": "string", "maxLength": 40},
            "score": {"type": "integer", "minimum": 1, "maximum": 10},  # else digits run on
        },
        "required": ["hook", "score"],
        "additionalProperties": False,
    }
    prompt = [{"role": "user", "content": "Write a hook about coffee and rate it."}]
    # 96 tokens: a 40-character hook can take 40 tokens, and a cut-off object is not JSON
    out = hf32.generate(
        [prompt], n=2, temperature=0.8, max_tokens=96, grammar=json_schema_grammar(schema)
    )
    for text in out[0]:
        doc = json.loads(text)
        assert set(doc) == {"hook", "score"} and isinstance(doc["score"], int)
        assert 1 <= doc["score"] <= 10 and len(doc["hook"]) <= 40


@pytest.mark.slow
def test_bf16_default_where_supported(model_dir):
    from reer_pipeline.lm.hf import HFModel, bf16_supported

    lm = HFModel(str(model_dir))
    assert lm.dtype == ("bfloat16" if bf16_supported() else "float32")
    orig = lm.score([""], [SENTENCE])[0]
    assert all(x <= 0 for x in orig)


def _repeats(ids: list[int], n: int) -> bool:
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(grams) != len(set(grams))


@pytest.mark.slow
def test_no_repeat_ngrams_and_penalty_apply_to_the_output_only(hf32):
    """Greedy decoding of a loop-inviting prompt repeats itself; with the settings it cannot
    repeat a bigram of its own output, yet may still use the prompt's words."""
    prompt = [{"role": "user", "content": "Say 'tests are docs' ten times: tests are docs, tests"}]
    ids = lambda t: hf32.tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    plain = hf32.generate([prompt], temperature=0, max_tokens=32)[0][0]
    fixed = hf32.generate(
        [prompt], temperature=0, max_tokens=32, no_repeat_ngram_size=2, repetition_penalty=1.3
    )[0][0]
    assert _repeats(ids(plain), 2)  # the baseline loops, so the check below can fail
    assert fixed.strip() and not _repeats(ids(fixed), 2)
    assert {"tests", "docs"} & set(fixed.lower().replace(",", " ").split())


def test_sampling_kwargs_keep_only_what_a_backend_takes():
    from reer_pipeline.lm.base import sampling_kwargs

    class Plain:  # a backend without the optional settings, like the cloud APIs
        def generate(self, prompts, n=1, temperature=0.7, top_p=1.0, max_tokens=256, stop=None):
            return [[""] * n for _ in prompts]

    class Local(Plain):
        def generate(self, prompts, n=1, repetition_penalty=None, no_repeat_ngram_size=None):
            return [[""] * n for _ in prompts]

    settings = {"repetition_penalty": 1.2, "no_repeat_ngram_size": 4, "typo": 1}
    assert sampling_kwargs(Plain(), settings) == {}
    assert sampling_kwargs(Local(), settings) == {
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 4,
    }
    assert sampling_kwargs(Local(), None) == {}


@pytest.mark.slow
def test_no_copy_ngrams_keep_a_prompt_run_out_of_the_output(hf32):
    """Asked to repeat a sentence, greedy decoding copies it; with no 4-token run of the
    prompt allowed, no 4 consecutive output tokens appear in the prompt."""
    sentence = "The quick brown fox jumps over the lazy dog near the quiet river bank."
    prompt = [{"role": "user", "content": f"Repeat exactly: {sentence}"}]
    tok = hf32.tokenizer
    prompt_ids = tok(hf32.render(prompt), add_special_tokens=False)["input_ids"]
    grams = {tuple(prompt_ids[i : i + 4]) for i in range(len(prompt_ids) - 3)}

    def copied(text):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        return any(tuple(ids[i : i + 4]) in grams for i in range(len(ids) - 3))

    plain = hf32.generate([prompt], temperature=0, max_tokens=24)[0][0]
    fixed = hf32.generate([prompt], temperature=0, max_tokens=24, no_copy_ngram_size=4)[0][0]
    assert copied(plain)  # the baseline copies, so the check below can fail
    assert fixed.strip() and not copied(fixed)


@pytest.mark.slow
def test_bans_never_remove_the_last_token_a_grammar_allows(hf32):
    """A JSON grammar often allows one token only (a closing quote): the n-gram bans must leave
    it, or sampling sees no finite logit and fails."""
    from reer_pipeline.lm.constrained import json_schema_grammar

    schema = {
        "type": "object",
        "properties": {"post": {"type": "string", "maxLength": 60}},
        "required": ["post"],
        "additionalProperties": False,
    }
    prompt = [{"role": "user", "content": 'Reply {"post": "post post post post post"}'}]
    out = hf32.generate(
        [prompt],
        n=4,
        temperature=1.0,
        max_tokens=40,
        grammar=json_schema_grammar(schema),
        repetition_penalty=1.3,
        no_repeat_ngram_size=2,
        no_copy_ngram_size=2,
    )
    for text in out[0]:
        assert set(json.loads(text)) == {"post"}


@pytest.mark.slow
def test_generating_and_scoring_a_shared_prefix_warn_nothing(hf32, caplog):
    """The KV cache goes by the name transformers takes: no FutureWarning or deprecation log
    line per call (a user sees the project's lines, not the library's)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        hf32.generate(["Once upon a time"], n=2, temperature=0.9, max_tokens=6)
        shared = hf32.score([PREFIX + " yes", PREFIX + " no"], [" indeed.", " never."])
    assert all(len(s) > 0 for s in shared)
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("transformers")] == []
