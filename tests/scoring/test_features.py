"""Hook rules and counts on texts written here; post_features on a real warehouse."""

from datetime import UTC

import pytest

from reer_pipeline.ingest.formats import ExportOptions
from reer_pipeline.scoring.features import HOOKS, hook_type, text_features
from tests.scoring.conftest import tweet, warehouse, x_archive


@pytest.mark.parametrize(
    ("text", "hook"),
    [
        ("Why do most product launches fail?\nHere is what I saw.", "question"),
        ("Is remote work over? I don't think so.", "question"),
        ('"Simplicity is prerequisite for reliability." Dijkstra said it best.', "quote"),
        ("“Ship it,” my manager said. And we did.", "quote"),
        ("Three habits that changed my writing:\n- Short lines\n- One idea\n- Read aloud", "list"),
        ("1. Write every day\n2. Publish every week\n3. Reflect every month", "list"),
        ("I almost quit programming in 2012. Here is what kept me going.", "story"),
        ("Last week our CI went down for six hours. Nobody noticed.", "story"),
        ("When I joined my first startup, nobody wrote tests.", "story"),
        ("90% of dashboards are never opened twice. Build fewer.", "number"),
        ("We cut our cloud bill by $40k with one config change.", "number"),
        ("Code review is the best teaching tool you have.", "bold_claim"),
        ("Stop writing clever code!", "bold_claim"),
        ("Here are some notes from the conference in Berlin.", "none"),
        ("", "none"),
    ],
)
def test_hook_rules(text, hook):
    assert hook_type(text) == hook


def test_hook_comes_from_the_first_line_only():
    opener = "Notes from the meetup in Lisbon."
    later = "\nWhy does nobody document their APIs?\n90% of teams skip it."
    assert hook_type(opener + later) == hook_type(opener) == "none"
    # The same question moved to the front becomes the hook.
    assert hook_type("Why does nobody document their APIs?\n" + opener) == "question"


def test_hook_precedence_quote_then_question_then_list():
    assert hook_type('"Why not?" she asked.') == "quote"
    assert hook_type("Why do 90% of startups fail?") == "question"
    assert hook_type("5 lessons from 5 years:\n- one\n- two") == "list"
    # A link or a number inside a hashtag or mention is not a number hook.
    assert hook_type("Read the notes https://example.com/2024/10 #web3 @dev42") == "none"


def test_every_hook_is_a_known_value():
    texts = ["?", "!", "-", "1", "I", '"', "a: \n- b\n- c", "plain words"]
    assert {hook_type(t) for t in texts} <= set(HOOKS)


def test_counts_grow_with_what_is_added():
    base = "Shipping small changes beats big launches."
    extra = base + " #devops #ci @ada https://example.com/a 🚀🔥\nSecond line\nThird"
    a, b = text_features(base), text_features(extra)
    assert (b["hashtags"] - a["hashtags"], b["mentions"] - a["mentions"]) == (2, 1)
    assert (b["links"] - a["links"], b["emojis"] - a["emojis"]) == (1, 2)
    assert b["line_breaks"] - a["line_breaks"] == 2
    for text, f in ((base, a), (extra, b)):
        assert f["chars"] == len(text) and f["words"] == len(text.split())
        assert f["line_breaks"] == text.count("\n")


def test_not_hashtags_or_mentions():
    f = text_features("Issue #42 and mail me at ada@example.com or see x.com/#anchor")
    assert f["hashtags"] == 0 and f["mentions"] == 0


def test_post_features_has_one_row_per_original_post(sample_con):
    originals = sample_con.sql(
        "SELECT post_id, text, created_at, len(links) FROM posts WHERE is_original ORDER BY 1"
    ).fetchall()
    rows = sample_con.sql(
        "SELECT post_id, text, created_at, links, chars, words, hour, weekday, hook"
        " FROM post_features ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [o[0] for o in originals]
    for (_, text, created, n_links), row in zip(originals, rows, strict=True):
        assert row[1] == text and row[3] == n_links
        assert row[4] == len(text) and row[5] == len(text.split())
        utc = created.astimezone(UTC)
        assert (row[6], row[7]) == (utc.hour, utc.isoweekday())
        assert row[8] in HOOKS
    unique = sample_con.execute("SELECT count(DISTINCT post_id) = count(*) FROM post_features")
    assert unique.fetchone()[0]


def test_thread_length_counts_the_authors_reply_chain(tmp_path):
    tweets = [
        tweet(1, "A thread on testing. 1/3", "2024-01-01 10:00", likes=5),
        tweet(2, "Test behaviour, not code. 2/3", "2024-01-01 10:01", reply_to=1),
        tweet(3, "And delete flaky tests. 3/3", "2024-01-01 10:02", reply_to=2),
        tweet(4, "A single post.", "2024-01-02 10:00", likes=1),
        tweet(5, "@bob thanks!", "2024-01-03 10:00", reply_to=999),
    ]
    tweets[4]["in_reply_to_screen_name"] = "bob"
    path = x_archive(tmp_path / "tweets.js", tweets)
    con = warehouse(tmp_path / "w.duckdb", [path], ExportOptions(author="ada"))
    rows = dict(con.sql("SELECT post_id, (is_thread, thread_length) FROM post_features").fetchall())
    replies = con.execute("SELECT count(*) FROM posts WHERE is_thread AND is_reply").fetchone()[0]
    # Only originals are rows; the head carries its whole chain, the single post only itself.
    assert set(rows) == {"1", "4"}
    assert rows["1"] == (True, 1 + replies) and rows["4"] == (False, 1)
