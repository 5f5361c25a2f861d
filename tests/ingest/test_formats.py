"""Parsers on real exports (from ../shared) and on a corpus of bad files."""

import csv
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reer_pipeline.ingest.formats import (
    FORMATS,
    ExportError,
    ExportOptions,
    IngestLimits,
    RecordError,
    detect_format,
    iter_posts,
)
from reer_pipeline.ingest.formats.base import Head
from reer_pipeline.ingest.stage import stage_export
from tests.conftest import SAMPLE
from tests.ingest import hostile

BAD = Path(__file__).parent / "bad"


def parse(path, **options):
    items = list(iter_posts(path, ExportOptions(**options)))
    return [i for i in items if not isinstance(i, RecordError)], [
        i for i in items if isinstance(i, RecordError)
    ]


def test_fivethirtyeight_counts_and_repaired_text(sample_facts):
    posts, errors = parse(SAMPLE)
    assert (len(posts), len(errors)) == (sample_facts.posts, 0)
    assert sum(p.is_repost for p in posts) == sample_facts.reposts
    assert {p.author for p in posts} == sample_facts.authors
    text = "\n".join(p.text for p in posts)
    # The Mac Roman mojibake is gone and the characters it stood for are back.
    assert "‰Û" not in text and "&amp;" not in text
    assert "…" in text and "—" in text and "’" in text
    first = next(p for p in posts if p.post_id == "920061541986250758")
    assert first.created_at == datetime(2017, 10, 16, 22, 59, tzinfo=UTC)
    assert (first.replies, first.reposts, first.likes) == (17064, 89916, 641842)
    linked = [p for p in posts if "https://t.co/" in p.text]
    assert linked and all(p.links for p in linked)


def test_x_archive_counts(shared_exports):
    posts, errors = parse(shared_exports / "x_archive_andreruffert_tweets.js")
    assert (len(posts), len(errors)) == (1986, 0)
    counts = Counter("rt" if p.is_repost else "reply" if p.is_reply else "original" for p in posts)
    assert counts == {"original": 858, "rt": 643, "reply": 485}
    assert {p.author for p in posts} == {"andreruffert"}  # read from its own media urls
    assert all(p.replies is None and p.impressions is None for p in posts)
    assert max(p.likes for p in posts) == 379
    threads = [p for p in posts if p.is_thread]
    assert threads and all(p.is_reply for p in threads)


def test_older_tweet_js_prefix(tmp_path, shared_exports):
    src = (shared_exports / "x_archive_andreruffert_tweets.js").read_text()
    old = tmp_path / "tweet.js"
    old.write_text(src.replace("window.YTD.tweets.part0", "window.YTD.tweet.part0", 1))
    assert detect_format(old) == "x_archive"
    assert len(parse(old)[0]) == 1986


def test_linkedin_counts_and_stray_quotes(shared_exports):
    posts, errors = parse(shared_exports / "linkedin_sanand0_Shares.csv", author="sanand0")
    assert (len(posts), len(errors)) == (202, 0)
    assert {p.platform for p in posts} == {"linkedin"}
    multiline = [p for p in posts if "\n" in p.text]
    assert len(multiline) > 50
    # The stray quotes wrapped around every line are gone: blank lines are blank again.
    assert not any(line in ('"', '""') for p in multiline for line in p.text.split("\n"))


def test_linkedin_unwraps_each_line(tmp_path):
    path = tmp_path / "Shares.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Date", "ShareLink", "ShareCommentary", "SharedUrl", "MediaUrl", "Visibility"])
        body = 'First line."\n""\n"He said "hi" there."\n"Last line.'
        w.writerow(
            [
                "2025-07-01 14:33:22",
                "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A42",
                body,
                "",
                "",
                "MEMBER_NETWORK",
            ]
        )
        w.writerow(
            [
                "2025-07-02 09:00:00",
                "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A43",
                "",
                "",
                "",
                "MEMBER_NETWORK",
            ]
        )
    posts, errors = parse(path, author="me")
    assert not errors
    assert posts[0].text == 'First line.\n\nHe said "hi" there.\nLast line.'
    assert posts[0].post_id == "42" and not posts[0].is_repost
    assert posts[1].is_repost  # a share with no commentary


def test_mastodon_counts_and_html(shared_exports):
    posts, errors = parse(shared_exports / "mastodon_philhawksworth_outbox.json")
    assert (len(posts), len(errors)) == (216, 0)
    assert sum(p.is_repost for p in posts) == 26
    assert sum(p.is_reply for p in posts) == 155
    assert not any("<p>" in p.text or "<a " in p.text for p in posts)
    assert any(p.links for p in posts)


def test_x_analytics_csv(tmp_path):
    # The columns of X's "tweet activity" export, as documented by X.
    columns = [
        "Tweet id",
        "Tweet permalink",
        "Tweet text",
        "time",
        "impressions",
        "engagements",
        "engagement rate",
        "retweets",
        "replies",
        "likes",
        "user profile clicks",
        "url clicks",
        "hashtag clicks",
        "detail expands",
        "permalink clicks",
        "app opens",
        "app installs",
        "follows",
        "email tweet",
        "dial phone",
        "media views",
        "media engagements",
    ]
    path = tmp_path / "tweet_activity_metrics_demo_20190101_20190201_en.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for i in range(5):
            w.writerow(
                [
                    str(900 + i),
                    f"https://twitter.com/demo/status/{900 + i}",
                    f"Thread tip {i} &amp; more",
                    f"2019-01-0{i + 1} 18:05 +0000",
                    str(1000 * (i + 1)),
                    str(50 + i),
                    "0.05",
                    str(i),
                    str(i + 1),
                    str(10 * i),
                ]
                + ["0"] * 12
            )
    assert detect_format(path) == "x_analytics"
    posts, errors = parse(path)
    assert len(posts) == 5 and not errors
    assert posts[2].impressions == 3000 and posts[2].likes == 20 and posts[2].author == "demo"
    assert posts[0].text == "Thread tip 0 & more"


def test_plain_csv_with_column_mapping(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("when,body,id,hearts\n2024-05-01T10:00:00Z,Hello there,a1,7\n")
    mapping = {
        "text": "body",
        "created_at": "when",
        "post_id": "id",
        "likes": "hearts",
        "url": None,
        "author": None,
        "reposts": None,
        "replies": None,
    }
    posts, errors = parse(path, author="me", csv=mapping)
    assert not errors and posts[0].likes == 7 and posts[0].post_id == "a1"


@pytest.mark.parametrize(
    "name, problem",
    [
        ("truncated_tweets.js", "truncated JSON"),
        ("truncated_outbox.json", "truncated JSON"),
        ("wrong_prefix.js", "window.YTD.like.part0"),
        ("binary.bin", "binary file"),
        ("zero_bytes.csv", "empty file (0 bytes)"),
        ("empty.csv", "no records"),
        ("unknown_columns.csv", "no usable column for text, created_at"),
        ("missing_text.csv", "no usable column for text;"),
    ],
)
def test_bad_file_names_file_and_problem(tmp_path, name, problem):
    report = stage_export(BAD / name, tmp_path / "out.parquet")
    assert report.error is not None
    assert report.error.startswith(f"{name}: ") and problem in report.error


def test_truncated_archive_keeps_the_records_before_the_damage(tmp_path):
    report = stage_export(BAD / "truncated_tweets.js", tmp_path / "out.parquet")
    assert report.posts > 0 and (tmp_path / "out.parquet").exists()


def test_enormous_single_line(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(
        "created_at,text,url,replies,retweets,favorites,user\n"
        + "10/16/17 22:59,"
        + "x" * 3_000_000
        + ",u,1,1,1,a\n"
    )
    report = stage_export(path, tmp_path / "out.parquet")
    # The oversized row is one record error; the file itself is not refused.
    assert (report.records, report.posts, report.errors) == (1, 0, 1)
    assert "longer than the 1 MiB record limit" in report.error_samples[0]
    assert "0 posts" in report.failure() and not (tmp_path / "out.parquet").exists()


def test_latin1_without_mojibake_is_read_as_windows_1252(tmp_path):
    report = stage_export(BAD / "latin1.csv", tmp_path / "out.parquet")
    assert report.error is None and report.posts == 1 and report.encoding == "cp1252"
    posts, _ = parse(BAD / "latin1.csv")
    assert "Café" in posts[0].text


def test_bad_record_does_not_stop_the_file(tmp_path):
    path = tmp_path / "mixed.csv"
    rows = ["created_at,text,url,replies,retweets,favorites,user"]
    rows += [
        f"10/16/17 22:{i:02d},post {i},https://twitter.com/a/status/{i},1,2,3,a" for i in range(30)
    ]
    rows.insert(5, "not a date,broken,https://twitter.com/a/status/999,1,2,3,a")
    path.write_text("\n".join(rows) + "\n")
    report = stage_export(path, tmp_path / "out.parquet")
    assert (report.records, report.posts, report.errors) == (31, 30, 1)
    assert report.error is None and "not a date" in report.error_samples[0]


# --- the format table ----------------------------------------------------------------------------
# One minimal export per format, each saved under a name that says nothing of its format.
def _file(content: str):
    def write(folder: Path) -> Path:
        path = folder / "export.txt"
        path.write_text(content, encoding="utf-8")
        return path

    return write


BLUESKY_CAR = Path(__file__).parent / "data" / "bluesky_repo.car"


def _copy(source: Path, folder: Path) -> Path:
    path = folder / "export.txt"
    path.write_bytes(source.read_bytes())
    return path


def _zip(folder: Path) -> Path:
    path = folder / "export.txt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/tweets.js", hostile.TWEETS)
    return path


def _folder(folder: Path) -> Path:
    (folder / "export" / "data").mkdir(parents=True)
    (folder / "export" / "data" / "tweets.js").write_text(hostile.TWEETS, encoding="utf-8")
    return folder / "export"


LINKEDIN = {
    "Date": "2024-05-01 10:00:00",
    "ShareLink": "https://www.linkedin.com/feed/update/urn:li:share:7",
    "ShareCommentary": "Hello there",
}
X_ANALYTICS = {
    "Tweet id": "7",
    "Tweet permalink": "https://twitter.com/ann/status/7",
    "Tweet text": "Hello there",
    "time": "2024-05-01 10:00 +0000",
    "impressions": "5",
}
SAMPLES = {
    "x_archive_dir": _folder,
    "x_archive_zip": _zip,
    "bluesky_car": lambda folder: _copy(BLUESKY_CAR, folder),
    "x_archive": _file(hostile.TWEETS),
    "mastodon": _file(hostile.OUTBOX),
    "linkedin": _file(hostile.csv_text([list(LINKEDIN.values())], header=list(LINKEDIN))),
    "x_analytics": _file(hostile.csv_text([list(X_ANALYTICS.values())], header=list(X_ANALYTICS))),
    "csv": _file(hostile.GOOD_CSV),
}


def _claims(fmt, head: Head) -> bool:
    try:
        return fmt.sniff(head)
    except ExportError:  # a head this format cannot even look at (a folder, binary data)
        return False


def test_every_format_in_the_table_has_a_sample():
    assert list(SAMPLES) == [f.name for f in FORMATS]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_each_format_reads_its_sample_and_no_other_format_claims_it(tmp_path, fmt):
    path = SAMPLES[fmt.name](tmp_path)
    assert detect_format(path) == fmt.name
    # Formats do not overlap, so their order matters only for plain CSV, which takes any text.
    head = Head.read(path, IngestLimits())
    assert [f.name for f in FORMATS[:-1] if f is not fmt and _claims(f, head)] == []
    posts, errors = parse(path)
    assert posts and not errors
    assert {p.source_file for p in posts} == {path.name}
