"""Train, validation and test sets for tuning the drafting program, split by time.

An example is one of the author's top posts y. Its inputs are the request x behind y (the REER
trace's x where y has a trace, else the same fallback x the search would use, with no model call)
and the strategy card that y belongs to; its reference is y itself. The traces shown to the
program as examples of the author's reasoning come from train posts only, so nothing from a
validation or test post leaks into any prompt.

The person's decisions add gold examples (`decision_examples`): each approved text (edited or
not) is the reference for its request's topic, and the reasons of the drafts rejected on that
topic go with it (`rejections`), which the metric says in words. They are split by time like the
posts, so tuned and base are also compared on held-out decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dspy

from reer_pipeline.program.modules import DEFAULT_CARD
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import parse_request
from reer_pipeline.serve.store import REASONS

INPUTS = ("topic", "platform", "audience", "strategies", "traces")
MAX_SHOWN_TRACES = 5
FRACTIONS = (0.2, 0.2)  # validation, test: the newest 40% is held out
MAX_EXAMPLES = 60  # the newest top posts tuning draws on (at most)


@dataclass
class Splits:
    train: list[dspy.Example]
    val: list[dspy.Example]
    test: list[dspy.Example]

    def bounds(self) -> dict[str, list[str]]:
        """First and last post time of each split."""
        return {
            name: [split[0].created_at, split[-1].created_at] if split else []
            for name, split in (("train", self.train), ("val", self.val), ("test", self.test))
        }


def card_for(post: dict, cards: Sequence[dict]) -> dict:
    """The card built from this post, else the card sharing most key terms with it, else (no
    term shared) the plain card: an unrelated strategy would only mislead the program."""
    for card in cards:
        if post["post_id"] in (card.get("source_post_ids") or []):
            return card
    text = post["text"].lower()
    shared = [(sum(t in text for t in c.get("key_terms") or []), i) for i, c in enumerate(cards)]
    n, i = max(shared, default=(0, 0))
    return cards[i] if n > 0 else DEFAULT_CARD


def split_sizes(n: int, fractions: tuple[float, float]) -> tuple[int, int, int]:
    """(train, val, test) sizes; val and test get at least one example each when n >= 3."""
    val_f, test_f = fractions
    n_test = max(1, round(n * test_f)) if n >= 3 else 0
    n_val = max(1, round(n * val_f)) if n >= 3 else 0
    return n - n_val - n_test, n_val, n_test


def by_time(post: dict) -> tuple[str, str]:
    """The order of every split: created_at, then post_id (ties never straddle by chance)."""
    return str(post["created_at"]), str(post["post_id"])


def time_split(
    posts: Sequence[dict], newest: int | None = None
) -> tuple[list[dict], list[dict], list[dict]]:
    """The `newest` posts (all when None), oldest first, cut by time into train | validation |
    test by FRACTIONS: tuning's split, and the author model's."""
    ordered = sorted(posts, key=by_time)
    ordered = ordered[-newest:] if newest else ordered
    n_train, n_val, _ = split_sizes(len(ordered), FRACTIONS)
    return ordered[:n_train], ordered[n_train : n_train + n_val], ordered[n_train + n_val :]


def holdout_ids(top_posts: Sequence[dict], max_examples: int = MAX_EXAMPLES) -> set[str]:
    """Ids of the top posts tuning holds out (validation and test of its newest `max_examples`).
    The author model never trains on those of the default window, which hold every smaller
    window's (TuneConfig caps `max_examples` at MAX_EXAMPLES)."""
    _, val, test = time_split(top_posts, max_examples)
    return {str(p["post_id"]) for p in val + test}


def rejection(decision: dict) -> dict:
    """A rejected draft as the metric's feedback: the reason in the desk's words, the note."""
    return {
        "why": REASONS[decision["reason"]],
        "note": decision.get("note") or "",
        "text": decision["drafted_text"],
    }


def decision_examples(
    decisions: Sequence[dict], platform: str, traces: Sequence[dict] = ()
) -> list[dspy.Example]:
    """Gold examples from the person's decisions (the review log's rows, oldest first; the newest
    per draft counts): one per approved text, with the rejections on its topic."""
    newest = {d["draft_id"]: d for d in decisions}
    rejected: dict[str, list[dict]] = {}
    for d in newest.values():
        if d["decision"] == "rejected":
            rejected.setdefault(d["topic"], []).append(rejection(d))
    examples = []
    for d in newest.values():
        if d["decision"] != "approved":
            continue
        example = dspy.Example(
            topic=d["topic"],
            platform=platform,
            audience="a general audience",
            strategies=[DEFAULT_CARD],
            traces=list(traces)[:MAX_SHOWN_TRACES],
            reference=d["approved_text"],
            post_id=f"decision:{d['draft_id']}",
            created_at=str(d.get("decided_at") or d["seq"]),
            engagement_pct=None,
            has_trace=False,
            rejections=rejected.get(d["topic"], []),
        )
        examples.append(example.with_inputs(*INPUTS))
    return examples


def build_splits(
    posts: Sequence[dict],
    traces: Sequence[dict],
    cards: Sequence[dict],
    max_examples: int = MAX_EXAMPLES,
    decisions: Sequence[dict] = (),
) -> Splits:
    """The newest `max_examples` top posts, oldest first, cut by time into train | val | test.

    `posts`: top posts (post_id, platform, author, text, created_at, engagement_pct); `traces`:
    kept REER traces of the same author, as the `reer_traces` view has them (post_id, x, topic,
    audience, trajectory, score_after); `decisions`: the person's (`decision_examples`), whose
    examples are split by time too and follow the posts' in each split.
    """
    by_post = {t["post_id"]: t for t in traces}
    train, val, test = time_split(posts, max_examples)
    ordered, n_train, n_val = train + val + test, len(train), len(val)
    train_ids = {p["post_id"] for p in train}
    shown = sorted(
        (t for t in traces if t["post_id"] in train_ids), key=lambda t: t.get("score_after") or 0
    )
    examples = []
    for i, post in enumerate(ordered):
        trace = by_post.get(post["post_id"])
        x = trace or parse_request(PostRef.from_any(post), [])
        own_excluded = [t for t in shown if t["post_id"] != post["post_id"]]
        example = dspy.Example(
            topic=x["topic"],
            platform=post["platform"],
            audience=x["audience"],
            strategies=[card_for(post, cards)],
            traces=own_excluded[:MAX_SHOWN_TRACES] if i < n_train else shown[:MAX_SHOWN_TRACES],
            reference=post["text"],
            post_id=str(post["post_id"]),
            created_at=str(post["created_at"]),
            engagement_pct=post.get("engagement_pct"),
            has_trace=trace is not None,
        )
        examples.append(example.with_inputs(*INPUTS))
    gold = (
        decision_examples(decisions, posts[0]["platform"] if posts else "", shown)
        if decisions
        else []
    )
    g_train, g_val, _ = split_sizes(len(gold), FRACTIONS)
    return Splits(
        examples[:n_train] + gold[:g_train],
        examples[n_train : n_train + n_val] + gold[g_train : g_train + g_val],
        examples[n_train + n_val :] + gold[g_train + g_val :],
    )
