"""Engagement and top-post SQL on a real DuckDB file, from the staged sample export."""

import duckdb
import pytest

from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts, build_top_posts
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    path = tmp_path_factory.mktemp("staged") / "sample.parquet"
    stage_export(SAMPLE, path)
    return [path]


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        yield con


def test_engagement_is_weighted_and_ranked_within_originals(con, staged):
    build_posts(con, staged, EngagementConfig(likes=1, reposts=2, replies=3))
    rows = con.execute(
        "SELECT likes + 2 * reposts + 3 * replies, engagement, engagement_pct, is_original "
        "FROM posts"
    ).fetchall()
    assert all(abs(expected - got) < 1e-6 for expected, got, _, _ in rows)
    assert all((pct is None) == (not original) for _, _, pct, original in rows)
    pcts = sorted(pct for *_, pct, original in rows if original)
    assert pcts[0] == 0.0 and pcts[-1] == 1.0


def test_time_decay_discounts_older_posts(con, staged):
    build_posts(con, staged, EngagementConfig(half_life_days=30))
    ratio = con.execute(
        """SELECT engagement / (coalesce(likes, 0) + 2 * coalesce(reposts, 0)
                + 3 * coalesce(replies, 0)),
              date_diff('day', created_at, max(created_at) OVER ())
           FROM posts WHERE likes > 0 ORDER BY created_at"""
    ).fetchall()
    newest, oldest = ratio[-1], ratio[0]
    assert newest[0] == pytest.approx(1.0, abs=0.05)
    assert oldest[0] == pytest.approx(0.5 ** (oldest[1] / 30), rel=0.05)


def test_impressions_per_follower_where_known(con, staged, tmp_path):
    build_posts(con, staged, EngagementConfig(followers={"BarackObama": 100}))
    # The sample has no impressions, so the ratio stays unknown rather than made up.
    assert con.execute("SELECT count(impressions_per_follower) FROM posts").fetchone() == (0,)


@pytest.mark.parametrize("quantile, min_count", [(0.9, 20), (0.999, 20), (0.5, 0)])
def test_top_posts_quantile_and_minimum(con, staged, quantile, min_count):
    build_posts(con, staged, EngagementConfig())
    build_top_posts(con, quantile, min_count)
    originals = con.execute("SELECT count(*) FROM posts WHERE is_original").fetchone()[0]
    above = con.execute(
        "SELECT count(*) FROM posts WHERE is_original AND engagement_pct >= ?", [quantile]
    ).fetchone()[0]
    n, bad = con.execute(
        "SELECT count(*), count(*) FILTER (NOT is_original) FROM top_posts"
    ).fetchone()
    assert bad == 0 and n == max(above, min(min_count, originals))
    worst_top = con.execute("SELECT min(engagement) FROM top_posts").fetchone()[0]
    best_rest = con.execute(
        "SELECT max(engagement) FROM posts WHERE is_original "
        "AND post_id NOT IN (SELECT post_id FROM top_posts)"
    ).fetchone()[0]
    assert worst_top >= best_rest


def test_an_existing_table_gains_a_declared_column_and_keeps_its_rows(tmp_path):
    """An older warehouse file (a table without a newer component's column) takes rows with it."""
    from reer_pipeline.ingest.warehouse import ensure_table

    old = 'platform VARCHAR, author VARCHAR, "topic_fit" DOUBLE, gate_reasons VARCHAR[]'
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:
        assert ensure_table(con, "candidate_scores", old) == []
        con.execute("INSERT INTO candidate_scores VALUES ('x', 'a', 0.5, ['loop'])")
    with duckdb.connect(path) as con:
        added = ensure_table(con, "candidate_scores", old + ", length_fit DOUBLE, slot JSON")
        assert added == ["length_fit", "slot"]
        assert ensure_table(con, "candidate_scores", old + ", length_fit DOUBLE, slot JSON") == []
        con.execute(
            "INSERT INTO candidate_scores BY NAME SELECT 'x' AS platform, 'b' AS author, "
            "0.25 AS length_fit, '{\"k\": 1}'::JSON AS slot"
        )
        rows = con.execute(
            "SELECT author, topic_fit, gate_reasons, length_fit, slot FROM candidate_scores "
            "ORDER BY author"
        ).fetchall()
        types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns()").fetchall())
    assert rows == [("a", 0.5, ["loop"], None, None), ("b", None, None, 0.25, '{"k": 1}')]
    assert types["length_fit"] == "DOUBLE" and types["slot"] == "JSON"


def test_replacing_an_accounts_rows_migrates_an_older_table(tmp_path):
    """`replace_account_rows` writes a new column into a table made before the column existed,
    and leaves the other accounts' rows as they were."""
    import pyarrow as pa

    from reer_pipeline.ingest.accounts import replace_account_rows
    from reer_pipeline.platforms import Account

    old = "platform VARCHAR, author VARCHAR, total DOUBLE"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(f"CREATE TABLE candidate_scores ({old})")
        con.execute("INSERT INTO candidate_scores VALUES ('x', 'a', 0.5), ('x', 'b', 0.1)")
        rows = pa.table({"platform": ["x"], "author": ["b"], "total": [0.7], "length_fit": [0.3]})
        replace_account_rows(
            con, "candidate_scores", old + ", length_fit DOUBLE", Account("x", "b"), rows
        )
        got = con.execute(
            "SELECT author, total, length_fit FROM candidate_scores ORDER BY author"
        ).fetchall()
    assert got == [("a", 0.5, None), ("b", 0.7, 0.3)]
