"""The usable-draft gate: named rules a draft must pass before any score counts.

`check_draft(text, platform, topic, author_posts, prompt_texts=())` returns a `GateResult`.
A draft is usable when it breaks none of the rules, each a plain-Python check (no model):

- empty: no word at all (nothing, whitespace, punctuation);
- residue: template, JSON, markup or prompt residue (`###`, `1.1.1.`, `{Post.json}`, `<think>`,
  `[[ ## field ## ]]`, `"key": value`, code fences, `Topic:`-style labels, special tokens);
- echo: it repeats the instructions (known instruction and meta phrases such as "think aloud in
  the first person", "this post is about") or a 6-word run of the prompt that is neither the
  topic nor one of the author's posts;
- loop: a run of words repeated back to back (3+ times; one word 5+ times), a 3-word run making
  30%+ of the text, most 4-word runs repeated, or a character pattern 4+ times in a row;
- over_limit: it cannot be posted on the platform (over the limit and no clean thread);
- copy: it copies one of the author's posts (the same words, links aside; an 8-word run that is
  most of the draft; or 90%+ of a post's words in order);
- cut: it ends in a broken link ("ht", "https:/"), or in a colon that introduces nothing (the
  link the small model learned to put there is dropped), which no finished post does (0 of the
  sample's 2,856 posts end in a colon);
- unlinked: it points at a link it lacks: a sentence opening on a call to action ("Add your
  name", "Watch live", "Read more", "See why") or a short draft opening on "This is"/"Here's"
  that says nothing more. 283 of 283 of the sample's posts with such a call carry a link; the
  small model writes them and its link is dropped (measured: `unlinked` in
  benchmarks/scorer_validity.py's false rejections);
- attribution: it attributes a quote ('"..." —Name') to someone the author's posts never name,
  which a small model invents ("—TechCrunch", "—Ethan Leach");
- invented: it asserts a fact nothing supports (`invented_claims`): an event ("LIVE:", "tune
  in", "today I signed", "at 10:29 p.m. ET", "on Tuesday") that the topic and its facts and
  links do not mention, a quote (4+ words in quotation marks, or words before a '—Name'
  attribution) whose words neither they nor the author's posts hold, or a number (a count,
  percentage, amount or year) none of them holds;
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

from reer_pipeline.scoring.heuristics import thread_parts
from reer_pipeline.scoring.topic import OFF_TOPIC_BELOW, stem, topic_score
from reer_pipeline.text import (
    LINK_RE,
    WORD_RE,
    copied_ngrams,
    find_links,
    ngrams,
    split_sentences,
    strip_links,
    word_ngrams,
    words,
)

RULES = (
    "empty",
    "residue",
    "echo",
    "loop",
    "over_limit",
    "cut",
    "unlinked",
    "copy",
    "attribution",
    "invented",
    "off_topic",
)
BROKEN_LINK_RE = re.compile(r"(?:^|\s)(?:ht|htt|https?:?/{0,2})$")
DANGLING_COLON_RE = re.compile(r":$")  # "Here's how to fight climate change:" and nothing after
# What only makes sense beside a link: a call to action opening a sentence ("Add your name if
# you agree ..."), or a short draft that opens on "This is ..." and says nothing more.
CALL_RE = re.compile(
    r"(?:^|[.!?]\s+)\W*(?:add your name|sign (?:the|up|our)|watch (?:live|the|now|it)"
    r"|read (?:more|the|it)|see (?:why|how|what)|find out|learn more"
    r"|check (?:it|this) out|click)\b",
    re.I,
)
POINTER_RE = re.compile(r"^(?:this is|this would|these are|here'?s|here is)\b", re.I)
POINTER_WORDS = 12  # a longer draft, or one with a colon, goes on to say what "this" is

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
    r"\b(?:write|compose|draft) (?:a|an|the) (?:[\w()]+ ){0,3}(?:post|tweet|thread) "
    r"(?:about|on|for)\b|"
    r"\b(?:the|my) (?:target |intended )?audience (?:is|are|will be)\b|"
    r"\b(?:the|this) author(?:'s)? (?:posts?|style|voice|wants)\b",
    re.I,
)

ECHO_N = 6  # a run of this many prompt words (not topic, not the author's posts) is an echo
COPY_N = 8  # a draft repeating a run of this many words of one of the author's posts,
COPY_SHARE = 0.6  # when the run is this share of the draft, is a copy;
COPY_RATIO = 0.9  # so is a draft whose words match a post's at this ratio
COPY_MIN_WORDS = 5  # shorter drafts ("lol", "Thank you!") are never copies
LOOP_N, LOOP_TIMES, LOOP_SHARE = 3, 4, 0.3  # a 3-word run 4+ times making 30%+ of the words
CHAR_LOOP_RE = re.compile(r"(\S.{2,59}?)\1{3,}", re.S)  # a 3..60-char unit 4+ times in a row
TANDEM_MAX_N, TANDEM_TIMES, TANDEM_SINGLE = 12, 3, 5  # "a b c a b c a b c" is a loop
_NAME = r"(@?[A-Z][\w.'’@-]*(?:[ \t]+@?[A-Z][\w.'’@-]*){0,3})"
_AFTER = r"(?=[ \t]*(?:$|[\n,(#@]|https?://))"  # a name ends the line or meets a comma, tag or link
ATTRIBUTION_RE = re.compile(  # a dash and a capitalised name after a closing quote, or at the end
    rf"[\"”][ \t]*(?:—|–|--|-)[ \t]*{_NAME}{_AFTER}"
    rf"|(?:—|–|--)[ \t]*{_NAME}(?:\s+(?:[#@]\S+|https?://\S+))*\s*$",
    re.M,
)

# ---- invented facts: claims a draft makes, and what supports them ----------------------------
QUOTE_MIN_WORDS = 4  # a shorter quoted phrase is a name or a scare quote, not a quote
QUOTE_SUPPORT_N, QUOTE_SUPPORT_SHARE = 3, 0.5  # half of a quote's 3-word runs found: supported
SMALL_COUNT = 10  # a bare whole number up to this ("3 ways") is phrasing, not a fact
QUOTE_RE = re.compile(  # double or curly quotes; single ones only before an attribution dash
    r"[\"“]([^\"“”\n]{3,400}?)[\"”]"
    r"|(?<![\w])[‘']([^\n]{10,400}?)[’'](?=[ \t]*(?:(?:—|–|--)[ \t]*\S|-[ \t]*@?[A-Z]))"
)
SCALES = {
    "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "mn": 1e6,
    "bn": 1e9, "billion": 1e9, "trillion": 1e12,
}  # fmt: skip
NUMBER_RE = re.compile(
    r"(?<![\w.,:/$€£-])([$€£])?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:[ \t]?(%|percent\b|per cent\b|" + "|".join(rf"{k}\b" for k in SCALES) + r"))?"
    r"(?![\w:]|[.,]\d)",
    re.I,
)
# a number right after a capitalised word inside a sentence is part of a name ("Llama 3.3")
NAMED_RE = re.compile(r"(?:(?<=[\w,;)'’\"”-])[ \t]+|(?<=[(/]))[A-Z][\w.-]*[ \t]+$")
CLOCK_RE = re.compile(
    r"\b(\d{1,2})(?::(\d\d))?[ \t]?([ap])\.?m\b\.?|\b(\d{1,2}):(\d\d)\b"
    r"|\b(?:tonight|tomorrow|today) at (\d{1,2})(?::(\d\d))?\b",
    re.I,
)
DATE_RE = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?[ \t]+(\d{1,2})"
    r"(?:st|nd|rd|th)?\b(?![:,.]?\d)"
)
EVENT_RE = re.compile(  # what announces an event: a broadcast, a speech, a signing, a day
    r"(?-i:\bLIVE\b)|\blive(?:[ \t]*:|[ \t]+(?:now|stream\w*|at|from|on air))|\blivestream\w*"
    r"|\b(?:go(?:ing)?|is|are|we're|i'm|be) live\b|\btune[ \t]+in\b|\bwatch\b[^.!?\n]{0,40}?"
    r"\b(?:live|speak\w*|speech|discuss\w*|address\w*|deliver\w*|remarks|town hall)\b"
    r"|\b(?:i'?m|i am|we're|we are) (?:giving|delivering|hosting|holding) (?:a|an|my|the|our)"
    r" \w+|\b(?:i|we)'?ll be (?:speaking|giving|talking|hosting|live)\b"
    r"|\b(?:today|tonight|this morning|just),? (?:i|we) (?:signed|announced|launched|met|spoke"
    r"|visited|hosted|unveiled)\b|\b(?:i|we) (?:just|today) (?:signed|announced|launched)\b"
    r"|\bjoin (?:me|us) (?:live|tonight|tomorrow)\b"
    r"|\b(?:is|are|am) (?:now )?(?:speaking|delivering|addressing|hosting|holding|discussing)\b"
    r"|\b(?:speaks|discusses) (?:about|on|with|to)\b|\bnext (?:week|month)\b"
    r"|\b(?:on|this|next|by|until) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"\b|\btonight\b|\btomorrow\b|\bthis (?:morning|afternoon|evening)\b",
    re.I,
)
# What an event phrase says, by sense: a phrase is supported when the topic or its facts say
# the same sense ("tune in" by "live"); its other words ("watch President Obama") support nothing.
DAYS = "monday tuesday wednesday thursday friday saturday sunday tonight tomorrow morning"
EVENT_SENSES = [
    "live livestream stream tune watch broadcast",
    "speech speak spoke remarks address deliver talk discuss",
    "sign law bill",
    "announce launch unveil",
    "host hold town hall rally summit meeting met visit join",
    *(DAYS + " afternoon evening").split(),
]
SENSE_KEY = 5  # senses compare stems by their first letters ("announce", "announced")
SENSES = [{stem(w)[:SENSE_KEY] for w in sense.split()} for sense in EVENT_SENSES]


@dataclass(frozen=True)
class Claim:
    """One fact a text asserts: `kind` event, quote or number, and the words asserting it."""

    kind: str
    text: str


def fact_text(text: str) -> str:
    """`text` with its links, mentions and hashtags (whose digits are names, not facts) blanked
    out, each by as many spaces, so a claim found in it has the same place in `text`."""
    blank = LINK_RE.sub(lambda m: " " * len(m.group(0)), text)
    return re.sub(r"(?<![\w])[@#][\w.-]+", lambda m: " " * len(m.group(0)), blank)


def numbers(text: str, small: int = -1) -> list[tuple[str, tuple[float, str]]]:
    """(what was written, (value, "%", "$" or "")) of each number in `text`, scales applied
    ("$2.5 billion" is (2.5e9, "$")), clock times and names ("GPT 4.5", "HTTP 404") aside; a
    bare whole number up to `small` is left out."""
    out = []
    clean = fact_text(text)
    for m in NUMBER_RE.finditer(clean):
        currency, core, unit = m.groups()
        unit = (unit or "").lower()
        value = float(core.replace(",", "")) * SCALES.get(unit, 1.0)
        if not (currency or unit) and NAMED_RE.search(clean[: m.start()]):
            continue
        if currency or unit or "." in core or value > small:
            kind = "$" if currency else "%" if unit and unit[0] in "%p" else ""
            out.append((m.group(0).strip(), (value, kind)))
    return out


def clock_times(text: str) -> set[str]:
    """Each clock time of `text` as "h:mm" on a 12-hour clock."""
    out = set()
    for m in CLOCK_RE.finditer(text):
        hour, minute = next((g, m.group(i + 2)) for i, g in enumerate(m.groups()) if g)
        out.add(f"{int(hour) % 12}:{int(minute or 0):02d}")
    return out


def dates(text: str) -> set[str]:
    return {f"{m.group(1)[:3].lower()} {int(m.group(2))}" for m in DATE_RE.finditer(text)}


def quotes(text: str) -> list[str]:
    """The quotes of `text` (4+ words in quotation marks, or a dash-attributed last line)."""
    found = [a or b for a, b in QUOTE_RE.findall(text)]
    if not found and (m := ATTRIBUTION_RE.search(text)):
        before = text[: m.start()].strip().splitlines()
        found = [split_sentences(before[-1])[-1]] if before and before[-1].strip() else []
    return [q for q in found if len(words(q)) >= QUOTE_MIN_WORDS]


@dataclass
class Support:
    """What may back a draft's claims: the topic with its facts and links (every kind), and
    the author's own posts (quotes and numbers only: a past "LIVE:" is no event today)."""

    stems: set[str]
    values: set[tuple[float, str]]
    times: set[str]
    dates: set[str]
    grams: set[tuple[str, ...]]
    index: AuthorIndex

    @classmethod
    def of(cls, topic: str, facts: Sequence[str], index: AuthorIndex) -> Support:
        given = "\n".join([topic, *facts])
        found = words(given) + [w for u in find_links(given) for w in WORD_RE.findall(u.lower())]
        values = {v for _, v in numbers(given)} | {(float(w), "") for w in found if w.isdigit()}
        grams = set(word_ngrams(given, QUOTE_SUPPORT_N))
        stems = {stem(w)[:SENSE_KEY] for w in found}
        return cls(stems, values, clock_times(given), dates(given), grams, index)

    def number(self, value: tuple[float, str]) -> bool:
        return value in self.values or value in self.index.values

    def quoted(self, quote: str) -> bool:
        grams = word_ngrams(quote, QUOTE_SUPPORT_N)
        found = sum(g in self.grams or g in self.index.quote_grams for g in grams)
        return found >= QUOTE_SUPPORT_SHARE * len(grams)

    def event(self, phrase: str) -> bool:
        if times := clock_times(phrase):
            return times <= self.times
        if days := dates(phrase):
            return days <= self.dates
        said = {stem(w)[:SENSE_KEY] for w in words(phrase)}
        senses = [s for s in SENSES if s & said]
        return any(s & self.stems for s in senses) if senses else said <= self.stems


def invented_claims(
    text: str, topic: str = "", facts: Sequence[str] = (), index: AuthorIndex | None = None
) -> list[Claim]:
    """The events, quotes and numbers of `text` that the topic, its `facts` (and links) and
    the author's posts (`index`; quotes and numbers only) do not support, in that order."""
    support = Support.of(topic or "", facts, index or AuthorIndex([]))
    clean = fact_text(text)
    out = []
    events = [m for pattern in (EVENT_RE, CLOCK_RE, DATE_RE) for m in pattern.finditer(clean)]
    out += [
        Claim("event", text[m.start() : m.end()].strip())
        for m in events
        if not support.event(m.group(0))
    ]
    out += [Claim("quote", q) for q in quotes(text) if not support.quoted(q)]
    clock = " ".join(m.group(0) for m in CLOCK_RE.finditer(clean))
    dated = " ".join(m.group(0) for m in DATE_RE.finditer(clean))
    timed = {v for _, v in numbers(clock + " " + dated)}  # a time's digits are the event's
    out += [
        Claim("number", written)
        for written, value in numbers(clean, SMALL_COUNT)
        if not support.number(value) and value not in timed
    ]
    return out


@dataclass
class GateResult:
    """`usable` when no rule broke; `rules` names the broken rules, `reasons` says why, each
    reason starting with its rule's name ("loop: ...")."""

    usable: bool
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.usable


def normalized(text: str) -> str:
    """The text without links, case, punctuation or spacing differences (for exact copies)."""
    return " ".join(
        re.sub(
            r"[^\w\s#@\U0001f000-\U0001faff\u2600-\u27bf]", " ", strip_links(text.lower())
        ).split()
    )


def residue(text: str) -> str | None:
    for what, pattern in RESIDUE_PATTERNS.items():
        if m := pattern.search(text):
            return f"{what} ({m.group(0).strip()[:30]!r})"
    return None


def echo(text: str, topic: str, prompt_texts: Iterable[str], index: AuthorIndex):
    if m := INSTRUCTION_PATTERNS.search(text):
        return f"it repeats instructions ({m.group(0)!r})"
    allowed = set(word_ngrams(topic, ECHO_N)) | index.echo_grams
    echoed = copied_ngrams(text, prompt_texts, ECHO_N, allowed)
    return f"it repeats the prompt ({' '.join(echoed[0])!r})" if echoed else None


def tandem_repeat(tokens: Sequence[str]) -> tuple[tuple[str, ...], int] | None:
    """The first run of 2..TANDEM_MAX_N tokens repeated back to back TANDEM_TIMES+ times (a
    single token TANDEM_SINGLE+ times), with its count; None when there is none."""
    for n in range(1, TANDEM_MAX_N + 1):
        need = TANDEM_SINGLE if n == 1 else TANDEM_TIMES
        for i in range(len(tokens) - n * need + 1):
            unit = tuple(tokens[i : i + n])
            count = 1
            while tuple(tokens[i + count * n : i + (count + 1) * n]) == unit:
                count += 1
            if count >= need:
                return unit, count
    return None


def loop(text: str) -> str | None:
    if m := CHAR_LOOP_RE.search(text):
        unit = m.group(1)
        if len(set(unit.replace(" ", ""))) > 1:  # "EEEEEE" or "!!!!!!" is emphasis, not a loop
            return f"{unit.strip()[:40]!r} repeats {len(m.group(0)) // len(unit)} times in a row"
    raw = text.lower().split()  # links and emoji count: a repeated link is a loop too
    if found := tandem_repeat(raw):
        unit, count = found
        return f"{' '.join(unit)[:60]!r} repeats {count} times in a row"
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

    normalized: dict[str, int] = field(default_factory=dict)
    corpus: str = ""  # every post, normalized, one per line (names the author has used)
    values: set[tuple[float, str]] = field(default_factory=set)  # numbers the author wrote
    quote_grams: set[tuple[str, ...]] = field(default_factory=set)  # for the invented rule

    def __post_init__(self):
        self.tokens = [words(p) for p in self.posts]
        self.values = {v for p in self.posts for _, v in numbers(p)}
        self.corpus = "\n".join(" ".join(t) for t in self.tokens)
        for i, post in enumerate(self.posts):
            self.normalized.setdefault(normalized(post), i)
        self.normalized.pop("", None)
        for i, toks in enumerate(self.tokens):
            for pair in set(ngrams(toks, 2)):
                self.by_pair.setdefault(pair, set()).add(i)
            self.echo_grams.update(ngrams(toks, ECHO_N))
            self.quote_grams.update(ngrams(toks, QUOTE_SUPPORT_N))

    @classmethod
    def of(cls, posts: Sequence[str] | AuthorIndex) -> AuthorIndex:
        return posts if isinstance(posts, AuthorIndex) else cls(list(posts))


def copy(text: str, index: AuthorIndex) -> str | None:
    """A copy when the draft (5+ words) shares a run of COPY_N+ words with one of the author's
    posts that is most of the draft, or matches a post's words at COPY_RATIO or more."""
    if (key := normalized(text)) and key in index.normalized:
        return f"it is the author's post {index.posts[index.normalized[key]][:60]!r} again"
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


def attribution(text: str, topic: str, index: AuthorIndex) -> str | None:
    """The first quote attributed to a name that neither the author's posts nor the topic hold."""
    known = index.corpus + "\n" + " ".join(words(topic))
    for m in ATTRIBUTION_RE.finditer(text):
        name = m.group(1) or m.group(2)
        handles = [w[1:] for w in name.split() if w.startswith("@")]
        key = " ".join(words(name))
        if any(re.search(rf"(?<![\w']){re.escape(h.lower())}(?![\w'])", known) for h in handles):
            continue  # an account the author has named
        if key and not re.search(rf"(?<![\w']){re.escape(key)}(?![\w'])", known):
            return f"it attributes a quote to {name.strip()!r}, whom the author's posts never name"
    return None


def unlinked(text: str) -> str | None:
    """Why `text` points at a link it lacks, or None."""
    if find_links(text):
        return None
    m = CALL_RE.search(text)
    if not m and len(words(text)) <= POINTER_WORDS and ":" not in text:
        m = POINTER_RE.search(text.strip())
    return f"{m.group(0).strip(' .!?')!r} points at a link the draft lacks" if m else None


INVENTED_WHAT = {
    "event": "it announces an event ({!r}) that the topic and its facts do not mention",
    "quote": "it quotes words ({!r}) that neither the topic, its facts nor the author's posts hold",
    "number": "it states a number ({!r}) that neither the topic, its facts nor the author's "
    "posts hold",
}


def invented(text: str, topic: str, facts: Sequence[str], index: AuthorIndex) -> str | None:
    """The first claim of `text` nothing supports (`invented_claims`), said in words."""
    claims = invented_claims(text, topic, facts, index)
    return INVENTED_WHAT[claims[0].kind].format(claims[0].text[:60]) if claims else None


def check_draft(
    text: str,
    platform: str,
    topic: str | None,
    author_posts: Sequence[str] | AuthorIndex = (),
    prompt_texts: Iterable[str] = (),
    facts: Sequence[str] = (),
) -> GateResult:
    """Whether `text` is a usable draft for `platform` on `topic` (see the module docstring).

    `author_posts` are the author's own posts (for the copy, echo, attribution and invented
    rules); `prompt_texts` the prompts or instructions the drafting model saw (for the echo
    rule); `facts` the topic's facts and links (what a draft may assert beyond the author's
    posts). A rule that does not apply (no topic, no posts, no prompt) passes; the invented rule
    needs a topic or posts. Pass an `AuthorIndex` to check many drafts against the same posts
    without indexing them again.
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
    if m := BROKEN_LINK_RE.search(text.rstrip()):
        broken.append(("cut", f"it ends in a broken link ({m.group(0).strip()!r})"))
    elif DANGLING_COLON_RE.search(text.rstrip()):
        broken.append(("cut", "it ends in a colon that introduces nothing"))
    if why := unlinked(text):
        broken.append(("unlinked", why))
    if not thread_parts(text, platform):
        broken.append(("over_limit", f"{len(text.strip())} characters and no clean thread"))
    if why := copy(text, index):
        broken.append(("copy", why))
    if index.posts and (why := attribution(text, topic or "", index)):
        broken.append(("attribution", why))
    if (topic or index.posts) and (why := invented(text, topic or "", facts, index)):
        broken.append(("invented", why))
    if topic:
        score = topic_score(text, topic)
        if score == score and score < OFF_TOPIC_BELOW:
            broken.append(("off_topic", f"it does not mention the topic {topic!r}"))
    return GateResult(
        not broken, [f"{rule}: {why}" for rule, why in broken], [rule for rule, _ in broken]
    )
