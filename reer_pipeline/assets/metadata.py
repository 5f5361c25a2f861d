"""Domain reports as Dagster metadata: Markdown tables render, dicts and lists become JSON."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from reer_pipeline.tables import Markdown, query_table


def metadata(values: dict) -> dict:
    """Plain report values as metadata: `Markdown` renders, paths link, dicts and lists are JSON."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Markdown):
            out[key] = dg.MetadataValue.md(value)
        elif isinstance(value, Path):
            out[key] = dg.MetadataValue.path(str(value))
        elif isinstance(value, dict | list | tuple):
            out[key] = dg.MetadataValue.json(value)
        else:
            out[key] = value
    return out


def markdown_table(con, sql: str, params=None) -> dg.MetadataValue:
    return dg.MetadataValue.md(query_table(con, sql, params))
