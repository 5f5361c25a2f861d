"""The Mastodon archive's `outbox.json`: an ActivityStreams collection of Create and Announce."""

from __future__ import annotations

from reer_pipeline.ingest.formats.base import Context, ExportError, Head, RecordProblem
from reer_pipeline.ingest.formats.fields import (
    kind_of,
    opt_str,
    parse_time,
    req_dict,
    req_str,
    req_time,
)
from reer_pipeline.ingest.jsonstream import JsonDamage
from reer_pipeline.ingest.schema import Post
from reer_pipeline.ingest.text import clean_text


def sniff(head: Head) -> bool:
    """An outbox; any other JSON is refused here, as no format reads it."""
    if not head.text.startswith(("{", "[")):
        return False
    if "orderedItems" in head.text or "activitystreams" in head.text:
        return True
    raise ExportError(head.path, "JSON file that is neither an X archive nor a Mastodon outbox")


def parse(ctx: Context, head: Head):
    enc = head.encoding
    ctx.stats.encoding = enc.codec if enc else "utf-8"
    with ctx.path.open("rb") as f:
        f.seek(enc.skip if enc else 0)
        stream = ctx.stream(f, enc.codec if enc else "utf-8-sig")

        def items():
            for key, _ in stream.members():
                if key == "orderedItems":
                    yield from stream.items()
                    return
                stream.skip_value()
            raise JsonDamage("the outbox has no orderedItems list")

        yield from ctx.records(items(), lambda activity: _activity(ctx, activity), None)


def _activity(ctx: Context, activity) -> Post | None:
    if not isinstance(activity, dict):
        raise RecordProblem(f"is {kind_of(activity)}, not an activity object")
    actor = req_str(activity, "actor")
    author = ctx.options.author or actor.rstrip("/").rsplit("/", 1)[-1]
    if not author.strip():
        raise RecordProblem("'actor' is empty: the post has no author", "actor")
    kind = req_str(activity, "type")
    if kind == "Announce":
        obj = activity.get("object")
        boosted = obj if isinstance(obj, str) else req_str(req_dict(activity, "object"), "id")
        return ctx.post(
            "object",
            platform="mastodon",
            author=author,
            post_id=req_str(activity, "id")
            .rstrip("/")
            .removesuffix("/activity")
            .rsplit("/", 1)[-1],
            created_at=req_time(activity, "published", parse_time),
            text=boosted,
            raw_text=boosted,
            is_repost=True,
            url=boosted,
        )
    if kind != "Create":
        raise RecordProblem(
            f"has activity type {kind!r}, which is not a post (only Create and Announce are)",
            "type",
        )
    note = req_dict(activity, "object")
    content = opt_str(note, "content", "object.content") or ""
    reply_to = opt_str(note, "inReplyTo", "object.inReplyTo")
    attachments = note.get("attachment") or []
    if not isinstance(attachments, list):
        raise RecordProblem(
            f"'object.attachment' should be a list, not {kind_of(attachments)}",
            "object.attachment",
        )
    text = clean_text(content, is_html=True) or _alt_text(attachments)
    if not text:
        what = "null" if note.get("content") is None else "empty"
        raise RecordProblem(
            f"'object.content' is {what} and the note has no described attachment",
            "object.content",
        )
    lang_map = note.get("contentMap")
    return ctx.post(
        "object.content",
        platform="mastodon",
        author=author,
        post_id=req_str(note, "id", "object.id").rstrip("/").rsplit("/", 1)[-1],
        created_at=req_time(note, "published", parse_time, "object.published"),
        text=text,
        raw_text=content,
        is_reply=reply_to is not None,
        is_thread=bool(reply_to and reply_to.startswith(actor + "/")),
        reply_to_id=reply_to.rstrip("/").rsplit("/", 1)[-1] if reply_to else None,
        lang=next(iter(lang_map), None) if isinstance(lang_map, dict) else None,
        media_count=len(attachments),
        url=opt_str(note, "url", "object.url"),
    )


def _alt_text(attachments: list) -> str:
    """A media-only status is known by its attachments' descriptions."""
    return " ".join(
        f"[media: {a.get('name') or a.get('mediaType', '')}]"
        for a in attachments
        if isinstance(a, dict)
    )
