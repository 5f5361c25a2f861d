"""`reer score "text" --platform x --topic "..."`: score one draft against an author's posts.

Prints every scorer component, the usable-draft gate's verdict with its reasons, the feedback and
the total. Exit status: 0 for a usable draft, 1 for an unusable one, 2 when it cannot score (no
warehouse, an unknown platform or author, an empty text or topic).

Wire it into `reer_pipeline/cli.py` with `add_score_parser(sub)` in `build_parser`.
"""

from __future__ import annotations

import argparse
import math
import sys

from reer_pipeline import platforms

OTHER_POSTS = 3000  # other authors' posts for the style classifier, at most


def add_score_parser(sub) -> argparse.ArgumentParser:
    """Add the `score` subcommand to `sub` (the parser's subparsers)."""
    p = sub.add_parser("score", help=cmd_score.__doc__, description=cmd_score.__doc__)
    p.add_argument("text", help="the draft to score")
    p.add_argument("--platform", required=True, help=f"one of {', '.join(platforms.NAMES)}")
    p.add_argument("--topic", required=True, help="what the draft should be about")
    p.add_argument(
        "--author", help="whose posts to score against (default: most original posts there)"
    )
    p.add_argument("--prompt", action="append", default=[], help="instructions it must not echo")
    p.set_defaults(func=cmd_score)
    return p


def _fail(message: str) -> int:
    print(f"reer score: {message}", file=sys.stderr)
    return 2


def _read_posts(con, platform: str, author: str | None):
    """(author, the author's original posts newest first, other authors' posts) or an error."""
    rows = con.execute(
        """SELECT platform, author, count(*) FROM posts WHERE is_original
        GROUP BY platform, author ORDER BY platform, count(*) DESC, author"""
    ).fetchall()
    here = [(a, n) for p, a, n in rows if p == platform]
    if not here:
        have = sorted({p for p, _, _ in rows})
        return f"no posts on {platform}; platforms with posts: {', '.join(have) or 'none'}"
    if author is None:
        author = here[0][0]
    elif author not in {a for a, _ in here}:
        return f"no posts by {author!r} on {platform}; authors there: " + ", ".join(
            f"{a} ({n})" for a, n in here
        )
    own = [
        r[0]
        for r in con.execute(
            """SELECT text FROM posts WHERE platform = ? AND author = ? AND is_original
            ORDER BY created_at DESC, post_id""",
            [platform, author],
        ).fetchall()
    ]
    others = [
        r[0]
        for r in con.execute(
            """SELECT text FROM posts WHERE is_original AND NOT (platform = ? AND author = ?)
            ORDER BY created_at DESC, post_id LIMIT ?""",
            [platform, author, OTHER_POSTS],
        ).fetchall()
    ]
    return author, own, others


def _engagement(layout, platform: str, author: str):
    from reer_pipeline.scoring.engagement import EngagementModel

    path = layout.engagement_model(platforms.Account(platform, author))
    try:
        return EngagementModel.load(path) if path.exists() else None
    except Exception:  # noqa: BLE001 - a stale or foreign file: score without it
        return None


def _show(value) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )


def cmd_score(args: argparse.Namespace) -> int:
    """Score one draft for an author: components, the usable-draft gate and the total."""
    if not (args.text or "").strip():
        return _fail("the draft text is empty")
    if not (args.topic or "").strip():
        return _fail("the topic is empty")
    try:
        platform = platforms.get(args.platform).name
    except ValueError as e:
        return _fail(str(e))
    from reer_pipeline.layout import DataLayout

    layout = DataLayout.from_env()
    if not layout.warehouse.exists():
        return _fail(f"no warehouse at {layout.warehouse}; run `make demo` or import exports")
    try:
        import duckdb

        with duckdb.connect(str(layout.warehouse), read_only=True) as con:
            found = _read_posts(con, platform, args.author)
    except duckdb.Error as e:
        return _fail(f"cannot read the posts in {layout.warehouse}: {e}")
    if isinstance(found, str):
        return _fail(found)
    author, own, others = found
    try:
        from reer_pipeline.lm.registry import resolve_role
        from reer_pipeline.scoring.candidates import COMPONENTS, CandidateScorer

        scorer = CandidateScorer(
            platform,
            own,
            scorer=resolve_role("scorer_lm"),
            engagement=_engagement(layout, platform, author),
            other_texts=others,
        )
        result = scorer.score([args.text], topic=args.topic, prompt_texts=args.prompt)[0]
    except Exception as e:  # noqa: BLE001 - one line, never a traceback
        return _fail(f"scoring failed: {type(e).__name__}: {e}")
    print(f"account: {platform}:{author} ({len(own)} posts)")
    print(f"topic: {args.topic}")
    for name in COMPONENTS:
        print(f"{name:<12}{_show(result[name])}")
    print(f"{'style_lm':<12}{_show(result['style_lm'])}  (part of style_fit)")
    print(f"{'style_clf':<12}{_show(result['style_clf'])}  (part of style_fit)")
    if result["usable"]:
        print("gate: usable")
    else:
        print(f"gate: UNUSABLE ({', '.join(result['gate_rules'])})")
        for reason in result["gate_reasons"]:
            print(f"  - {reason}")
    print(f"feedback: {result['feedback']}")
    print(f"total: {result['total']:.3f}")
    return 0 if result["usable"] else 1
