"""A per-author engagement model: hashed TF-IDF n-grams plus measured features, with ridge.

It is validated on time: it trains on the author's older posts and is tested on the newest
ones, against three baselines computed on the same test rows in the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import joblib
import numpy as np
from scipy import stats
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from reer_pipeline.ingest.text import LINK_RE
from reer_pipeline.scoring.features import COUNTS, text_features

BASELINES = ("constant", "length", "rolling_mean")
ALPHAS = (1.0, 3.0, 10.0)
MIN_POSTS = 20

ROWS_SQL = f"""
SELECT post_id, created_at, engagement, text, hook, {", ".join(COUNTS)},
    media, is_thread, thread_length, hour, weekday
FROM post_features
WHERE platform = ? AND author = ? AND engagement IS NOT NULL
ORDER BY created_at, post_id
"""


def draft_features(text: str) -> dict:
    """Feature row of a draft. A draft has no media, no thread and no time yet: media 0, a
    single post, and hour/weekday None, which the model imputes with its training mean."""
    return {"text": text, **text_features(text), "media": 0, "is_thread": False}


def _texts(rows: list[dict]) -> list[str]:
    return [LINK_RE.sub(" http ", row["text"]) for row in rows]


def _hooks(rows: list[dict]) -> list[list[str]]:
    return [[row["hook"]] for row in rows]


def _cyclic(value, period: int) -> tuple[float, float]:
    if value is None:
        return math.nan, math.nan
    angle = 2 * math.pi * value / period
    return math.sin(angle), math.cos(angle)


def _measured(rows: list[dict]) -> np.ndarray:
    """log1p of the counts, media, thread length and is_thread; hour and weekday on a circle."""
    return np.array(
        [
            [math.log1p(row[name]) for name in (*COUNTS, "media")]
            + [math.log1p(row.get("thread_length", 1)), float(row["is_thread"])]
            + [*_cyclic(row.get("hour"), 24), *_cyclic(row.get("weekday"), 7)]
            for row in rows
        ]
    )


def _ngrams(analyzer: str, ngram_range: tuple[int, int]) -> Pipeline:
    hashed = HashingVectorizer(
        analyzer=analyzer, ngram_range=ngram_range, n_features=2**16, alternate_sign=False
    )
    return make_pipeline(hashed, TfidfTransformer(sublinear_tf=True))


def make_model(alpha: float = 1.0) -> Pipeline:
    """The unfitted pipeline; it takes a list of feature rows (dicts with 'text')."""
    features = FeatureUnion(
        [
            ("words", make_pipeline(FunctionTransformer(_texts), _ngrams("word", (1, 2)))),
            ("chars", make_pipeline(FunctionTransformer(_texts), _ngrams("char_wb", (2, 4)))),
            (
                "measured",
                make_pipeline(
                    FunctionTransformer(_measured),
                    SimpleImputer(keep_empty_features=True),
                    StandardScaler(),
                ),
            ),
            (
                "hook",
                make_pipeline(FunctionTransformer(_hooks), OneHotEncoder(handle_unknown="ignore")),
            ),
        ]
    )
    return Pipeline([("features", features), ("ridge", Ridge(alpha=alpha))])


def spearman(predicted, actual) -> float:
    """Spearman's rho; 0.0 when either side is constant, as a constant ranks nothing."""
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    if len(predicted) < 2 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return 0.0
    return float(stats.spearmanr(predicted, actual).statistic)


def time_split(created_at: list, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and test rows: test is the newest `test_fraction` of the posts, and
    every train post is strictly older than every test post (posts tied at the cut go to test).
    """
    order = sorted(range(len(created_at)), key=created_at.__getitem__)
    n_test = max(1, round(len(order) * test_fraction))
    cut = created_at[order[len(order) - n_test]]
    train = np.array([i for i in order if created_at[i] < cut], dtype=int)
    test = np.array([i for i in order if created_at[i] >= cut], dtype=int)
    if len(train) == 0:
        raise ValueError("every post shares the newest timestamp; nothing is older to train on")
    return train, test


def percentile_of(values, reference) -> np.ndarray:
    """Mid-rank percentile (0..1) of each value within `reference`."""
    ref = np.sort(np.asarray(reference, float))
    values = np.asarray(values, float)
    below = np.searchsorted(ref, values, side="left")
    upto = np.searchsorted(ref, values, side="right")
    return (below + upto) / 2 / len(ref)


def rolling_mean(values: np.ndarray, window: int, start: float = 0.5) -> np.ndarray:
    """Mean of the `window` values before each position; `start` where none precede it."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    lo = np.maximum(0, idx - window)
    counts = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums[idx] - sums[lo]) / counts
    return np.where(counts > 0, means, start)


@dataclass
class EngagementModel:
    """A fitted engagement model for one author, with its held-out report."""

    platform: str
    author: str
    pipeline: Pipeline
    rho: dict[str, float]  # 'model' and each of BASELINES, Spearman on the test rows
    n_train: int
    n_test: int
    train_end: datetime  # newest train post
    test_start: datetime  # oldest test post
    alpha: float
    refit: bool  # True when `pipeline` was refitted on train and test rows after validation
    test_post_ids: list[str] = field(default_factory=list)
    test_predictions: dict[str, list[float]] = field(default_factory=dict)

    @property
    def beats_baselines(self) -> bool:
        return all(self.rho["model"] > self.rho[name] for name in BASELINES)

    def predict(self, items) -> np.ndarray:
        """Predicted engagement percentile (0..1) of draft texts or feature rows (dicts with
        'text'; keys they lack take the draft defaults of `draft_features`)."""
        items = [items] if isinstance(items, str | dict) else list(items)
        rows = [
            draft_features(item) if isinstance(item, str) else draft_features(item["text"]) | item
            for item in items
        ]
        return np.clip(self.pipeline.predict(rows), 0.0, 1.0)

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path)
        return path

    @classmethod
    def load(cls, path: Path) -> EngagementModel:
        model = joblib.load(Path(path))
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not an EngagementModel")
        return model


def _spearman_score(actual, predicted) -> float:
    return spearman(predicted, actual)


def _fit(rows: list[dict], y: np.ndarray, alphas) -> tuple[Pipeline, float]:
    """Fit the pipeline, picking alpha by time-ordered cross-validation within `rows`."""
    if len(alphas) == 1 or len(rows) < 40:
        return make_model(alphas[0]).fit(rows, y), alphas[0]
    search = GridSearchCV(
        make_model(),
        {"ridge__alpha": list(alphas)},
        cv=TimeSeriesSplit(n_splits=3),
        scoring=make_scorer(_spearman_score),
    )
    search.fit(rows, y)
    return search.best_estimator_, search.best_params_["ridge__alpha"]


def train_engagement_model(
    con: duckdb.DuckDBPyConnection,
    author: str,
    platform: str | None = None,
    test_fraction: float = 0.2,
    rolling_window: int = 20,
    alphas: tuple[float, ...] = ALPHAS,
    refit: bool = True,
) -> EngagementModel:
    """Train and validate `author`'s model from `post_features` (posts with engagement).

    The target is each post's engagement percentile among the training posts (so the test
    posts never shape it). Test rho is measured against the test posts' engagement.
    Baselines on the same test rows: constant (rho 0.0 by definition), length alone (chars,
    with the sign it has on the training posts), and the rolling mean of the percentile of
    the `rolling_window` posts before each one (0.5 for the first post).
    """
    platform = platform or _only_platform(con, author)
    table = con.sql(ROWS_SQL, params=[platform, author]).to_arrow_table()
    if table.num_rows < MIN_POSTS:
        raise ValueError(
            f"{author!r} on {platform!r} has {table.num_rows} posts with engagement;"
            f" at least {MIN_POSTS} are needed"
        )
    rows = table.to_pylist()
    created = [row["created_at"] for row in rows]
    engagement = np.array([row["engagement"] for row in rows], float)
    chars = np.array([row["chars"] for row in rows], float)
    train, test = time_split(created, test_fraction)
    pct = percentile_of(engagement, engagement[train])

    pipeline, alpha = _fit([rows[i] for i in train], pct[train], alphas)
    length_sign = 1.0 if spearman(chars[train], pct[train]) >= 0 else -1.0
    predictions = {
        "model": pipeline.predict([rows[i] for i in test]),
        "constant": np.full(len(test), pct[train].mean()),
        "length": length_sign * chars[test],
        "rolling_mean": rolling_mean(pct, rolling_window)[test],
    }
    rho = {name: spearman(pred, engagement[test]) for name, pred in predictions.items()}
    if refit:
        pipeline = make_model(alpha).fit(rows, percentile_of(engagement, engagement))
    return EngagementModel(
        platform=platform,
        author=author,
        pipeline=pipeline,
        rho=rho,
        n_train=len(train),
        n_test=len(test),
        train_end=created[train[-1]],
        test_start=created[test[0]],
        alpha=alpha,
        refit=refit,
        test_post_ids=[rows[i]["post_id"] for i in test],
        test_predictions={name: [float(v) for v in p] for name, p in predictions.items()},
    )


def _only_platform(con: duckdb.DuckDBPyConnection, author: str) -> str:
    found = con.execute(
        "SELECT DISTINCT platform FROM post_features WHERE author = ? AND engagement IS NOT NULL",
        [author],
    ).fetchall()
    if not found:
        raise ValueError(f"{author!r} has no posts with engagement in post_features")
    if len(found) > 1:
        raise ValueError(
            f"{author!r} has engagement on {sorted(r[0] for r in found)}; name one platform"
        )
    return found[0][0]
