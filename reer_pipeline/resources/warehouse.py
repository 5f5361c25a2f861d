"""The DuckDB warehouse resource."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from reer_pipeline.resources.storage import Storage


class Warehouse(dg.ConfigurableResource):
    """DuckDB at `path`; empty means the storage root's `warehouse.duckdb`.

    DuckDB allows one writer process, so assets that write it run in the `duckdb` pool (size 1).
    A model-bound step in another pool may still find the file locked for a moment: connecting
    then waits, with backoff, up to `lock_timeout_s`.
    """

    storage: Storage
    path: str = ""
    lock_timeout_s: float = 300.0

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.path or str(self.storage.layout.warehouse)
        if not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(path, read_only)
        try:
            yield con
        finally:
            con.close()

    def _connect(self, path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(path, read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
