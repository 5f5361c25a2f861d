"""Versioned JSON Schema of one REER trace record. Add fields by adding a new version."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1

_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}

_CANDIDATE = {
    "type": "object",
    "required": ["text", "score", "valid", "reason", "accepted"],
    "properties": {
        "text": {"type": "string"},
        "score": _NUM_OR_NULL,
        "valid": {"type": "boolean"},
        "reason": _STR_OR_NULL,
        "accepted": {"type": "boolean"},
    },
    "additionalProperties": False,
}

_STEP = {
    "type": "object",
    "required": ["index", "segment", "score_in", "candidates", "accepted", "score_out"],
    "properties": {
        "index": _COUNT,
        "segment": {"type": "string"},
        "score_in": _NUM_OR_NULL,
        "candidates": {"type": "array", "items": _CANDIDATE},
        "accepted": {"type": ["integer", "null"], "minimum": 0},
        "score_out": _NUM_OR_NULL,
    },
    "additionalProperties": False,
}

_X = {
    "type": "object",
    "required": ["platform", "topic", "audience", "intent", "text", "fallback", "raw"],
    "properties": {
        "platform": {"type": "string"},
        "topic": {"type": "string"},
        "audience": {"type": "string"},
        "intent": {"type": "string"},
        "text": {"type": "string"},
        "fallback": {"type": "array", "items": {"type": "string"}},
        "raw": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}

_USAGE = {
    "type": "object",
    "required": [
        "generate_calls",
        "score_calls",
        "prompt_tokens",
        "completion_tokens",
        "scored_tokens",
    ],
    "properties": {
        "generate_calls": _COUNT,
        "score_calls": _COUNT,
        "prompt_tokens": _COUNT,
        "completion_tokens": _COUNT,
        "scored_tokens": _COUNT,
        "candidates_generated": _COUNT,
        "candidates_skipped": _COUNT,
        "candidates_scored": _COUNT,
    },
    "additionalProperties": {"type": ["integer", "number"]},
}

TRACE_SCHEMA_V1: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://reer-pipeline.local/schemas/reer-trace-v1.json",
    "title": "REER trace v1",
    "type": "object",
    "required": [
        "schema_version",
        "id",
        "post_hash",
        "config_hash",
        "post_id",
        "platform",
        "author",
        "post_created_at",
        "engagement_pct",
        "y",
        "x",
        "z_initial",
        "trajectory",
        "segments",
        "score_before",
        "score_after",
        "steps",
        "stop_reason",
        "kept",
        "rejected_reason",
        "usage",
        "wall_time_s",
        "config",
        "proposer_uri",
        "scorer_uri",
        "created_at",
    ],
    "properties": {
        "schema_version": {"const": 1},
        "id": {"type": "string", "pattern": "^[0-9a-f]{64}-[0-9a-f]{16}$"},
        "post_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "config_hash": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "post_id": {"type": "string", "minLength": 1},
        "platform": {"type": "string", "minLength": 1},
        "author": {"type": "string"},
        "post_created_at": {"type": "string"},
        "engagement_pct": {"type": "number"},
        "y": {"type": "string", "minLength": 1},
        "x": _X,
        "z_initial": {"type": "string"},
        "trajectory": {"type": "string"},
        "segments": {"type": "array", "items": {"type": "string"}},
        "score_before": _NUM_OR_NULL,
        "score_after": _NUM_OR_NULL,
        "steps": {"type": "array", "items": _STEP},
        "stop_reason": {
            "enum": ["threshold", "max_steps", "segments_exhausted", "no_segments", "unscorable"]
        },
        "kept": {"type": "boolean"},
        "rejected_reason": _STR_OR_NULL,
        "usage": _USAGE,
        "wall_time_s": {"type": "number", "minimum": 0},
        "config": {"type": "object"},
        "proposer_uri": {"type": "string", "minLength": 1},
        "scorer_uri": {"type": "string", "minLength": 1},
        "created_at": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}

SCHEMAS: dict[int, dict[str, Any]] = {1: TRACE_SCHEMA_V1}


class SchemaError(ValueError):
    """A trace record does not match its schema version."""


@cache
def _validator(version: int) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[version])


def validate_trace(record: Any) -> None:
    """Raise SchemaError unless `record` matches the schema of its `schema_version`."""
    if not isinstance(record, dict):
        raise SchemaError(f"trace must be an object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version not in SCHEMAS:
        raise SchemaError(f"unknown schema_version {version!r}")
    errors = sorted(_validator(version).iter_errors(record), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise SchemaError(f"trace {record.get('id', '?')}: {where}: {e.message}")
    if record["id"] != f"{record['post_hash']}-{record['config_hash']}":
        raise SchemaError(f"trace {record['id']}: id is not post_hash-config_hash")
