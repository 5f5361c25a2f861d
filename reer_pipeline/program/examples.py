"""Few-shot examples: the author's own posts nearest a topic, by TF-IDF over their posts.

A small model imitates what it is shown far better than what it is told, so the drafting
prompt shows a few of the author's real posts on the topic (or their closest ones).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from reer_pipeline.program.package import URL
from reer_pipeline.text import strip_links

MIN_CHARS = 40  # shorter posts show too little of the voice
TERM = re.compile(r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b")  # words of 2+ letters, no bare numbers


def clean_post(text: str) -> str:
    """The post without links and with single spaces: links are noise a model copies."""
    text = strip_links(str(text or ""), "", URL)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\s*\n\s*", "\n", text).strip(" \n:-—")


def _text(post) -> str:
    return post.get("text", "") if isinstance(post, dict) else str(post or "")


class PostIndex:
    """TF-IDF over one author's posts (fit once), queried by topic."""

    def __init__(self, posts: Sequence, min_df: int = 1):
        self.posts = list(posts)
        self.texts = [clean_post(_text(p)) for p in self.posts]
        self.usable = [i for i, t in enumerate(self.texts) if len(t) >= MIN_CHARS]
        self.vectorizer = TfidfVectorizer(
            stop_words="english", sublinear_tf=True, token_pattern=TERM.pattern, min_df=min_df
        )
        try:
            self.matrix = self.vectorizer.fit_transform([self.texts[i] for i in self.usable])
            self.terms = self.vectorizer.get_feature_names_out()
        except ValueError:  # no posts, or nothing but stop words
            self.matrix, self.terms = None, np.array([])

    def nearest(self, topic: str, k: int) -> list[tuple[int, float]]:
        """(index into `posts`, cosine similarity) of the k posts nearest `topic`, best first.

        Ties (and a topic sharing no word with any post) keep the posts' order, so the author's
        first posts fill the examples when nothing is on topic."""
        if self.matrix is None or k <= 0:
            return []
        q = self.vectorizer.transform([topic])
        sims = (self.matrix @ q.T).toarray().ravel()
        order = np.argsort(-sims, kind="stable")[:k]
        return [(self.usable[j], float(sims[j])) for j in order]

    def key_terms(self, i: int, k: int = 3) -> list[str]:
        """The k most distinctive words of post `i`, in the order the post uses them."""
        if self.matrix is None or i not in self.usable:
            return []
        row = self.matrix[self.usable.index(i)].toarray().ravel()
        top = [self.terms[j] for j in np.argsort(-row)[:k] if row[j] > 0]
        low = self.texts[i].lower()
        return sorted(top, key=lambda t: low.find(t))


def nearest_posts(topic: str, posts: Sequence, k: int = 3) -> list:
    """The k posts of `posts` (strings or dicts with `text`) nearest `topic`, best first."""
    if not str(topic or "").strip():
        raise ValueError("topic is empty: say what the post should be about")
    index = PostIndex(posts)
    return [index.posts[i] for i, _ in index.nearest(topic, k)]
