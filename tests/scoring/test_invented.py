"""The gate's invented rule on the issue's drafts, on real posts of the shipped sample and on real
drafts of the embedded model: what it rejects, and what the topic's facts, its links and the
author's own posts allow."""

import json
from pathlib import Path

import pytest

from reer_pipeline.optimize.data import time_split
from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.program.topics import load_topics
from reer_pipeline.scoring.candidates import CandidateScorer
from reer_pipeline.scoring.gate import AuthorIndex, check_draft, invented_claims, numbers
from tests.conftest import SAMPLE
from tests.scoring.conftest import scorer_validity

DRAFTS = Path(__file__).with_name("data") / "obama_drafts.json"
TOPIC = "voting rights"


@pytest.fixture(scope="module")
def obama(tmp_path_factory):
    """The sample's original posts split as tuning splits them: (train, held-out)."""
    authors, con = scorer_validity().load_authors([SAMPLE], tmp_path_factory.mktemp("w"))
    con.close()
    [posts] = authors.values()
    dicts = [{"post_id": i, "created_at": str(c), "text": t} for i, c, t in posts]
    train, val, test = time_split(dicts)
    return [p["text"] for p in train], [p["text"] for p in val + test]


@pytest.fixture(scope="module")
def index(obama):
    return AuthorIndex(obama[0])


def kinds(text, topic=TOPIC, facts=(), index=None):
    return {c.kind for c in invented_claims(text, topic, facts, index)}


@pytest.mark.parametrize(
    ("text", "kind"),
    [  # the drafts, and one of each phrasing the rule knows
        ("LIVE: President Obama is giving a speech on voting rights.", "event"),
        ("Tune in at 10:29 p.m ET to watch President Obama discuss voting rights.", "event"),
        ("I'm giving a speech on voting rights on Tuesday.", "event"),
        ("Today I signed an order to protect voting rights.", "event"),
        ("A voting rights rally tonight at 8. Join us!", "event"),
        ("Voting rights: the deadline is March 5th.", "event"),
        ("'Testing is key to delivering a quality product.' —Johnsons R&D team", "quote"),
        ('"Voting rights are the quiet engine of every democracy." —President Obama', "quote"),
        ('As Dr. Maria Ellison said, "voting rights cannot wait another decade"', "quote"),
        ("Voting rights matter: 47% of voters agree.", "number"),
        ("Since 1987, voting rights have been under attack.", "number"),
        ("Protecting voting rights costs $2.5 billion a year.", "number"),
        ("17,321 people signed up for voting rights this week.", "number"),
    ],
)
def test_invented_events_quotes_and_numbers_are_rejected(text, kind, index):
    result = check_draft(text, "x", TOPIC, index)
    assert "invented" in result.rules, result
    assert kind in kinds(text, index=index)
    reason = next(r for r in result.reasons if r.startswith("invented:"))
    assert kind in reason.split("(")[0]  # "invented: it states a number ('47%') ..."


def test_the_topic_its_facts_and_links_support_a_claim(index):
    draft = (
        "LIVE: our voting rights town hall, Tuesday at 7 p.m. ET. "
        '"Every single vote counts in this town." —President Obama. 2.5 million voters joined.'
    )
    facts = [
        "A live town hall on Tuesday at 7 p.m. ET.",
        '"Every single vote counts in this town," President Obama said.',
        "2.5 million voters joined the campaign.",
    ]
    assert kinds(draft, index=index) == {"event", "quote", "number"}
    assert kinds(draft, facts=facts, index=index) == set()
    assert check_draft(draft, "x", "voting rights town hall", index, facts=facts).usable
    # one fact missing: that claim alone is invented
    assert kinds(draft, facts=facts[1:], index=index) == {"event"}
    # the topic itself, and the digits of a topic's link
    assert not kinds("Turnout hit 62% this year.", topic="why turnout hit 62%", index=index)
    link = "https://example.org/reports/2031/turnout"
    assert not kinds("The 2031 turnout report is out.", facts=[link], index=index)
    assert kinds("The 2031 turnout report is out.", index=index) == {"number"}


def test_the_authors_own_numbers_and_quotes_are_allowed_but_not_past_events(obama):
    """A real quote of the author with a number only that post holds: a draft repeating the
    number or the quote is allowed when that post is among the author's posts, not otherwise."""
    train, _ = obama
    index = AuthorIndex(train)
    signed = [t for t in train if "—President Obama" in t and numbers(t.split("—")[0], 10)]
    quoted, number, rest = next(
        (t, n, AuthorIndex([o for o in train if o != t]))
        for t in signed
        for n, key in numbers(t.split("—")[0], 10)
        if key not in AuthorIndex([o for o in train if o != t]).values
    )
    words_ = quoted.split("—")[0].strip().strip('"“”')
    draft = f"Worth repeating: {number}. #VotingRights"
    assert kinds(draft, index=rest) == {"number"}
    assert kinds(draft, index=index) == set()
    said = f'"{words_}" —President Obama'
    assert kinds(said, index=rest) >= {"quote", "number"}
    assert kinds(said, index=index) == set()
    # the author's past "LIVE:" post supports no live event now
    live = next(t for t in train if t.startswith("LIVE:"))
    assert kinds(live, topic="", index=index) == {"event"}


def test_phrasing_is_not_a_fact(index):
    for text in [
        "3 ways to protect voting rights #VRA50 @user2016 https://t.co/x2015",
        "Voting rights are the 1st step. We want to listen and learn, 10 times over.",
        "Deploy on Tuesdays, not Fridays. We live in the present on voting rights.",
        'Voting rights: "discovering" what we already knew.',
        "Stand up for voting rights today. Add your name: https://t.co/abc",
        "I asked GPT 4.5 and Claude 3.7 (Gemini 2.5 failed with HTTP 404) about voting rights.",
    ]:
        assert kinds(text, index=index) == set(), text


def test_real_drafts_labelled_by_reading(obama, index):
    """The embedded model's raw drafts for the sample (labelled one by one): every draft
    without an invented fact passes the rule, and it rejects most of those with one."""
    drafts = json.loads(DRAFTS.read_text())["drafts"]
    clean = [d for d in drafts if not d["label"] or d["label"] == ["supported"]]
    invented = [d for d in drafts if {"event", "quote", "number"} & set(d["label"])]
    assert len(clean) >= 100 and len(invented) >= 60
    wrongly = [d["text"] for d in clean if kinds(d["text"], d["topic"], (), index)]
    assert wrongly == []
    caught = [d for d in invented if kinds(d["text"], d["topic"], (), index)]
    assert len(caught) >= 0.8 * len(invented), [d["text"] for d in invented if d not in caught]


def test_real_posts_the_rule_rejects_pass_with_their_facts_and_their_reasons_are_true(obama):
    """Held-out real posts report news the earlier posts never held (a speech, a jobs report):
    the rule rejects them as a draft without facts, each for a claim it names, and a topic
    carrying the post's facts lets each pass."""
    train, held = obama
    index, terms = AuthorIndex(train), scorer_validity().KeyTerms(train)
    rejected = [t for t in held if "invented" in check_draft(t, "x", terms(t), index).rules]
    assert 0 < len(rejected) < len(held) / 2
    for text in rejected:
        claims = invented_claims(text, terms(text), (), index)
        assert all(c.text.lower() in text.lower() for c in claims), (text, claims)
        assert "invented" not in check_draft(text, "x", terms(text), index, facts=[text]).rules


def test_topics_yaml_facts_reach_the_gate_of_drafting_and_of_the_scorer(tmp_path, obama):
    (tmp_path / "topics.yaml").write_text(
        "- topic: voting rights town hall\n"
        "  platform: x\n"
        "  links: [https://example.org/2031/town-hall]\n"
        "  facts: ['A live town hall on Tuesday at 7 p.m. ET']\n"
    )
    [topic] = load_topics(tmp_path / "topics.yaml")
    assert topic["facts"] == ["A live town hall on Tuesday at 7 p.m. ET"]
    draft = "LIVE on Tuesday at 7 p.m. ET: our 2031 voting rights town hall."
    invented = "LIVE on Friday at 9 p.m. ET: our voting rights town hall."
    train, _ = obama
    # drafting: the program's gate, given the plan of this topic
    program = DraftProgram()
    plan = program._plan(
        topic["topic"], "x", author_posts=train[-50:], **{k: topic[k] for k in ("links", "facts")}
    )
    samples = [
        {"text": t, "usable": False, "parse_ok": True, "gate_reasons": []}
        for t in (draft, invented)
    ]
    verdicts = program._verdicts(plan.ctx, [s["text"] for s in samples])
    assert [ok for ok, _ in verdicts] == [True, False]
    # scoring: the same facts, one list per text
    scorer = CandidateScorer("x", train[-50:])
    facts = [*topic["facts"], *topic["links"]]
    with_facts = scorer.score([draft], topics=[topic["topic"]], facts=[facts])[0]
    without = scorer.score([draft], topics=[topic["topic"]])[0]
    assert with_facts["usable"] and "invented" not in with_facts["gate_rules"]
    assert not without["usable"] and "invented" in without["gate_rules"]
