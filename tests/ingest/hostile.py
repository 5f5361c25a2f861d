"""A hostile-input corpus, generated (never copied from real exports).

Each case writes one file into a folder and says what a reader must make of it:
`posts` (how many good posts it holds), `phrase` (words the file-level or record-level message
must contain), `field` (the field a record error must name). `scale` grows the big cases for
the benchmark (`benchmarks/ingest.py --hostile`); the tests use scale 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Text that exercises every kind of character a mojibake chain mangles.
SAYINGS = [
    "He said “hello” — then left… for good",
    "It’s a café résumé naïve façade",
    "Ship it: 5 € and 10 ° later",
    "Plain ascii line with & ampersand",
    "Quote ‘single’ and “double” marks",
]
CSV_HEADER = ["created_at", "text", "url", "replies", "retweets", "favorites", "user"]


@dataclass
class Case:
    name: str
    write: Callable[[Path, int], Path]
    posts: int  # good posts expected (at scale 1)
    phrase: str | None = None  # must appear in the error (file) or an error sample (record)
    field: str | None = None  # a record error must name this field
    file_error: bool = False  # the file as a whole is refused (or cut short)


def csv_text(rows: list[list[str]], header=CSV_HEADER) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def good_rows(n: int = 5, start: int = 0) -> list[list[str]]:
    return [
        [
            f"10/{(i % 28) + 1}/17 22:{i % 60:02d}",
            SAYINGS[i % len(SAYINGS)] + f" #{i}",
            f"https://twitter.com/someone/status/{1000 + i}",
            str(i),
            str(2 * i),
            str(3 * i),
            "someone",
        ]
        for i in range(start, start + n)
    ]


def tweet(i: int, **over) -> dict:
    t = {
        "id_str": str(5000 + i),
        "full_text": f"{SAYINGS[i % len(SAYINGS)]} number {i} &amp; more",
        "created_at": "Thu Nov 03 08:50:26 +0000 2022",
        "favorite_count": str(i),
        "retweet_count": "1",
        "lang": "en",
        "entities": {"hashtags": [], "urls": []},
    }
    t.update(over)
    return {"tweet": t}


def tweets_js(records: list, part: int = 0) -> str:
    body = ",\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)
    return f"window.YTD.tweets.part{part} = [\n{body}\n]\n"


def note(i: int, **over) -> dict:
    obj = {
        "id": f"https://social.example/users/me/statuses/{700 + i}",
        "published": "2024-05-01T10:00:00Z",
        "content": f"<p>{SAYINGS[i % len(SAYINGS)]} toot {i}</p>",
        "url": f"https://social.example/@me/{700 + i}",
        "attachment": [],
        "inReplyTo": None,
    }
    obj.update(over)
    return {
        "type": "Create",
        "actor": "https://social.example/users/me",
        "published": "2024-05-01T10:00:00Z",
        "object": obj,
    }


def outbox(items: list) -> str:
    body = ",".join(i if isinstance(i, str) else json.dumps(i) for i in items)
    return (
        '{"@context": "https://www.w3.org/ns/activitystreams", "type": "OrderedCollection", '
        f'"totalItems": {len(items)}, "orderedItems": [{body}]}}'
    )


def mojibake(text: str, passes: int, inner: str = "cp1252") -> bytes:
    """What a careless tool chain makes of UTF-8 text: read as `inner`, saved as Mac Roman."""
    data = text.encode("utf-8")
    for _ in range(passes):
        once = data.decode(inner, errors="replace")  # cp1252 has 5 undefined bytes
        data = once.encode("mac_roman", errors="replace")  # what Mac Roman lacks becomes '?'
    return data


def _write(name: str, content: str | bytes):
    def write(folder: Path, scale: int = 1) -> Path:
        path = folder / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return write


def _mojibake_csv(name: str, passes: int, inner: str = "cp1252"):
    def write(folder: Path, scale: int = 1) -> Path:
        path = folder / name
        path.write_bytes(mojibake(csv_text(good_rows(5)), passes, inner))
        return path

    return write


def _utf8_as_cp1252(folder: Path, scale: int = 1) -> Path:
    path = folder / "utf8_as_cp1252.csv"
    text = csv_text(good_rows(5)).encode("utf-8").decode("cp1252", errors="replace")
    path.write_text(text, encoding="utf-8")
    return path


def _encoded(name: str, codec: str, bom: bytes = b""):
    def write(folder: Path, scale: int = 1) -> Path:
        path = folder / name
        path.write_bytes(bom + csv_text(good_rows(5)).encode(codec))
        return path

    return write


def _archive_zip(folder: Path, scale: int = 1) -> Path:
    path = folder / "twitter-archive.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "data/account.js",
            'window.YTD.account.part0 = [{"account": {"username": "archived_me", '
            '"accountId": "1"}}]',
        )
        zf.writestr("data/tweets.js", tweets_js([tweet(i) for i in range(3)]))
        zf.writestr("data/tweets-part1.js", tweets_js([tweet(i) for i in range(3, 7)], 1))
        zf.writestr("data/tweets_media/1.jpg", b"\xff\xd8\xff" + b"\0" * 100)
    return path


def _zip_bomb(folder: Path, scale: int = 1) -> Path:
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("data/tweets.js", "w") as member:
            member.write(b"window.YTD.tweets.part0 = [")
            block = b" " * (1 << 20)
            for _ in range(20 * scale):
                member.write(block)
            member.write(b"]")
    return path


def _zip_traversal(folder: Path, scale: int = 1) -> Path:
    path = folder / "traversal.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/tweets.js", tweets_js([tweet(1)]))
        zf.writestr("../../outside.js", "alert(1)")
    return path


def _zip_not_x(folder: Path, scale: int = 1) -> Path:
    path = folder / "photos.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello")
    return path


def _zip_truncated(folder: Path, scale: int = 1) -> Path:
    full = _archive_zip(folder)
    data = full.read_bytes()
    full.unlink()
    path = folder / "truncated.zip"
    path.write_bytes(data[: len(data) // 2])
    return path


def _deep(folder: Path, scale: int = 1) -> Path:
    path = folder / "deep_tweets.js"
    depth = 100_000 * scale
    deep = '{"tweet": ' + "[" * depth + "]" * depth + "}"
    path.write_text(tweets_js([tweet(1), deep, tweet(2)]))
    return path


def _deep_outbox(folder: Path, scale: int = 1) -> Path:
    path = folder / "deep_outbox.json"
    depth = 100_000 * scale
    path.write_text(outbox([note(1), "[" * depth + "]" * depth, note(2)]))
    return path


def _huge_post(folder: Path, scale: int = 1) -> Path:
    path = folder / "huge_post_tweets.js"
    with path.open("w") as f:
        f.write("window.YTD.tweets.part0 = [\n" + json.dumps(tweet(1)) + ",\n")
        f.write('{"tweet": {"id_str": "999", "created_at": "Thu Nov 03 08:50:26 +0000 2022",')
        f.write(' "full_text": "')
        chunk = "spam " * (1 << 18)
        for _ in range(4 * scale):  # 5 MiB a step
            f.write(chunk)
        f.write('"}},\n' + json.dumps(tweet(2)) + "\n]\n")
    return path


def _huge_escapes(folder: Path, scale: int = 1) -> Path:
    path = folder / "escapes_tweets.js"
    with path.open("w") as f:
        f.write("window.YTD.tweets.part0 = [\n" + json.dumps(tweet(1)) + ",\n")
        f.write('{"tweet": {"id_str": "999", "full_text": "')
        for _ in range(5 * scale):  # 5 MiB a step of escaped quotes and backslashes
            f.write('\\"\\\\' * (1 << 18))
        f.write('"}},\n' + json.dumps(tweet(2)) + "\n]\n")
    return path


def _long_text(folder: Path, scale: int = 1) -> Path:
    rows = good_rows(2)
    rows.append(["10/16/17 22:59", "word " * 6000, "https://twitter.com/a/status/77", "", "", ""])
    path = folder / "long_text.csv"
    path.write_text(csv_text(rows))
    return path


def _huge_csv_row(folder: Path, scale: int = 1) -> Path:
    path = folder / "huge_row.csv"
    with path.open("w") as f:
        f.write(csv_text(good_rows(2)))
        f.write("10/16/17 22:59," + "x" * (5 << 20) * scale + ",https://twitter.com/a/status/9\n")
        f.write(csv_text(good_rows(2, start=10)).split("\n", 1)[1])
    return path


def _nul_head(folder: Path, scale: int = 1) -> Path:
    rows = good_rows(5)
    rows[1][1] = "has a\x00 NUL and\x00 another"
    path = folder / "nul_head.csv"
    path.write_text(csv_text(rows))
    return path


def _nul_late(folder: Path, scale: int = 1) -> Path:
    rows = good_rows(400)
    rows[-1][1] = "late\x00 NUL"
    path = folder / "nul_late.csv"
    path.write_text(csv_text(rows))
    return path


def _other_columns(folder: Path, scale: int = 1) -> Path:
    header = ["id_str", "full_text", "timestamp", "likes", "retweets"]
    rows = [
        [str(10 + i), f"post {i}", f"2024-05-0{i + 1}T10:00:00Z", str(i), "1"] for i in range(4)
    ]
    path = folder / "other_columns.csv"
    path.write_text(csv_text(rows, header))
    return path


def _unknown_columns(folder: Path, scale: int = 1) -> Path:
    path = folder / "unknown_columns.csv"
    path.write_text(csv_text([["1", "2", "3"]], ["foo", "bar", "baz"]))
    return path


def _truncated(name: str, content: str, fraction: float):
    def write(folder: Path, scale: int = 1) -> Path:
        path = folder / name
        path.write_text(content[: int(len(content) * fraction)])
        return path

    return write


def _binary(folder: Path, scale: int = 1) -> Path:
    path = folder / "picture.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return path


def _garbage(folder: Path, scale: int = 1) -> Path:
    import random

    path = folder / "garbage.csv"
    path.write_bytes(random.Random(7).randbytes(20000))
    return path


TWEETS = tweets_js([tweet(i) for i in range(6)])
OUTBOX = outbox([note(i) for i in range(6)])
GOOD_CSV = csv_text(good_rows(6))

CASES = [
    Case("mojibake_once", _mojibake_csv("mojibake_once.csv", 1), 5),
    Case("mojibake_twice", _mojibake_csv("mojibake_twice.csv", 2), 5),
    Case("mojibake_latin1", _mojibake_csv("mojibake_latin1.csv", 1, "latin-1"), 5),
    Case("utf8_as_cp1252", _utf8_as_cp1252, 5),
    Case("utf8_bom", _encoded("utf8_bom.csv", "utf-8", codecs.BOM_UTF8), 5),
    Case("utf16le_bom", _encoded("utf16le_bom.csv", "utf-16-le", codecs.BOM_UTF16_LE), 5),
    Case("utf16be_bom", _encoded("utf16be_bom.csv", "utf-16-be", codecs.BOM_UTF16_BE), 5),
    Case("utf16le_nobom", _encoded("utf16le_nobom.csv", "utf-16-le"), 5),
    Case("utf16be_nobom", _encoded("utf16be_nobom.csv", "utf-16-be"), 5),
    Case("utf32_bom", _encoded("utf32_bom.csv", "utf-32-le", codecs.BOM_UTF32_LE), 5),
    Case(
        "utf16_tweets",
        _write("utf16_tweets.js", codecs.BOM_UTF16_LE + TWEETS.encode("utf-16-le")),
        6,
    ),
    Case("archive_zip", _archive_zip, 7),
    Case("zip_bomb", _zip_bomb, 0, "zip bomb", file_error=True),
    Case("zip_traversal", _zip_traversal, 0, "path traversal", file_error=True),
    Case("zip_not_x", _zip_not_x, 0, "not an X archive", file_error=True),
    Case("zip_truncated", _zip_truncated, 0, "not a readable zip", file_error=True),
    Case("deep_tweets", _deep, 2, "nested deeper than 64 levels"),
    Case("deep_outbox", _deep_outbox, 2, "nested deeper than 64 levels"),
    Case("huge_post", _huge_post, 2, "larger than the 1 MiB limit"),
    Case("huge_escapes", _huge_escapes, 2, "larger than the 1 MiB limit"),
    Case("huge_csv_row", _huge_csv_row, 4, "longer than the 1 MiB record limit"),
    Case("long_text", _long_text, 2, "more than the 25,000", field="text"),
    Case(
        "null_content",
        _write("null_content_outbox.json", outbox([note(1), note(2, content=None)])),
        1,
        "'object.content' is null",
        field="object.content",
    ),
    Case(
        "odd_items",
        _write("odd_items_tweets.js", tweets_js(['1, "x", []', tweet(1)])),
        1,
        "is a number, not a tweet object",
    ),
    Case(
        "surrogates",
        _write(
            "surrogates_tweets.js",
            tweets_js(
                [
                    tweet(1, full_text="lone \ud800 half"),  # json.dumps writes it as \ud800
                    '{"tweet": {"id_str": "\\udfff", "full_text": "x", "created_at": "'
                    + "Thu Nov 03 08:50:26 +0000 2022"
                    + '"}}',
                ]
            ),
        ),
        2,
    ),
    Case("nul_head", _nul_head, 5),
    Case("nul_late", _nul_late, 400),
    Case("other_columns", _other_columns, 4),
    Case(
        "unknown_columns",
        _unknown_columns,
        0,
        "columns found: 'foo', 'bar', 'baz'; mapping tried: text=(none)",
        file_error=True,
    ),
    Case(
        "truncated_tweets",
        _truncated("cut_tweets.js", TWEETS, 0.6),
        3,
        "truncated",
        file_error=True,
    ),
    Case(
        "truncated_outbox",
        _truncated("cut_outbox.json", OUTBOX, 0.6),
        3,
        "truncated",
        file_error=True,
    ),
    # A CSV cut inside a quoted field keeps the cut row (csv cannot tell it from a last field).
    Case("truncated_csv", _truncated("cut.csv", GOOD_CSV + '10/1/17 1:00,"open quote', 1.0), 7),
    Case("binary_png", _binary, 0, "binary file", file_error=True),
    Case("garbage", _garbage, 0, "binary file", file_error=True),
    Case("empty", _write("empty.csv", b""), 0, "empty file", file_error=True),
    Case("whitespace", _write("blank.js", b" \n\t\n"), 0, "only whitespace", file_error=True),
]
BY_NAME = {c.name: c for c in CASES}


def wrong_type_tweets() -> list[tuple[str, object]]:
    """(field, value) pairs: each tweet field replaced by a value of each wrong type."""
    fields = [
        "id_str",
        "full_text",
        "created_at",
        "favorite_count",
        "retweet_count",
        "in_reply_to_status_id_str",
        "in_reply_to_screen_name",
        "lang",
        "extended_entities",
        "entities",
    ]
    values = [12.5, -3, True, None, [], ["x"], {}, {"a": 1}, "", "not a value"]
    return [(f, v) for f in fields for v in values]


def wrong_type_notes() -> list[tuple[str, object]]:
    fields = ["id", "published", "content", "url", "attachment", "inReplyTo", "contentMap"]
    values = [7, True, None, [], [1], {}, "", "garbage"]
    return [(f, v) for f in fields for v in values]


def wrong_type_activities() -> list[tuple[str, object]]:
    fields = ["type", "actor", "published", "object"]
    values = [7, None, [], {}, "", "Like"]
    return [(f, v) for f in fields for v in values]


def wrong_csv_cells() -> list[tuple[str, str]]:
    return [
        (column, value)
        for column in CSV_HEADER
        for value in ("", "abc", "-5", "1e400", "nan", "12.5", "\x00", "’")
    ]
