"""The usable-draft gate: named rules a draft must pass before any score counts.

`check_draft(text, platform, topic, author_posts, prompt_texts=())` returns a `GateResult`.
A draft is usable when it breaks none of the rules, each a plain-Python check (no model):

- empty: no word at all (nothing, whitespace, punctuation);
- residue: template, JSON, markup or prompt residue (`###`, `1.1.1.`, `{Post.json}`, `<think>`,
  `[[ ## field ## ]]`, `"key": value`, code fences, `Topic:`-style labels, special tokens);
- echo: it repeats the instructions (known instruction and meta phrases such as "think aloud in
  the first person", "this post is about") or a 6-word run of the prompt that is neither the
  topic nor one of the author's posts;
- loop: a phrase that repeats (a 3-word run 3 times, a 4-word run twice in a short text, most of
  the text's 4-word runs repeated) or a character pattern repeated 3+ times in a row;
- over_limit: it cannot be posted on the platform (over the limit and no clean thread);
- copy: it copies one of the author's posts (an 8-word run that is not the author's recurring
  boilerplate, or 90%+ of a post's characters);
- off_topic: it holds none of the topic's content words (`topic.topic_score` < OFF_TOPIC_BELOW).

The rules were tuned on real exports: the benchmark `benchmarks/scorer_validity.py` counts how
many of the authors' own held-out posts each rule rejects (false rejections) next to how many
degenerate drafts it catches.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from reer_pipeline.ingest.text import LINK_RE
from reer_pipeline.scoring.heuristics import thread_parts
from reer_pipeline.scoring.topic import OFF_TOPIC_BELOW, topic_score

RULES = ("empty", "residue", "echo", "loop", "over_limit", "copy", "off_topic")

RESIDUE_PATTERNS = {
    "'###' or '##' markers": re.compile(r"#{2,}"),
    "numbered-dot garbage like '1.1.1.'": re.compile(r"(?:\d+\s?\.\s?){3,}"),
    "a template placeholder in braces": re.compile(r"\{\{?\s*(?:[A-Za-z_][\w.]*)?\s*\}?\}"),
    "JSON": re.compile(r"[{\[,]\s*[\"'][\w ]{1,30}[\"']\s*:|^\s*[\[{]\s*$", re.M),
    "markup tags": re.compile(
        r"</?\s*(?:think|answer|refine|replace|reasoning|draft|post|output|tweet|s|im_start|"
        r"im_end|endoftext|assistant|user|system)\b[^>]*>",
        re.I,
    ),
    "special tokens": re.compile(r"<\|[^|>]{1,30}\|>"),
    "DSPy field markers": re.compile(r"\[\[\s*##|##\s*\]\]"),
    "a code fence": re.compile(r"```"),
    "a prompt label": re.compile(
        r"(?im)^\s*\**\s*(?:task|topic|audience|platform|strategy|strategies|reasoning|"
        r"rationale|draft|output|response|instructions?|candidate|trajectory|"
        r"thinking(?: process)?)\s*\d*\s*\**\s*:"
    ),
}

INSTRUCTION_PATTERNS = re.compile(
    r"think(?:ing)? aloud|\bin the first person\b|\bdo not copy\b|\bdon'?t copy\b|"
    r"\bthe future tense\b|\bas an ai\b|\blanguage model\b.{0,20}\bcannot\b|"
    r"\b(?:this|the|my|your|a) (?:post|tweet|thread|draft) (?:is|will be) (?:about|on)\b|"
    r"\bhere(?:'s| is) (?:a|the|my|your) (?:\w+ )?(?:post|tweet|draft|thread)\b|"
    r"\bthe (?:post|tweet) you will write\b|\bwhich hook to open with\b|"
    r"\b(?:write|compose|draft) (?:a|an|the) (?:\w+ ){0,2}(?:post|tweet|thread) (?:about|on|for)\b|"
    r"\b(?:the|my) (?:target |intended )?audience (?:is|are|will be)\b|"
    r"\b(?:the|this) author(?:'s)? (?:posts?|style|voice|wants)\b",
    re.I,
)

WORD_RE = re.compile(r"[\w']+")
ECHO_N = 6  # a run of this many prompt words (not topic, not the author's posts) is an echo
COPY_N = 8  # a draft repeating a run of this many words of one of the author's posts,
COPY_SHARE = 0.6  # when the run is this share of the draft, is a copy;
COPY_RATIO = 0.9  # so is a draft whose words match a post's at this ratio
COPY_MIN_WORDS = 5  # shorter drafts ("lol", "Thank you!") are never copies
LOOP_N, LOOP_TIMES, LOOP_SHARE = 3, 4, 0.3  # a 3-word run 4+ times making 30%+ of the words
CHAR_LOOP_RE = re.compile(r"(\S.{2,24}?)\1{3,}", re.S)  # a 3..25-char unit 4+ times in a row


@dataclass
class GateResult:
    """`usable` when no rule broke; `rules` names the broken rules, `reasons` says why, each
    reason starting with its rule's name ("loop: ...")."""

    usable: bool
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.usable


def words(text: str) -> list[str]:
    return WORD_RE.findall(LINK_RE.sub(" ", text).lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _squash(text: str) -> str:
    return " ".join(words(text))


def residue(text: str) -> str | None:
    for what, pattern in RESIDUE_PATTERNS.items():
        if m := pattern.search(text):
            return f"{what} ({m.group(0).strip()[:30]!r})"
    return None


def echo(text: str, topic: str, prompt_texts: Iterable[str], index: AuthorIndex):
    if m := INSTRUCTION_PATTERNS.search(text):
        return f"it repeats instructions ({m.group(0)!r})"
    prompt_grams = set()
    for prompt in prompt_texts:
        prompt_grams |= set(ngrams(words(prompt), ECHO_N))
    if not prompt_grams:
        return None
    allowed = set(ngrams(words(topic), ECHO_N)) | index.echo_grams
    echoed = [g for g in ngrams(words(text), ECHO_N) if g in prompt_grams and g not in allowed]
    return f"it repeats the prompt ({' '.join(echoed[0])!r})" if echoed else None


def loop(text: str) -> str | None:
    if m := CHAR_LOOP_RE.search(text):
        unit = m.group(1)
        if len(set(unit.replace(" ", ""))) > 1:  # "EEEEEE" or "!!!!!!" is emphasis, not a loop
            return f"{unit!r} repeats {len(m.group(0)) // len(unit)} times in a row"
    tokens = words(text)
    counts = Counter(ngrams(tokens, LOOP_N))
    if counts:
        gram, count = counts.most_common(1)[0]
        if count >= LOOP_TIMES and count * LOOP_N >= LOOP_SHARE * len(tokens):
            return f"{' '.join(gram)!r} repeats {count} times"
    grams = ngrams(tokens, 4)
    if len(grams) >= 10 and len(set(grams)) / len(grams) < 0.5:
        return "most of its phrases repeat"
    return None


@dataclass
class AuthorIndex:
    """The author's posts, indexed once for the copy and echo rules."""

    posts: list[str]
    tokens: list[list[str]] = field(default_factory=list)
    by_pair: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    echo_grams: set[tuple[str, ...]] = field(default_factory=set)

    def __post_init__(self):
        self.tokens = [words(p) for p in self.posts]
        for i, toks in enumerate(self.tokens):
            for pair in set(ngrams(toks, 2)):
                self.by_pair.setdefault(pair, set()).add(i)
            self.echo_grams.update(ngrams(toks, ECHO_N))

    @classmethod
    def of(cls, posts: Sequence[str] | AuthorIndex) -> AuthorIndex:
        return posts if isinstance(posts, AuthorIndex) else cls(list(posts))


def copy(text: str, index: AuthorIndex) -> str | None:
    """A copy when the draft (5+ words) shares a run of COPY_N+ words with one of the author's
    posts that is most of the draft, or matches a post's words at COPY_RATIO or more."""
    tokens = words(text)
    if len(tokens) < COPY_MIN_WORDS:
        return None
    overlap: Counter = Counter()  # posts by the word pairs they share with the draft
    pairs = set(ngrams(tokens, 2))
    for pair in pairs:
        overlap.update(index.by_pair.get(pair, ()))
    need = COPY_SHARE * len(pairs)
    for i, shared in overlap.most_common():
        if shared < need:
            break
        other = index.tokens[i]
        matcher = SequenceMatcher(None, tokens, other, autojunk=False)
        run = matcher.find_longest_match(0, len(tokens), 0, len(other)).size
        long_run = run >= min(COPY_N, len(other)) and run >= COPY_MIN_WORDS
        if long_run and run >= COPY_SHARE * len(tokens):
            return f"it repeats {run} words in a row of the author's post {index.posts[i][:60]!r}"
        if matcher.ratio() >= COPY_RATIO:
            return f"it is a near copy of the author's post {index.posts[i][:60]!r}"
    return None


def check_draft(
    text: str,
    platform: str,
    topic: str | None,
    author_posts: Sequence[str] | AuthorIndex = (),
    prompt_texts: Iterable[str] = (),
) -> GateResult:
    """Whether `text` is a usable draft for `platform` on `topic` (see the module docstring).

    `author_posts` are the author's own posts (for the copy and echo rules); `prompt_texts` the
    prompts or instructions the drafting model saw (for the echo rule). A rule that does not
    apply (no topic, no posts, no prompt) passes. Pass an `AuthorIndex` to check many drafts
    against the same posts without indexing them again.
    """
    text = text or ""
    if not re.search(r"\w", text):
        return GateResult(False, ["empty: the draft has no words"], ["empty"])
    index = AuthorIndex.of(author_posts)
    broken: list[tuple[str, str]] = []
    if why := residue(text):
        broken.append(("residue", f"it holds {why}"))
    if why := echo(text, topic or "", prompt_texts, index):
        broken.append(("echo", why))
    if why := loop(text):
        broken.append(("loop", why))
    if not thread_parts(text, platform):
        broken.append(("over_limit", f"{len(text.strip())} characters and no clean thread"))
    if why := copy(text, index):
        broken.append(("copy", why))
    if topic:
        score = topic_score(text, topic)
        if score == score and score < OFF_TOPIC_BELOW:
            broken.append(("off_topic", f"it does not mention the topic {topic!r}"))
    return GateResult(
        not broken, [f"{rule}: {why}" for rule, why in broken], [rule for rule, _ in broken]
    )
