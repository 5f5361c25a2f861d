"""Training examples for the author model, from one account's posts and REER traces.

Posts are split by time with tuning's rule (`optimize.data.time_split`: oldest 60% train, 20%
validation, newest 20% test, ordered by created_at then post_id), and the top posts tuning holds
out (`optimize.data.holdout_ids`) never train. Two kinds of example, both
chat messages `[user: request, assistant: target]` with the loss on the target only:

* `trace`: a kept REER trace of a post (DeepWriter format): the request x as the prompt,
  `<think>z</think><answer>y</answer>` as the target, under `THINK_SYSTEM`;
* `post`: any other original post: drafting's request (`text.request`, a general audience) for
  the post's subject in its own words (`text.subject_phrase`, no model call), e.g. "Write an X
  (Twitter) post about prevent gun violence.", the post as the target;
* `reply`: the account's own replies (never reposts) from before the validation period, in the
  training split only, as a reply request (its subject, likewise) and the reply without its
  leading @handles: most of a
  person's words are often in replies, and validation and test stay original posts;
* `approved`: a text the person approved on the desk (edited or not; the newest decision per
  draft), in the training split only: drafting's request for the decision's topic, the approved
  text as the target. An approved text that is a validation or test post never trains.

Links and media URLs in targets become `LINK` so the model never learns to invent a URL; the
packager fills the placeholders with real links or drops them (`program.package.fill_links`).
The JSONL files (`train.jsonl`, `valid.jsonl`, `test.jsonl`) are the chat format that both the
torch trainer here and `mlx_lm.lora --mask-prompt` read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reer_pipeline.files import write_atomic
from reer_pipeline.optimize.data import by_time, holdout_ids, time_split
from reer_pipeline.platforms import display_name
from reer_pipeline.program.package import LINK, URL
from reer_pipeline.text import name_words, request, subject_phrase

_LINK_RUN = re.compile(re.escape(LINK) + r"(?:\s*" + re.escape(LINK) + r")+")
THINK_SYSTEM = (
    "Think about how to write the post inside <think></think>, then write the post inside "
    "<answer></answer>."
)
SPLITS = ("train", "valid", "test")


def replace_links(text: str) -> str:
    """`text` with every link or media URL replaced by `LINK` (a run of them by one)."""
    return _LINK_RUN.sub(LINK, URL.sub(LINK, text)).strip()


@dataclass(frozen=True)
class Example:
    """One chat example; `messages[-1]` is the assistant target."""

    messages: list[dict[str, str]]
    source: str  # "trace" | "post" | "reply" | "approved"
    post_id: str
    created_at: str

    @property
    def request(self) -> str:
        return self.messages[-2]["content"]

    @property
    def target(self) -> str:
        return self.messages[-1]["content"]

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ExampleSplits:
    train: list[Example]
    valid: list[Example]
    test: list[Example]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> posts left out
    bounds: dict[str, list[str]] = field(default_factory=dict)  # split -> [first, last] time

    def split(self, name: str) -> list[Example]:
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Examples per split and source, e.g. {"train": {"trace": 12, "post": 1600}}."""
        return {s: dict(Counter(e.source for e in self.split(s))) for s in SPLITS}

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)) for s in SPLITS}


# ---- requests without a model call --------------------------------------------------------------
def post_request(platform: str, subject: str) -> str:
    """The request of a post example: what drafting asks (`text.request`) for the post's subject,
    with drafting's default audience (a general one, which the wording leaves out)."""
    return request(display_name(platform), subject or "what is on your mind")


def reply_request(platform: str, subject: str) -> str:
    """The request of a reply example, naming the reply's subject like `post_request`."""
    return f"Write a reply on {display_name(platform)} about {subject or 'the post you answer'}."


def post_subject(text: str, author: str) -> str:
    """A post's subject in its own words (`text.subject_phrase`), without the author's name."""
    return subject_phrase(_plain(text), exclude=name_words(author))


_LEADING_HANDLES = re.compile(r"^(?:\s*[@＠]\w+[,:]?)+\s*")


def _plain(text: str) -> str:
    return URL.sub(" ", text)


def _trace_x(trace: dict) -> str:
    x = trace.get("x")
    if isinstance(x, dict):
        return str(x.get("text") or "")
    return str(x or "")


def trace_target(z: str, y: str) -> str:
    return f"<think>\n{z.strip()}\n</think>\n<answer>\n{replace_links(y)}\n</answer>"


def build_examples(
    posts: Iterable[dict],
    traces: Iterable[dict] = (),
    top_posts: Iterable[dict] = (),
    min_chars: int = 20,
    replies: bool = True,
    decisions: Iterable[dict] = (),
) -> ExampleSplits:
    """Examples from one account's posts and traces, split by time.

    `posts`: rows of the `posts` table for ONE account (post_id, platform, author, text,
    created_at; rows with `is_original` false are left out when the column is there, except
    replies (`is_reply` true, `is_repost` false) when `replies`).
    `traces`: TraceStore records (x, trajectory, y, post_id, kept); only kept traces whose post
    is in the same split are used. `top_posts`: the account's top posts; those tuning holds
    out (`holdout_ids`) are never used in train or valid. `decisions`: the review log's rows of
    the account, oldest first (approved texts train). Test examples are all `post`
    examples, so the held-out perplexity compares models on the same requests.
    """
    rows = [dict(p) for p in posts]
    accounts = {(str(p["platform"]), str(p["author"])) for p in rows}
    if len(accounts) > 1:
        raise ValueError(f"build_examples takes one account's posts, got {sorted(accounts)}")
    skipped: Counter = Counter()
    originals, reply_rows = [], []

    def long_enough(text: str) -> bool:
        return len(replace_links(text).replace(LINK, "").strip()) >= min_chars

    for p in rows:
        text = str(p.get("text") or "")
        if p.get("is_original") is False:
            if not (replies and p.get("is_reply") and not p.get("is_repost")):
                skipped["not original"] += 1
            elif not long_enough(_LEADING_HANDLES.sub("", text)):
                skipped["reply too short without handles and links"] += 1
            else:
                reply_rows.append(p)
        elif not long_enough(text):
            skipped["too short without links"] += 1
        else:
            originals.append(p)
    train, valid, test = time_split(originals)
    first_held_out = by_time((valid or test)[0]) if valid or test else None
    train_replies = [p for p in reply_rows if first_held_out is None or by_time(p) < first_held_out]
    skipped["reply after the training period"] += len(reply_rows) - len(train_replies)
    kept = {}
    for t in traces:
        if t.get("kept") and t.get("trajectory") and _trace_x(t):
            kept.setdefault(str(t["post_id"]), t)
    exclude = holdout_ids(list(top_posts))

    def example(p: dict, allow_trace: bool) -> Example:
        pid, when = str(p["post_id"]), str(p["created_at"])
        t = kept.get(pid) if allow_trace else None
        text = p["text"]
        if t is not None:
            messages = [
                {"role": "system", "content": THINK_SYSTEM},
                {"role": "user", "content": _trace_x(t)},
                {"role": "assistant", "content": trace_target(t["trajectory"], t.get("y") or text)},
            ]
            return Example(messages, "trace", pid, when)
        request = post_request(p["platform"], post_subject(text, p["author"]))
        messages = [
            {"role": "user", "content": request},
            {"role": "assistant", "content": replace_links(p["text"])},
        ]
        return Example(messages, "post", pid, when)

    out = {}
    for name, split in (("train", train), ("valid", valid)):
        use = [p for p in split if str(p["post_id"]) not in exclude]
        skipped["held out for tuning"] += len(split) - len(use)
        out[name] = [example(p, allow_trace=True) for p in use]
    for p in sorted(train_replies, key=by_time):
        body = _LEADING_HANDLES.sub("", str(p["text"]))
        target = replace_links(body)
        request = reply_request(p["platform"], post_subject(body, p["author"]))
        messages = [{"role": "user", "content": request}, {"role": "assistant", "content": target}]
        out["train"].append(Example(messages, "reply", str(p["post_id"]), str(p["created_at"])))
    held_out = {str(p["text"]).strip() for p in valid + test}
    newest = {d["draft_id"]: d for d in decisions}
    for d in newest.values():
        text = str(d.get("approved_text") or "").strip()
        if d["decision"] != "approved" or not long_enough(text):
            continue
        if text in held_out:
            skipped["approved text is a held-out post"] += 1
            continue
        platform = next(iter(accounts))[0] if accounts else "x"
        messages = [
            {"role": "user", "content": post_request(platform, d["topic"])},
            {"role": "assistant", "content": replace_links(text)},
        ]
        when = str(d.get("decided_at") or d["seq"])
        out["train"].append(Example(messages, "approved", f"decision:{d['draft_id']}", when))
    out["test"] = [example(p, allow_trace=False) for p in test]
    skipped = Counter({k: v for k, v in skipped.items() if v})
    bounds = {
        n: [str(s[0]["created_at"]), str(s[-1]["created_at"])] if s else []
        for n, s in (("train", train), ("valid", valid), ("test", test))
    }
    return ExampleSplits(out["train"], out["valid"], out["test"], dict(skipped), bounds)


# ---- files --------------------------------------------------------------------------------------
def write_jsonl(splits: ExampleSplits, out_dir: Path) -> dict[str, str]:
    """`train.jsonl`, `valid.jsonl`, `test.jsonl` (one example a line) and `manifest.json` in
    `out_dir`, each written atomically; returns {split: sha256 of its file}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in SPLITS:
        blob = "".join(
            json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in splits.split(name)
        ).encode()
        write_atomic(out_dir / f"{name}.jsonl", blob)
        hashes[name] = hashlib.sha256(blob).hexdigest()
    manifest = {
        "sha256": hashes,
        "counts": splits.counts(),
        "sizes": splits.sizes(),
        "skipped": splits.skipped,
        "bounds": splits.bounds,
    }
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1).encode())
    return hashes


def read_jsonl(path: Path) -> list[Example]:
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(
                    Example(
                        list(d["messages"]),
                        d.get("source", "post"),
                        str(d.get("post_id", "")),
                        str(d.get("created_at", "")),
                    )
                )
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{i}: not a chat example ({e})") from e
    return out


def read_splits(examples_dir: Path) -> ExampleSplits:
    d = Path(examples_dir)
    parts = {n: read_jsonl(d / f"{n}.jsonl") if (d / f"{n}.jsonl").exists() else [] for n in SPLITS}
    return ExampleSplits(parts["train"], parts["valid"], parts["test"])
