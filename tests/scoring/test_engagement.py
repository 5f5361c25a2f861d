"""The engagement model: level + content, no leakage, forecaster's report, drafts, save and load.

Run with `-s` to see the report on the sample and on the X archive.
"""

import itertools
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import joblib
import numpy as np
import pytest

from reer_pipeline.ingest.warehouse import fetch_dicts
from reer_pipeline.platforms import Account
from reer_pipeline.scoring.engagement import (
    BASELINES,
    TARGETS,
    ContentFeatures,
    EngagementModel,
    draft_features,
    pairwise_accuracy,
    percentile_of,
    prior_level,
    report_row,
    rolling_mean,
    spearman,
    time_split,
    train_engagement_model,
    week_ids,
    weighted_spearman,
)
from tests.conftest import ROOT
from tests.scoring.conftest import warehouse

FAST = {"alphas": (3.0,), "text_weights": (1.0,), "resamples": 50, "refit": False}
OBAMA = Account("x", "BarackObama")


@pytest.fixture(scope="module")
def sample_model(sample_db) -> EngagementModel:
    with duckdb.connect(str(sample_db), read_only=True) as con:
        return train_engagement_model(con, OBAMA)


def scored_rows(con, account):
    return con.execute(
        "SELECT post_id, created_at, engagement FROM post_features"
        " WHERE platform = ? AND author = ? AND engagement IS NOT NULL"
        " ORDER BY created_at, post_id",
        [account.platform, account.author],
    ).fetchall()


def show(title, model):
    print(f"\n{title}:")
    for key, value in report_row(model).items():
        print(f"  {key}: {value}")
    print(f"  meets the issue's targets: {model.report['meets_targets']}")


def check_held_out_report(model, rows):
    """Properties every report has, whatever the figures."""
    report = json.loads(json.dumps(model.report))  # JSON-safe, and unchanged by the round trip
    assert report == model.report
    created = {post_id: at for post_id, at, _ in rows}
    assert model.n_train + model.n_test == len(rows) == report["n_posts"]
    assert model.n_test >= round(0.2 * len(rows))
    # The test rows are exactly the newest posts, and every train post is older than all of them.
    assert model.test_post_ids == [post_id for post_id, _, _ in rows[model.n_train :]]
    assert model.train_end < model.test_start == min(created[p] for p in model.test_post_ids)
    raw = np.log1p([float(e) for _, _, e in rows[model.n_train :]])
    assert np.allclose(model.test_actual["raw"], raw)
    preds = model.test_predictions
    # detrended = raw - level; the absolute forecast = level + content
    assert np.allclose(model.test_actual["detrended"], raw - preds["raw"]["level"])
    assert np.allclose(
        preds["raw"]["model"], np.add(preds["raw"]["level"], preds["detrended"]["model"])
    )
    for target in TARGETS:
        scores = report["targets"][target]["scores"]
        assert set(scores) == set(preds[target]) == {"model", "level", *BASELINES}
        actual = model.test_actual[target]
        weeks = week_ids([created[p] for p in model.test_post_ids])
        for name, predicted in preds[target].items():
            assert len(predicted) == model.n_test
            rho, acc = scores[name]["spearman"], scores[name]["pairwise"]
            assert rho["value"] == pytest.approx(spearman(predicted, actual), abs=1e-4)
            assert acc["value"] == pytest.approx(
                pairwise_accuracy(predicted, actual, weeks), abs=1e-4
            )
            assert -1 <= rho["low"] <= rho["high"] <= 1 and 0 <= acc["low"] <= acc["high"] <= 1
        assert scores["constant"]["spearman"] == {"value": 0.0, "low": 0.0, "high": 0.0}
        assert scores["constant"]["pairwise"]["value"] == 0.5
    # The verdict is the interval of the paired difference, not the point estimates.
    losing = [
        f"{t}:{b}"
        for t in TARGETS
        for b in BASELINES
        if not report["targets"][t]["scores"][b]["model_minus_this"]["spearman"]["low"] > 0
    ]
    assert model.losing_baselines == losing and model.beats_baselines == (not losing)
    metadata = json.loads(json.dumps(model.metadata()))
    assert metadata["rho_raw_model"] == model.rho["model"] == report_scores(model)["model"]
    table = model.markdown()
    assert table.count("\n| raw |") == table.count("\n| detrended |") == len(BASELINES) + 2


def report_scores(model):
    return {k: v["spearman"]["value"] for k, v in model.report["targets"]["raw"]["scores"].items()}


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


def test_prior_level_is_the_weighted_mean_of_strictly_earlier_posts():
    rng = np.random.default_rng(4)
    start = datetime(2024, 1, 1)
    created = sorted(start + timedelta(hours=int(h)) for h in rng.integers(0, 30, 60))  # ties
    values = rng.normal(size=60)
    level, now = prior_level(values, created, 0.1)
    for i in range(60):
        earlier = [j for j in range(60) if created[j] < created[i]]
        if not earlier:
            assert np.isnan(level[i])
            continue
        weights = 0.9 ** (earlier[-1] - np.array(earlier))
        assert level[i] == pytest.approx(np.average(values[earlier], weights=weights))
    assert now == pytest.approx(np.average(values, weights=0.9 ** np.arange(59, -1, -1)))
    # With a lag, posts of the last 5 hours are left out of the level and the rolling mean.
    lag = timedelta(hours=5)
    lagged, _ = prior_level(values, created, 0.1, lag)
    means = rolling_mean(values, 4, np.nan, created, lag)
    for i in range(60):
        earlier = [j for j in range(60) if created[j] + lag < created[i]]
        if not earlier:
            assert np.isnan(lagged[i]) and np.isnan(means[i])
            continue
        weights = 0.9 ** (earlier[-1] - np.array(earlier))
        assert lagged[i] == pytest.approx(np.average(values[earlier], weights=weights))
        assert means[i] == pytest.approx(values[earlier[-4:]].mean())


def test_weighted_spearman_equals_spearman_on_repeated_posts():
    rng = np.random.default_rng(5)
    predicted = rng.integers(0, 6, 80).astype(float)  # ties on both sides
    actual = rng.integers(0, 4, 80) + 0.4 * predicted
    copies = rng.integers(0, 3, (6, 80)).astype(float)
    fast = weighted_spearman(predicted, actual, copies)
    for row, rho in zip(copies.astype(int), fast, strict=True):
        assert rho == pytest.approx(spearman(np.repeat(predicted, row), np.repeat(actual, row)))


def test_pairwise_accuracy_counts_pairs_within_a_week_only():
    rng = np.random.default_rng(6)
    predicted, actual = rng.integers(0, 4, 40).astype(float), rng.integers(0, 4, 40).astype(float)
    weeks = rng.integers(0, 5, 40)
    right = total = 0.0
    for i, j in itertools.combinations(range(40), 2):
        if weeks[i] != weeks[j] or actual[i] == actual[j]:
            continue
        total += 1
        if predicted[i] == predicted[j]:
            right += 0.5
        elif (predicted[i] > predicted[j]) == (actual[i] > actual[j]):
            right += 1
    assert pairwise_accuracy(predicted, actual, weeks) == pytest.approx(right / total)
    assert pairwise_accuracy(actual, actual, weeks) == 1.0
    assert pairwise_accuracy(-actual, actual, weeks) == 0.0


def test_percentile_of_is_monotone_and_bounded():
    ref = np.random.default_rng(2).integers(0, 20, 100)
    values = np.sort(np.random.default_rng(3).integers(-5, 25, 200))
    pct = percentile_of(values, ref)
    assert np.all(np.diff(pct) >= 0) and pct.min() >= 0 and pct.max() <= 1
    assert percentile_of([ref.max() + 1], ref)[0] == 1.0


def test_shuffling_the_future_does_not_change_a_past_prediction(sample_con):
    """Every prediction of a test post (model, level and baselines, on both targets) uses only
    what was known when it was posted: scrambling the posts after it changes none of them."""
    before = train_engagement_model(sample_con, OBAMA, **FAST)
    # Without a refit the saved content model is the validated one that made the test predictions.
    test_rows = fetch_dicts(
        sample_con,
        "SELECT * FROM post_features WHERE post_id IN (SELECT unnest(?))"
        " ORDER BY created_at, post_id",
        [before.test_post_ids],
    )
    assert not before.refit
    assert np.allclose(
        before.content.predict(test_rows), before.test_predictions["detrended"]["model"]
    )
    k = before.n_test // 2
    cut = sample_con.execute(
        "SELECT created_at FROM post_features WHERE post_id = ?", [before.test_post_ids[k]]
    ).fetchone()[0]
    content = ["engagement", "text", "hook", "chars", "words", "hashtags", "links", "media"]
    future = sample_con.execute(
        f"SELECT post_id, {', '.join(content)} FROM post_features"
        " WHERE author = 'BarackObama' AND created_at > ? ORDER BY post_id",
        [cut],
    ).fetchall()
    order = np.random.default_rng(7).permutation(len(future))
    sample_con.executemany(
        f"UPDATE post_features SET {', '.join(f'{c} = ?' for c in content)} WHERE post_id = ?",
        [[*future[j][1:], row[0]] for row, j in zip(future, order, strict=True)],
    )
    after = train_engagement_model(sample_con, OBAMA, **FAST)
    assert after.test_post_ids == before.test_post_ids
    past = sum(1 for p in before.test_post_ids if p not in {row[0] for row in future})
    assert past >= k
    for target in TARGETS:
        for name, predicted in before.test_predictions[target].items():
            assert after.test_predictions[target][name][:past] == predicted[:past], (target, name)
    # The scramble did reach the later posts, so the equality above is not vacuous.
    assert after.test_actual["raw"][past:] != before.test_actual["raw"][past:]
    assert (
        after.test_predictions["raw"]["model"][past:]
        != before.test_predictions["raw"]["model"][past:]
    )


def test_report_on_the_fivethirtyeight_sample(sample_model, sample_db):
    with duckdb.connect(str(sample_db), read_only=True) as con:
        rows = scored_rows(con, OBAMA)
    check_held_out_report(sample_model, rows)
    assert sample_model.refit and sample_model.account == OBAMA
    show("FiveThirtyEight BarackObama", sample_model)
    # Issue #15: beats every baseline by its interval, and meets the targets.
    assert sample_model.beats_baselines
    assert all(sample_model.report["meets_targets"].values()), sample_model.report["meets_targets"]


def test_predict_drafts_plot_and_save_load(sample_model, tmp_path):
    drafts = [
        "Why should every American have health care? Because it is a right.",
        "Today we celebrate the Supreme Court ruling. #LoveIsLove",
        "Thank you, Chicago.",
        "Read more: https://example.com/plan",
    ]
    content = sample_model.predict_content(drafts)
    absolute = sample_model.predict(drafts)
    for scores in (content, absolute):
        assert scores.shape == (4,) and np.all((scores >= 0) & (scores <= 1))
    assert np.allclose(sample_model.predict_content(drafts[::-1]), content[::-1])
    assert sample_model.predict_content(drafts[0])[0] == pytest.approx(content[0])
    # Drafts share the account's level, so the absolute score never reorders them.
    raw = sample_model.content.predict([draft_features(d) for d in drafts])
    order = np.argsort(raw)
    assert np.all(np.diff(content[order]) >= 0) and np.all(np.diff(absolute[order]) >= 0)
    # A feature row with a planned slot is accepted; its text features are filled in.
    slotted = sample_model.predict_content([{"text": drafts[0], "hour": 15, "weekday": 2}])
    assert 0 <= slotted[0] <= 1
    png = sample_model.plot(tmp_path / "plots" / "obama.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    path = sample_model.save(tmp_path / "models" / "obama.joblib")
    loaded = EngagementModel.load(path)
    assert np.array_equal(loaded.predict_content(drafts), content)
    assert np.array_equal(loaded.predict(drafts), absolute)
    assert loaded.report == sample_model.report
    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(TypeError, match="EngagementModel"):
        EngagementModel.load(tmp_path / "other.joblib")


def test_content_features_work_in_any_script():
    texts = [
        "Запуск нового проекта #открытыйкод @команда 🚀",
        "新しいプロジェクトを公開しました #オープンソース 🚀",
        "إطلاق مشروع جديد #مفتوح_المصدر",
        "Lanzamiento del proyecto #códigoabierto @equipo https://t.co/x",
    ]
    rows = [draft_features(t) for t in texts * 2]
    feats = ContentFeatures()
    words, chars, measured = feats.fit_blocks(rows)
    vocabulary = set(feats.words.vocabulary_)
    for tag in ("#открытыйкод", "@команда", "#オープンソース", "#مفتوح_المصدر", "#códigoabierto"):
        assert tag in vocabulary
    assert any("🚀" in gram for gram in feats.chars.vocabulary_)
    # every post, whatever its script, has n-gram features of its own
    assert np.all(words.getnnz(axis=1) > 0) and np.all(chars.getnnz(axis=1) > 0)
    assert measured.shape[0] == len(rows)


def test_too_few_posts_or_no_engagement_is_an_error(sample_con):
    sample_con.execute(
        "DELETE FROM post_features WHERE post_id NOT IN"
        " (SELECT post_id FROM post_features ORDER BY created_at LIMIT 10)"
    )
    with pytest.raises(ValueError, match="at least"):
        train_engagement_model(sample_con, OBAMA, **FAST)
    sample_con.execute("UPDATE post_features SET engagement = NULL")
    with pytest.raises(ValueError, match="no posts with engagement"):
        train_engagement_model(sample_con, "BarackObama", **FAST)


def test_x_archive_beats_the_baselines(shared_exports, tmp_path):
    con = warehouse(tmp_path / "w.duckdb", [shared_exports / "x_archive_andreruffert_tweets.js"])
    assert con.execute("SELECT DISTINCT author FROM post_features").fetchall() == [
        ("andreruffert",)
    ]
    assert con.execute("SELECT count(replies) FROM posts").fetchall() == [(0,)]  # no replies
    account = Account("x", "andreruffert")
    model = train_engagement_model(con, account)
    check_held_out_report(model, scored_rows(con, account))
    show("X archive andreruffert", model)
    assert model.beats_baselines
    assert all(model.report["meets_targets"].values()), model.report["meets_targets"]
    assert 0 <= model.predict_content("A new CSS trick for :has() selectors")[0] <= 1


def test_benchmark_prints_the_table_and_the_verdict(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/engagement.py",
            "--synthetic",
            "600",
            "--json",
            str(tmp_path / "r.json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"beats_all_baselines: [01] of 1 accounts", lines[-1])
    assert any(line.startswith("| x:synthetic | 600 | ") for line in lines)
    (report,) = json.loads((tmp_path / "r.json").read_text())
    assert report["account"] == "x:synthetic" and report["n_posts"] == 600
