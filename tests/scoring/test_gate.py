"""The usable-draft gate: each rule on the failures the issue reports, and real posts pass."""

import pytest

from reer_pipeline.scoring.gate import RULES, AuthorIndex, check_draft
from reer_pipeline.scoring.topic import topic_score
from tests.conftest import SAMPLE
from tests.scoring.conftest import scorer_validity, warehouse

OWN = [
    "Small changes ship faster. Review them in minutes, roll them back in seconds.",
    "Write the test first. It tells you when you are done.",
    "Deploy on Tuesdays, not Fridays. Your weekend will thank you.",
    "Most bugs live where two teams meet. Talk to the other team.",
]
PROMPT = (
    "Write a post about code review for developers. Before writing it, think about who the "
    "readers are, what the goal is, which hook to open with and how to end."
)
GOOD = "Code review is where small changes earn trust. What do you look for first?"


def rules(text, topic="code review", posts=OWN, prompts=(PROMPT,), platform="x"):
    return check_draft(text, platform, topic, posts, prompts).rules


def test_a_plain_on_topic_draft_is_usable():
    result = check_draft(GOOD, "x", "code review", OWN, [PROMPT])
    assert result.usable and result.reasons == [] and bool(result)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("... !!", "empty"),
        ("###Question###1.1.1.1.1.1 code review", "residue"),
        ("{Post.json} {Post.json.json.json. code review", "residue"),
        ("########}## #### code review", "residue"),
        ('{"post": "code review matters"}', "residue"),
        ("<think>code review</think> Review small changes.", "residue"),
        ("[[ ## draft ## ]] code review is great", "residue"),
        ("Topic: code review\nDraft: review small changes", "residue"),
        (
            "Before writing it, think aloud in the first person about code review.",
            "echo",
        ),
        ("Code review tips, and do not copy the post.", "echo"),
        ("This post is about a fun and lighthearted take on code review.", "echo"),
        ("Code review: think about who the readers are, what the goal is.", "echo"),
        (
            "This is about code review about a fun and lighthearted tweet about a fun and "
            "lighthearted tweet about a fun and lighthearted tweet about a fun and lighthearted",
            "loop",
        ),
        ("code review " + "json." * 8, "loop"),
        ("code review 😂 https://t.co/a1 😂 https://t.co/a1 😂 https://t.co/a1", "loop"),
        ("code review " + "unbroken" * 40, "over_limit"),  # no word fits a thread part
        ("Code review. " + OWN[0], "copy"),
        ("Deploy on Tuesdays not Fridays, your weekend will thank you", "copy"),
        ("That's a great idea, and it's so funny!", "off_topic"),
        ('"Code review is the best documentation." —Davey Moran @TechCrunch', "attribution"),
        ("Review small changes first. --Author Robert Cormack", "attribution"),
        ("LIVE: a code review with the team.", "invented"),
        ('"Code review is where trust is built, line by line." —Kent Beck', "invented"),
        ("Code review cut our bugs by 47%.", "invented"),
        ("Code review in five minutes: https:/", "cut"),
        ("Code review in five minutes ht", "cut"),
        ("Here is one way to speed up code review:", "cut"),
        ("Add your name if you agree code review matters.", "unlinked"),
        ("This is the best way to run a code review.", "unlinked"),
    ],
)
def test_each_rule_names_what_it_caught(text, rule):
    result = check_draft(text, "x", "code review", OWN, [PROMPT])
    assert not result.usable and rule in result.rules, result
    assert all(r.split(":")[0] in RULES for r in result.reasons)
    assert any(r.startswith(f"{rule}:") for r in result.reasons)


def test_rules_that_do_not_apply_pass():
    # no topic: no off-topic rule; no posts: no copy; no prompt: only the built-in phrases
    assert check_draft(OWN[0], "x", None).usable
    assert "echo" not in rules("Code review: think about who the readers are.", prompts=())
    # the topic and the author's own words are not an echo even when the prompt holds them
    prompt = f"Write about code review. Example post: {OWN[1]}"
    assert "echo" not in rules(f"Code review? {OWN[1][:40]}", prompts=(prompt,), posts=OWN[1:2])
    # a name the author's posts hold (or the topic) may be quoted
    quoted = ['"Ship it small." —Grace Hopper', "Reviews by Grace Hopper"]
    assert check_draft('"Test first." —Grace Hopper', "x", "testing", quoted).usable
    assert check_draft('"Test first." —Kent Beck', "x", "Kent Beck on testing", quoted).usable
    assert check_draft('"Test first." —@grace Hopper', "x", "testing", ["Thanks @grace"]).usable
    assert check_draft('Teach "testing" - Pomodoro focus, then code review', "x", None, OWN).usable


def test_the_same_words_as_a_short_post_are_a_copy_and_repeats_apart_are_not_a_loop():
    assert check_draft("LOL https://t.co/new", "x", None, ["lol!  https://t.co/old"]).rules == [
        "copy"
    ]
    assert check_draft("LOL, code review", "x", None, ["lol!  https://t.co/old"]).usable
    # anaphora is rhetoric, not a loop: the phrase does not repeat back to back
    speech = "We want to listen, we want to learn, and we want to hear good ideas on code review."
    assert check_draft(speech, "x", "code review").usable


def test_linkedin_has_no_threads():
    long = " ".join(f"Code review point {i} matters to every team." for i in range(80))
    assert "over_limit" not in rules(long, platform="x")  # a clean thread
    assert "over_limit" in rules(long, platform="linkedin")


def test_topic_score_credits_word_forms_and_hashtags():
    assert topic_score("Reviewing code daily", "code review") == 1.0
    assert topic_score("Ship it. #CodeReview", "code review") == 1.0
    assert topic_score("Lovely weather at the beach", "code review") < 0.2
    assert topic_score("anything", "a post about it") != topic_score("anything", "a post about it")


def test_the_authors_held_out_posts_pass_the_gate(tmp_path):
    """Real posts, newest fifth against the rest: almost all are usable drafts on their own
    key-term topic, and the real rejections are copies of earlier posts or quotes of someone the
    earlier posts never name (2 of 572 here: a price the attribution rule pays). The invented
    rule rejects the posts that report news the earlier posts never held, as a draft without
    facts must be rejected (measured and tested in test_invented.py)."""
    con = warehouse(tmp_path / "w.duckdb", [SAMPLE])
    texts = [
        r[0]
        for r in con.execute(
            "SELECT text FROM posts WHERE is_original ORDER BY created_at, post_id"
        ).fetchall()
    ]
    cut = int(len(texts) * 0.8)
    train, test = texts[:cut], texts[cut:]
    index, key_terms = AuthorIndex(train), scorer_validity().KeyTerms(train)
    results = [check_draft(t, "x", key_terms(t), index, facts=[t]) for t in test]
    broken = [r for r in results if not r.usable]
    assert len(broken) <= 0.05 * len(test), [r.reasons for r in broken][:10]
    assert {rule for r in broken for rule in r.rules} <= {"copy", "attribution"}


@pytest.mark.parametrize(
    "text",
    [
        "Add your name if you agree code review matters: https://example.org/sign",
        "This is huge: every team in the company now reviews code before it ships.",
        "I'll check it out today, and read more code than I write.",  # no call opening a sentence
    ],
)
def test_a_call_to_action_with_its_link_or_a_pointer_that_goes_on_is_not_unlinked(text):
    assert "unlinked" not in rules(text)
