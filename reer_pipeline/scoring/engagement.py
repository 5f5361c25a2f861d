"""A per-account engagement model that separates the account's level from the post's content.

    log1p(engagement) = level + content

`level` is an exponentially weighted mean of the log engagement of the account's strictly earlier
posts: it follows the account's drift (followers, platform reach) that no text can explain.
`content` is what the writer controls: ridge regression on script-independent text features (word
and character n-gram TF-IDF, hashtags, mentions, emoji, links, size, hook) fitted to the
detrended target `log1p(engagement) - level`. Every feature of a post is known when it is posted.

It is validated like a forecaster: it trains on the account's older posts and is scored on the
newest ones, on the raw and the detrended target, by Spearman's rho and by pairwise accuracy
(pairs of posts in the same week: which got more), against the constant, length, rolling-mean
and rolling-mean + length baselines scored on the same rows, with week-block bootstrap intervals.

Drafts are ranked by `predict_content` (the writer's part); `predict` adds the current level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import joblib
import numpy as np
from scipy import sparse, stats
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import TimeSeriesSplit
from sklearn.preprocessing import StandardScaler

from reer_pipeline.platforms import Account
from reer_pipeline.scoring.features import COUNTS, HOOKS, text_features
from reer_pipeline.stats import percentile_interval, resample_counts
from reer_pipeline.text import LINK_RE

TARGETS = ("raw", "detrended")
BASELINES = ("constant", "length", "rolling_mean", "rolling_mean_length")
LEVEL_ALPHAS = (0.02, 0.05, 0.1, 0.2)  # per-post smoothing of the level, chosen on train posts
ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0)  # ridge penalties tried by time-ordered cross-validation
TEXT_WEIGHTS = (0.3, 1.0)  # scale of the n-gram blocks against the measured features
MIN_POSTS = 20
RESAMPLES = 500
CONFIDENCE = 0.95
MIN_CLUSTERS = 20  # fewer test weeks than this: the bootstrap resamples posts, not weeks
# Any script: a token is a run of word characters, with its # or @ when it is a hashtag or mention.
TOKEN_PATTERN = r"(?u)[#@]?\w\w+"

ROWS_SQL = f"""
SELECT post_id, created_at, engagement, text, hook, {", ".join(COUNTS)},
    media, is_thread, thread_length, hour, weekday
FROM post_features
WHERE platform = ? AND author = ? AND engagement IS NOT NULL
ORDER BY created_at, post_id
"""


# ---- features -----------------------------------------------------------------------------------
def draft_features(text: str) -> dict:
    """Feature row of a draft. A draft has no media, no thread and no time yet: media 0, a
    single post, and hour/weekday None, which the model imputes with its training mean."""
    return {"text": text, **text_features(text), "media": 0, "is_thread": False}


def _rows(items) -> list[dict]:
    items = [items] if isinstance(items, str | dict) else list(items)
    return [
        draft_features(item) if isinstance(item, str) else draft_features(item["text"]) | item
        for item in items
    ]


def _text(row: dict) -> str:
    return LINK_RE.sub(" http ", row["text"])


def _cyclic(value, period: int) -> tuple[float, float]:
    if value is None:
        return math.nan, math.nan
    angle = 2 * math.pi * value / period
    return math.sin(angle), math.cos(angle)


def _measured(rows: list[dict]) -> np.ndarray:
    """log1p of the counts (size, line breaks, hashtags, mentions, links, emoji) and media,
    thread shape, hook (one-hot), and hour and weekday on a circle (NaN for a draft)."""
    return np.array(
        [
            [math.log1p(row[name]) for name in (*COUNTS, "media")]
            + [math.log1p(row.get("thread_length") or 1), float(bool(row["is_thread"]))]
            + [float(row["hook"] == hook) for hook in HOOKS]
            + [*_cyclic(row.get("hour"), 24), *_cyclic(row.get("weekday"), 7)]
            for row in rows
        ],
        dtype=float,
    ).reshape(len(rows), len(COUNTS) + 3 + len(HOOKS) + 4)


class ContentFeatures:
    """Word and character n-gram TF-IDF plus the measured features, fitted on training rows.

    Tokens are runs of word characters in any script, hashtags and mentions keep their sign,
    links become one token, and character n-grams cover scripts without spaces and emoji.
    Vocabularies are capped, so memory stays bounded whatever the account's size."""

    def __init__(self, max_words: int = 50_000, max_chars: int = 100_000):
        self.words = TfidfVectorizer(
            token_pattern=TOKEN_PATTERN,
            ngram_range=(1, 2),
            min_df=2,
            max_features=max_words,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(2, 4),
            min_df=2,
            max_features=max_chars,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.imputer = SimpleImputer(keep_empty_features=True)
        self.scaler = StandardScaler()

    def fit_blocks(self, rows: list[dict]) -> list:
        """Fit on `rows` and return their blocks [words, chars, measured] (text analysed once)."""
        texts = [_text(r) for r in rows]
        blocks = []
        for vectorizer in (self.words, self.chars):
            try:
                blocks.append(vectorizer.fit_transform(texts))
            except ValueError:  # too few posts for min_df=2: keep every n-gram
                blocks.append(vectorizer.set_params(min_df=1).fit_transform(texts))
        measured = self.scaler.fit_transform(self.imputer.fit_transform(_measured(rows)))
        return [*blocks, sparse.csr_matrix(measured)]

    def blocks(self, rows: list[dict]) -> list:
        texts = [_text(r) for r in rows]
        measured = self.scaler.transform(self.imputer.transform(_measured(rows)))
        return [
            self.words.transform(texts),
            self.chars.transform(texts),
            sparse.csr_matrix(measured),
        ]


def _ridge(alpha: float) -> Ridge:
    """LSQR on the sparse design: about twice as fast as conjugate gradients here, same fit."""
    return Ridge(alpha=alpha, solver="lsqr", tol=1e-5)


def _stack(blocks: list, text_weight: float) -> sparse.csr_matrix:
    """The design matrix: the n-gram blocks scaled by `text_weight` against the measured ones."""
    words, chars, measured = blocks
    return sparse.hstack([text_weight * words, text_weight * chars, measured], format="csr")


@dataclass
class ContentModel:
    """Ridge on `ContentFeatures`: the predicted log engagement above the account's level."""

    features: ContentFeatures
    ridge: Ridge
    text_weight: float
    train_blocks: list | None = None  # the fitted rows' blocks, dropped once no longer needed

    def predict(self, rows: list[dict]) -> np.ndarray:
        return self.predict_blocks(self.features.blocks(rows))

    def predict_blocks(self, blocks: list) -> np.ndarray:
        return self.ridge.predict(_stack(blocks, self.text_weight))


def fit_content(
    rows: list[dict],
    target: np.ndarray,
    alphas=ALPHAS,
    text_weights=TEXT_WEIGHTS,
    splits: int = 3,
) -> ContentModel:
    """Fit the content model, picking the ridge penalty and text weight by time-ordered
    cross-validation (mean Spearman on each later fold) when there are 60 rows or more.

    The vocabularies are fitted once on all `rows` before the folds: the folds choose two
    hyperparameters, and rows outside `rows` never shape anything."""
    feats = ContentFeatures()
    blocks = feats.fit_blocks(rows)
    grid = [(a, w) for w in text_weights for a in alphas]
    best = grid[0]
    if len(grid) > 1 and len(rows) >= 60:
        scores = {key: [] for key in grid}
        for w in text_weights:
            x = _stack(blocks, w)
            for fit_idx, val_idx in TimeSeriesSplit(n_splits=splits).split(target):
                for a in alphas:
                    ridge = _ridge(a).fit(x[fit_idx], target[fit_idx])
                    scores[a, w].append(spearman(ridge.predict(x[val_idx]), target[val_idx]))
        best = max(grid, key=lambda key: np.mean(scores[key]))
    ridge = _ridge(best[0]).fit(_stack(blocks, best[1]), target)
    return ContentModel(feats, ridge, best[1], blocks)


# ---- level and baselines ------------------------------------------------------------------------
def prior_level(
    values, created_at, alpha: float, lag: timedelta = timedelta(0)
) -> tuple[np.ndarray, float]:
    """Exponentially weighted mean of `values` over the posts made more than `lag` before each
    one (strictly earlier, so posts sharing a timestamp see none of each other), with weights
    (1 - alpha)^k, k counting posts back from the newest included one, normalised.

    A `lag` of a day models engagement that is only known once a post has had a day to collect
    it. Returns the level before each post (NaN before any included post) and the level after
    the last post, which is the account's current level for a draft. `created_at` ascends.
    """
    values = np.asarray(values, float)
    level = np.full(len(values), np.nan)
    num = den = 0.0
    j = 0
    for i, at in enumerate(created_at):
        while j < len(values) and created_at[j] + lag < at:
            num = (1 - alpha) * num + values[j]
            den = (1 - alpha) * den + 1.0
            j += 1
        if den > 0:
            level[i] = num / den
    for value in values[j:]:
        num = (1 - alpha) * num + value
        den = (1 - alpha) * den + 1.0
    return level, (num / den if den else math.nan)


def choose_level_alpha(
    values, created_at, alphas=LEVEL_ALPHAS, lag: timedelta = timedelta(0)
) -> float:
    """The smoothing whose level forecasts the next post's value best (mean squared error)."""

    def error(alpha):
        level, _ = prior_level(values, created_at, alpha, lag)
        known = ~np.isnan(level)
        return float(np.mean((np.asarray(values)[known] - level[known]) ** 2))

    return min(alphas, key=error)


def rolling_mean(
    values, window: int, start: float = 0.5, created_at=None, lag: timedelta = timedelta(0)
) -> np.ndarray:
    """Mean of the `window` values before each position; `start` where none precede it.

    With `created_at` (ascending), "before" means made more than `lag` earlier, as for
    `prior_level`, so posts sharing a timestamp do not see each other."""
    values = np.asarray(values, float)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    if created_at is None:
        end = np.arange(len(values))
    else:
        seconds = np.array([t.timestamp() for t in created_at])
        end = np.searchsorted(seconds, seconds - lag.total_seconds(), side="left")
    lo = np.maximum(0, end - window)
    counts = end - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums[end] - sums[lo]) / counts
    return np.where(counts > 0, means, start)


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


# ---- metrics ------------------------------------------------------------------------------------
def spearman(predicted, actual) -> float:
    """Spearman's rho; 0.0 when either side is constant, as a constant ranks nothing."""
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    if len(predicted) < 2 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return 0.0
    return float(stats.spearmanr(predicted, actual).statistic)


def week_ids(created_at: list) -> np.ndarray:
    """One integer per ISO (year, week) of each timestamp."""
    keys = [tuple(t.isocalendar()[:2]) for t in created_at]
    index = {k: i for i, k in enumerate(sorted(set(keys)))}
    return np.array([index[k] for k in keys], dtype=int)


def pair_counts(predicted, actual, groups) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the pairs of its posts with different `actual` that `predicted` orders the same
    way (a tie in `predicted` counts half), and the number of such pairs."""
    predicted, actual = np.asarray(predicted, float), np.asarray(actual, float)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    right, total = np.zeros(n_groups), np.zeros(n_groups)
    for g, members in _groups(groups):
        for lo in range(0, len(members), 512):  # chunks keep a crowded week's memory bounded
            rows = members[lo : lo + 512]
            c, v = _concordance(predicted, actual, rows, members)
            right[g] += c.sum() / 2
            total[g] += v.sum() / 2
    return right, total


def _groups(groups: np.ndarray):
    order = np.argsort(groups, kind="stable")
    for members in np.split(order, np.flatnonzero(np.diff(groups[order])) + 1):
        if len(members) > 1:
            yield groups[members[0]], members


def _concordance(predicted, actual, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """For each pair (row, col): 1 when ordered alike, 0.5 for a tied prediction, else 0, on pairs
    whose actual values differ; and the mask of those pairs."""
    da = np.sign(actual[rows, None] - actual[None, cols])
    dp = np.sign(predicted[rows, None] - predicted[None, cols])
    valid = da != 0
    return np.where(valid, (da * dp > 0) + 0.5 * (dp == 0), 0.0), valid


def pairwise_accuracy(predicted, actual, groups) -> float:
    """Share of the pairs of posts in the same group (week) with different actual values that
    `predicted` orders the same way; NaN when there is no such pair."""
    right, total = pair_counts(predicted, actual, groups)
    return float(right.sum() / total.sum()) if total.sum() else math.nan


def weighted_spearman(values, actual, weights: np.ndarray) -> np.ndarray:
    """Spearman's rho of `values` and `actual` with each post repeated `weights[b, i]` times, for
    every row b of `weights` at once (average ranks for ties, 0.0 where a side is constant).
    Equals `spearman` on the repeated arrays, without building them."""
    rv, ra = _weighted_ranks(values, weights), _weighted_ranks(actual, weights)
    n = weights.sum(axis=1, keepdims=True)
    rv = rv - (weights * rv).sum(axis=1, keepdims=True) / n
    ra = ra - (weights * ra).sum(axis=1, keepdims=True) / n
    cov = (weights * rv * ra).sum(axis=1)
    var = (weights * rv * rv).sum(axis=1) * (weights * ra * ra).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = cov / np.sqrt(var)
    return np.where(var > 1e-12, rho, 0.0)


def _weighted_ranks(values, weights: np.ndarray) -> np.ndarray:
    values = np.asarray(values, float)
    order = np.argsort(values, kind="stable")
    v = values[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    tie_group = np.cumsum(np.r_[True, v[1:] != v[:-1]]) - 1
    mass = np.add.reduceat(weights[:, order], starts, axis=1)
    group_rank = np.cumsum(mass, axis=1) - mass + (mass + 1) / 2
    ranks = np.empty_like(weights, dtype=float)
    ranks[:, order] = group_rank[:, tie_group]
    return ranks


def _interval(estimate: float, samples: np.ndarray | None) -> dict:
    if samples is None:
        return {"value": _num(estimate), "low": None, "high": None}
    low, high = percentile_interval(samples, CONFIDENCE)
    return {"value": _num(estimate), "low": _num(low), "high": _num(high)}


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else round(x, 4)


def evaluate(
    predictions: dict[str, np.ndarray],
    actual: np.ndarray,
    groups: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict:
    """Spearman and pairwise accuracy of each prediction against `actual`, with bootstrap
    intervals, and for each other prediction the paired difference 'model' minus it on the same
    resamples (`model_minus_this`).

    The bootstrap resamples whole weeks (`groups`), which respects the correlation of posts close
    in time and keeps every within-week pair intact. With fewer than MIN_CLUSTERS weeks it
    resamples posts (a pair of two drawn posts counts once per combination of their copies).
    """
    actual = np.asarray(actual, float)
    predictions = {k: np.asarray(v, float) for k, v in predictions.items()}
    weeks, week_of = np.unique(groups, return_inverse=True)
    unit = "week" if len(weeks) >= MIN_CLUSTERS else "post"
    n_units = len(weeks) if unit == "week" else len(actual)
    copies = resample_counts(n_units, resamples, np.random.default_rng(seed))
    post_copies = copies[:, week_of] if unit == "week" else copies
    rho, acc, counts = {}, {}, {}
    for name, p in predictions.items():
        rho[name] = np.concatenate(  # 50 resamples at a time bound the temporaries' memory
            [
                weighted_spearman(p, actual, post_copies[lo : lo + 50])
                for lo in range(0, resamples, 50)
            ]
        )
        right, total = pair_counts(p, actual, week_of)
        counts[name] = right.sum(), total.sum()
        if unit == "week":  # weeks drawn k times count their pairs k times
            with np.errstate(invalid="ignore", divide="ignore"):
                acc[name] = (copies @ right) / (copies @ total)
        else:
            acc[name] = _post_bootstrap_pairs(p, actual, week_of, copies)
    scores = {}
    for name, p in predictions.items():
        right, total = counts[name]
        scores[name] = {
            "spearman": _interval(spearman(p, actual), rho[name]),
            "pairwise": _interval(right / total if total else np.nan, acc[name])
            | {"pairs": int(total)},
        }
        if name != "model" and "model" in predictions:
            diff_acc = None if acc[name] is None else acc["model"] - acc[name]
            scores[name]["model_minus_this"] = {
                "spearman": _interval(
                    spearman(predictions["model"], actual) - spearman(p, actual),
                    rho["model"] - rho[name],
                ),
                "pairwise": _interval(
                    (counts["model"][0] - right) / total if total else np.nan, diff_acc
                ),
            }
    return {
        "bootstrap": {"resamples": resamples, "unit": unit, "confidence": CONFIDENCE},
        "scores": scores,
    }


def _post_bootstrap_pairs(predicted, actual, groups, copies, max_cells: int = 4_000_000):
    """Pairwise accuracy on each post-resample (rows of `copies`); None when the weeks are too
    crowded for the pair matrices to stay small."""
    parts = list(_groups(groups))
    if sum(len(m) ** 2 for _, m in parts) > max_cells:
        return None
    right = np.zeros(len(copies))
    total = np.zeros(len(copies))
    for _, members in parts:
        c, v = _concordance(predicted, actual, members, members)
        w = copies[:, members]
        right += np.einsum("bi,ij,bj->b", w, c, w) / 2
        total += np.einsum("bi,ij,bj->b", w, v.astype(float), w) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return right / total


# ---- the model ----------------------------------------------------------------------------------
@dataclass
class EngagementModel:
    """A fitted engagement model for one account, with its held-out report.

    `predict_content` is what drafts are ranked by: the writer's part, independent of the
    account's level. `predict` adds the account's current level, for an absolute forecast.
    """

    account: Account
    content: ContentModel
    level_alpha: float
    level_now: float  # the level after the newest post: a draft's level
    reference_content: np.ndarray  # sorted content predictions of the account's own posts
    reference_absolute: np.ndarray  # sorted level + content of the account's own posts
    report: dict  # JSON-safe; see `train_engagement_model`
    n_train: int
    n_test: int
    train_end: datetime  # newest train post
    test_start: datetime  # oldest test post
    refit: (
        bool  # True when the ridge was refitted on every post after validation (train vocabulary)
    )
    test_post_ids: list[str] = field(default_factory=list)
    # target -> name ('model', 'level' and each of BASELINES) -> prediction per test post
    test_predictions: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    test_actual: dict[str, list[float]] = field(default_factory=dict)  # target -> per test post
    series: dict[str, list] = field(default_factory=dict)  # created_at, log_engagement, level

    @property
    def platform(self) -> str:
        return self.account.platform

    @property
    def author(self) -> str:
        return self.account.author

    @property
    def rho(self) -> dict[str, float]:
        """Spearman's rho on the raw target: 'model', 'level' and each of BASELINES."""
        return {
            name: s["spearman"]["value"] or 0.0
            for name, s in self.report["targets"]["raw"]["scores"].items()
        }

    @property
    def beats_baselines(self) -> bool:
        """True when, on both targets, the bootstrap interval of the model's Spearman minus each
        baseline's lies above zero (so not a point estimate that happens to be higher)."""
        return bool(self.report["beats_baselines"])

    @property
    def losing_baselines(self) -> list[str]:
        """'<target>:<baseline>' for each baseline the model does not beat by its interval."""
        return [
            f"{target}:{name}"
            for target, verdicts in self.report["beats"].items()
            for name, beaten in verdicts.items()
            if not beaten
        ]

    def metadata(self) -> dict:
        """Flat, JSON-safe figures for the `engagement_model` asset's metadata: Spearman on
        both targets for the model and each baseline, and the model's pairwise accuracy."""
        out = {"n_train": self.n_train, "n_test": self.n_test}
        for target in TARGETS:
            scores = self.report["targets"][target]["scores"]
            for name in ("model", *BASELINES):
                out[f"rho_{target}_{name}"] = scores[name]["spearman"]["value"]
            model = scores["model"]
            out[f"rho_{target}_model_low"] = model["spearman"]["low"]
            out[f"rho_{target}_model_high"] = model["spearman"]["high"]
            out[f"pairwise_{target}_model"] = model["pairwise"]["value"]
        out["beats_baselines"] = self.beats_baselines
        return out

    def markdown(self) -> str:
        """The report as a markdown table: one row per target and predictor, with Spearman and
        pairwise accuracy (same-week pairs) and their 95% intervals, and the paired difference."""
        lines = [
            f"{self.account.key}: n_train {self.n_train}, n_test {self.n_test}"
            f" (test from {self.report['test_start'][:10]}); level alpha"
            f" {self.report['level_alpha']}, ridge alpha {self.report['ridge_alpha']}",
            "",
            "| target | predictor | Spearman | pairwise (pairs) | model − this, Spearman |",
            "|---|---|---|---|---|",
        ]
        for target in TARGETS:
            for name, s in self.report["targets"][target]["scores"].items():
                diff = s.get("model_minus_this", {}).get("spearman")
                lines.append(
                    f"| {target} | {name} | {format_interval(s['spearman'])}"
                    f" | {format_interval(s['pairwise'])} ({s['pairwise']['pairs']})"
                    f" | {format_interval(diff) if diff else ''} |"
                )
        return "\n".join(lines)

    def predict_content(self, items) -> np.ndarray:
        """The writer's part (0..1): where a draft's predicted engagement above the account's
        level falls among the same prediction for the account's own posts. Rank drafts by this.
        Takes texts or feature rows (dicts with 'text', see `predict`)."""
        rows = _rows(items)
        return percentile_of(self.content.predict(rows), self.reference_content)

    def predict(self, items) -> np.ndarray:
        """Absolute predicted engagement (0..1): the account's current level plus the content
        prediction, as a percentile among the same prediction for the account's own posts.

        Takes draft texts or feature rows (dicts with 'text'; keys they lack take the draft
        defaults of `draft_features`, e.g. a planned 'hour' and 'weekday'). Among drafts of one
        account it ranks exactly as `predict_content` does, since they share the level."""
        rows = _rows(items)
        absolute = self.level_now + self.content.predict(rows)
        return percentile_of(absolute, self.reference_absolute)

    def plot(self, path: Path) -> Path:
        """Write a PNG: predicted vs actual on the test posts for the raw and the detrended
        target, and the account's log engagement over time with its level."""
        from matplotlib.figure import Figure

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(15, 4.6), layout="constrained")
        axes = fig.subplots(1, 3)
        for ax, target in zip(axes[:2], TARGETS, strict=True):
            predicted = np.array(self.test_predictions[target]["model"])
            actual = np.array(self.test_actual[target])
            s = self.report["targets"][target]["scores"]["model"]["spearman"]
            ax.scatter(predicted, actual, s=8, alpha=0.45, color="tab:blue", linewidths=0)
            ax.set_xlabel("predicted" + (" (level + content)" if target == "raw" else " content"))
            ax.set_ylabel("actual log1p(engagement)" if target == "raw" else "actual minus level")
            ax.set_title(
                f"{target}: Spearman {s['value']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}]",
                fontsize=10,
            )
        ax = axes[2]
        created = self.series["created_at"]
        ax.scatter(
            created, self.series["log_engagement"], s=4, alpha=0.3, color="grey", linewidths=0
        )
        ax.plot(created, self.series["level"], color="tab:red", label="level (earlier posts)")
        ax.axvline(self.test_start, color="black", linestyle="--", label="test starts")
        ax.set_ylabel("log1p(engagement)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=30)
        fig.suptitle(
            f"{self.account.key}: n_train {self.n_train}, n_test {self.n_test},"
            f" beats every baseline: {self.beats_baselines}"
        )
        fig.savefig(path, dpi=90)
        return path

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


def _fitted_baselines(target, train, test, chars, rm) -> dict[str, np.ndarray]:
    """Baseline predictions of `target` on the test rows, each fitted on the train rows only."""
    sign = 1.0 if spearman(chars[train], target[train]) >= 0 else -1.0
    known = train[~np.isnan(rm[train]) & ~np.isnan(target[train])]
    design = np.column_stack([np.ones(len(chars)), rm, np.log1p(chars)])
    coef = np.linalg.lstsq(design[known], target[known], rcond=None)[0]
    return {
        "constant": np.zeros(len(test)),
        "length": sign * chars[test],
        "rolling_mean": rm[test],
        "rolling_mean_length": design[test] @ coef,
    }


def _meets_targets(targets: dict) -> dict:
    raw = targets["raw"]["scores"]
    model = raw["model"]["spearman"]["value"]
    return {
        "raw_rho_at_least_rolling_mean_plus_0.05": model
        >= raw["rolling_mean"]["spearman"]["value"] + 0.05,
        "raw_rho_at_least_length_plus_0.05": model >= raw["length"]["spearman"]["value"] + 0.05,
        "detrended_rho_at_least_0.2": targets["detrended"]["scores"]["model"]["spearman"]["value"]
        >= 0.2,
    }


def train_engagement_model(
    con: duckdb.DuckDBPyConnection,
    account: Account | str,
    platform: str | None = None,
    test_fraction: float = 0.2,
    rolling_window: int = 20,
    alphas: tuple[float, ...] = ALPHAS,
    text_weights: tuple[float, ...] = TEXT_WEIGHTS,
    level_alphas: tuple[float, ...] = LEVEL_ALPHAS,
    resamples: int = RESAMPLES,
    level_lag: timedelta = timedelta(0),
    refit: bool = True,
) -> EngagementModel:
    """Train and validate an account's model from `post_features` (original posts with
    engagement). `account` is an `Account`; an author name with `platform` (or the author's only
    platform) also works.

    The newest `test_fraction` of the posts is held out. On the train posts it chooses the level
    smoothing (best one-step forecast) and the ridge penalty and text weight (time-ordered
    cross-validation). The test posts are then predicted with the level of their strictly
    earlier posts (earlier test posts included: known when the post is made) plus content.
    `level_lag` (default none) keeps the posts of the last `level_lag` out of the level and the
    rolling mean, for engagement that takes time to arrive.

    Targets: raw = log1p(engagement) (Spearman on it equals Spearman on engagement), and
    detrended = raw minus the level. Predictions scored on them: 'model' (level + content on raw,
    content on detrended), 'level' (a reference, not a baseline) and BASELINES: constant, length
    (chars, with its train sign), rolling_mean (mean raw target of the `rolling_window` strictly
    earlier posts), rolling_mean_length (least squares on those two, fitted on train).
    """
    if isinstance(account, str):
        account = Account(platform or _only_platform(con, account), account)
    table = con.sql(ROWS_SQL, params=[account.platform, account.author]).to_arrow_table()
    if table.num_rows < MIN_POSTS:
        raise ValueError(
            f"{account.key} has {table.num_rows} posts with engagement;"
            f" at least {MIN_POSTS} are needed"
        )
    rows = table.to_pylist()
    del table
    created = [row["created_at"] for row in rows]
    y = np.log1p(np.array([float(row["engagement"]) for row in rows]))
    chars = np.array([row["chars"] for row in rows], float)
    train, test = time_split(created, test_fraction)

    level_alpha = choose_level_alpha(y[train], [created[i] for i in train], level_alphas, level_lag)
    level, level_now = prior_level(y, created, level_alpha, level_lag)
    if np.isnan(level[test]).any():
        raise ValueError(f"no post is more than {level_lag} older than the first test posts")
    detrended = y - level
    fit_rows = train[~np.isnan(level[train])]
    content = fit_content([rows[i] for i in fit_rows], detrended[fit_rows], alphas, text_weights)
    test_blocks = content.features.blocks([rows[i] for i in test])
    content_test = content.predict_blocks(test_blocks)

    rm = rolling_mean(y, rolling_window, np.nan, created, level_lag)
    actual = {"raw": y, "detrended": detrended}
    model_pred = {"raw": level[test] + content_test, "detrended": content_test}
    weeks = week_ids([created[i] for i in test])
    targets, predictions = {}, {}
    for target in TARGETS:
        predictions[target] = {
            "model": model_pred[target],
            "level": level[test],
            **_fitted_baselines(actual[target], train, test, chars, rm),
        }
        targets[target] = evaluate(predictions[target], actual[target][test], weeks, resamples)
    beats = {
        target: {
            name: bool(
                (targets[target]["scores"][name]["model_minus_this"]["spearman"]["low"] or 0) > 0
            )
            for name in BASELINES
        }
        for target in TARGETS
    }
    report = {
        "account": account.key,
        "n_posts": len(rows),
        "n_train": len(train),
        "n_test": len(test),
        "train_end": created[train[-1]].isoformat(),
        "test_start": created[test[0]].isoformat(),
        "level_alpha": level_alpha,
        "level_lag_hours": level_lag.total_seconds() / 3600,
        "ridge_alpha": float(content.ridge.alpha),
        "text_weight": content.text_weight,
        "rolling_window": rolling_window,
        "targets": targets,
        "beats": beats,
        "beats_baselines": all(all(b.values()) for b in beats.values()),
        "meets_targets": _meets_targets(targets),
    }
    known = np.r_[fit_rows, test]  # every post with a level, oldest first
    blocks = [
        sparse.vstack(pair, format="csr")
        for pair in zip(content.train_blocks, test_blocks, strict=True)
    ]
    if refit:  # the same features, penalty and text weight, on train and test posts
        ridge = _ridge(content.ridge.alpha).fit(
            _stack(blocks, content.text_weight), detrended[known]
        )
        content = ContentModel(content.features, ridge, content.text_weight)
    own = content.predict_blocks(blocks)
    del blocks
    content.train_blocks = None
    return EngagementModel(
        account=account,
        content=content,
        level_alpha=level_alpha,
        level_now=float(level_now),
        reference_content=np.sort(own),
        reference_absolute=np.sort(level[known] + own),
        report=report,
        n_train=len(train),
        n_test=len(test),
        train_end=created[train[-1]],
        test_start=created[test[0]],
        refit=refit,
        test_post_ids=[rows[i]["post_id"] for i in test],
        test_predictions={
            t: {name: [float(v) for v in p] for name, p in preds.items()}
            for t, preds in predictions.items()
        },
        test_actual={t: [float(v) for v in actual[t][test]] for t in TARGETS},
        series={
            "created_at": created,
            "log_engagement": [float(v) for v in y],
            "level": [float(v) for v in level],
        },
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


def report_row(model: EngagementModel) -> dict:
    """One flat row of the report for a table: Spearman and pairwise accuracy per target and
    predictor (value and interval as text), and the verdicts."""
    row = {"account": model.account.key, "n_train": model.n_train, "n_test": model.n_test}
    for target in TARGETS:
        for name, s in model.report["targets"][target]["scores"].items():
            for metric in ("spearman", "pairwise"):
                v = s[metric]
                row[f"{target}.{name}.{metric}"] = format_interval(v)
    row["beats_baselines"] = model.beats_baselines
    return row


def format_interval(v: dict) -> str:
    """`+0.600 [+0.523, +0.680]`, or the bare value, or n/a."""
    if v["value"] is None:
        return "n/a"
    if v["low"] is None:
        return f"{v['value']:+.3f}"
    return f"{v['value']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]"
