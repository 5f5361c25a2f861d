"""REER: reverse-engineered reasoning trajectories for top posts, and their trace store.

No dagster import here: the asset in `reer_pipeline.assets` is a thin shell around `mine`.
"""

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.schema import SCHEMA_VERSION, SchemaError, validate_trace
from reer_pipeline.reer.search import MineReport, Progress, Search, SearchConfig, mine
from reer_pipeline.reer.store import CorruptStoreError, TraceStore, create_duckdb_view, trace_id

__all__ = [
    "SCHEMA_VERSION",
    "CorruptStoreError",
    "MineReport",
    "PostRef",
    "Progress",
    "SchemaError",
    "Search",
    "SearchConfig",
    "TraceStore",
    "create_duckdb_view",
    "mine",
    "trace_id",
    "validate_trace",
]
