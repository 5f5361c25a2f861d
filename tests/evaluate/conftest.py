"""The shipped sample's account in a real warehouse, and the models a run would use."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from reer_pipeline.ingest.warehouse import read_account_posts
from reer_pipeline.layout import DataLayout
from reer_pipeline.platforms import Account
from reer_pipeline.program.context import AuthorContext, load_context
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse

os.environ.setdefault("REER_TORCH_THREADS", "1")


@dataclass
class SampleAccount:
    ctx: AuthorContext
    posts: list[dict]
    paths: object  # layout.AccountPaths
    layout: DataLayout


@pytest.fixture(scope="session")
def sample_account(tmp_path_factory) -> SampleAccount:
    """The sample's account: its posts, its context and its (empty) folders under a fresh root."""
    root = tmp_path_factory.mktemp("eval_data")
    layout = DataLayout(root, DataLayout.from_env().models_root)
    con = warehouse(root / "warehouse.duckdb", [SAMPLE])
    try:
        platform, author = con.execute(
            "SELECT platform, author FROM posts GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        account = Account(platform, author)
        posts = read_account_posts(con, platform, author)
        ctx = load_context(con, account, layout.traces)
    finally:
        con.close()
    return SampleAccount(ctx, posts, layout.account(account), layout)


@pytest.fixture(scope="session")
def models(sample_account):
    """The `language_models` resource as a run builds it (embedded models on this data root)."""
    from reer_pipeline.resources.lm import LMRegistryResource
    from reer_pipeline.resources.storage import Storage

    layout = sample_account.layout
    return LMRegistryResource(
        storage=Storage(root=str(layout.root), models_dir=str(layout.models)),
        proposer_lm="local",
        scorer_lm="local",
        judge_lm="local",
    )
