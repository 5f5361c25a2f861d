"""Publishing as a Dagster resource: which publisher each account uses, where the outbox and the
ledger live.

Per account (`accounts: {"x:someone": {"publisher": "x", "credentials": {"access_token":
"X_ACCESS_TOKEN", ...}, "options": {...}}}`); an account not listed publishes to the outbox.
Config holds the names of environment variables, never a secret: the publisher reads the values
when it is built (`publish/base.build`), and they appear in no log or metadata.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from reer_pipeline.platforms import Account
from reer_pipeline.publish.base import Publisher, build
from reer_pipeline.publish.ledger import Ledger, ledger_path
from reer_pipeline.publish.outbox import outbox_path
from reer_pipeline.resources.storage import Storage
from reer_pipeline.serve.store import ReviewStore, log_path


class AccountPublishing(dg.Config):
    publisher: str = Field(default="outbox", description="a name in publish/base.PUBLISHERS")
    credentials: dict[str, str] = Field(
        default_factory=dict, description="credential field -> the environment variable holding it"
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="settings that are not secrets (base_url, page_id, ...)"
    )


class Publishing(dg.ConfigurableResource):
    """Publishers per account (default: the outbox at `<data root>/outbox.jsonl`), the review
    log they publish from and the exactly-once ledger (`<data root>/publishing.sqlite3`)."""

    storage: Storage
    accounts: dict[str, AccountPublishing] = Field(
        default_factory=dict, description="account key -> its publisher; unlisted: the outbox"
    )

    def setting(self, account: Account) -> AccountPublishing:
        for key, setting in self.accounts.items():
            if Account.parse(key) == account:
                return setting
        return AccountPublishing()

    def publisher_name(self, account: Account) -> str:
        return self.setting(account).publisher

    def publisher(self, account: Account) -> Publisher:
        """The account's publisher, its credentials read from the environment now."""
        s = self.setting(account)
        options = dict(s.options)
        if s.publisher == "outbox":
            options.setdefault("path", str(outbox_path(self.storage.layout.root)))
        return build(account, s.publisher, s.credentials, **options)

    def review_log(self) -> ReviewStore:
        return ReviewStore(log_path(self.storage.layout.root))

    def ledger(self) -> Ledger:
        return Ledger(ledger_path(self.storage.layout.root))
