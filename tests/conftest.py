import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
SHARED_EXPORTS = ROOT.parent / "shared" / "data" / "exports"


@pytest.fixture(scope="session", autouse=True)
def shared_models_dir(tmp_path_factory):
    """One conversion of the embedded model for the whole session, whatever the data root."""
    if not os.environ.get("REER_MODELS_DIR"):
        os.environ["REER_MODELS_DIR"] = str(tmp_path_factory.mktemp("models"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


def copy_export(src: Path, root: Path, name: str | None = None) -> Path:
    dest = root / "exports" / (name or src.name)
    shutil.copyfile(src, dest)
    return dest


def embedded_lm(**options):
    """The embedded model through the registry, converted into the session's models folder."""
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.registry import load_lm

    return load_lm("hf::embedded", models_dir=DataLayout.from_env().models, **options)
