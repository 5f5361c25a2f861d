"""The one home of text rules: sentences, words, n-grams, links and the request wording.

The floor of the house: it imports nothing from the project, so every package may use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence

# ---- sentences ----------------------------------------------------------------------------------
CLOSERS = "\"')]”’"  # a quote or bracket closing a sentence is part of its end
TERMINAL = (".", "!", "?", "…", *CLOSERS)  # text ending in one of these ends a sentence
SENTENCE_END_RE = re.compile(rf"[.!?…]+[{re.escape(CLOSERS)}]*(?=\s|$)")
PARAGRAPH_BREAK_RE = re.compile(r"\n\s*\n")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, each with its end mark; a line break alone ends none."""
    out, start = [], 0
    for m in SENTENCE_END_RE.finditer(text):
        out.append(text[start : m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def first_sentence(text: str) -> str:
    """The first sentence of the first non-empty line of `text` ("" when there is none)."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return next(iter(split_sentences(line)), "")


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of `text` (split on blank lines), stripped."""
    return [p.strip() for p in PARAGRAPH_BREAK_RE.split(text) if p.strip()]


def ends_sentence(text: str) -> bool:
    """Whether `text` ends a sentence (markdown emphasis after the end mark aside)."""
    return text.rstrip().rstrip("*_` ").endswith(TERMINAL)


def cut_to_sentence(text: str, min_chars: int = 0) -> str:
    """`text` up to its last full sentence when it ends mid-sentence (cut off by a token cap).

    Unchanged when it ends a sentence, or when no sentence ends at or after `min_chars`."""
    text = text.rstrip()
    if not text or ends_sentence(text):
        return text
    ends = [m.end() for m in SENTENCE_END_RE.finditer(text) if m.end() >= min_chars]
    return text[: ends[-1]] if ends else text


# ---- links --------------------------------------------------------------------------------------
_LINK_BODY = r"[^\s<>\"']*[^\s<>\"'.,;:!?)\]…]"  # a link does not end in sentence punctuation
LINK_RE = re.compile(rf"(?:https?://|www\.){_LINK_BODY}", re.I)


def link_re(domains: Iterable[str] = ()) -> re.Pattern:
    """`LINK_RE` that also catches bare links on `domains` (e.g. "t.co/abc" for "t.co")."""
    names = "|".join(re.escape(d) for d in domains)
    if not names:
        return LINK_RE
    return re.compile(rf"{LINK_RE.pattern}|\b(?:{names})/{_LINK_BODY}", re.I)


def find_links(text: str, pattern: re.Pattern = LINK_RE) -> list[str]:
    """The links in `text`, in order."""
    return pattern.findall(text)


def strip_links(text: str, replacement: str = " ", pattern: re.Pattern = LINK_RE) -> str:
    """`text` with each link replaced by `replacement` (a space: the words beside stay apart)."""
    return pattern.sub(replacement, text)


# ---- words and n-grams --------------------------------------------------------------------------
# a hashtag: "#1" is no tag, nor "/#anchor" or "&#39;"; group 1 is the tag without "#"
HASHTAG_RE = re.compile(r"(?<![\w#/&])#(\w*[^\W\d_]\w*)")

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # letters and digits; an apostrophe inside


def words(text: str) -> list[str]:
    """The lower-case words of `text`, links left out; a curly apostrophe becomes "'"."""
    return [w.replace("’", "'") for w in WORD_RE.findall(strip_links(text).lower())]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The runs of `n` tokens, in order."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The runs of `n` words of `text`, in order."""
    return ngrams(words(text), n)


def copied_ngrams(
    text: str, sources: Iterable[str], n: int, allowed: Collection[tuple[str, ...]] = ()
) -> list[tuple[str, ...]]:
    """The word n-grams of `text` that one of `sources` holds and `allowed` does not, in the
    order of `text`: a run of n words copied from a source."""
    grams = {g for s in sources for g in word_ngrams(s, n)}.difference(allowed)
    return [g for g in word_ngrams(text, n) if g in grams]


# ---- the request --------------------------------------------------------------------------------
GENERAL_AUDIENCES = ("", "general", "a general audience")  # say nothing about the audience


def request(platform: str, subject: str, audience: str = "", goal: str = "") -> str:
    """The one wording of a writing request, used by REER, drafting and the author model's data:
    "Write an X (Twitter) post about <subject> for <audience>. Goal: <goal>."

    `platform` is the platform's display name; a general audience and an empty goal are left
    out."""
    article = "an" if platform[:1] and platform[0].upper() in "AEIOX" else "a"  # X reads "ex"
    out = f"Write {article} {platform} post about {subject.strip().rstrip('.')}"
    if audience.strip().lower() not in GENERAL_AUDIENCES:
        out += f" for {audience.strip().rstrip('.')}"
    out += "."
    if goal.strip():
        out += f" Goal: {goal.strip().rstrip('.')}."
    return out


# ---- the subject of a post ----------------------------------------------------------------------
# what a post says around its subject: a leading label ("LIVE:", "Watch:"), a quote's attribution
# ('..." —President Obama #Tag'), the placeholder of a link
_LABEL_RE = re.compile(r"^\s*(?:[A-Z][\w']*\s?){1,2}:\s+")
_ATTRIBUTION_RE = re.compile(r"([\"”])\s*[—–-]+\s*[^\"“”]{1,60}$")
_TAG_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
SUBJECT_WORDS = (2, 6)  # a subject phrase is 2 to 6 words, like a topic a person types


def _tag_words(m: re.Match) -> str:
    """A hashtag read as words: "#RaiseTheWage" -> "raise the wage" ("#VRA50" stays "VRA50")."""
    parts = _TAG_PART_RE.findall(m.group(1))
    if len(parts) < 2 or any(p.isdigit() for p in parts):
        return m.group(1)
    return " ".join(p if p.isupper() and len(p) > 1 else p.lower() for p in parts)


def subject_text(text: str) -> str:
    """`text` as plain prose for finding its subject: links, a leading label and a quote's
    attribution dropped, hashtags read as words, handles without "@"."""
    text = strip_links(text).strip()
    text = _LABEL_RE.sub("", _ATTRIBUTION_RE.sub(r"\1", text))
    text = re.sub(r"[@＠](\w+)", r"\1", HASHTAG_RE.sub(_tag_words, text))
    return " ".join(text.split())


def name_words(name: str) -> set[str]:
    """The lower-case words of a handle or name: "BarackObama" -> {"barack", "obama"}."""
    return {w.lower() for part in re.split(r"[\W_]+", name) for w in _CAMEL_RE.findall(part)}


@functools.cache
def _keyphrases():
    """YAKE's extractor of up to 4-word keyphrases (its stop words load once)."""
    import yake

    return yake.KeywordExtractor(lan="en", n=4, top=12, dedup_lim=0.9)


def subject_phrase(text: str, exclude: Collection[str] = ()) -> str:
    """The subject of a post in its own words, without a model: the best-scored YAKE keyphrase
    of 2 to 6 words ("prevent gun violence", "the minimum wage") without a word of `exclude`
    (e.g. the author's `name_words`); else its first sentence when that is 2 to 6 words, else
    its best keyword. "" when the post has no words."""
    plain = subject_text(text)
    if not words(plain):
        return ""
    low, high = SUBJECT_WORDS
    found = _keyphrases().extract_keywords(plain)
    banned = {w.lower() for w in exclude}
    phrases = [k for k, _ in found if not banned.intersection(words(k))]
    phrase = next((k for k in phrases if low <= len(k.split()) <= high), "")
    if not phrase:  # a short post ("Obamacare is here to stay."): its first sentence
        first = first_sentence(plain).rstrip(".!?:…")
        fits = low <= len(first.split()) <= high and not banned.intersection(words(first))
        phrase = first if fits else next(iter(phrases), "")
    first = phrase.split(" ", 1)[0]
    starts = {s.split(" ", 1)[0] for s in split_sentences(plain)}
    if first in starts and first[:1].isupper() and first[1:].islower():  # "Earning the ..."
        phrase = first.lower() + phrase[len(first) :]
    return phrase


def grounded(phrase: str, text: str, share: float = 0.5) -> bool:
    """Whether at least `share` of the content words of `phrase` are words of `text` (the same
    first 5 letters, or one a prefix of the other: "ship", "shipping"): a subject the text
    supports, not "a fictional character" for a quote."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    def content(s: str) -> list[str]:
        return [w for w in words(s) if w not in ENGLISH_STOP_WORDS]

    theirs = set(content(text))
    stems = {w[:5] for w in theirs}

    def found(w: str) -> bool:
        return w[:5] in stems or any(
            min(len(w), len(t)) >= 4 and (w.startswith(t) or t.startswith(w)) for t in theirs
        )

    mine = content(phrase)
    return bool(mine) and sum(map(found, mine)) >= share * len(mine)
