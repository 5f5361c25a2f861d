"""Where everything lives under the data root. The storage resource builds one `DataLayout` and
hands its locations to the domain code, which never reads the environment for a path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reer_pipeline.platforms import Account

SHIPPED_TOPICS = Path(__file__).resolve().parents[1] / "data" / "topics.yaml"


@dataclass(frozen=True)
class DataLayout:
    root: Path
    models_root: Path | None = None  # converted models; several data roots may share one

    @classmethod
    def from_env(cls) -> DataLayout:
        """`REER_DATA_DIR` (default `data/`) and `REER_MODELS_DIR` (default `<root>/models`)."""
        models = os.environ.get("REER_MODELS_DIR")
        return cls(
            Path(os.environ.get("REER_DATA_DIR") or "data").resolve(),
            Path(models).resolve() if models else None,
        )

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def traces(self) -> Path:
        return self.root / "traces"

    @property
    def models(self) -> Path:
        return self.models_root or self.root / "models"

    @property
    def topics(self) -> Path:
        """`<root>/topics.yaml`, or the shipped examples when the data root has none."""
        path = self.root / "topics.yaml"
        return path if path.exists() else SHIPPED_TOPICS

    @property
    def programs_root(self) -> Path:
        return self.root / "programs"

    def account(self, account: Account) -> AccountPaths:
        """Where `account`'s traces, programs, author model and engagement model live."""
        return AccountPaths(
            traces=self.traces,
            programs=self.programs_root / account.slug,
            adapters=self.root / "adapters" / account.slug,
            engagement_model=self.root / "engagement" / f"{account.slug}.joblib",
            preference_model=self.root / "preference" / f"{account.slug}.joblib",
        )


@dataclass(frozen=True)
class AccountPaths:
    """One account's locations under the data root."""

    traces: Path  # the trace store; all accounts share it (a trace names its account)
    programs: Path  # tuned programs, one folder per optimizer
    adapters: Path  # the author model: its examples and `adapter/`
    engagement_model: Path  # the account's engagement model (joblib)
    preference_model: Path  # would this person approve? (joblib; written only where it won)
