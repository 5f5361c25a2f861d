"""A Bluesky account's repository export: the `.car` file `com.atproto.sync.getRepo` returns
(the app's "export my data"). Read with atproto's CAR reader; the records are found by walking
the repository's Merkle search tree from its commit, so each post has its record key.

A repository holds one account's records: every `app.bsky.feed.post` in it is that account's
(the commit's DID). Engagement is not in a repository: likes, reposts and replies are None.
"""

from __future__ import annotations

from collections.abc import Iterator

import libipld
from atproto_core.car import CAR
from atproto_core.cid import CID

from reer_pipeline.ingest.formats.base import Context, ExportError, Head, RecordProblem
from reer_pipeline.ingest.formats.fields import kind_of, opt_dict, parse_time, req_str, req_time
from reer_pipeline.ingest.schema import Post
from reer_pipeline.publish.clients.bluesky import post_url

POST = "app.bsky.feed.post"
LINK = "app.bsky.richtext.facet#link"


def sniff(head: Head) -> bool:
    """A CAR v1 header: a varint length, then the DAG-CBOR map {roots, version: 1}."""
    header = _header(head.data)
    return isinstance(header, dict) and header.get("version") == 1 and "roots" in header


def _header(data: bytes):
    length, shift, i = 0, 0, 0
    while i < min(len(data), 9):
        length |= (data[i] & 0x7F) << shift
        shift, i = shift + 7, i + 1
        if not data[i - 1] & 0x80:
            break
    if not 0 < length <= len(data) - i or data[i] & 0xE0 != 0xA0:  # a CBOR map comes next
        return None
    try:
        return libipld.decode_dag_cbor(data[i : i + length])
    except ValueError:
        return None


def parse(ctx: Context, head: Head):
    try:
        car = CAR.from_bytes(ctx.path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - libipld says ValueError; any failure is the file's
        raise ExportError(ctx.path, f"not a readable CAR repository export: {exc}") from None
    commit = car.blocks.get(car.root)
    if not isinstance(commit, dict) or not isinstance(commit.get("did"), str):
        raise ExportError(ctx.path, "the CAR's root is not a repository commit (it has no 'did')")
    did = commit["did"]
    ctx.stats.encoding = "dag-cbor"
    records = (
        (key.split("/", 1)[1], record)
        for key, record in _records(ctx, car, commit.get("data"))
        if key.startswith(POST + "/")
    )
    yield from ctx.records(records, lambda item: _post(ctx, did, *item), None)


def _records(ctx: Context, car: CAR, node_cid) -> Iterator[tuple[str, object]]:
    """(collection/rkey, record) in key order, from the Merkle search tree under `node_cid`."""

    def block(link):
        try:
            return car.blocks[CID.from_decoded_bytes(link)]
        except (KeyError, ValueError, TypeError):
            raise ExportError(
                ctx.path, "the CAR is incomplete: a block the repository links to is missing"
            ) from None

    def walk(link) -> Iterator[tuple[str, object]]:
        node = block(link)
        if not isinstance(node, dict) or not isinstance(node.get("e"), list):
            raise ExportError(ctx.path, "the CAR holds a tree node that is not one")
        if node.get("l"):
            yield from walk(node["l"])
        key = b""
        for entry in node["e"]:
            try:
                key = key[: entry["p"]] + entry["k"]
                path = key.decode()
            except (KeyError, TypeError, UnicodeDecodeError):
                problem = "the CAR holds a tree entry with no valid key"
                raise ExportError(ctx.path, problem) from None
            yield path, block(entry.get("v"))
            if entry.get("t"):
                yield from walk(entry["t"])

    yield from walk(node_cid)


def _post(ctx: Context, did: str, rkey: str, record) -> Post:
    if not isinstance(record, dict):
        raise RecordProblem(f"is {kind_of(record)}, not a post record")
    text = req_str(record, "text")
    embed = opt_dict(record, "embed") or {}
    images = (embed.get("media") or embed).get("images") or []
    if not text.strip():
        alts = (i.get("alt") or "image" for i in images if isinstance(i, dict))
        text = " ".join(f"[media: {alt}]" for alt in alts)
    parent = ((opt_dict(record, "reply") or {}).get("parent") or {}).get("uri")
    own = isinstance(parent, str) and parent.startswith(f"at://{did}/{POST}/")
    langs = record.get("langs")
    post = ctx.post(
        "text",
        platform="bluesky",
        author=ctx.options.author or did,
        post_id=rkey,
        created_at=req_time(record, "createdAt", parse_time),
        text=text,
        raw_text=record["text"],
        is_reply=parent is not None,
        is_thread=own,
        # A record key is unique within one repository: another account's post keeps its URI.
        reply_to_id=(parent.rsplit("/", 1)[-1] if own else parent) if parent else None,
        lang=langs[0] if isinstance(langs, list) and langs else None,
        media_count=len(images) + bool((embed.get("media") or embed).get("video")),
        url=post_url(f"at://{did}/{POST}/{rkey}"),
    )
    links = [*_facet_links(record), *post.links]
    external = (embed.get("external") or {}).get("uri")
    links += [external] if isinstance(external, str) else []
    return post.model_copy(update={"links": list(dict.fromkeys(links))})


def _facet_links(record: dict) -> list[str]:
    """The link facets' URIs: the full address, where the text may show a shortened one."""
    return [
        feature["uri"]
        for facet in record.get("facets") or []
        if isinstance(facet, dict)
        for feature in facet.get("features") or []
        if isinstance(feature, dict)
        and feature.get("$type") == LINK
        and isinstance(feature.get("uri"), str)
    ]
