"""Write tests/ingest/data/bluesky_repo.car: a repository export from the dev-env PDS.

Run beside a running network (`node network.mjs` with Postgres and Redis, see
docs/bluesky.md): `python tests/publish/pds/export_car.py http://localhost:PORT`. Two accounts;
the exported one has a thread with facets, a link shown shortened, a reply to the other
account, a link card, an image-less post with only a link, a like and a follow (not posts).
"""

import secrets
import sys
from pathlib import Path

from atproto import Client, models

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Credentials, Post
from reer_pipeline.publish.clients.bluesky import BlueskyPublisher

OUT = Path(__file__).parents[2] / "ingest" / "data" / "bluesky_repo.car"


def account(pds: str, handle: str) -> tuple[Client, str]:
    password = secrets.token_urlsafe(12)
    client = Client(pds)
    data = models.ComAtprotoServerCreateAccount.Data(
        handle=handle, email=f"{handle}@example.com", password=password
    )
    client.com.atproto.server.create_account(data)
    client.login(handle, password, fetch_bsky_profile=False)
    return client, password


def main(pds: str) -> None:
    tag = secrets.token_hex(2)
    dana, dana_pw = account(pds, f"dana{tag}.test")
    erin, _ = account(pds, f"erin{tag}.test")
    dana_did = dana.com.atproto.server.get_session().did
    erin_did = erin.com.atproto.server.get_session().did
    creds = Credentials({"handle": f"dana{tag}.test", "app_password": dana_pw})
    publisher = BlueskyPublisher(Account("bluesky", "dana"), creds, base_url=pds)
    thread = ("Ünïcode first — see https://example.com/start", "And the second part.")
    publisher.publish(Post("fixture", Account("bluesky", "dana"), thread, "2026-12-03T18:00:00Z"))

    shown = "read example.org/lon…"
    start = len(b"read ")
    facet = models.AppBskyRichtextFacet.Main(
        features=[models.AppBskyRichtextFacet.Link(uri="https://example.org/long/path?q=1")],
        index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=len(shown.encode())),
    )
    dana.send_post(shown, profile_identify=dana_did, facets=[facet])
    other = erin.send_post("Erin's post", profile_identify=erin_did)
    ref = models.ComAtprotoRepoStrongRef.Main(uri=other.uri, cid=other.cid)
    dana.send_post(
        "Replying to Erin",
        profile_identify=dana_did,
        reply_to=models.AppBskyFeedPost.ReplyRef(root=ref, parent=ref),
    )
    card = models.AppBskyEmbedExternal.Main(
        external=models.AppBskyEmbedExternal.External(
            uri="https://example.net/card", title="A card", description="Its description"
        )
    )
    dana.send_post("A post with a link card", profile_identify=dana_did, embed=card)
    dana.app.bsky.feed.like.create(
        dana_did,
        models.AppBskyFeedLike.Record(created_at=dana.get_current_time_iso(), subject=ref),
    )
    dana.app.bsky.graph.follow.create(
        dana_did,
        models.AppBskyGraphFollow.Record(created_at=dana.get_current_time_iso(), subject=erin_did),
    )
    OUT.write_bytes(dana.com.atproto.sync.get_repo({"did": dana_did}))
    print(f"{OUT}: {OUT.stat().st_size} bytes, repository of {dana_did}")


if __name__ == "__main__":
    main(sys.argv[1])
