"""The DuckDB warehouse, through dagster-duckdb's resource, at a path under the data root."""

from dagster_duckdb import DuckDBResource

from reer_pipeline.paths import warehouse_path


def warehouse() -> DuckDBResource:
    path = warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(path))
