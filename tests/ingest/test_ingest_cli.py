"""`reer parse --columns` and `reer ingest`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from reer_pipeline import cli
from tests.conftest import ROOT
from tests.ingest import hostile


def test_parse_previews_a_column_mapping(tmp_path, data_root, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("when,body,hearts\n2024-05-01T10:00:00Z,Hello there,7\n")
    assert cli.main(["parse", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("reer parse: mine.csv: no usable column for created_at;")
    assert "columns found: 'when', 'body', 'hearts'" in err and err.count("\n") == 1
    assert cli.main(["parse", str(path), "--columns", "created_at=when,likes="]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["posts"] == 1 and report["mapping"]["likes"] is None and not err
    assert report["mapping"]["text"] == "body"
    assert cli.main(["parse", str(path), "--columns", "txt=body"]) == 2
    assert "unknown field(s) txt" in capsys.readouterr().err


def test_parse_names_the_file_for_record_errors_too(tmp_path, data_root, capsys):
    path = hostile.BY_NAME["null_content"].write(tmp_path, 1)
    cli.main(["parse", str(path)])
    report = json.loads(capsys.readouterr().out)
    assert report["posts"] == 1 and report["error_samples"] == [
        "record 2: 'object.content' is null and the note has no described attachment"
    ]


def test_reer_ingest_materializes_each_file_and_prints_its_report(tmp_path, data_root):
    good = tmp_path / "good.csv"
    good.write_text(hostile.csv_text(hostile.good_rows(5)))
    useless = tmp_path / "useless.csv"
    useless.write_text("foo,bar\n1,2\n")
    env = dict(
        os.environ,
        REER_DATA_DIR=str(data_root),
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        PYTHONPATH=str(ROOT),
    )
    out = subprocess.run(
        [sys.executable, "-m", "reer_pipeline.cli", "ingest", str(good), str(useless)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1200,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert out.stdout.count("$ dagster asset materialize") == 2
    reports = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [(r["file"], r["posts"]) for r in reports] == [("good.csv", 5), ("useless.csv", 0)]
    ours = [line for line in out.stderr.splitlines() if line.startswith("reer ingest:")]
    assert len(ours) == 1 and ours[0].startswith("reer ingest: useless.csv: no usable column")
    assert (data_root / "exports" / "good.csv").read_bytes() == good.read_bytes()
    with duckdb.connect(str(data_root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT source_file, count(*) FROM posts GROUP BY 1").fetchall()
    assert rows == [("good.csv", 5)]


def test_ingest_packs_an_unzipped_archive_folder(tmp_path):
    import zipfile

    from reer_pipeline.ingest.formats import iter_posts

    archive = hostile.BY_NAME["archive_zip"].write(tmp_path, 1)
    folder = tmp_path / "twitter-2024"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    exports = tmp_path / "exports"
    exports.mkdir()
    packed = cli._into_exports(folder, exports)
    assert packed == exports / "twitter-2024.zip"
    with zipfile.ZipFile(packed) as zf:
        assert sorted(zf.namelist()) == [
            "data/account.js",
            "data/tweets-part1.js",
            "data/tweets.js",
        ]
    assert [p.text for p in iter_posts(packed)] == [p.text for p in iter_posts(archive)]
    assert cli._into_exports(folder, exports) == packed  # the same content: nothing new
    other = tmp_path / "other" / archive.name
    other.parent.mkdir()
    other.write_bytes(b"PK different")
    cli._into_exports(archive, exports)
    with pytest.raises(ValueError, match="already holds a different file of that name"):
        cli._into_exports(other, exports)
