"""`reer`: the command line for what is not an asset run from the UI."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from reer_pipeline import paths

SAMPLE = (
    Path(__file__).resolve().parent.parent / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
)


def cmd_parse(args: argparse.Namespace) -> int:
    """Parse export files and print one parse report per file, as JSON lines."""
    from reer_pipeline.ingest.formats import ExportOptions
    from reer_pipeline.ingest.stage import stage_export

    worst = 0
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"reer parse: {name}: no such file", file=sys.stderr)
            worst = 2
            continue
        out = paths.data_dir() / "staging" / "cli" / f"{path.name}.parquet"
        report = stage_export(path, out, ExportOptions(author=args.author))
        print(json.dumps(report.as_dict()))
        if report.error or report.parse_rate < 0.9:
            worst = max(worst, 1)
    return worst


def cmd_demo(args: argparse.Namespace) -> int:
    """Ingest the shipped sample export (and anything else in the exports folder) end to end."""
    import dagster as dg

    from reer_pipeline.assets.ingest import export_partitions, partition_key
    from reer_pipeline.definitions import defs

    exports = paths.exports_dir()
    exports.mkdir(parents=True, exist_ok=True)
    if not (exports / SAMPLE.name).exists():
        shutil.copyfile(SAMPLE, exports / SAMPLE.name)
    files = sorted(p for p in exports.iterdir() if p.is_file() and not p.name.startswith("."))
    instance = dg.DagsterInstance.get()
    keys = [partition_key(p) for p in files]
    instance.add_dynamic_partitions(export_partitions.name, keys)
    job = defs.resolve_job_def("ingest")
    for key in keys:
        result = job.execute_in_process(instance=instance, partition_key=key)
        print(f"ingest {key}: {'ok' if result.success else 'FAILED'}")
        if not result.success:
            return 1
    print(f"\nWarehouse: {paths.warehouse_path()}  (tables: posts, top_posts)")
    print(f"Dagster instance: {instance.root_directory}")
    print("Open the UI with `make dev`, then http://127.0.0.1:3000")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help=cmd_parse.__doc__, description=cmd_parse.__doc__)
    p.add_argument("files", nargs="+", help="export files to parse")
    p.add_argument("--author", help="author name for formats that do not carry one")
    p.set_defaults(func=cmd_parse)
    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
