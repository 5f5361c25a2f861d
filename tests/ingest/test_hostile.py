"""The hostile corpus (tests/ingest/hostile.py) through the parser, `reer parse`, and the
warehouse beside a good file: one clear line naming file and problem, the good file intact."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from reer_pipeline.ingest.formats import (
    ExportOptions,
    IngestLimits,
    ParseStats,
    RecordError,
    iter_posts,
)
from reer_pipeline.ingest.stage import stage_export
from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
from tests.conftest import ROOT, SAMPLE
from tests.ingest import hostile
from tests.ingest.hostile import CASES, SAYINGS

RSS_LIMIT_MIB = 400  # peak RSS of one `reer parse` on any hostile case


def no_python(text: str) -> bool:
    """No traceback or exception type name in user-facing text."""
    return not re.search(r"Traceback|\b[A-Z]\w*(Error|Exception)\b|NoneType|File \"", text)


def split(items):
    return [i for i in items if not isinstance(i, RecordError)], [
        i for i in items if isinstance(i, RecordError)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_the_parser(tmp_path, case):
    path = case.write(tmp_path, 1)
    out = tmp_path / "staged" / "out.parquet"
    report = stage_export(path, out)
    assert report.posts == case.posts, report.as_dict()
    messages = ([report.error] if report.error else []) + report.error_samples
    assert all(no_python(m) for m in messages), messages
    if case.file_error:
        assert report.error and report.error.startswith(f"{path.name}: ")
    if case.phrase:
        assert any(case.phrase in m for m in messages), messages
    if case.field:
        assert any(f"'{case.field}'" in m for m in report.error_samples)
    if case.posts == 0:
        assert report.zero_posts and path.name in report.failure() and not out.exists()
    else:
        assert report.failure() is None and out.exists()


@pytest.mark.parametrize("name", ["mojibake_once", "mojibake_twice", "utf8_as_cp1252"])
def test_mojibake_is_undone_and_losses_counted(tmp_path, name):
    path = hostile.BY_NAME[name].write(tmp_path, 1)
    stats = ParseStats()
    posts, errors = split(list(iter_posts(path, None, None, stats)))
    assert not errors and len(posts) == 5
    exact = 0
    for i, post in enumerate(posts):
        original = f"{SAYINGS[i % len(SAYINGS)]} #{i}"
        assert "â€" not in post.text and "‰Û" not in post.text and "Ã" not in post.text
        if post.text == original:
            exact += 1
        else:  # a character a pass destroyed: the rest of the text is intact
            assert "\ufffd" in post.text and len(post.text) <= len(original)
    assert exact >= 2  # "Ship it" and the ASCII line survive every chain whole
    assert stats.lost_chars == sum(p.text.count("\ufffd") for p in posts)
    assert stats.repaired_lines >= 4 and "repaired" in stats.encoding


@pytest.mark.parametrize(
    "name",
    ["utf8_bom", "utf16le_bom", "utf16be_bom", "utf16le_nobom", "utf16be_nobom", "utf32_bom"],
)
def test_unicode_encodings_give_the_same_posts(tmp_path, name):
    path = hostile.BY_NAME[name].write(tmp_path, 1)
    posts, errors = split(list(iter_posts(path)))
    expected = [f"{SAYINGS[i % len(SAYINGS)]} #{i}" for i in range(5)]
    assert not errors and [p.text for p in posts] == expected


def test_x_archive_zip_and_its_folder(tmp_path):
    path = hostile.BY_NAME["archive_zip"].write(tmp_path, 1)
    report = stage_export(path, tmp_path / "zip.parquet")
    assert report.members == ["data/tweets.js", "data/tweets-part1.js"]
    assert report.author_from == "data/account.js"
    posts, _ = split(list(iter_posts(path)))
    assert {p.author for p in posts} == {"archived_me"}
    assert [p.post_id for p in posts] == [str(5000 + i) for i in range(7)]
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
    from_folder, _ = split(list(iter_posts(folder)))
    assert [p.text for p in from_folder] == [p.text for p in posts]
    assert {p.author for p in from_folder} == {"archived_me"}


def test_zip_member_damage_keeps_earlier_parts(tmp_path):
    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("data/tweets.js", hostile.tweets_js([hostile.tweet(i) for i in range(3)]))
        zf.writestr("data/tweets-part1.js", hostile.tweets_js([hostile.tweet(9)], 1))
    data = bytearray(path.read_bytes())
    i = data.index(b"window.YTD.tweets.part1") + 40
    data[i : i + 4] = b"@@@@"  # stored bytes changed: the CRC check fails
    path.write_bytes(bytes(data))
    report = stage_export(path, tmp_path / "out.parquet")
    assert report.posts == 3 and "data/tweets-part1.js" in report.error
    assert no_python(report.error)


def _records_for(items):
    """Map record number -> Post or RecordError."""
    out, n = {}, 0
    for item in items:
        n = item.record if isinstance(item, RecordError) else n + 1
        out[n] = item
    return out


@pytest.mark.parametrize(
    "kind",
    ["tweets", "notes", "activities"],
)
def test_wrong_type_in_every_json_field(tmp_path, kind):
    if kind == "tweets":
        pairs = hostile.wrong_type_tweets()
        records = []
        for i, (field, value) in enumerate(pairs):
            records += [hostile.tweet(2 * i), hostile.tweet(2 * i + 1, **{field: value})]
        path = tmp_path / "tweets.js"
        path.write_text(hostile.tweets_js(records))
    else:
        pairs = hostile.wrong_type_notes() if kind == "notes" else hostile.wrong_type_activities()
        records = []
        for i, (field, value) in enumerate(pairs):
            bad = hostile.note(2 * i + 1)
            if kind == "notes":
                bad["object"][field] = value
            else:
                bad[field] = value
            records += [hostile.note(2 * i), bad]
        path = tmp_path / "outbox.json"
        path.write_text(hostile.outbox(records))
    report = stage_export(path, tmp_path / "out.parquet")
    assert report.error is None and report.records == 2 * len(pairs)
    items = list(iter_posts(path))
    errors = {e.record: e for e in items if isinstance(e, RecordError)}
    # Every good record loads; every bad one loads or says which field is wrong.
    assert report.posts + len(errors) == report.records
    for record, error in errors.items():
        assert record % 2 == 0, f"a good record failed: {error}"
        field, _ = pairs[record // 2 - 1]
        assert field in error.message, (field, error.message)
        assert no_python(error.message) and error.message.count("\n") == 0


def test_wrong_values_in_every_csv_cell(tmp_path):
    pairs = hostile.wrong_csv_cells()
    rows = []
    for i, (column, value) in enumerate(pairs):
        good, bad = hostile.good_rows(2, start=2 * i)
        bad[hostile.CSV_HEADER.index(column)] = value
        rows += [good, bad]
    path = tmp_path / "cells.csv"
    path.write_text(hostile.csv_text(rows))
    report = stage_export(path, tmp_path / "out.parquet")
    assert report.error is None and report.records == len(rows)
    errors = [e for e in iter_posts(path) if isinstance(e, RecordError)]
    assert report.posts + len(errors) == len(rows)
    for error in errors:
        assert error.record % 2 == 0, str(error)
        column, value = pairs[error.record // 2 - 1]
        assert column in error.message, (column, value, error.message)
        assert no_python(error.message)
    assert report.nul_removed > 0


def test_nul_bytes_are_removed_and_counted(tmp_path):
    path = hostile.BY_NAME["nul_head"].write(tmp_path, 1)
    report = stage_export(path, tmp_path / "out.parquet")
    assert report.nul_removed == 2 and report.posts == 5
    posts, _ = split(list(iter_posts(path)))
    assert posts[1].text == "has a NUL and another" and not any("\x00" in p.raw_text for p in posts)


def test_limits_are_configurable(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(hostile.csv_text(hostile.good_rows(3)))
    small = ExportOptions(limits=IngestLimits(max_file_bytes=100))
    report = stage_export(path, tmp_path / "a.parquet", small)
    assert report.posts == 0 and "over the 100 bytes limit" in report.error
    short = ExportOptions(limits=IngestLimits(max_text_chars={"x": 10}))
    report = stage_export(path, tmp_path / "b.parquet", short)
    assert report.posts == 0 and "more than the 10 a x post can have" in report.error_samples[0]


# --- the CSV mapping -----------------------------------------------------------------------------


def test_mapping_file_beside_the_export(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("when,body,hearts,ident\n2024-05-01T10:00:00Z,Hello there,7,a1\n")
    report = stage_export(path, tmp_path / "a.parquet")
    assert report.posts == 0 and "columns found: 'when', 'body', 'hearts', 'ident'" in report.error
    assert "mine.csv.columns.yaml" in report.error
    (tmp_path / "mine.csv.columns.yaml").write_text(
        "text: body\ncreated_at: when\npost_id: ident\nlikes: hearts\n"
    )
    report = stage_export(path, tmp_path / "b.parquet")
    assert report.posts == 1 and report.mapping["likes"] == "hearts"
    posts, _ = split(list(iter_posts(path)))
    assert posts[0].likes == 7 and posts[0].post_id == "a1"
    # null maps a field to nothing; the run config (ExportOptions.csv) overrides the file.
    (tmp_path / "mine.csv.columns.yaml").write_text(
        "text: body\ncreated_at: when\npost_id: ident\nlikes: null\n"
    )
    assert split(list(iter_posts(path)))[0][0].likes is None
    options = ExportOptions(csv={"likes": "hearts"})
    assert split(list(iter_posts(path, options)))[0][0].likes == 7


def test_bad_mapping_file_names_itself(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("when,body\n2024-05-01T10:00:00Z,Hello\n")
    (tmp_path / "mine.csv.columns.yaml").write_text("txt: body\n")
    report = stage_export(path, tmp_path / "a.parquet")
    assert report.error.startswith("mine.csv: mine.csv.columns.yaml: unknown field(s) txt")
    (tmp_path / "mine.csv.columns.yaml").write_text("text: [body\n")
    report = stage_export(path, tmp_path / "a.parquet")
    assert "mine.csv.columns.yaml: not readable YAML" in report.error and no_python(report.error)


def test_common_column_names_are_detected(tmp_path):
    path = hostile.BY_NAME["other_columns"].write(tmp_path, 1)
    report = stage_export(path, tmp_path / "out.parquet")
    assert report.mapping["post_id"] == "id_str" and report.mapping["text"] == "full_text"
    assert report.mapping["created_at"] == "timestamp" and report.mapping["likes"] == "likes"
    posts, _ = split(list(iter_posts(path)))
    assert [p.likes for p in posts] == [0, 1, 2, 3] and [p.post_id for p in posts][0] == "10"


# --- duplicates ----------------------------------------------------------------------------------


def _stage_rows(tmp_path, name, rows, mtime):
    path = tmp_path / "exports" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(hostile.csv_text(rows))
    os.utime(path, (mtime, mtime))
    out = tmp_path / "staged" / f"{name}.parquet"
    assert stage_export(path, out).posts == len(rows)
    return out


def _row(post_id, likes, text="same post"):
    return ["10/16/17 22:59", text, f"https://twitter.com/a/status/{post_id}", "0", "0", str(likes)]


def test_the_same_post_twice_resolves_the_same_way_every_rebuild(tmp_path):
    old = _stage_rows(tmp_path, "a.csv", [_row(1, 2), _row(1, 1002), _row(2, 5)], 1_000_000)
    new = _stage_rows(tmp_path, "b.csv", [_row(2, 7), _row(3, 9)], 2_000_000)
    same_time = _stage_rows(tmp_path, "c.csv", [_row(4, 40), _row(4, 41)], 1_000_000)
    twin = _stage_rows(tmp_path, "d.csv", [_row(4, 44)], 1_000_000)
    seen = set()
    for i in range(12):
        staged = [old, new, same_time, twin][i % 4 :] + [old, new, same_time, twin][: i % 4]
        with duckdb.connect(str(tmp_path / f"w{i}.duckdb")) as con:
            build_posts(con, staged, EngagementConfig())
            rows = con.execute("SELECT post_id, likes FROM posts ORDER BY post_id").fetchall()
        seen.add(tuple(rows))
    assert len(seen) == 1
    likes = dict(seen.pop())
    assert likes["1"] == 1002  # within one file the last record wins
    assert likes["2"] == 7  # the newer file wins
    assert likes["4"] == 44  # same time: the file whose name sorts last (d.csv) wins


# --- reer parse, one process per case, peak RSS bounded --------------------------------------


# The child reports its own high-water RSS: its ru_maxrss would include the pytest process it
# was forked from (Linux carries the pre-exec peak over), which is large once a model is loaded.
PARSE_CHILD = """
import atexit, pathlib, resource, runpy, sys

target = pathlib.Path(sys.argv[1])

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            target.write_text(line.split()[1])

atexit.register(peak)
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
sys.argv = ["reer", *sys.argv[2:]]
runpy.run_module("reer_pipeline.cli", run_name="__main__", alter_sys=True)
"""


def _run_parse(path: Path, data_dir: Path) -> tuple[int, str, str, float]:
    """`reer parse path` in its own process, address space capped at 3 GiB:
    (exit code, stdout, stderr, peak RSS in MiB of that process alone)."""
    env = dict(os.environ, REER_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    peak = data_dir.parent / "peak_kib"
    peak.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", PARSE_CHILD, str(peak), "parse", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return out.returncode, out.stdout, out.stderr, int(peak.read_text()) / 1024


def test_reer_parse_on_every_case_one_clear_line(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    peaks = {}
    for case in CASES:
        path = case.write(folder, 1)
        code, out, err, peaks[case.name] = _run_parse(path, tmp_path / "data")
        assert code in (0, 1), (case.name, err)
        assert no_python(out + err), (case.name, err)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["posts"] == case.posts, case.name
        lines = [line for line in err.splitlines() if line.strip()]
        if case.posts == 0:
            assert len(lines) == 1 and path.name in lines[0], (case.name, err)
    assert max(peaks.values()) < RSS_LIMIT_MIB, peaks


# --- the ingest path: staged beside a good file ------------------------------------------------


def test_hostile_files_beside_a_good_one_leave_it_intact(tmp_path, sample_facts):
    folder = tmp_path / "corpus"
    folder.mkdir()
    staged = tmp_path / "staged"
    good = stage_export(SAMPLE, staged / "good.parquet")
    failures = []
    for case in CASES:
        path = case.write(folder, 1)
        report = stage_export(path, staged / f"{path.name}.parquet")
        if report.failure():
            failures.append(report.failure())
    assert len(failures) == sum(1 for c in CASES if c.posts == 0)
    assert all(no_python(f) and "0 posts" in f for f in failures)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        build_posts(con, sorted(staged.glob("*.parquet")), EngagementConfig())
        n = con.execute(
            "SELECT count(*) FROM posts WHERE source_file = ?", [SAMPLE.name]
        ).fetchone()[0]
    assert n == good.posts == sample_facts.posts
