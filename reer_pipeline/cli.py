"""`reer`: the command line for what is not an asset run from the UI."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from reer_pipeline import platforms
from reer_pipeline.layout import DataLayout

ROOT = Path(__file__).resolve().parent.parent
# program.modules.GENERATIONS, spelled out: importing it loads DSPy (2 s) on every `reer` call
GENERATION_CHOICES = ("single", "self_consistency", "debate", "manager_worker")
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
DEMO_CONFIG = ROOT / "demo.yaml"
COLUMNS_HELP = (
    "plain CSV columns, FIELD=COLUMN,... (fields: text, created_at, post_id, url, author, likes, "
    "reposts, replies, impressions, platform); FIELD= maps a field to nothing; fields not named "
    "come from <file>.columns.yaml, then from the header's common names"
)
CONFIG_HELP = (
    "a run-config YAML (as `dagster asset materialize -c` takes): its "
    "resources.language_models.config picks the models and their provider options"
)


def cmd_parse(args: argparse.Namespace) -> int:
    """Parse export files (or unzipped X archive folders) and print one parse report per file,
    as JSON lines; a file that gives no post also gets one line on stderr saying why."""
    from reer_pipeline.ingest.formats import CsvMapping, ExportOptions
    from reer_pipeline.ingest.mapping import MappingError, parse_columns
    from reer_pipeline.ingest.stage import stage_export

    try:
        columns = parse_columns(args.columns) if args.columns else CsvMapping()
    except MappingError as exc:
        print(f"reer parse: {exc}", file=sys.stderr)
        return 2
    worst = 0
    for name in args.files:
        path = Path(name)
        if not (path.is_file() or path.is_dir()):
            print(f"reer parse: {name}: no such file", file=sys.stderr)
            worst = 2
            continue
        out = DataLayout.from_env().staging / "cli" / f"{path.name}.parquet"
        report = stage_export(path, out, ExportOptions(author=args.author, csv=columns))
        print(json.dumps(report.as_dict(), default=str))
        problem = report.failure() or report.error
        if problem:
            print(f"reer parse: {problem}", file=sys.stderr)
        if report.error or report.parse_rate < 0.9:
            worst = max(worst, 1)
    return worst


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest export files now, without the sensor: copy each into the exports folder, register
    its `export_files` partition, materialize the ingest assets for it, and print its parse
    report. An unzipped X archive folder is packed into a .zip of its tweets parts first."""
    import dagster as dg

    from reer_pipeline.assets.ingest import partition_key
    from reer_pipeline.assets.partitions import export_partitions
    from reer_pipeline.ingest.mapping import MappingError, parse_columns, sidecar_path

    try:
        columns = (
            parse_columns(args.columns).model_dump(exclude={"platform"}) if args.columns else {}
        )
    except MappingError as exc:
        print(f"reer ingest: {exc}", file=sys.stderr)
        return 2
    layout = DataLayout.from_env()
    dagster_home(layout)
    exports = layout.exports
    exports.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.get()
    select = asset_group("ingest")
    config = {k: v for k, v in (("author", args.author), ("csv_columns", columns)) if v}
    config = {"ops": {"export_files": {"config": config}}} if config else None
    worst = 0
    for name in args.paths:
        src = Path(name)
        try:
            dest = _into_exports(src, exports)
        except ValueError as exc:
            print(f"reer ingest: {exc}", file=sys.stderr)
            worst = 2
            continue
        side = sidecar_path(src)
        if src.is_file() and side.is_file() and side.resolve() != sidecar_path(dest).resolve():
            shutil.copyfile(side, sidecar_path(dest))
        key = partition_key(dest)
        instance.add_dynamic_partitions(export_partitions.name, [key])
        code = materialize(select, partition=key, config=config)
        report, failure = _ingest_outcome(instance, key)
        if report:
            print(json.dumps(report, default=str))
        if failure or code:
            print(
                f"reer ingest: {failure or f'{dest.name}: the ingest run failed'}", file=sys.stderr
            )
            worst = max(worst, 1)
    return worst


def _into_exports(src: Path, exports: Path) -> Path:
    """The export's place in the exports folder (copied there unless it already is)."""
    import filecmp
    import io
    import zipfile

    from reer_pipeline.files import write_atomic

    if src.is_dir():
        from reer_pipeline.ingest.formats import ACCOUNT_FILE, archive_parts

        parts = archive_parts(src)
        if not parts:
            raise ValueError(
                f"{src}: a folder that is not an unzipped X archive (no data/tweets.js)"
            )
        dest = exports / f"{src.resolve().name}.zip"
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in [*parts, src / ACCOUNT_FILE]:
                if part.is_file():
                    zf.write(part, part.relative_to(src).as_posix())
        if not (dest.exists() and dest.read_bytes() == packed.getvalue()):
            write_atomic(dest, packed.getvalue())
        return dest
    if not src.is_file():
        raise ValueError(f"{src}: no such file")
    dest = exports / src.name
    if dest.exists() and dest.resolve() == src.resolve():
        return dest
    if dest.exists() and not filecmp.cmp(src, dest, shallow=False):
        raise ValueError(
            f"{src.name}: {exports} already holds a different file of that name; rename one"
        )
    shutil.copyfile(src, dest)
    return dest


def _ingest_outcome(instance, key: str) -> tuple[dict | None, str | None]:
    """(parse report, failure message) of the newest ingest run of partition `key`."""
    import dagster as dg

    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": key}), limit=1)
    if not runs:
        return None, f"{key}: no ingest run was recorded"
    run = runs[0]
    report, failure = None, None
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.is_step_materialization:
            meta = event.step_materialization_data.materialization.metadata
            if "parse_report" in meta:
                report = meta["parse_report"].value
        elif event.is_step_failure:
            data = event.step_failure_data.user_failure_data
            meta = data.metadata if data else {}
            if "parse_report" in meta:
                report = meta["parse_report"].value
            failure = (data.description if data else None) or failure
            if failure is None and event.step_failure_data.error is not None:
                failure = event.step_failure_data.error.message.strip().splitlines()[-1]
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.event_specific_data
            if not check.passed and check.description and failure is None and report is not None:
                failure = check.description
    return report, failure


def asset_group(name: str) -> list[str]:
    """The asset keys of a group, for `dagster asset materialize --select`."""
    from reer_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == name]
    return sorted(k.to_user_string() for k in keys)


def dagster_home(layout: DataLayout) -> Path:
    """`DAGSTER_HOME` (default `<data root>/dagster_home`), created with our dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(layout.root / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def materialize(select: list[str], partition: str | None = None, config: dict | None = None):
    """One `dagster asset materialize` run in a subprocess, printed as a command to copy."""
    import subprocess

    args = ["dagster", "asset", "materialize", "-m", "reer_pipeline.definitions"]
    args += ["--select", ",".join(select)]
    args += ["--partition", partition] if partition else []
    args += ["--config-json", json.dumps(config)] if config else []
    print("$ " + shlex.join(args), flush=True)
    start = time.monotonic()
    code = subprocess.run([sys.executable, "-m", *args], check=False).returncode
    print(f"  {'done' if code == 0 else 'FAILED'} in {time.monotonic() - start:.0f} s", flush=True)
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    """Materialize the whole graph with `dagster asset materialize` and the demo's budgets:
    every export file (the sample is copied in), then per account mining, its author model (a
    small LoRA budget), tuning and drafting (with the author model when it beat the base)."""
    import dagster as dg
    import yaml

    from reer_pipeline.assets.ingest import partition_key
    from reer_pipeline.assets.partitions import account_partitions, export_partitions
    from reer_pipeline.finetune import EVALUATION
    from reer_pipeline.ingest.watch import skip_reason
    from reer_pipeline.platforms import Account

    layout = DataLayout.from_env()
    home = dagster_home(layout)
    layout.exports.mkdir(parents=True, exist_ok=True)
    if not (layout.exports / SAMPLE.name).exists():
        shutil.copyfile(SAMPLE, layout.exports / SAMPLE.name)
    files = sorted(p for p in layout.exports.iterdir() if skip_reason(p, layout.exports) is None)
    keys = [partition_key(p) for p in files]
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(export_partitions.name, keys)
    ops = yaml.safe_load(DEMO_CONFIG.read_text())["ops"]

    def config_for(select: list[str]) -> dict:
        # one process per phase: the model loads once, no step pays a Python start-up
        config = {"execution": {"config": {"in_process": {}}}}
        return config | {"ops": {k: v for k, v in ops.items() if k in select}}

    for key in keys:
        if materialize(asset_group("ingest"), key, config_for(asset_group("ingest"))):
            return 1
    accounts = instance.get_dynamic_partitions(account_partitions.name)
    for account in accounts:
        steps = [
            (asset_group("mining"), account),
            (asset_group("author"), account),
            (["tuned_program"], f"{account}|gepa"),
            (asset_group("drafting"), account),
        ]
        for select, partition in steps:
            if materialize(select, partition, config_for(select)):
                return 1
    print(f"\nAccounts: {', '.join(accounts) or 'none with enough posts'}")
    print(f"Warehouse: {layout.warehouse}")
    print("  tables: posts, top_posts, post_features, feature_lift, strategy_cards, candidates,")
    print(f"  candidate_scores; traces (JSONL): {layout.traces}")
    print(f"Tuned programs: {layout.programs_root}")
    for account in accounts:
        path = layout.account(Account.parse(account)).adapters / "adapter" / EVALUATION
        if path.exists():
            evaluation = json.loads(path.read_text())
            used = "drafting used it" if evaluation["beats_base"] else "drafting used proposer_lm"
            print(f"Author model of {account}: {evaluation['verdict']}; {used}")
        else:
            print(f"Author model of {account}: none (the author_adapter run's log says why)")
    for account in accounts:
        print_drafted(layout, Account.parse(account))
    print(f"Dagster instance: {home}")
    print("Open the UI with `make dev`, then http://127.0.0.1:3000")
    print_desk(layout, [Account.parse(a) for a in accounts])
    return 0


def print_desk(layout: DataLayout, accounts) -> None:
    """How many drafts wait on the desk, how to open it, and where approvals go. The demo
    approves nothing: only a person's approval is ever published."""
    from reer_pipeline.publish.outbox import outbox_path
    from reer_pipeline.serve.desk import Desk

    desk = Desk(layout)
    queues = {a: desk.queue(a, limit=0) for a in accounts}
    each = ", ".join(f"{a}: {q['pending']}" for a, q in queues.items())
    waiting = sum(q["pending"] for q in queues.values())
    approved = sum(q["approved"] for q in queues.values())
    print(f"{waiting} drafts wait on the desk ({each or 'no account'}).")
    print(
        f"Review them with `make serve`, then http://127.0.0.1:8000 ({approved} approved so far)."
    )
    print(
        f"Approved drafts go out at their slot through the `publish` job, to the outbox "
        f"{outbox_path(layout.root)} unless an account is given a publisher."
    )


def print_drafted(layout: DataLayout, account) -> None:
    """The account's strategy cards and its best drafts per topic (near-duplicates left out)."""
    import duckdb

    from reer_pipeline.ingest.accounts import table_exists
    from reer_pipeline.ingest.warehouse import fetch_dicts

    key = [account.platform, account.author]
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        if not table_exists(con, "candidate_scores"):
            return
        cards = fetch_dicts(
            con,
            "SELECT name, when_to_use FROM strategy_cards WHERE platform = ? AND author = ?",
            key,
        )
        drafts = fetch_dicts(
            con,
            """SELECT s.topic, s.rank, s.total, s.usable, s.gate_reasons, c.text
            FROM candidate_scores s JOIN candidates c ON c.id = s.candidate_id
                AND c.platform = s.platform AND c.author = s.author
            WHERE s.platform = ? AND s.author = ? AND s.duplicate_of IS NULL AND s.rank <= 3
            ORDER BY s.topic, s.rank""",
            key,
        )
    print(f"\nStrategy cards of {account}:")
    for card in cards:
        print(f"  - {card['name']}: {card['when_to_use']}")
    print(f"Drafts of {account} (best first per topic; table candidate_scores):")
    for d in drafts:
        verdict = "usable" if d["usable"] else "unusable: " + "; ".join(d["gate_reasons"] or [])
        print(f"  [{d['topic']}] #{d['rank']} {d['total']:.3f} {verdict}")
        print("    " + (d["text"] or "(empty)").replace("\n", "\n    "))


def open_account(command: str, platform: str, author: str | None):
    """(layout, account, its context) from the warehouse, or a one-line error (SystemExit 2)."""
    import duckdb

    from reer_pipeline.ingest.accounts import find_account
    from reer_pipeline.program.context import load_context

    layout = DataLayout.from_env()
    if not layout.warehouse.exists():
        sys.exit(fail(command, f"no warehouse at {layout.warehouse}; run `make demo` first"))
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        try:
            account = find_account(con, platform, author)
            return layout, account, load_context(con, account, layout.traces)
        except ValueError as e:
            sys.exit(fail(command, str(e)))


def language_models(command: str, config: str | None):
    """The `language_models` resource as a run builds it: its defaults, then the
    `resources.language_models.config` of a run-config YAML (the file `dagster asset
    materialize -c` takes), so roles, `key_env`, rate limits and dtype apply here too."""
    import yaml
    from pydantic import ValidationError

    from reer_pipeline.resources.lm import LMRegistryResource
    from reer_pipeline.resources.storage import Storage

    settings = {}
    if config:
        try:
            run_config = yaml.safe_load(Path(config).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            sys.exit(fail(command, f"{config}: {e}"))
        resources = run_config.get("resources") or {}
        settings = (resources.get("language_models") or {}).get("config") or {}
    try:
        return LMRegistryResource(storage=Storage(), **settings)
    except ValidationError as e:
        sys.exit(fail(command, f"{config}: language_models: {e.errors()[0]['msg']}"))


def load_models(command: str, build):
    """`build()`, or one line naming every URI tried when no model loads (SystemExit 2)."""
    try:
        return build()
    except RuntimeError as e:
        sys.exit(fail(command, str(e)))


def cmd_draft(args: argparse.Namespace) -> int:
    """Draft posts for a topic now and print them ranked, with their scores and whether each is
    usable (and if not, why); a near-duplicate of a better draft is named, not shown."""
    from rich.console import Console
    from rich.table import Table

    from reer_pipeline.program.draft import draft_and_score
    from reer_pipeline.session import drafting_session

    if not args.topic.strip():
        return fail("draft", "the topic is empty; say what to post about")
    console = Console(stderr=True)
    layout, account, ctx = open_account("draft", args.platform, args.author)
    models = language_models("draft", args.config)
    with console.status("loading the models..."):
        session = load_models(
            "draft",
            lambda: drafting_session(
                ctx, layout.account(account), models, generation=args.generation, n_angles=args.n
            ),
        )
        scorer = load_models("draft", lambda: session.scorer)
    console.print(session.model_choice)
    console.print(f"drafting with {session.proposer!r}, scoring with {scorer.scorer!r}")
    topic = {"topic": args.topic, "platform": account.platform, "audience": args.audience}
    with console.status(f"drafting {args.n} posts about {args.topic!r} for {account}..."):
        ranked, stats = draft_and_score(
            session.program, session.proposer, scorer, ctx, [topic], args.max_tokens
        )
    title = f"{args.topic} ({account}, program: {session.source}, model: {session.proposer.uri})"
    table = Table(title=title)
    for name in ("#", "total", "usable", "style", "engagement", "draft"):
        table.add_column(name)
    shown = [(d, s) for d, s in ranked if s["duplicate_of"] is None]
    for d, s in shown:
        table.add_row(
            str(s["rank"]),
            f"{s['total']:.3f}",
            "yes" if s["usable"] else "; ".join(s["gate_reasons"]),
            f"{s['style_fit']:.2f}",
            f"{s['engagement']:.2f}",
            d["text"] or "(empty)",
        )
    Console().print(table)
    repeats = [f"#{s['rank']} repeats #{s['duplicate_of']}" for _, s in ranked if s["duplicate_of"]]
    if repeats:
        console.print(f"not shown, near-duplicates of a better draft: {', '.join(repeats)}")
    usable = sum(s["usable"] for _, s in ranked)
    console.print(
        f"usable {usable} of {len(ranked)}; parse failures: {stats['parse_failures']}, "
        f"empty outputs: {stats['empty_outputs']}"
    )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score one draft against an account's posts, like a linter: every component, the
    usable-draft gate's verdict with its reasons, and the total. Exit status 0 for a usable
    draft, 1 for an unusable one, 2 when it cannot score."""
    import math

    from reer_pipeline.program.draft import make_scorer
    from reer_pipeline.scoring.candidates import COMPONENTS

    if not args.text.strip():
        return fail("score", "the text is empty")
    if not args.topic.strip():
        return fail("score", "the topic is empty")
    layout, account, ctx = open_account("score", args.platform, args.author)
    scorer_lm = load_models("score", lambda: language_models("score", args.config).get("scorer_lm"))
    paths = layout.account(account)
    scorer = make_scorer(
        ctx, scorer_lm, paths.engagement_model, preference_path=paths.preference_model
    )
    result = scorer.score(
        [args.text], topic=args.topic, prompt_texts=args.prompt, facts=[args.fact]
    )[0]

    def show(value) -> str:
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return "-" if missing else f"{value:.3f}"

    print(f"account: {account} ({len(ctx.own_texts)} posts)")
    print(f"topic: {args.topic}")
    for name in COMPONENTS:
        print(f"{name:<12}{show(result[name])}")
    print(f"{'style_lm':<12}{show(result['style_lm'])}  (part of style_fit)")
    print(f"{'style_clf':<12}{show(result['style_clf'])}  (part of style_fit)")
    if result["usable"]:
        print("gate: usable")
    else:
        print(f"gate: UNUSABLE ({', '.join(result['gate_rules'])})")
        for reason in result["gate_reasons"]:
            print(f"  - {reason}")
    print(f"feedback: {result['feedback']}")
    print(f"total: {result['total']:.3f}")
    return 0 if result["usable"] else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """The review desk and its JSON API (FastAPI): read, edit, approve and reject drafts in a
    browser; every decision goes to the review log. Loopback by default; any other address
    needs the token in REER_SERVE_TOKEN."""
    import uvicorn

    from reer_pipeline.serve.app import create_app
    from reer_pipeline.serve.security import TOKEN_ENV, is_loopback, token_problem

    token = os.environ.get(TOKEN_ENV) or None
    if not is_loopback(args.host) and not token:
        return fail("serve", f"binding {args.host} needs a token: set {TOKEN_ENV}")
    if token and token_problem(token):
        return fail("serve", token_problem(token))
    models = language_models("serve", args.config)
    app = create_app(DataLayout.from_env(), models, token, loopback_only=is_loopback(args.host))
    print(f"reer desk on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """A tournament for one account: systems (base, tuned, adapter, adapter+tuned, a generation
    strategy or any model URI) draft for its held-out requests; judge_lm compares every pair in
    both orders and the scorer too. Prints win rates with intervals and Bradley-Terry ratings."""
    import duckdb

    from reer_pipeline.evaluate import tournament as tm
    from reer_pipeline.ingest.warehouse import read_account_posts
    from reer_pipeline.serve.store import ReviewStore, log_path

    layout, account, ctx = open_account("eval", args.platform, args.author)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        posts = read_account_posts(con, account.platform, account.author)
    models = language_models("eval", args.config)
    try:
        systems = [tm.system(s) for s in args.system or tm.DEFAULT_SYSTEMS]
        judge = load_models(
            "eval", lambda: models.load(args.judge) if args.judge else models.get("judge_lm")
        )
        decisions = list(ReviewStore(log_path(layout.root)).latest(account).values())
        report = tm.run(
            ctx,
            posts,
            layout.account(account),
            models,
            judge,
            systems=[s.name for s in systems],
            n_requests=args.requests,
            max_tokens=args.max_tokens,
            decisions=decisions,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    except (ValueError, tm.Unavailable) as e:
        return fail("eval", str(e))
    s = report["summary"]
    print(report["table"])
    print(f"position bias (verdicts that flip with the order): {tm.fmt(s['position_bias'])}")
    print(f"judge agrees with the scorer: {tm.fmt(s['scorer_agreement'])}")
    if report["decisions"]:
        d = report["decisions"]
        print(
            f"prefers the approved draft: judge {tm.fmt(d['judge'])}, scorer {tm.fmt(d['scorer'])}"
        )
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    if args.out:
        body = {k: v for k, v in report.items() if k != "table"}
        Path(args.out).write_text(json.dumps(body, indent=1, default=str))
    return 0


def fail(command: str, message: str) -> int:
    """One line on stderr, no traceback; exit status 2 (it could not run)."""
    print(f"reer {command}: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help=cmd_parse.__doc__, description=cmd_parse.__doc__)
    p.add_argument("files", nargs="+", help="export files (or unzipped X archive folders)")
    p.add_argument("--author", help="author name for formats that do not carry one")
    p.add_argument("--columns", help=COLUMNS_HELP)
    p.set_defaults(func=cmd_parse)
    p = sub.add_parser("ingest", help=cmd_ingest.__doc__, description=cmd_ingest.__doc__)
    p.add_argument("paths", nargs="+", help="export files (or unzipped X archive folders)")
    p.add_argument("--author", help="author name for formats that do not carry one")
    p.add_argument("--columns", help=COLUMNS_HELP)
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("draft", help=cmd_draft.__doc__, description=cmd_draft.__doc__)
    p.add_argument("topic", help="what to post about")
    p.add_argument("--platform", default="x", help=", ".join(platforms.NAMES))
    p.add_argument("-n", type=int, default=3, help="how many drafts (angles)")
    p.add_argument("--author", help="whose voice (default: the platform's account with most posts)")
    p.add_argument("--audience", default="a general audience")
    p.add_argument("--generation", choices=GENERATION_CHOICES, default="single")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--config", help=CONFIG_HELP)
    p.set_defaults(func=cmd_draft)
    p = sub.add_parser("score", help=cmd_score.__doc__, description=cmd_score.__doc__)
    p.add_argument("text", help="the draft to score")
    p.add_argument("--platform", required=True, help=", ".join(platforms.NAMES))
    p.add_argument("--topic", required=True, help="what the draft should be about")
    p.add_argument("--author", help="whose posts to score against (default: most posts there)")
    p.add_argument("--prompt", action="append", default=[], help="instructions it must not echo")
    p.add_argument(
        "--fact", action="append", default=[], help="a fact or link the topic gives (may repeat)"
    )
    p.add_argument("--config", help=CONFIG_HELP)
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("demo", help=cmd_demo.__doc__, description=cmd_demo.__doc__)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("serve", help=cmd_serve.__doc__, description=cmd_serve.__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--config", help=CONFIG_HELP)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("eval", help=cmd_eval.__doc__, description=cmd_eval.__doc__)
    p.add_argument("--platform", default="x", help=", ".join(platforms.NAMES))
    p.add_argument("--author", help="whose account (default: the platform's with most posts)")
    p.add_argument("--system", action="append", help="a system name or model URI (may repeat)")
    p.add_argument("--judge", help="the judge's model URI (default: judge_lm)")
    p.add_argument("--requests", type=int, default=20, help="held-out requests")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--out", help="write the report as JSON")
    p.add_argument("--config", help=CONFIG_HELP)
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
