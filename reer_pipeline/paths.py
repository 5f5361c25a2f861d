"""Every path derives from one data root: `REER_DATA_DIR`, default `data/`."""

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("REER_DATA_DIR", "data")).resolve()


def exports_dir() -> Path:
    return data_dir() / "exports"


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def traces_dir() -> Path:
    return data_dir() / "traces"


def models_dir() -> Path:
    """Converted models; `REER_MODELS_DIR` lets several data roots share one conversion."""
    return Path(os.environ.get("REER_MODELS_DIR") or data_dir() / "models").resolve()


def programs_dir() -> Path:
    return data_dir() / "programs"


def engagement_dir() -> Path:
    return data_dir() / "engagement"


def engagement_model_path(platform: str, author: str) -> Path:
    return engagement_dir() / f"{platform}__{author}.joblib"
