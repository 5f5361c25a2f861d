"""The one home of text rules: sentences, words, n-grams, links and the request wording.

The floor of the house: it imports nothing from the project, so every package may use it.
"""

from __future__ import annotations

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
