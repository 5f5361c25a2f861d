"""How much each feature lifts an author's engagement, with bootstrap intervals, in DuckDB.

Lift of a feature value = mean metric of the author's posts with that value / the author's
overall mean. Counts are bucketed as 0, 1, 2, 3+; chars and words by the author's own quartiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from scipy import sparse

from reer_pipeline.stats import percentile_interval, resample_counts

METRICS = ("engagement_pct", "engagement")
COUNTED = ("line_breaks", "hashtags", "mentions", "links", "emojis", "media")
QUARTILED = ("chars", "words")
LIFT_FEATURES = ("hook", "is_thread", *QUARTILED, *COUNTED, "hour", "weekday")
BOOT_CHUNK = 100


def _quartile(name: str) -> str:
    e = f"{name}_edges"
    return (
        f"CASE WHEN {name} <= {e}[1] THEN 'q1 <=' || {e}[1]"
        f" WHEN {name} <= {e}[2] THEN 'q2 ' || {e}[1] + 1 || '-' || {e}[2]"
        f" WHEN {name} <= {e}[3] THEN 'q3 ' || {e}[2] + 1 || '-' || {e}[3]"
        f" ELSE 'q4 >=' || {e}[3] + 1 END"
    )


def _long_sql(metric: str) -> str:
    """One row per (post, feature): platform, author, a (author id), i (post id), feature,
    value, y."""
    edges = ", ".join(f"quantile_disc({q}, [0.25, 0.5, 0.75]) AS {q}_edges" for q in QUARTILED)
    values = ",\n".join(
        [
            "hook",
            "is_thread::VARCHAR AS is_thread",
            *(f"{_quartile(q)} AS {q}" for q in QUARTILED),
            *(f"CASE WHEN {c} >= 3 THEN '3+' ELSE {c}::VARCHAR END AS {c}" for c in COUNTED),
            "lpad(hour::VARCHAR, 2, '0') AS hour",
            "weekday::VARCHAR AS weekday",
        ]
    )
    return f"""
    WITH scope AS (
        SELECT *, {metric} AS y FROM post_features WHERE {metric} IS NOT NULL
    ), edges AS (
        SELECT platform, author, {edges} FROM scope GROUP BY ALL
    ), wide AS (
        SELECT platform, author, y,
            dense_rank() OVER (ORDER BY platform, author) - 1 AS a,
            row_number() OVER (PARTITION BY platform, author ORDER BY created_at, post_id) - 1
                AS i,
            {values}
        FROM scope JOIN edges USING (platform, author)
    )
    UNPIVOT wide ON {", ".join(LIFT_FEATURES)} INTO NAME feature VALUE value
    """


def build_feature_lift(
    con: duckdb.DuckDBPyConnection,
    metric: str = "engagement_pct",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> int:
    """Replace `feature_lift` from `post_features`; returns its row count.

    Columns: platform, author, feature, value, support (posts with the value), mean (their mean
    metric), lift (mean / the author's mean), ci_low, ci_high (percentile bootstrap over the
    author's posts, resampled `n_boot` times with a fixed seed). Lift is NULL when the author's
    mean is 0; the interval is NULL for a single post, which has no spread.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE lift_long AS {_long_sql(metric)}")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE lift_groups AS
        SELECT platform, author, feature, value, support, mean,
            mean / nullif(overall, 0) AS lift, a,
            row_number() OVER (ORDER BY platform, author, feature, value) - 1 AS g
        FROM (
            SELECT platform, author, feature, value, a, count(*) AS support, avg(y) AS mean
            FROM lift_long GROUP BY ALL
        ) JOIN (
            SELECT a, avg(y) AS overall FROM lift_long WHERE feature = 'hook' GROUP BY a
        ) USING (a)
        """
    )
    groups = con.sql("SELECT * FROM lift_groups ORDER BY g").to_arrow_table()
    rows = con.sql(
        "SELECT l.a, l.i, l.y, g.g FROM lift_long l"
        " JOIN lift_groups g USING (platform, author, feature, value)"
    ).fetchnumpy()
    low, high = _bootstrap(rows, groups.num_rows, n_boot, np.random.default_rng(seed), ci)
    single = groups.column("support").to_numpy() < 2
    low[single], high[single] = np.nan, np.nan
    table = groups.drop_columns(["a", "g"])
    table = table.append_column("ci_low", pa.array(low, from_pandas=True))
    table = table.append_column("ci_high", pa.array(high, from_pandas=True))
    con.register("feature_lift_arrow", table)
    try:
        con.execute("CREATE OR REPLACE TABLE feature_lift AS SELECT * FROM feature_lift_arrow")
    finally:
        con.unregister("feature_lift_arrow")
        con.execute("DROP TABLE lift_long; DROP TABLE lift_groups")
    return table.num_rows


def _bootstrap(rows: dict, n_groups: int, n_boot: int, rng, ci: float):
    """Percentile interval of each group's lift, resampling each author's posts."""
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    a, i, y, g = (np.asarray(rows[k]) for k in ("a", "i", "y", "g"))
    for author in np.unique(a):
        mine = a == author
        n = int(i[mine].max()) + 1
        g0 = int(g[mine].min())
        ng = int(g[mine].max()) - g0 + 1
        y_post = np.zeros(n)
        y_post[i[mine]] = y[mine]
        member = sparse.csr_matrix((np.ones(mine.sum()), (i[mine], g[mine] - g0)), shape=(n, ng))
        lifts = []
        for start in range(0, n_boot, BOOT_CHUNK):
            b = min(BOOT_CHUNK, n_boot - start)
            weights = resample_counts(n, b, rng)
            counts = (member.T @ weights.T).T
            sums = (member.T @ (weights * y_post).T).T
            overall = (weights @ y_post) / n
            with np.errstate(invalid="ignore", divide="ignore"):
                lifts.append(sums / counts / overall[:, None])
        lifts = np.vstack(lifts)
        lifts[~np.isfinite(lifts)] = np.nan
        # NaN for a group no resample saw, e.g. an author whose posts all have zero engagement
        low[g0 : g0 + ng], high[g0 : g0 + ng] = percentile_interval(lifts, ci, axis=0)
    return low, high


@dataclass
class Slot:
    """A posting slot (UTC), scored by the product of its hour and weekday lifts."""

    weekday: int  # ISO, 1 = Monday
    hour: int
    lift: float
    weekday_lift: float
    hour_lift: float
    weekday_support: int
    hour_support: int


def best_slots(
    con: duckdb.DuckDBPyConnection,
    author: str,
    k: int = 3,
    platform: str | None = None,
    min_support: int = 5,
) -> list[Slot]:
    """The `k` best (weekday, hour) slots for `author`, from `feature_lift`.

    Hour and weekday are treated as independent: a slot's lift is hour lift x weekday lift.
    Only hours and weekdays with at least `min_support` posts are considered.
    """
    platforms = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT platform FROM feature_lift WHERE author = ?"
            " AND (? IS NULL OR platform = ?)",
            [author, platform, platform],
        ).fetchall()
    ]
    if len(platforms) > 1:
        raise ValueError(f"{author!r} posts on {sorted(platforms)}; name one platform")
    found = con.execute(
        """
        WITH m AS (
            SELECT * FROM feature_lift
            WHERE author = $author AND platform = $platform
                AND support >= $min_support AND lift IS NOT NULL
        )
        SELECT d.value::INTEGER, h.value::INTEGER, d.lift * h.lift AS lift, d.lift, h.lift,
            d.support, h.support
        FROM m d, m h
        WHERE d.feature = 'weekday' AND h.feature = 'hour'
        ORDER BY lift DESC, d.support + h.support DESC, d.value, h.value
        LIMIT $k
        """,
        {
            "author": author,
            "platform": platforms[0] if platforms else None,
            "min_support": min_support,
            "k": k,
        },
    ).fetchall()
    return [Slot(*row) for row in found]
