"""ingest/mapping.py: which CSV column holds which field, from common header names, from a
`<file>.columns.yaml` beside the export, and from `--columns`, in that order of precedence."""

from pathlib import Path

import pytest

from reer_pipeline.ingest.mapping import (
    CsvMapping,
    MappingError,
    is_sidecar,
    load_column_mapping,
    merge,
    parse_columns,
    resolve,
    sidecar_path,
)


def export_with_sidecar(tmp_path: Path, yaml_text: str) -> Path:
    export = tmp_path / "posts.csv"
    export.write_text("when,body,hearts\n")
    sidecar_path(export).write_text(yaml_text)
    return export


def test_common_header_names_are_found_whatever_their_case_and_punctuation():
    header = ["Tweet ID", "Full Text", "Created At", "Favorite Count", "retweets", "Views"]
    resolved, missing = resolve(header, CsvMapping())
    assert resolved == {
        "text": "Full Text",
        "created_at": "Created At",
        "post_id": "Tweet ID",
        "url": None,
        "author": None,
        "likes": "Favorite Count",
        "reposts": "retweets",
        "replies": None,
        "impressions": "Views",
    }
    assert missing == []


def test_the_more_specific_common_name_comes_first():
    resolved, _ = resolve(["post", "text", "date", "timestamp"], CsvMapping())
    assert (resolved["text"], resolved["created_at"]) == ("text", "date")


def test_a_header_without_text_or_date_names_what_is_missing():
    _, missing = resolve(["id", "likes"], CsvMapping())
    assert missing == ["text", "created_at"]


def test_a_mapping_to_a_column_the_file_lacks_is_missing():
    _, missing = resolve(["body", "when"], CsvMapping(text="body", created_at="when", likes="x"))
    assert missing == ["likes"]


def test_a_given_name_matches_the_header_like_a_common_name_does():
    resolved, missing = resolve(
        ["Post Body", "When"], CsvMapping(text="post body", created_at="when")
    )
    assert (resolved["text"], resolved["created_at"], missing) == ("Post Body", "When", [])


def test_the_mapping_file_beside_the_export_is_read(tmp_path):
    export = export_with_sidecar(tmp_path, "text: body\ncreated_at: when\nlikes: hearts\nurl:\n")
    assert sidecar_path(export).name == "posts.csv.columns.yaml"
    assert is_sidecar(sidecar_path(export)) and not is_sidecar(export)
    mapping = load_column_mapping(export)
    resolved, missing = resolve(["when", "body", "hearts", "url"], mapping)
    assert (resolved["text"], resolved["created_at"], resolved["likes"]) == (
        "body",
        "when",
        "hearts",
    )
    assert resolved["url"] is None  # an empty value maps the field to nothing, not to `url`
    assert missing == []


def test_no_mapping_file_is_no_mapping(tmp_path):
    export = tmp_path / "posts.csv"
    export.write_text("text,date\n")
    assert load_column_mapping(export) is None


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("text: [body\n", r"posts.csv.columns.yaml: not readable YAML at line \d"),
        ("txet: body\n", r"unknown field\(s\) txet; fields are text, created_at"),
        ("- text\n- body\n", "expected field: column pairs"),
        ("text: [a, b]\n", "'text' should name one column"),
        ("platform: myspace\n", "unknown platform 'myspace'"),
    ],
)
def test_a_bad_mapping_file_names_itself_and_the_problem(tmp_path, yaml_text, message):
    export = export_with_sidecar(tmp_path, yaml_text)
    with pytest.raises(MappingError, match=message):
        load_column_mapping(export)


def test_the_platform_can_be_given_in_the_mapping_file(tmp_path):
    mapping = load_column_mapping(export_with_sidecar(tmp_path, "platform: Mastodon\n"))
    assert mapping.platform == "mastodon"


def test_columns_on_the_command_line():
    mapping = parse_columns("text=body, likes=,created_at=when")
    assert (mapping.text, mapping.likes, mapping.created_at) == ("body", "", "when")
    assert mapping.post_id is None  # not mentioned: detected
    with pytest.raises(MappingError, match="should be FIELD=COLUMN"):
        parse_columns("text")


def test_command_line_beats_the_mapping_file_beats_detection(tmp_path):
    sidecar = load_column_mapping(export_with_sidecar(tmp_path, "text: body\nlikes: hearts\n"))
    given = merge(sidecar, parse_columns("likes=stars"))
    resolved, _ = resolve(["text", "body", "hearts", "stars", "date"], given)
    assert (resolved["text"], resolved["likes"], resolved["created_at"]) == (
        "body",
        "stars",
        "date",
    )
    assert merge(None, sidecar) == sidecar
