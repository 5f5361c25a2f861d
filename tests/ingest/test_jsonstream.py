"""ingest/jsonstream.py: a JSON list read record by record from bytes, within the size and
nesting limits, past damage where the next record can still be found."""

import io
import json
import re

import pytest

from reer_pipeline.ingest.jsonstream import CHUNK, JsonDamage, JsonStream, Skipped, human_size

MAX_RECORD = 4096
MAX_DEPTH = 8


def stream(data: bytes | str, codec: str = "utf-8", max_record: int = MAX_RECORD) -> JsonStream:
    raw = data.encode(codec) if isinstance(data, str) else data
    return JsonStream(io.BytesIO(raw), codec, max_record=max_record, max_depth=MAX_DEPTH)


def nested(depth: int) -> str:
    """A record `depth` levels deep: {"a": [[...[1]...]]}."""
    return '{"a": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


def reasons(items) -> list:
    return [item.reason if isinstance(item, Skipped) else item for item in items]


def test_records_come_out_as_they_went_in():
    records = [
        {"id": i, "text": f"post {i} \u2014 caf\u00e9", "tags": [i, None]} for i in range(50)
    ]
    assert list(stream(json.dumps(records)).items()) == records
    assert list(stream("  [ ]  ").items()) == []


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-32-be"])
def test_a_wide_encoding_decodes_across_chunk_boundaries(codec):
    records = [{"id": i, "text": "\u00e9" * 300} for i in range(2 * CHUNK // 300)]
    assert list(stream(json.dumps(records), codec, max_record=1 << 20).items()) == records


def test_a_record_larger_than_one_chunk_loads_when_within_the_limit():
    big = {"text": "x" * (3 * CHUNK)}
    assert list(stream(json.dumps([1, big, 2]), max_record=4 * CHUNK).items()) == [1, big, 2]


def test_a_record_over_the_size_limit_is_skipped_and_the_next_loads():
    big = {"text": "x" * (2 * MAX_RECORD)}
    got = reasons(stream(json.dumps([{"id": 1}, big, {"id": 3}])).items())
    assert got == [{"id": 1}, f"it is larger than the {human_size(MAX_RECORD)} limit", {"id": 3}]


def test_a_record_nested_past_the_limit_is_skipped_and_the_next_loads():
    text = f'[{nested(MAX_DEPTH)}, {nested(MAX_DEPTH + 1)}, {{"id": 3}}]'
    assert reasons(stream(text).items()) == [
        json.loads(nested(MAX_DEPTH)),
        f"it is nested deeper than {MAX_DEPTH} levels",
        {"id": 3},
    ]


def test_nesting_deeper_than_python_can_recurse_is_skipped_not_a_crash():
    deep = "[" * 100_000 + "]" * 100_000
    got = reasons(stream(f'[{deep}, {{"id": 2}}]', max_record=1 << 20).items())
    assert got == [f"it is nested deeper than {MAX_DEPTH} levels", {"id": 2}]


def test_a_malformed_record_is_skipped_and_the_next_loads():
    got = reasons(stream('[{"id": 1}, {"id": 2,, "x": "]}"}, {"id": 3}]').items())
    assert got[0] == {"id": 1} and got[2] == {"id": 3}
    assert got[1].startswith("it is not valid JSON")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"id": 1}, {"id": 2', "ends inside a record"),
        ('[{"id": 1}, {"text": "cut', "ends inside"),
        ('[{"id": 1}', "ends after a record"),
        ('{"id": 1}', "where a list should start"),
        ("", "ends where a list should start"),
    ],
)
def test_damage_that_hides_the_next_record_is_named(text, message):
    with pytest.raises(JsonDamage, match=message):
        list(stream(text).items())


def test_the_records_before_a_truncation_are_given_first():
    got = []
    with pytest.raises(JsonDamage):
        for item in stream('[{"id": 1}, {"id": 2}, {"id": 3').items():
            got.append(item)
    assert got == [{"id": 1}, {"id": 2}]


def test_an_archive_prefix_is_skipped_then_the_list_is_read():
    prefix = re.compile(r"window\.YTD\.tweets\.part\d+\s*=\s*")
    s = stream('window.YTD.tweets.part0 = [{"tweet": {"id": "1"}}]')
    assert s.skip_text(prefix)
    assert list(s.items()) == [{"tweet": {"id": "1"}}]
    assert not stream("[1]").skip_text(prefix)


def test_object_members_can_be_read_or_skipped():
    s = stream('{"@context": {"deep": [1, {"x": "}"}]}, "orderedItems": [{"id": 1}], "z": 0}')
    seen = {}
    for key, _ in s.members():
        if key == "orderedItems":
            seen[key] = list(s.items())
        else:
            s.skip_value()
            seen[key] = "skipped"
    assert seen == {"@context": "skipped", "orderedItems": [{"id": 1}], "z": "skipped"}


@pytest.mark.parametrize(
    "n, text",
    [(812, "812 bytes"), (1024, "1 KiB"), (1536 * 1024, "1.5 MiB"), (4 << 30, "4 GiB")],
)
def test_human_size(n, text):
    assert human_size(n) == text
