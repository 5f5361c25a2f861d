"""The storage resource: owns the data root and hands its locations to the domain code."""

from pathlib import Path

import dagster as dg

from reer_pipeline.layout import DataLayout
from reer_pipeline.optimize.store import migrate_legacy
from reer_pipeline.platforms import Account


class Storage(dg.ConfigurableResource):
    """The data root. Empty fields resolve when a run starts: `root` from `REER_DATA_DIR`
    (default `data/`), `models_dir` from `REER_MODELS_DIR` (default `<root>/models`)."""

    root: str = ""
    models_dir: str = ""

    @property
    def layout(self) -> DataLayout:
        env = DataLayout.from_env()
        return DataLayout(
            Path(self.root).resolve() if self.root else env.root,
            Path(self.models_dir).resolve() if self.models_dir else env.models_root,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Move tuned programs of the old layout (one folder per optimizer and platform) into
        their account's folder, once, saying so in the log."""
        layout = self.layout
        if layout.programs_root.is_dir():
            for line in migrate_legacy(
                layout.programs_root, lambda p, a: layout.account(Account(p, a)).programs
            ):
                context.log.info(line)
