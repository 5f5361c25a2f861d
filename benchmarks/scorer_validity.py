"""Scorer validity on real text: does the scorer rank an author's real posts above junk?

Every author with enough original posts in the exports is split by time: the newest 20% are the
held-out positives, the rest train the scorer (its author posts, the engagement model). Each
negative class is scored against the same author's scorer and compared with the positives by ROC
AUC (the chance that a random positive outranks a random negative of the same author; ties count
half), pooled over authors, with a bootstrap interval that resamples within each author.

Negative classes (one name each):
- another_author: another author's real held-out posts on the same platform;
- loop, cut, shuffled, empty: degenerate text made from the author's held-out posts (a phrase of
  the post looped, the post cut mid-word, its words shuffled, empty or whitespace). Only posts of
  6+ words besides links are shuffled: "🔥 https://t.co/x" shuffled is still a post;
- echo: the post with the drafting instructions or the request echoed into it;
- residue: the post wrapped in template, JSON, markup, `###` or numbered-dot garbage;
- copy: a verbatim copy of one of the author's training posts (the ones the scorer is given);
- off_topic: a held-out post scored against another held-out post's topic;
- invented: a held-out post with one invented event, quote or number put in (`invent`): what the
  gate's invented rule must catch, since nothing the author or the topic said supports it.

Every item is scored with its source post (the held-out post it was made from) as its topic's
facts, as when a topics.yaml entry carries the facts its post uses: a real post's claims are
then supported, an injected one is not. A second table ("strict") scores the same items with no
facts (only the author's earlier posts support a claim): there the gate also rejects the real
posts that report news the earlier posts never held (`benchmarks/invented_facts.py` measures
that rate on every held-out post).

Measured 2026-12-03 at 81f4af4 (--per-class 30, the four shared exports, about 29 minutes under a
load average of 6.5 on 2 cores): with facts every target is met (min_auc 0.898, as before the
rule; invented 0.99 [0.97, 1.00], the gate catching 50/52); strict, the gate rejects 35/97 real
held-out posts (the scorer knows the newest 64 train posts only) and the total's AUC falls to
0.78-0.82 on every class: a real post with news is no usable draft unless its topic says it.

The topic of a post is its three content words rarest in the author's training posts
(`scoring.topic.KeyTerms`), so no model is involved. The prompt texts the gate may check echoes
against are the REER request and instructions and the drafting signature's instructions.

Run (about 10-20 minutes on one CPU thread):
    REER_MODELS_DIR=... .venv/bin/python benchmarks/scorer_validity.py [--per-class 30]
It prints two tables (strict, then with facts) of AUC [95% interval] per negative class (rows)
and scorer component (columns), each with the gate's false rejections of real posts, and last
`min_auc=<value>`: the lowest AUC of the total over the classes that have targets (with facts).
"""

from __future__ import annotations

import argparse
import inspect
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reer_pipeline.stats import percentile_interval
from reer_pipeline.text import strip_links

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "fivethirtyeight_BarackObama.csv"
SHARED = ROOT.parent / "shared" / "data" / "exports"

TARGETS = {
    "loop": 0.95,
    "cut": 0.95,
    "shuffled": 0.95,
    "empty": 0.95,
    "echo": 0.95,
    "residue": 0.95,
    "copy": 0.90,
    "off_topic": 0.80,
    "another_author": 0.75,
    "invented": 0.75,
}
CLASSES = tuple(TARGETS)
MIN_POSTS = 30  # authors with fewer original posts are left out
OWN_POSTS = 64  # the scorer gets the newest this many training posts, as `reer draft` does

INSTRUCTIONS = [
    "Before writing it, think aloud in the first person about how you will write this post: "
    "who the readers are, what the goal is, which hook to open with, how to structure it and "
    "how to end.",
    "Write 3 to 5 short paragraphs separated by blank lines, in the future tense. "
    "Do not copy the post.",
    "Write one social media post on the topic from the angle, following the strategy. "
    "Write the post itself, ready to publish, in the voice of the example reasoning.",
]


# ---- data -------------------------------------------------------------------------------------
def default_exports() -> list[Path]:
    if SHARED.is_dir():
        return sorted(p for p in SHARED.iterdir() if p.is_file() and not p.name.startswith("LIC"))
    return [SAMPLE]


def load_authors(exports: list[Path], workdir: Path):
    """{(platform, author): [(post_id, created_at, text)] oldest first} of original posts, and
    the DuckDB connection they were read from (posts and post_features)."""
    import duckdb

    from reer_pipeline.ingest.stage import stage_export
    from reer_pipeline.ingest.warehouse import EngagementConfig, build_posts
    from reer_pipeline.scoring.features import build_post_features

    staged = []
    for path in exports:
        out = workdir / f"{path.stem}.parquet"
        report = stage_export(path, out)
        if report.error is None and report.posts:
            staged.append(out)
    con = duckdb.connect(str(workdir / "warehouse.duckdb"))
    build_posts(con, staged, EngagementConfig())
    build_post_features(con)
    rows = con.execute(
        """SELECT platform, author, post_id, created_at, text FROM posts
        WHERE is_original AND length(trim(text)) > 0 ORDER BY created_at, post_id"""
    ).fetchall()
    authors: dict[tuple[str, str], list] = {}
    for platform, author, post_id, created, text in rows:
        authors.setdefault((platform, author), []).append((post_id, created, text))
    return {k: v for k, v in authors.items() if len(v) >= MIN_POSTS}, con


# ---- topics -----------------------------------------------------------------------------------
TOPIC_WORD_RE = re.compile(r"(?<![@#/\w])[^\W\d_][\w'-]+")


def _terms(text: str) -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = TOPIC_WORD_RE.findall(strip_links(text).lower())
    return list(dict.fromkeys(w for w in words if len(w) > 2 and w not in ENGLISH_STOP_WORDS))


class KeyTerms:
    """A model-free topic for a post: its `k` words (no stop words, mentions, hashtags or links)
    rarest in a background corpus, in the order they appear; '' when it has none."""

    def __init__(self, background: list[str], k: int = 3):
        self.k, self.n, self.df = k, len(background) + 1, {}
        for doc in background:
            for w in _terms(doc):
                self.df[w] = self.df.get(w, 0) + 1

    def __call__(self, text: str) -> str:
        words = _terms(text)
        chosen = set(sorted(words, key=lambda w: (self.df.get(w, 0), words.index(w)))[: self.k])
        return " ".join(w for w in words if w in chosen)


# ---- negatives --------------------------------------------------------------------------------
def looped(text: str, rng: random.Random) -> str:
    words = text.split()
    n = min(len(words), rng.randint(3, 6))
    start = rng.randint(0, max(0, len(words) - n))
    phrase = " ".join(words[start : start + n])
    return " ".join(words[:start] + [phrase] * rng.randint(4, 7))


def cut(text: str, rng: random.Random) -> str:
    spots = [m.start() + 2 for m in re.finditer(r"[^\W\d_]{5,}", text)]
    middle = [s for s in spots if 0.3 * len(text) <= s <= 0.8 * len(text)] or spots
    return text[: rng.choice(middle)] if middle else text[: max(1, len(text) // 2)]


def shuffled(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(10):
        rng.shuffle(words)
        if words != text.split() or len(set(words)) < 2:
            break
    return " ".join(words)


def empty(text: str, rng: random.Random) -> str:
    return rng.choice(["", " ", "\n\n", "\t \n", "   "])


def echo(text: str, rng: random.Random, request: str) -> str:
    instruction = rng.choice(INSTRUCTIONS)
    return rng.choice(
        [
            f"{instruction}\n\n{text}",
            f"{text}\n\n{instruction}",
            f"{request}\n\n{text}",
            f"{text} Do not copy the post.",
        ]
    )


def residue(text: str, rng: random.Random) -> str:
    first = text.split()[0] if text.split() else "Post"
    return rng.choice(
        [
            f'{{"post": "{text}"}}',
            f"###Question###1.1.1.1.1.1\n{text}",
            f"{text} {{Post.json}} {{Post.json.json.json.",
            f"<think>\n{text}\n</think>",
            f"[[ ## post ## ]]\n{text}",
            f"{text}\n########}}## ####",
            f"{first} 1.1.1.1.1.1.1.1.1.1.1.1",
            f"Draft: {text}",
        ]
    )


# One invented fact each: an event, a quote (in the author's own name, or someone else's) or a
# number, with values drawn at random. {text} is the real post, {name} the name the author signs
# quotes with (the most common name after a dash in their posts, else the handle).
INVENTED = {
    "event": [
        "LIVE: {text}",
        "{text} Tune in at {hour}:{minute} p.m. ET.",
        "Watch live tonight at {hour}: {text}",
        "Today I signed a new executive order. {text}",
        "I'm giving a speech about this on {weekday}. {text}",
        "{text} Join us on {weekday} at {hour} p.m.",
    ],
    "quote": [
        '"{quote}" —{name}',
        '{text}\n\n"{quote}" —{name}',
        "'{quote}' —{other}",
        '{name} said it best: "{quote}" {text}',
        '{text} As {other} put it, "{quote}"',
    ],
    "number": [
        "{text} That's {pct}% more than last year.",
        "Over {small}.{digit} million people agree. {text}",
        "{text} It costs ${small} billion a year.",
        "Since {year}, we have fought for this. {text}",
        "{thousands},{digit}00 people signed up this week. {text}",
    ],
}
QUOTES = [
    "Testing is key to delivering a quality product.",
    "Every great change starts with people who refuse to give up on each other.",
    "We do not wait for the future, we build it one honest step at a time.",
    "Nothing worth having was ever handed to anyone without a fight.",
    "The best ideas come from the people who are closest to the problem.",
    "Hope is the thing that keeps a movement marching when the road gets long.",
]
OTHERS = ["Johnsons R&D team", "Dr. Maria Ellison", "the Brookfield Institute", "Coach Dan Ruiz"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def signature(posts: list[str], author: str) -> str:
    """The name `author` signs quotes with in `posts` ("President Obama"), else the handle."""
    from reer_pipeline.scoring.gate import ATTRIBUTION_RE

    names = [m.group(1) or m.group(2) for p in posts for m in ATTRIBUTION_RE.finditer(p)]
    common = max(set(names), key=names.count, default="")
    return common.strip() if names.count(common) >= 3 else author


def invent(text: str, rng: random.Random, name: str) -> tuple[str, str]:
    """(kind, text): `text` with one invented event, quote or number (`INVENTED`)."""
    kind = rng.choice(list(INVENTED))
    values = dict(
        text=text,
        name=name,
        other=rng.choice(OTHERS),
        quote=rng.choice(QUOTES),
        weekday=rng.choice(WEEKDAYS),
        hour=rng.randint(1, 11),
        minute=f"{rng.randint(1, 59):02d}",
        pct=rng.randint(11, 89),
        small=rng.randint(2, 9),
        digit=rng.randint(1, 9),
        year=rng.randint(1950, 1999),
        thousands=rng.randint(11, 99),
    )
    return kind, rng.choice(INVENTED[kind]).format(**values)


MAKERS = {"loop": looped, "cut": cut, "shuffled": shuffled, "empty": empty, "residue": residue}


def build_items(authors: dict, per_class: int, seed: int) -> list[dict]:
    """Scoring items: {account, cls, label, text, topic}; label 1 for held-out posts."""
    from reer_pipeline.reer.search import render_request

    rng, invented_rng = random.Random(seed), random.Random(seed + 1)
    splits = {}
    for key, posts in authors.items():
        cut_at = int(len(posts) * 0.8)
        train, test = [p[2] for p in posts[:cut_at]], [p[2] for p in posts[cut_at:]]
        splits[key] = (train, test, KeyTerms(train))
    items = []
    for key, (train, test, terms) in splits.items():
        platform, author = key
        pos = rng.sample(test, min(per_class, len(test)))
        topics = {t: terms(t) for t in test}

        def add(cls, label, text, topic, source, key=key):
            items.append(
                dict(account=key, cls=cls, label=label, text=text, topic=topic, source=source)
            )

        for t in pos:
            add("positive", 1, t, topics[t], t)
        for name, make in MAKERS.items():
            source = [t for t in pos if name != "shuffled" or len(strip_links(t, "").split()) >= 6]
            for t in rng.sample(source, min(len(source), max(5, per_class // 2))):
                add(name, 0, make(t, rng), topics[t], t)
        name = signature(train, author)  # its own generator: the other classes stay as they were
        for t in invented_rng.sample(pos, min(len(pos), max(5, per_class // 2))):
            add("invented", 0, invent(t, invented_rng, name)[1], topics[t], t)
        for t in rng.sample(pos, min(len(pos), max(5, per_class // 2))):
            request = render_request(platform, topics[t], "a general audience", "engage")
            add("echo", 0, echo(t, rng, request), topics[t], t)
        own = train[-OWN_POSTS:]
        for t in rng.sample(own, min(len(own), per_class)):
            add("copy", 0, t, terms(t), t)
        for t in pos:
            words = set(topics[t].split())
            others = [
                o for o in test if o != t and topics[o] and not set(topics[o].split()) & words
            ]
            if others and topics[t]:
                add("off_topic", 0, t, topics[rng.choice(others)], t)
        for other, (_, other_test, other_terms) in splits.items():
            if other != key and other[0] == platform:
                for t in rng.sample(other_test, min(per_class, len(other_test))):
                    add("another_author", 0, t, other_terms(t), t)
    return items, {k: (tr, te) for k, (tr, te, _) in splits.items()}


# ---- scoring ----------------------------------------------------------------------------------
def score_items(items: list[dict], splits: dict, con, lm, engagement: bool = True) -> list[str]:
    """Score every item with its author's CandidateScorer (one batched call per author); store
    each result's numeric components on the item. Returns the component names."""
    from reer_pipeline.scoring import candidates

    params = inspect.signature(candidates.CandidateScorer.score).parameters
    init = inspect.signature(candidates.CandidateScorer).parameters
    names: list[str] = []
    for key, (train, _test) in splits.items():
        platform, author = key
        mine = [it for it in items if it["account"] == key]
        if not mine:
            continue
        model = train_engagement(con, platform, author) if engagement else None
        kwargs = {}
        if "other_texts" in init:  # the relative style model's "others": other authors' train
            kwargs["other_texts"] = [t for k, (tr, _) in splits.items() if k != key for t in tr]
        scorer = candidates.CandidateScorer(
            platform, train[-OWN_POSTS:], scorer=lm, engagement=model, **kwargs
        )
        texts = [it["text"] for it in mine]
        extra = {}
        if "topics" in params:
            extra["topics"] = [it["topic"] for it in mine]
        if "prompt_texts" in params:
            extra["prompt_texts"] = INSTRUCTIONS
        if "facts" in params:  # the topic carries the facts of the post the item was made from
            extra["facts"] = [[it["source"]] for it in mine]
        t0 = time.perf_counter()
        results = scorer.score(texts, **extra)
        print(
            f"  {platform}:{author}: {len(texts)} texts scored in {time.perf_counter() - t0:.0f}s",
            file=sys.stderr,
        )
        for it, r in zip(mine, results, strict=True):
            it["scores"] = {
                k: float(v)
                for k, v in r.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            it["usable"] = r.get("usable")
            it["reasons"] = r.get("gate_reasons") or []
            it["lm"] = r.get("lm")
            for k in it["scores"]:
                if k not in names:
                    names.append(k)
    return names


def train_engagement(con, platform: str, author: str):
    """The author's engagement model fitted on the training 80% only (None without engagement)."""
    from reer_pipeline.scoring.engagement import train_engagement_model

    try:
        return train_engagement_model(con, author, platform, refit=False)
    except ValueError:
        return None


# ---- AUC --------------------------------------------------------------------------------------
def pooled_auc(groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """P(positive > negative) + P(tie)/2 over pairs within each group (author). A group where
    the component is missing on one side is left out; a missing score ranks lowest."""
    wins = pairs = 0.0
    for pos, neg in groups:
        if not len(pos) or not len(neg) or np.isnan(pos).all() or np.isnan(neg).all():
            continue
        pos, neg = np.nan_to_num(pos, nan=-1e18), np.nan_to_num(neg, nan=-1e18)
        diff = pos[:, None] - neg[None, :]
        wins += (diff > 0).sum() + 0.5 * (diff == 0).sum()
        pairs += diff.size
    return wins / pairs if pairs else float("nan")


def auc_with_interval(groups, reps: int, rng: np.random.Generator) -> tuple[float, float, float]:
    point = pooled_auc(groups)
    if math.isnan(point):
        return point, point, point
    boots = []
    for _ in range(reps):
        boots.append(
            pooled_auc(
                [
                    (p[rng.integers(0, len(p), len(p))], n[rng.integers(0, len(n), len(n))])
                    for p, n in groups
                    if len(p) and len(n)
                ]
            )
        )
    low, high = percentile_interval(boots)
    return point, float(low), float(high)


def length_bias(positives: list[dict], names: list[str]) -> str:
    """Spearman rho of each component with the post's length over the real held-out posts,
    within each author, averaged: near 0 is length-fair."""
    from scipy.stats import spearmanr

    cells = []
    for name in names:
        rhos = []
        for acc in sorted({it["account"] for it in positives}):
            mine = [it for it in positives if it["account"] == acc]
            v = np.array([it["scores"].get(name, np.nan) for it in mine])
            n = np.array([len(it["text"]) for it in mine], float)
            ok = ~np.isnan(v)
            if ok.sum() >= 5 and np.ptp(v[ok]) > 0:
                rhos.append(spearmanr(v[ok], n[ok]).statistic)
        cells.append(f"{name} {np.mean(rhos):+.2f}" if rhos else f"{name} -")
    return "length bias (Spearman rho with chars, held-out posts): " + ", ".join(cells)


def report(items: list[dict], names: list[str], reps: int, seed: int) -> dict[str, float]:
    """Print the table and the gate's counts; return the total's AUC per negative class."""
    rng = np.random.default_rng(seed)
    accounts = sorted({it["account"] for it in items})
    shown = [n for n in names if n != "total"] + ["total"]
    width = 19
    print(f"{'class':<15}{'n+/n-':>10}  " + "".join(f"{n[: width - 1]:>{width}}" for n in shown))
    totals = {}
    for cls in CLASSES:
        negs = [it for it in items if it["cls"] == cls]
        if not negs:
            continue
        cells, n_pos, n_neg = [], 0, 0
        for name in shown:
            groups = []
            for acc in accounts:
                # positives of the accounts that have negatives of this class
                neg = np.array(
                    [it["scores"].get(name, np.nan) for it in negs if it["account"] == acc]
                )
                if not len(neg):
                    continue
                pos = np.array(
                    [
                        it["scores"].get(name, np.nan)
                        for it in items
                        if it["account"] == acc and it["cls"] == "positive"
                    ]
                )
                groups.append((pos, neg))
            point, low, high = auc_with_interval(groups, reps, rng)
            cells.append(f"{point:.2f} [{low:.2f},{high:.2f}]" if not math.isnan(point) else "-")
            if name == "total":
                totals[cls] = point
                n_pos, n_neg = sum(len(p) for p, _ in groups), sum(len(n) for _, n in groups)
        print(f"{cls:<15}{f'{n_pos}/{n_neg}':>10}  " + "".join(f"{c:>{width}}" for c in cells))
    print()
    positives = [it for it in items if it["cls"] == "positive"]
    if any(it.get("usable") is not None for it in positives):
        rejected = [it for it in positives if it.get("usable") is False]
        print(f"gate: {len(rejected)}/{len(positives)} real held-out posts rejected")
        for it in rejected[:8]:
            print(f"  {it['account'][1]}: {'; '.join(it['reasons'])[:150]}")
        for cls in CLASSES:
            negs = [it for it in items if it["cls"] == cls]
            if negs:
                caught = sum(it.get("usable") is False for it in negs)
                print(f"  {cls}: gate caught {caught}/{len(negs)}")
    print(length_bias(positives, shown))
    missed = {c: f"{v:.2f}<{TARGETS[c]}" for c, v in totals.items() if v < TARGETS[c]}
    print(f"targets missed by the total: {missed or 'none'}")
    return totals


def main(argv=None) -> dict[str, float]:
    """Run the benchmark; returns the total's AUC per negative class (see TARGETS)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exports", nargs="*", type=Path, help="export files (default: shared)")
    parser.add_argument("--per-class", type=int, default=30, help="items per class and author")
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lm", default="hf::embedded", help="the scorer LM ('' for none)")
    parser.add_argument("--no-engagement", action="store_true")
    parser.add_argument("--dump", type=Path, help="write every scored item here (JSON lines)")
    args = parser.parse_args(argv)

    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.registry import load_lm

    exports = args.exports or default_exports()
    with tempfile.TemporaryDirectory() as tmp:
        authors, con = load_authors(exports, Path(tmp))
        items, splits = build_items(authors, args.per_class, args.seed)
        print(
            f"{len(authors)} authors: "
            + ", ".join(f"{p}:{a} ({len(v)} posts)" for (p, a), v in authors.items()),
            file=sys.stderr,
        )
        layout = DataLayout.from_env()
        lm = load_lm(args.lm, models_dir=layout.models) if args.lm else None
        names = score_items(items, splits, con, lm, engagement=not args.no_engagement)
        con.close()
    if args.dump:
        import json

        with args.dump.open("w") as f:
            for it in items:
                f.write(json.dumps({**it, "account": list(it["account"])}, default=str) + "\n")
    print("== strict: no facts given (what the author's earlier posts support, nothing else) ==")
    report(strict(items, splits), names, args.bootstrap, args.seed)
    print("\n== the topic carries the facts of each item's source post ==")
    totals = report(items, names, args.bootstrap, args.seed)
    print(f"min_auc={min(totals.values(), default=float('nan')):.3f}")
    from reer_pipeline.tracking import benchmark_record, track

    figures = {"auc_total": totals, "min_auc": min(totals.values(), default=float("nan"))}
    files = [args.dump] if args.dump else []
    track(benchmark_record, "scorer_validity", vars(args), figures, files, root=layout.root)
    return totals


def strict(items: list[dict], splits: dict) -> list[dict]:
    """`items` as the gate would score them with no facts: an item whose claims the author's
    posts (the scorer's) do not support is unusable and totals 0. No model call: the gate's
    other verdicts and the components are the same."""
    from reer_pipeline.scoring.gate import AuthorIndex, invented_claims

    indexes = {key: AuthorIndex(train[-OWN_POSTS:]) for key, (train, _) in splits.items()}
    out = []
    for it in items:
        claims = invented_claims(it["text"], it["topic"] or "", (), indexes[it["account"]])
        if claims and "scores" in it:
            why = f"invented: {claims[0].kind} {claims[0].text[:40]!r}"
            scores = {**it["scores"], "total": 0.0}
            it = {**it, "scores": scores, "usable": False, "reasons": [*it["reasons"], why]}
        out.append(it)
    return out


if __name__ == "__main__":
    main()
