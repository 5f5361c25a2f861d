"""The ingest job through a real Dagster instance and a real DuckDB file."""

import csv
import os

import dagster as dg
import duckdb
import pytest

from reer_pipeline.assets.ingest import export_path, partition_key
from reer_pipeline.assets.partitions import export_partitions
from reer_pipeline.definitions import defs
from tests.conftest import SAMPLE, copy_export
from tests.ingest.test_formats import BAD


def ingest(instance, path):
    key = partition_key(path)
    instance.add_dynamic_partitions(export_partitions.name, [key])
    result = defs.resolve_job_def("ingest").execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    return result, checks


def query(root, sql):
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_sample_export_to_posts_and_top_posts(data_root, sample_facts):
    path = copy_export(SAMPLE, data_root)
    with dg.instance_for_test() as instance:
        result, checks = ingest(instance, path)
        assert result.success
        assert checks["parse_rate_at_least_90pct"].passed and checks["posts_unique"].passed
        meta = result.asset_materializations_for_node("posts")[0].metadata
        assert meta["dagster/row_count"].value == sample_facts.posts
        assert all(author in meta["by_author"].value for author in sample_facts.authors)
    n = sample_facts.posts
    assert query(data_root, "SELECT count(*), count(DISTINCT post_id) FROM posts") == [(n, n)]
    top = query(
        data_root,
        "SELECT count(*), bool_or(is_repost OR is_reply), min(engagement_pct) FROM top_posts",
    )
    assert (
        top[0][0] >= int(sample_facts.originals * 0.1) and top[0][1] is False and top[0][2] >= 0.9
    )


def test_reimport_updates_counts_without_duplicates(data_root, sample_facts):
    first = copy_export(SAMPLE, data_root)
    with dg.instance_for_test() as instance:
        assert ingest(instance, first)[0].success
        # A newer export of the same account: the first 100 posts again, with more likes.
        with SAMPLE.open(encoding="mac_roman", newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:101]
        likes = header.index("favorites")
        for row in body:
            row[likes] = str(int(row[likes]) + 1000)
        newer = data_root / "exports" / "obama_newer.csv"
        with newer.open("w", encoding="mac_roman", newline="") as f:
            csv.writer(f).writerows([header, *body])
        os.utime(newer, (first.stat().st_mtime + 60,) * 2)
        result, checks = ingest(instance, newer)
        assert result.success and checks["posts_unique"].passed
    post_id = body[0][header.index("url")].rsplit("/", 1)[-1]
    assert query(data_root, "SELECT count(*) FROM posts") == [(sample_facts.posts,)]
    assert query(data_root, f"SELECT likes FROM posts WHERE post_id = '{post_id}'") == [
        (int(body[0][likes]),)
    ]


def test_bad_files_fail_their_check_and_lose_nothing(data_root, sample_facts):
    good = copy_export(SAMPLE, data_root)
    with dg.instance_for_test() as instance:
        assert ingest(instance, good)[0].success
        # latin1.csv is read as Windows-1252 now: a readable file, not a bad one
        for bad in sorted(p for p in BAD.iterdir() if p.name != "latin1.csv"):
            result, checks = ingest(instance, copy_export(bad, data_root))
            if result.success:  # some posts: the parse-rate check fails and says why
                check = checks["parse_rate_at_least_90pct"]
                assert not check.passed, bad.name
                assert bad.name in check.description
            else:  # no post at all: the step fails with the parse report, `posts` never runs
                (failure,) = [e for e in result.all_events if e.is_step_failure]
                message = failure.step_failure_data.error.message
                assert f"Failure: {bad.name}: " in message and "0 posts" in message
                assert "posts" not in {e.step_key for e in result.all_events if e.step_key}
            sample_posts = f"SELECT count(*) FROM posts WHERE source_file = '{good.name}'"
            assert query(data_root, sample_posts) == [(sample_facts.posts,)]


@pytest.mark.parametrize(
    "key",
    ["../secrets@0123abcd", "..@0123abcd", "a/../../b@0123abcd", "x.csv", "/etc/passwd@0123abcd"],
)
def test_partition_keys_cannot_escape_the_exports_folder(data_root, key):
    with pytest.raises(ValueError, match="partition key"):
        export_path(key, data_root / "exports")


def test_symlink_out_of_the_folder_is_refused(data_root, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("secret")
    (data_root / "exports" / "link.csv").symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        export_path("link.csv@0123abcd", data_root / "exports")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(export_partitions.name, ["link.csv@0123abcd"])
        result = defs.resolve_job_def("ingest").execute_in_process(
            instance=instance, partition_key="link.csv@0123abcd", raise_on_error=False
        )
        assert not result.success
