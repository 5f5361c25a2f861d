"""Few-shot retrieval over the author's posts, and strategy cards that are debris."""

import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from reer_pipeline.program.cards import bad_name, clean_cards, degenerate, write_cards
from reer_pipeline.program.examples import PostIndex, clean_post, nearest_posts

POSTS = [
    "Our team shipped the billing rewrite today after six months of work.",
    "Unit tests are documentation that fails loudly when it goes stale.",
    {"text": "Coffee first, code review second, meetings never. https://t.co/abc123"},
    "ok",  # too short to show the voice
    "Code review tip: read the tests before the diff, every single time.",
]


def test_nearest_posts_rank_by_shared_words_and_keep_the_items():
    got = nearest_posts("why unit tests beat documentation", POSTS, k=2)
    assert got[0] == POSTS[1]
    top = nearest_posts("code review", POSTS, k=2)
    assert POSTS[4] in top and POSTS[2] in top  # both posts on code review, dict kept as is
    assert "ok" not in nearest_posts("ok", POSTS, k=10)  # short posts are never examples
    with pytest.raises(ValueError, match="topic is empty"):
        nearest_posts(" ", POSTS)


def test_a_topic_sharing_no_word_still_gets_the_authors_posts_in_order():
    index = PostIndex(POSTS)
    assert [i for i, _ in index.nearest("gardening", 2)] == [0, 1]
    assert all(score == 0 for _, score in index.nearest("gardening", 2))
    assert PostIndex([]).nearest("anything", 3) == []


def test_key_terms_follow_the_post_and_links_are_dropped():
    index = PostIndex(POSTS)
    terms = index.key_terms(1, 3)
    text = index.texts[1].lower()
    assert len(terms) == 3 and terms == sorted(terms, key=text.find)
    assert clean_post(POSTS[2]["text"]) == "Coffee first, code review second, meetings never."


ISSUE_DEBRIS = [
    "## posts##",
    "#1.1.1.1.1.1.1",
    "{Post.json} {Post.json.json.json.",
    "########}## ####",
    "",
    "a fun and lighthearted tweet about a fun and lighthearted tweet about a fun and lighthearted",
]
REAL = ["Contrarian claim", "A common belief is wrong.", "claim, proof, takeaway", "Story arc"]


@pytest.mark.parametrize("text", ISSUE_DEBRIS)
def test_the_issues_card_debris_is_degenerate(text):
    assert degenerate(text)


@pytest.mark.parametrize("text", REAL)
def test_plain_card_text_is_not_degenerate(text):
    assert not degenerate(text)


def test_degenerate_cards_are_replaced_by_the_deterministic_card_and_counted():
    good = {"name": "story", "when_to_use": "a lesson learned", "structure": "setup, twist"}
    bad = {
        "name": "## posts##",
        "when_to_use": "{Post.json}",
        "structure": "#1.1.1.1.1",
        "key_terms": ["health", "care", "reform"],
        "source_post_ids": ["p9"],
    }
    cards, replaced = clean_cards([good, bad])
    assert replaced == 1 and cards[0] == good
    assert cards[1]["name"] == "health / care / reform" and not degenerate(cards[1]["name"])
    assert cards[1]["source_post_ids"] == ["p9"] and cards[1]["written_by"] == "fallback"


def test_write_cards_without_a_model_counts_no_degenerate_cards():
    traces = [
        {
            "platform": "x",
            "author": "a",
            "post_id": f"p{i}",
            "y": f"Post {i} about unit tests and docs.",
            "trajectory": f"Open with the claim about tests {i}.\n\nThen proof.",
            "engagement_pct": i,
        }
        for i in range(6)
    ]
    cards, stats = write_cards(traces, None, "none")
    assert stats["degenerate"] == 0 and cards
    assert all(c.written_by == "fallback" and not degenerate(c.name) for c in cards)


CONTRACTION_RESIDUE = {"ll", "ve", "re", "don", "didn", "isn", "won", "doesn", "let"}


def test_cards_of_the_real_sample_are_named_by_their_content_words(tmp_path):
    """Traces whose posts are the sample's own, with plans in the form REER writes: the cards'
    names and uses are words the cluster's posts are about, never plan or form words."""
    from tests.conftest import SAMPLE
    from tests.scoring.conftest import warehouse

    con = warehouse(tmp_path / "w.duckdb", [SAMPLE])
    rows = con.execute(
        """SELECT post_id, text FROM posts WHERE is_original
        ORDER BY engagement DESC, post_id LIMIT 30"""
    ).fetchall()
    con.close()
    plan = (
        "I'll open with a hook the readers know, then we'll say why it matters.\n\n"
        "I will end the post with a short line that invites replies."
    )
    traces = [
        {
            "platform": "x",
            "author": "BarackObama",
            "post_id": pid,
            "y": text,
            "trajectory": plan,
            "engagement_pct": 30 - i,
        }
        for i, (pid, text) in enumerate(rows)
    ]
    cards, _ = write_cards(traces, None, "none", max_clusters=3)
    assert len(cards) == 3
    by_id = dict(rows)
    for card in cards:
        said = card.name.split(" / ")
        used = card.when_to_use.removeprefix("When the subject is ").rstrip(".")
        assert used.replace(" and ", ", ").split(", ") == said
        for term in said:
            for w in term.split():
                assert w not in ENGLISH_STOP_WORDS | CONTRACTION_RESIDUE, card.name
                assert w not in {"post", "posts", "hook", "readers", "open", "end"}, card.name
                assert w.isalpha() and len(w) >= 3
            # a term the cluster's own posts hold
            members = " ".join(by_id[p].lower() for p in card.source_post_ids)
            assert all(w in members for w in term.split()), (term, card.source_post_ids)


@pytest.mark.parametrize(
    "name",
    [
        ', "No one is born hating another',
        "“Yes we can”",
        "Health care, jobs,",
        "We will keep fighting for health care for every family in America",
    ],
)
def test_a_line_copied_from_a_post_is_not_a_card_name(name):
    assert bad_name(name)


@pytest.mark.parametrize(
    "name",
    ["Contrarian claim", "health / care / reform", "Story arc", "Calls to action on health care"],
)
def test_a_label_is_a_card_name(name):
    assert not bad_name(name)
