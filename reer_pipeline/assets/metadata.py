"""Metadata helpers shared by the assets: previews and small tables as Markdown."""

from __future__ import annotations

import dagster as dg
import duckdb


def markdown_table(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> dg.MetadataValue:
    rel = con.execute(sql, params or [])
    names = [d[0] for d in rel.description]
    return rows_table([dict(zip(names, row, strict=True)) for row in rel.fetchall()], names)


def rows_table(rows: list[dict], names: list[str] | None = None) -> dg.MetadataValue:
    """A Markdown table of dicts (columns: `names`, else the first row's keys)."""
    names = names or (list(rows[0]) if rows else [])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(n)) for n in names) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= 120 else text[:117] + "..."
