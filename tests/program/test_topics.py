from pathlib import Path

import pytest

from reer_pipeline.layout import DataLayout
from reer_pipeline.platforms import Account
from reer_pipeline.program.topics import TopicsError, account_topics, load_topics

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "topics.yaml"


def test_shipped_topics_cover_every_platform():
    topics = load_topics(SHIPPED)
    assert 3 <= len(topics) <= 4
    assert {t["platform"] for t in topics} == {"x", "linkedin", "mastodon"}
    assert all(t["topic"] and t["audience"] for t in topics)


def test_the_data_root_topics_else_the_shipped_examples(data_root):
    layout = DataLayout.from_env()
    assert layout.topics == SHIPPED  # a data root without topics uses the examples
    (data_root / "topics.yaml").write_text("- {topic: tests, platform: X}\n")
    assert load_topics(layout.topics) == [
        {
            "topic": "tests",
            "platform": "x",
            "audience": "a general audience",
            "author": None,
            "links": [],
            "facts": [],
        }
    ]


def test_account_topics_prefer_its_author_then_its_own_then_the_unnamed_ones():
    topics = [
        {"topic": "a", "platform": "x", "author": None},
        {"topic": "b", "platform": "x", "author": "ann"},
        {"topic": "c", "platform": "linkedin", "author": None},
    ]
    own = [{"topic": "own", "platform": "x", "audience": "friends"}]
    assert [t["topic"] for t in account_topics(topics, Account("x", "ann"), own)] == ["b"]
    # unnamed entries never replace the subjects an account writes about
    assert account_topics(topics, Account("x", "bob"), own) == own
    assert [t["topic"] for t in account_topics(topics, Account("x", "bob"), [])] == ["a"]
    assert account_topics(topics, Account("mastodon", "bob"), []) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("- {topic: a, platform: tiktok}\n", r"item 1\.platform"),
        ("- {topic: a, platform: x}\n- {platform: x}\n", r"item 2\.topic: Field required"),
        ("- {topic: a, platform: x, tone: loud}\n", r"item 1\.tone"),
        ("topic: a\n", "expected a non-empty list"),
        ("[]\n", "expected a non-empty list"),
        ("- [unclosed\n", "cannot read"),
    ],
)
def test_bad_topics_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad_topics.yaml"
    path.write_text(text)
    with pytest.raises(TopicsError, match=message) as e:
        load_topics(path)
    assert str(path) in str(e.value)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(TopicsError, match="nope.yaml"):
        load_topics(tmp_path / "nope.yaml")
