"""The DuckDB warehouse resource."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from reer_pipeline.paths import warehouse_path


class Warehouse(dg.ConfigurableResource):
    """DuckDB at `path`; empty means `<data root>/warehouse.duckdb`, resolved when a run starts.

    DuckDB allows one writer process, so assets that write it run in the `duckdb` pool (size 1).
    """

    path: str = ""

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.path or str(warehouse_path())
        if not read_only:
            warehouse_path().parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(path, read_only=read_only)
        try:
            yield con
        finally:
            con.close()
