"""A real `posts` table in a tmp DuckDB file, built from the shipped FiveThirtyEight sample."""

import json
from pathlib import Path

import duckdb
import pytest

from reer_pipeline.ingest.formats import ExportOptions
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from reer_pipeline.scoring.features import build_post_features
from tests.conftest import SAMPLE


def warehouse(db: Path, exports: list[Path], options: ExportOptions | None = None):
    """Stage `exports` beside `db`, build `posts` and `post_features`, return a connection."""
    staged = []
    for path in exports:
        out = db.parent / f"{path.stem}.parquet"
        report = stage_export(path, out, options)
        assert report.error is None and report.posts > 0, report.as_dict()
        staged.append(out)
    con = duckdb.connect(str(db))
    build_posts(con, staged, EngagementConfig())
    build_post_features(con)
    return con


@pytest.fixture
def sample_con(tmp_path):
    """Connection to a tmp warehouse holding the BarackObama sample's posts and post_features."""
    con = warehouse(tmp_path / "warehouse.duckdb", [SAMPLE])
    yield con
    con.close()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    """A warehouse file built once per session, for tests that only read it."""
    db = tmp_path_factory.mktemp("scoring") / "warehouse.duckdb"
    warehouse(db, [SAMPLE]).close()
    return db


def x_archive(path: Path, tweets: list[dict]) -> Path:
    """Write `tweets` (dicts of X archive fields) as a tweets.js file."""
    items = [{"tweet": t} for t in tweets]
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(items))
    return path


def tweet(id_: int, text: str, when: str, likes: int = 0, reply_to: int | None = None) -> dict:
    """One archive tweet by 'ada'; `when` is 'YYYY-MM-DD HH:MM'."""
    day, clock = when.split()
    y, m, d = day.split("-")
    month = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[int(m) - 1]
    return {
        "id_str": str(id_),
        "full_text": text,
        "created_at": f"Mon {month} {d} {clock}:00 +0000 {y}",
        "favorite_count": str(likes),
        "retweet_count": "0",
        "in_reply_to_status_id_str": None if reply_to is None else str(reply_to),
        "in_reply_to_screen_name": None if reply_to is None else "ada",
    }


def scorer_validity():
    """The benchmark module `benchmarks/scorer_validity.py` (benchmarks are not a package)."""
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location(
        "scorer_validity", ROOT / "benchmarks" / "scorer_validity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
