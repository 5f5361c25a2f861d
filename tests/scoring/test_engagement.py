"""The engagement model: time split, baselines on the same rows, drafts, save and load.

Run with `-s` to see the Spearman report on the sample and on the X archive.
"""

from datetime import datetime, timedelta

import duckdb
import joblib
import numpy as np
import pytest

from reer_pipeline.scoring.engagement import (
    BASELINES,
    EngagementModel,
    percentile_of,
    rolling_mean,
    spearman,
    time_split,
    train_engagement_model,
)
from tests.scoring.conftest import warehouse

FAST = {"alphas": (1.0,), "refit": False}


@pytest.fixture(scope="module")
def sample_model(sample_db) -> EngagementModel:
    with duckdb.connect(str(sample_db), read_only=True) as con:
        return train_engagement_model(con, "BarackObama")


def scored_rows(con, author):
    return con.execute(
        "SELECT post_id, created_at, engagement FROM post_features"
        " WHERE author = ? AND engagement IS NOT NULL ORDER BY created_at, post_id",
        [author],
    ).fetchall()


def report(title, model):
    figures = ", ".join(f"{name} {rho:+.3f}" for name, rho in model.rho.items())
    print(
        f"\n{title}: n_train {model.n_train}, n_test {model.n_test}, alpha {model.alpha};"
        f" Spearman rho on the newest {model.n_test} posts: {figures};"
        f" beats every baseline: {model.beats_baselines}"
    )


def check_held_out_report(model, rows):
    """Properties every report has, whatever the figures."""
    created = {post_id: at for post_id, at, _ in rows}
    assert model.n_train + model.n_test == len(rows)
    assert model.n_test >= round(0.2 * len(rows))
    # The test rows are exactly the newest posts, and every train post is older than all of them.
    assert model.test_post_ids == [post_id for post_id, _, _ in rows[model.n_train :]]
    assert model.train_end < model.test_start == min(created[p] for p in model.test_post_ids)
    # The model and every baseline were scored on those same rows, and the rhos come from them.
    assert set(model.rho) == set(model.test_predictions) == {"model", *BASELINES}
    actual = [e for post_id, _, e in rows[model.n_train :]]
    for name, predicted in model.test_predictions.items():
        assert len(predicted) == model.n_test
        assert model.rho[name] == pytest.approx(spearman(predicted, actual))
        assert -1.0 <= model.rho[name] <= 1.0
    assert model.rho["constant"] == 0.0
    assert model.beats_baselines == (
        model.rho["model"] > max(model.rho[name] for name in BASELINES)
    )


def test_time_split_has_no_leakage_even_with_ties():
    start = datetime(2024, 1, 1)
    created = [start + timedelta(hours=h) for h in range(10)] + [start + timedelta(hours=9)] * 3
    rng = np.random.default_rng(0)
    shuffled = [created[i] for i in rng.permutation(len(created))]
    train, test = time_split(shuffled, 0.2)
    assert sorted([*train, *test]) == list(range(len(shuffled)))
    assert max(shuffled[i] for i in train) < min(shuffled[i] for i in test)
    assert len(test) >= round(0.2 * len(shuffled))
    with pytest.raises(ValueError, match="older"):
        time_split([start] * 5, 0.2)


def test_spearman_of_a_constant_is_zero():
    x = np.arange(10.0)
    assert spearman(np.full(10, 3.0), x) == 0.0 == spearman(x, np.zeros(10))
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(-x, x) == pytest.approx(-1.0)


def test_rolling_mean_sees_only_earlier_values():
    values = np.random.default_rng(1).random(50)
    base = rolling_mean(values, 5)
    for j in (0, 10, 49):
        changed = values.copy()
        changed[j] += 100
        after = rolling_mean(changed, 5)
        assert np.array_equal(after[: j + 1], base[: j + 1])
    assert base[0] == 0.5 and base[1] == values[0]
    assert base[10] == pytest.approx(values[5:10].mean())


def test_percentile_of_is_monotone_and_bounded():
    ref = np.random.default_rng(2).integers(0, 20, 100)
    values = np.sort(np.random.default_rng(3).integers(-5, 25, 200))
    pct = percentile_of(values, ref)
    assert np.all(np.diff(pct) >= 0) and pct.min() >= 0 and pct.max() <= 1
    assert percentile_of([ref.max() + 1], ref)[0] == 1.0


def test_report_on_the_fivethirtyeight_sample(sample_model, sample_db):
    with duckdb.connect(str(sample_db), read_only=True) as con:
        rows = scored_rows(con, "BarackObama")
    check_held_out_report(sample_model, rows)
    assert sample_model.refit
    report("FiveThirtyEight BarackObama", sample_model)


def test_validated_pipeline_made_the_test_predictions(sample_con):
    model = train_engagement_model(sample_con, "BarackObama", **FAST)
    rows = sample_con.execute(
        "SELECT * FROM post_features WHERE post_id IN (SELECT unnest(?))"
        " ORDER BY created_at, post_id",
        [model.test_post_ids],
    )
    names = [d[0] for d in rows.description]
    features = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    assert not model.refit
    assert np.allclose(model.pipeline.predict(features), model.test_predictions["model"])


def test_predict_drafts_and_save_load(sample_model, tmp_path):
    drafts = [
        "Why should every American have health care? Because it is a right.",
        "Today we celebrate the Supreme Court ruling. #LoveIsLove",
        "Thank you, Chicago.",
    ]
    scores = sample_model.predict(drafts)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert np.allclose(sample_model.predict(drafts[::-1]), scores[::-1])
    assert sample_model.predict(drafts[0])[0] == pytest.approx(scores[0])
    # A feature row with a planned slot is accepted; its text features are filled in.
    slotted = sample_model.predict([{"text": drafts[0], "hour": 15, "weekday": 2}])
    assert 0 <= slotted[0] <= 1
    path = sample_model.save(tmp_path / "models" / "obama.joblib")
    loaded = EngagementModel.load(path)
    assert np.array_equal(loaded.predict(drafts), scores)
    assert loaded.rho == sample_model.rho
    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(TypeError, match="EngagementModel"):
        EngagementModel.load(tmp_path / "other.joblib")


def test_too_few_posts_or_no_engagement_is_an_error(sample_con):
    sample_con.execute(
        "DELETE FROM post_features WHERE post_id NOT IN"
        " (SELECT post_id FROM post_features ORDER BY created_at LIMIT 10)"
    )
    with pytest.raises(ValueError, match="at least"):
        train_engagement_model(sample_con, "BarackObama", **FAST)
    sample_con.execute("UPDATE post_features SET engagement = NULL")
    with pytest.raises(ValueError, match="no posts with engagement"):
        train_engagement_model(sample_con, "BarackObama", **FAST)


def test_x_archive_split_and_baselines(shared_exports, tmp_path):
    con = warehouse(tmp_path / "w.duckdb", [shared_exports / "x_archive_andreruffert_tweets.js"])
    author = con.execute("SELECT DISTINCT author FROM post_features").fetchall()
    assert author == [("andreruffert",)]
    assert con.execute("SELECT count(replies) FROM posts").fetchone()[0] == 0  # no reply counts
    model = train_engagement_model(con, "andreruffert")
    check_held_out_report(model, scored_rows(con, "andreruffert"))
    report("X archive andreruffert", model)
    assert 0 <= model.predict("A new CSS trick for :has() selectors")[0] <= 1
