"""The Bluesky repository export (CAR): a real one from the reference PDS, made by
tests/publish/pds/export_car.py (tests/publish/test_bluesky.py reads a fresh one too)."""

from pathlib import Path

import pytest
from atproto_core.car import CAR

from reer_pipeline.ingest.formats import ExportError, ExportOptions, detect_format, iter_posts
from reer_pipeline.ingest.schema import Post

CAR_FILE = Path(__file__).parent / "data" / "bluesky_repo.car"


def _sections(data: bytes) -> list[bytes]:
    """The CAR's length-prefixed sections, raw: the header, then one per block."""
    out, i = [], 0
    while i < len(data):
        length, shift, start = 0, 0, i
        while True:
            length |= (data[i] & 0x7F) << shift
            shift, i = shift + 7, i + 1
            if not data[i - 1] & 0x80:
                break
        out.append(data[start : i + length])
        i += length
    return out


def _posts(path: Path, **options) -> list[Post]:
    records = list(iter_posts(path, ExportOptions(**options)))
    assert all(isinstance(r, Post) for r in records), records
    return records


def test_posts_of_the_repository_with_threads_replies_and_facet_links():
    car = CAR.from_bytes(CAR_FILE.read_bytes())
    did = car.blocks[car.root]["did"]
    stored = [b for b in car.blocks.values() if b.get("$type") == "app.bsky.feed.post"]
    posts = _posts(CAR_FILE)
    assert len(posts) == len(stored) == 5  # the like and the follow are no posts
    assert sorted(p.text for p in posts) == sorted(b["text"] for b in stored)
    assert {p.author for p in posts} == {did} and {p.platform for p in posts} == {"bluesky"}
    assert all(p.likes is p.reposts is p.replies is None for p in posts)
    assert all(p.url.endswith(f"/profile/{did}/post/{p.post_id}") for p in posts)

    by_text = {p.text: p for p in posts}
    first, second = (
        by_text["Ünïcode first — see https://example.com/start"],
        by_text["And the second part."],
    )
    assert (second.is_reply, second.is_thread, second.reply_to_id) == (True, True, first.post_id)
    assert first.created_at < second.created_at
    # The text shows a shortened link; the facet holds the whole address.
    assert by_text["read example.org/lon…"].links == ["https://example.org/long/path?q=1"]
    assert by_text["A post with a link card"].links == ["https://example.net/card"]
    # A reply to another account: not a thread, and its parent keeps that account's AT URI.
    reply = by_text["Replying to Erin"]
    assert reply.is_reply and not reply.is_thread
    assert reply.reply_to_id.startswith("at://did:plc:") and did not in reply.reply_to_id


def test_the_author_is_an_option_since_a_repository_names_only_its_did():
    assert {p.author for p in _posts(CAR_FILE, author="dana.example")} == {"dana.example"}


def test_sniffed_by_content_not_name(tmp_path):
    renamed = tmp_path / "export.json"
    renamed.write_bytes(CAR_FILE.read_bytes())
    assert detect_format(renamed) == "bluesky_car"
    not_car = tmp_path / "repo.car"
    not_car.write_text("text,created_at\nhello,2024-01-01\n")
    assert detect_format(not_car) != "bluesky_car"


def test_truncated_car_is_one_clear_error_naming_the_file(tmp_path):
    data = CAR_FILE.read_bytes()
    cut = tmp_path / "cut.car"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert detect_format(cut) == "bluesky_car"  # the header is intact
    with pytest.raises(ExportError, match=r"^cut\.car: not a readable CAR"):
        list(iter_posts(cut))


def test_car_missing_a_linked_block_is_one_clear_error(tmp_path):
    data = CAR_FILE.read_bytes()
    car = CAR.from_bytes(data)
    tree_root = bytes(car.blocks[car.root]["data"])  # the commit's link to its tree
    sections = _sections(data)
    kept = [s for s in sections if tree_root[:36] not in s[:40]]
    assert len(kept) == len(sections) - 1
    holed = tmp_path / "holed.car"
    holed.write_bytes(b"".join(kept))
    with pytest.raises(ExportError, match=r"^holed\.car: the CAR is incomplete"):
        list(iter_posts(holed))
