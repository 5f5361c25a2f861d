"""Reading one field of a record, with one sentence (a `RecordProblem`) per problem; times."""

from __future__ import annotations

from datetime import UTC, datetime

from reer_pipeline.ingest.formats.base import RecordProblem

TIME_FORMATS = (
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%a %b %d %H:%M:%S %z %Y",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S",
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


def parse_time(value: str) -> datetime:
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"unrecognized time {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_x_time(value: str) -> datetime:
    """X's 'Thu Nov 03 08:50:26 +0000 2022', without strptime (it dominated the profile)."""
    try:
        _, month, day, clock, zone, year = value.split()
        iso = f"{year}-{MONTHS[month]:02d}-{day}T{clock}{zone[:3]}:{zone[3:]}"
        return datetime.fromisoformat(iso).astimezone(UTC)
    except (ValueError, KeyError):
        return parse_time(value)


def kind_of(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "something else"


_MISSING = object()


def _get(d: dict, key: str, alt: str | None, label: str | None):
    name = label or key
    if key in d:
        return d[key], name
    if alt is not None and alt in d:
        return d[alt], label or alt
    return _MISSING, name


def req_str(d: dict, key: str, alt: str | None = None, label: str | None = None) -> str:
    value, name = _get(d, key, alt, label)
    if value is _MISSING:
        raise RecordProblem(f"has no '{name}'", name)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be text, not {kind_of(value)}", name)
    return value


def opt_str(d: dict, key: str, label: str | None = None) -> str | None:
    value = d.get(key)
    if value is None or isinstance(value, str):
        return value
    name = label or key
    raise RecordProblem(f"'{name}' should be text, not {kind_of(value)}", name)


def req_id(d: dict, key: str, alt: str | None = None) -> str:
    value, name = _get(d, key, alt, None)
    if value is _MISSING or value is None:
        raise RecordProblem(f"has no '{key}'", key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be an id, not {kind_of(value)}", name)
    if not value.strip():
        raise RecordProblem(f"'{name}' is empty", name)
    return value.strip()


def opt_id(d: dict, key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    return req_id(d, key)


def opt_dict(d: dict, key: str) -> dict | None:
    value = d.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise RecordProblem(f"'{key}' should be an object, not {kind_of(value)}", key)


def req_dict(d: dict, key: str) -> dict:
    value = d.get(key)
    if not isinstance(value, dict):
        what = "missing" if key not in d else kind_of(value)
        raise RecordProblem(f"'{key}' should be an object, not {what}", key)
    return value


def count(d: dict, key: str) -> int | None:
    value = d.get(key)
    if value.__class__ is str and value.isdigit() and value.isascii():
        return int(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordProblem(f"'{key}' should be a count, not {kind_of(value)}", key)
    try:
        number = float(value.strip().replace(",", "")) if isinstance(value, str) else value
    except ValueError:
        raise RecordProblem(f"'{key}' should be a count, not {value[:40]!r}", key) from None
    if number != number or number in (float("inf"), float("-inf")) or number != int(number):
        raise RecordProblem(f"'{key}' should be a whole number, not {value!r:.40}", key)
    if number < 0:
        raise RecordProblem(f"'{key}' is negative ({int(number)})", key)
    if number >= 2**63:
        raise RecordProblem(f"'{key}' is too large to be a count", key)
    return int(number)


def req_time(d: dict, key: str, parse, label: str | None = None) -> datetime:
    value = d.get(key)
    if value.__class__ is str:
        try:
            return parse(value)
        except (ValueError, OverflowError):
            pass
    name = label or key
    if value is None:
        raise RecordProblem(f"has no '{name}'" if key not in d else f"'{name}' is null", name)
    if not isinstance(value, str):
        raise RecordProblem(f"'{name}' should be a date and time, not {kind_of(value)}", name)
    try:
        return parse(value)
    except (ValueError, OverflowError):
        raise RecordProblem(f"'{name}' is not a date and time: {value[:40]!r}", name) from None


def cell(row: dict, column: str, required: bool = True) -> str | None:
    value = row.get(column)
    if value is None:
        if required:
            raise RecordProblem(f"has no '{column}' value (the row is shorter than the header)")
        return None
    return value
