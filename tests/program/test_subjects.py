"""An account's subjects in words, from the real sample export and from small cases."""

import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from reer_pipeline.platforms import Account
from reer_pipeline.program.subjects import LINKING, Subjects, subject_topics
from reer_pipeline.text import request, words
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse

ACCOUNT = Account("x", "BarackObama")


@pytest.fixture(scope="module")
def sample_texts(tmp_path_factory):
    """The sample account's original posts, as ingest reads them."""
    con = warehouse(tmp_path_factory.mktemp("subjects") / "w.duckdb", [SAMPLE])
    rows = con.execute("SELECT text FROM posts WHERE is_original").fetchall()
    con.close()
    return [r[0] for r in rows]


def test_the_sample_accounts_topics_are_phrases_its_posts_share(sample_texts):
    topics = subject_topics(sample_texts, ACCOUNT, n=5)
    assert len(topics) == 5
    # a general audience: the request names none, so no draft says "people who follow ..."
    assert {(t["platform"], request("X", t["topic"], t["audience"])) for t in topics} == {
        ("x", f"Write an X post about {t['topic']}.") for t in topics
    }
    lower = [" ".join(words(t)) for t in sample_texts]
    seen: set[str] = set()
    for t in topics:
        phrase = t["topic"].lower().split()
        # words the author wrote side by side, in several posts: a phrase, not a keyword list
        assert 2 <= len(phrase) <= 6 and "," not in t["topic"]
        assert sum(f" {' '.join(phrase)} " in f" {p} " for p in lower) >= 2, t
        assert phrase[0] not in LINKING | ENGLISH_STOP_WORDS
        assert phrase[-1] not in LINKING | ENGLISH_STOP_WORDS
        assert not {"obama", "barack"} & set(phrase)  # never the account's own name
        content = set(phrase) - LINKING
        assert not content & seen, t  # five subjects, not one said five ways
        seen |= content
    # the account's best-known subjects are among them (a reader's check of the sample)
    assert any("climate" in t["topic"] for t in topics)
    assert any("health" in t["topic"] for t in topics)


def test_a_longer_phrase_replaces_its_core_when_posts_use_it():
    posts = [
        "We need health care for working families.",
        "Health care for working families is a right.",
        "Health care for working families, now.",
        "Health care matters.",
        "Taxes and roads.",
    ]
    subjects = Subjects(posts)
    assert subjects.top(1) == ["health care for working families"]


def test_phrases_keep_the_posts_case_and_skip_links_mentions_and_own_name():
    posts = [
        "Read about the Affordable Care Act https://t.co/abc @WhiteHouse",
        "The Affordable Care Act works. #ActOnClimate",
        "President Obama on the Affordable Care Act",
    ]
    subjects = Subjects(posts, own_name="BarackObama")
    assert subjects.top(1) == ["Affordable Care Act"]
    phrases = {" ".join(p) for p in subjects.df}
    assert not any("t.co" in p or "whitehouse" in p or "obama" in p for p in phrases)


def test_an_account_whose_posts_share_no_phrase_gets_its_newest_posts_subjects():
    texts = ["Solar panels on every school roof.", "Voting rights matter.", "Hi."]
    topics = subject_topics(texts, Account("mastodon", "ann"), n=5)
    assert [t["topic"] for t in topics] == ["solar panels", "voting rights matter"]
    assert subject_topics(["Hi.", "Thanks!"], Account("x", "ann")) == []
