"""Metadata helpers shared by the assets: previews and small tables as Markdown."""

from __future__ import annotations

import dagster as dg
import duckdb


def markdown_table(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> dg.MetadataValue:
    rel = con.execute(sql, params or [])
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = [_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= 120 else text[:117] + "..."
