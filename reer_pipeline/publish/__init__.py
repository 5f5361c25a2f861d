"""Publishing approved drafts: the protocol and table of publishers (`base`), the outbox (the
default publisher), the exactly-once ledger, and `publish_due` (`run`). No dagster import."""
