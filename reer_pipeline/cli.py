"""`reer`: the command line for what is not an asset run from the UI."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from reer_pipeline import paths

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
DEMO_CONFIG = ROOT / "demo.yaml"


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


def materialize(select: list[str], partition: str | None = None, config: dict | None = None):
    """One `dagster asset materialize` run in a subprocess, printed as a command to copy."""
    import subprocess

    args = ["dagster", "asset", "materialize", "-m", "reer_pipeline.definitions"]
    args += ["--select", ",".join(select)]
    args += ["--partition", partition] if partition else []
    args += ["--config-json", json.dumps(config)] if config else []
    print("$ " + shlex.join(args))
    return subprocess.run([sys.executable, "-m", *args], check=False).returncode


def cmd_demo(args: argparse.Namespace) -> int:
    """Materialize the whole graph with `dagster asset materialize` and the demo's budgets:
    every export file (the sample is copied in), then mining and drafting, then tuning."""
    import dagster as dg
    import yaml

    from reer_pipeline.assets.ingest import export_partitions, partition_key
    from reer_pipeline.definitions import defs

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.data_dir() / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    exports = paths.exports_dir()
    exports.mkdir(parents=True, exist_ok=True)
    if not (exports / SAMPLE.name).exists():
        shutil.copyfile(SAMPLE, exports / SAMPLE.name)
    files = sorted(p for p in exports.iterdir() if p.is_file() and not p.name.startswith("."))
    keys = [partition_key(p) for p in files]
    dg.DagsterInstance.get().add_dynamic_partitions(export_partitions.name, keys)
    ops = yaml.safe_load(DEMO_CONFIG.read_text())["ops"]
    graph = defs.resolve_asset_graph()

    def group(*names: str) -> list[str]:
        keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in names]
        return sorted(k.to_user_string() for k in keys)

    def config_for(select: list[str]) -> dict:
        return {"ops": {k: v for k, v in ops.items() if k in select}}

    for key in keys:
        if materialize(group("ingest"), partition=key):
            return 1
    downstream = group("mining", "drafting")
    if materialize(downstream, config=config_for(downstream)):
        return 1
    import duckdb

    with duckdb.connect(str(paths.warehouse_path()), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT platform FROM top_posts ORDER BY 1").fetchall()
    for (platform,) in rows:
        if materialize(["tuned_program"], f"gepa|{platform}", config_for(["tuned_program"])):
            return 1
    print(f"\nWarehouse: {paths.warehouse_path()}")
    print("  tables: posts, top_posts, post_features, feature_lift, strategy_cards, candidates,")
    print("  candidate_scores; traces (JSONL): " + str(paths.traces_dir()))
    print(f"Tuned programs: {paths.programs_dir()}")
    print(f"Dagster instance: {home}")
    print("Open the UI with `make dev`, then http://127.0.0.1:3000")
    return 0


def cmd_draft(args: argparse.Namespace) -> int:
    """Draft posts for a topic now and print them ranked, with their scores."""
    from rich.console import Console
    from rich.table import Table

    from reer_pipeline.lm.registry import resolve_role
    from reer_pipeline.program.context import load_context, tuned_program_path
    from reer_pipeline.program.modules import DraftProgram, draft_candidates, load_program
    from reer_pipeline.scoring.candidates import CandidateScorer
    from reer_pipeline.scoring.engagement import EngagementModel

    console = Console(stderr=True)
    warehouse = paths.warehouse_path()
    if not warehouse.exists():
        print(f"reer draft: no warehouse at {warehouse}; run `make demo` first", file=sys.stderr)
        return 1
    import duckdb

    with console.status("reading the author's strategies and traces..."):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            ctx = load_context(con, args.platform, args.author)
    path = tuned_program_path(args.platform)
    kw = {"generation": args.generation, "n_angles": args.n}
    program = load_program(path, **kw) if path else DraftProgram(**kw)
    with console.status(f"loading the models ({'tuned' if path else 'base'} program)..."):
        proposer = resolve_role("proposer_lm")
        scorer_lm = resolve_role("scorer_lm")
    with console.status(f"drafting {args.n} posts about {args.topic!r} for {ctx.author}..."):
        topic = {"topic": args.topic, "platform": args.platform, "audience": args.audience}
        drafts, stats = draft_candidates(
            program,
            proposer,
            [topic],
            ctx.cards,
            ctx.traces,
            ctx.style,
            ctx.slots,
            args.max_tokens,
        )
    with console.status(f"scoring {len(drafts)} drafts in one batch..."):
        model = EngagementModel.for_author(args.platform, ctx.author)
        scorer = CandidateScorer(args.platform, ctx.own_texts, scorer_lm, model)
        scores = scorer.score([d["text"] for d in drafts])
    ranked = sorted(zip(drafts, scores, strict=True), key=lambda ds: -ds[1]["total"])
    table = Table(title=f"{args.topic} ({args.platform}, {ctx.author}, program: {path or 'base'})")
    for name in ("#", "total", "style", "engagement", "strategy", "draft"):
        table.add_column(name)
    for i, (d, s) in enumerate(ranked, start=1):
        table.add_row(
            str(i),
            f"{s['total']:.3f}",
            f"{s['style_fit']:.2f}",
            f"{s['engagement']:.2f}",
            d["strategy"] or "",
            d["text"] or "(empty)",
        )
    Console().print(table)
    console.print(
        f"parse failures: {stats['parse_failures']}, empty outputs: {stats['empty_outputs']}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help=cmd_parse.__doc__, description=cmd_parse.__doc__)
    p.add_argument("files", nargs="+", help="export files to parse")
    p.add_argument("--author", help="author name for formats that do not carry one")
    p.set_defaults(func=cmd_parse)
    p = sub.add_parser("draft", help=cmd_draft.__doc__, description=cmd_draft.__doc__)
    p.add_argument("topic", help="what to post about")
    p.add_argument("--platform", choices=["x", "linkedin", "mastodon"], default="x")
    p.add_argument("-n", type=int, default=3, help="how many drafts (angles)")
    p.add_argument("--author", help="whose voice (default: the author with the most posts)")
    p.add_argument("--audience", default="a general audience")
    p.add_argument(
        "--generation", choices=["single", "self_consistency", "debate"], default="single"
    )
    p.add_argument("--max-tokens", type=int, default=256)
    p.set_defaults(func=cmd_draft)
    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
