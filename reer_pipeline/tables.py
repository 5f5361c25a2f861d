"""Small Markdown tables for reports, from SQL or from dicts. The assets show them as metadata."""

from __future__ import annotations

import duckdb


class Markdown(str):
    """Text meant to render as Markdown (a table in the Dagster UI)."""


def query_table(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> Markdown:
    rel = con.execute(sql, params or [])
    names = [d[0] for d in rel.description]
    return rows_table([dict(zip(names, row, strict=True)) for row in rel.fetchall()], names)


def rows_table(rows: list[dict], names: list[str] | None = None) -> Markdown:
    """A Markdown table of dicts (columns: `names`, else the first row's keys)."""
    names = names or (list(rows[0]) if rows else [])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(n)) for n in names) + " |")
    return Markdown("\n".join(lines))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= 120 else text[:117] + "..."
