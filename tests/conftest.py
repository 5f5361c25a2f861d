import csv
import os
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
SHARED_EXPORTS = ROOT.parent / "shared" / "data" / "exports"


def pytest_configure(config):
    """Under pytest-xdist every worker is one concurrent model step: the thread policy
    (`lm/threads.py`) gives each the cores // workers, so together they never oversubscribe."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        from reer_pipeline.lm.threads import ENV, usable_cores

        os.environ.setdefault(ENV, str(max(1, usable_cores() // int(workers))))


def pytest_collection_modifyitems(items):
    """Slow tests first, so that the longest ones do not start last on a worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def shared_models_dir(tmp_path_factory):
    """One conversion of the embedded model for the whole session (every xdist worker),
    whatever the data root."""
    if not os.environ.get("REER_MODELS_DIR"):
        base = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            base = base.parent  # the folder the workers' temporary folders share
        os.environ["REER_MODELS_DIR"] = str(base / "models")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # the suite drafts on the fast model even where `make models` installed the larger proposer
    os.environ.setdefault("REER_PROPOSER_LM_URI", "local")
    # MLflow tracking costs 2-14 s per store a test creates; the tracking tests turn it on.
    os.environ.setdefault("REER_TRACKING", "off")


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """A fresh data root (REER_DATA_DIR) with an empty exports folder."""
    root = tmp_path / "data"
    (root / "exports").mkdir(parents=True)
    monkeypatch.setenv("REER_DATA_DIR", str(root))
    return root


@pytest.fixture
def shared_exports() -> Path:
    if not SHARED_EXPORTS.is_dir():
        pytest.skip("../shared/data/exports is absent")
    return SHARED_EXPORTS


@dataclass(frozen=True)
class SampleFacts:
    """What the shipped sample holds, read with the `csv` module (not the project's parser), so
    tests compare the pipeline's counts with an independent reading instead of a typed number."""

    posts: int
    reposts: int
    replies: int
    authors: frozenset[str]

    @property
    def originals(self) -> int:
        return self.posts - self.reposts - self.replies

    @property
    def account(self) -> str:
        [author] = self.authors
        return f"x:{author}"


@cache
def read_sample_facts() -> SampleFacts:
    """The facts of `SAMPLE`, read once per process."""
    # Mac Roman decodes every byte; the columns counted here are plain ASCII either way.
    with SAMPLE.open(encoding="mac_roman", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [row["text"] for row in rows]
    return SampleFacts(
        posts=len(texts),
        reposts=sum(t.startswith("RT @") for t in texts),
        replies=sum(t.startswith("@") for t in texts),
        authors=frozenset(row["user"] for row in rows),
    )


@pytest.fixture(scope="session")
def sample_facts() -> SampleFacts:
    """The shipped sample's post counts and account, for tests that check what ingest made."""
    return read_sample_facts()


def copy_export(src: Path, root: Path, name: str | None = None) -> Path:
    dest = root / "exports" / (name or src.name)
    shutil.copyfile(src, dest)
    return dest


def embedded_lm(**options):
    """The embedded model through the registry, converted into the session's models folder."""
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.registry import load_lm

    return load_lm("hf::embedded", models_dir=DataLayout.from_env().models, **options)


@pytest.fixture
def tracking_on(monkeypatch):
    """MLflow tracking on, for the tests about it (the suite runs with REER_TRACKING=off)."""
    monkeypatch.setenv("REER_TRACKING", "on")
