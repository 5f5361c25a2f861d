"""feature_lift and best_slots on the sample warehouse."""

import itertools
import math

import duckdb
import pytest

from reer_pipeline.scoring.lift import LIFT_FEATURES, best_slots, build_feature_lift


@pytest.fixture
def lift_con(sample_db, tmp_path):
    """A copy of the session warehouse with feature_lift built (engagement_pct, 200 boots)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"ATTACH '{sample_db}' AS src (READ_ONLY)")
    con.execute("CREATE TABLE post_features AS SELECT * FROM src.post_features")
    con.execute("DETACH src")
    build_feature_lift(con, n_boot=200)
    yield con
    con.close()


def lift_rows(con, where="TRUE"):
    cur = con.execute(f"SELECT * FROM feature_lift WHERE {where} ORDER BY ALL")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_each_feature_partitions_the_authors_posts(lift_con):
    scored = lift_con.execute(
        "SELECT count(*) FROM post_features WHERE engagement_pct IS NOT NULL"
    ).fetchone()[0]
    support = dict(
        lift_con.execute("SELECT feature, sum(support) FROM feature_lift GROUP BY ALL").fetchall()
    )
    assert set(support) == set(LIFT_FEATURES)
    assert set(support.values()) == {scored}


def test_support_weighted_lift_averages_to_one(lift_con):
    # Each feature's values split the posts, so their lifts, weighted by support, average to 1.
    rows = lift_con.execute(
        "SELECT feature, sum(support * lift) / sum(support) FROM feature_lift GROUP BY ALL"
    ).fetchall()
    for feature, mean in rows:
        assert mean == pytest.approx(1.0), feature


def test_intervals_are_ordered_and_cover_well_supported_lifts(lift_con):
    for row in lift_rows(lift_con):
        if row["support"] < 2:
            assert row["ci_low"] is None and row["ci_high"] is None
            continue
        assert row["ci_low"] <= row["ci_high"]
        if row["support"] >= 30:
            assert row["ci_low"] <= row["lift"] <= row["ci_high"], row


def rounded(rows: list[dict]) -> list[dict]:
    """DuckDB sums in parallel, so averages can differ in their last bits between runs."""
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


def test_bootstrap_is_seeded(lift_con):
    first = lift_rows(lift_con)
    build_feature_lift(lift_con, n_boot=200)
    assert rounded(lift_rows(lift_con)) == rounded(first)
    build_feature_lift(lift_con, n_boot=200, seed=1)
    other = lift_rows(lift_con)
    assert [r["lift"] for r in rounded(other)] == [r["lift"] for r in rounded(first)]
    assert [r["ci_low"] for r in other] != [r["ci_low"] for r in first]


def test_raw_engagement_metric_and_unknown_metric(lift_con):
    build_feature_lift(lift_con, metric="engagement", n_boot=50)
    assert all(r["lift"] > 0 for r in lift_rows(lift_con, "feature = 'hook'"))
    with pytest.raises(ValueError, match="metric"):
        build_feature_lift(lift_con, metric="likes; DROP TABLE posts")


def test_best_slots_are_the_best_admissible_products(lift_con):
    k, min_support = 5, 10
    slots = best_slots(lift_con, "BarackObama", k, min_support=min_support)
    assert len(slots) == k
    assert [s.lift for s in slots] == sorted((s.lift for s in slots), reverse=True)
    hours = {int(r["value"]): r for r in lift_rows(lift_con, "feature = 'hour'")}
    days = {int(r["value"]): r for r in lift_rows(lift_con, "feature = 'weekday'")}
    for s in slots:
        assert 0 <= s.hour <= 23 and 1 <= s.weekday <= 7
        assert s.lift == pytest.approx(hours[s.hour]["lift"] * days[s.weekday]["lift"])
        assert min(s.hour_support, s.weekday_support) >= min_support
    admissible = [
        hours[h]["lift"] * days[d]["lift"]
        for h, d in itertools.product(hours, days)
        if min(hours[h]["support"], days[d]["support"]) >= min_support
    ]
    assert slots[0].lift == pytest.approx(max(admissible))
    assert math.isclose(slots[-1].lift, sorted(admissible, reverse=True)[k - 1])


def test_best_slots_of_an_unknown_author_is_empty(lift_con):
    assert best_slots(lift_con, "nobody", 3) == []
