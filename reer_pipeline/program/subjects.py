"""What an account writes about, in words, without a model: the phrases its posts keep using.

A subject is a run of words from a post that starts and ends with a content word and may hold a
linking word ("health care for working families", "climate change"). The account's subjects
are the runs that most of its posts share, so they read like the author's own phrases, never
like a keyword list.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from reer_pipeline.platforms import Account
from reer_pipeline.scoring.topic import STOP
from reer_pipeline.text import (
    GENERAL_AUDIENCES,
    HASHTAG_RE,
    name_words,
    strip_links,
    subject_phrase,
)

LINKING = frozenset("for of on to and in against with".split())  # allowed inside a phrase
# words too general to name a subject (cards use them too)
GENERAL_WORDS = frozenset(
    "day days today tonight week weeks year years time times sure thank thanks let know need lot "
    "really good great big best better".split()
)
# words that carry no subject of their own, beyond the stop words
VAGUE = GENERAL_WORDS | frozenset(
    "happy proud watch join add say says said tell read check retweet share click live sign "
    "help want ready getting going make like address weekly video photo".split()
)
MAX_WORDS = 6
EXTEND_SHARE = 0.08  # a longer phrase replaces its core when this share of the core's posts use it
CLAUSE_RE = re.compile(r"[.!?;:()\"“”—–…|]+|\s-\s|,\s")
TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\S")


def _clauses(text: str) -> list[list[str]]:
    """The words of each clause of `text`: no links, mentions, hashtag marks or RT prefix."""
    text = html.unescape(strip_links(str(text or ""), " | "))  # a link ends a clause
    text = re.sub(r"^RT\b[^:]*:", " ", text)
    text = re.sub(r"(?<!\w)@\w+", " , ", text)
    text = HASHTAG_RE.sub(r"\1", text)
    return [TOKEN_RE.findall(c) for c in CLAUSE_RE.split(text) if c.strip()]


def _holds(phrase: tuple[str, ...], core: tuple[str, ...]) -> bool:
    return any(phrase[i : i + len(core)] == core for i in range(len(phrase) - len(core) + 1))


class Subjects:
    """The phrases of one account's posts, counted once per post."""

    def __init__(self, texts: Iterable[str], own_name: str = ""):
        self.skip = own_name.lower()
        self.df: Counter[tuple[str, ...]] = Counter()
        self.surface: dict[str, Counter[str]] = {}
        for text in dict.fromkeys(texts):
            self.df.update(set(self.phrases(text)))
            for clause in _clauses(text):
                for word in clause[1:]:  # a clause's first word is capitalized as a start
                    self.surface.setdefault(word.lower(), Counter())[word] += 1

    def content(self, word: str) -> bool:
        w = word.lower()
        return (
            len(w) >= 3
            and w.isalpha()
            and w not in STOP
            and w not in VAGUE
            and not (len(w) >= 4 and w in self.skip)
        )

    def phrases(self, text: str) -> list[tuple[str, ...]]:
        """Every run in `text` of up to MAX_WORDS words that starts and ends with a content word
        and holds only content words and single linking words, lower-cased."""
        out = []
        for clause in _clauses(text):
            for i, first in enumerate(clause):
                if not self.content(first):
                    continue
                for j in range(i, min(i + MAX_WORDS, len(clause))):
                    word = clause[j]
                    if self.content(word):
                        out.append(tuple(w.lower() for w in clause[i : j + 1]))
                    elif word.lower() not in LINKING or not self.content(clause[j - 1]):
                        break
        return out

    def words(self, phrase: Sequence[str]) -> str:
        """The phrase in the case the posts write it in ("Affordable Care Act")."""
        out = []
        for w in phrase:
            forms = self.surface.get(w)
            out.append(forms.most_common(1)[0][0] if forms and w not in LINKING else w)
        return " ".join(out)

    def weight(self, phrase: tuple[str, ...]) -> float:
        """How much of the account's writing a phrase stands for: the posts using it, times its
        content words (a longer phrase that as many posts use says more)."""
        n_content = sum(w not in LINKING for w in phrase)
        return self.df[phrase] * n_content**0.5 if n_content >= 2 else 0.0

    def longer(self, core: tuple[str, ...]) -> tuple[str, ...]:
        """The longest phrase around `core`, one with a linking word first ("fight against
        climate change" before "climate change deniers"), that at least `EXTEND_SHARE` of the
        core's posts use and that joins no list ("fair hearing and timely"); else `core`."""
        floor = max(2, EXTEND_SHARE * self.df[core])
        longer = [
            (bool(LINKING.intersection(p)), len(p), df, p)
            for p, df in self.df.items()
            if df >= floor and len(p) > len(core) and _holds(p, core) and "and" not in p
        ]
        return max(longer)[-1] if longer else core

    def top(self, n: int, min_posts: int = 2) -> list[str]:
        """The n phrases most of the account's posts use, sharing no content word, each in its
        longer form (`longer`)."""
        chosen: list[tuple[str, ...]] = []
        used: set[str] = set()
        ranked = sorted(self.df, key=lambda p: (-self.weight(p), p))
        for phrase in ranked:
            if len(chosen) == n or self.df[phrase] < min_posts:
                break
            content = {w for w in phrase if w not in LINKING}
            if self.weight(phrase) > 0 and not content & used:
                chosen.append(self.longer(phrase))
                used |= {w for w in chosen[-1] if w not in LINKING}
        return [self.words(p) for p in chosen]


def subject_topics(texts: Sequence[str], account: Account, n: int = 5) -> list[dict]:
    """Topics to draft for from the account's own posts `texts` (newest first): its n most used
    subjects, else (no phrase in two posts) its newest posts' own (`text.subject_phrase`)."""
    subjects = Subjects(texts, own_name=account.author)
    exclude = name_words(account.author)
    found = subjects.top(n) or list(
        dict.fromkeys(filter(None, (subject_phrase(t, exclude) for t in texts[: 4 * n])))
    )
    # a general audience, which the request leaves out: a small model writes "for people who
    # follow BarackObama" into the post when the request names them
    return [
        {"topic": s, "platform": account.platform, "audience": GENERAL_AUDIENCES[-1]}
        for s in found[:n]
    ]
