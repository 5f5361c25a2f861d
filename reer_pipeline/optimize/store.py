"""Tuned programs on disk: `<programs>/<account>/<optimizer>/`, each saved with its evaluation.

A folder holds `program.json`, `evaluation.json` (base vs tuned on the test split), optionally
`detailed_results.json` and `validation.png`, and `runs/<run key>/` (the optimizer's log). A
program that lost to the base program on its test split is never loaded for drafting.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from reer_pipeline.files import atomic_path, write_json


def save_program(folder: Path, program, evaluation: dict, detailed_results=None) -> Path:
    """Save a tuned DSPy program and its evaluation into `folder`; returns program.json."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "program.json") as tmp:
        saved = tmp.with_name(tmp.name + ".json")  # DSPy picks the format by the suffix
        program.save(str(saved))
        saved.rename(tmp)
    write_json(folder / "evaluation.json", evaluation)
    if detailed_results is not None:
        write_json(folder / "detailed_results.json", detailed_results)
    return folder / "program.json"


def lost_to_base(folder: Path) -> bool:
    evaluation = folder / "evaluation.json"
    return evaluation.exists() and json.loads(evaluation.read_text()).get("delta_mean", 0) < 0


def best_program(account_dir: Path) -> Path | None:
    """The newest program.json of the account (any optimizer) that did not lose to the base."""
    found = sorted(
        account_dir.glob("*/program.json"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    return next((p for p in found if not lost_to_base(p.parent)), None)


def migrate_legacy(programs_root: Path, account_dir_of) -> list[str]:
    """Move folders of the old layout, `<programs>/<optimizer>__<platform>/`, to
    `account_dir_of(platform, author) / <optimizer>` (the author from their evaluation.json).
    Returns one line per folder moved or left, for the log."""
    lines = []
    for old in sorted(programs_root.glob("*__*/evaluation.json")):
        folder = old.parent
        optimizer, _, platform = folder.name.partition("__")
        author = json.loads(old.read_text()).get("author")
        if not (optimizer and platform and author):
            continue
        new = account_dir_of(platform, author) / optimizer
        if new.exists():
            lines.append(f"left {folder}: {new} already exists")
            continue
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(new))
        lines.append(f"moved tuned program {folder} to {new} (new layout: one folder per account)")
    return lines
