"""Score drafts of one author: a usable-draft gate, then components combined into a total.

The gate (`scoring.gate.check_draft`) comes first: a draft that is empty, template residue, an
echo of the instructions, a loop, over the platform limit, a copy of the author's post, off the
topic or asserting an event, quote or number that neither its topic's facts nor the author's
posts support is unusable, scores a total of 0, and its feedback names the broken rules. The
scorer LM adds two rules of its own (LM_RULES): cut (the LM would go on with the last word, or it
does not expect the text to end there) and garbled (far less natural than the author's own posts,
or its words in no order: shuffling them barely makes it less likely).

Components (each 0..1, NaN when its input is missing), declared once in SCORE_COMPONENTS (name,
weight, warehouse column, how it is computed, its feedback), from which the total, the
`candidate_scores` columns and GEPA's feedback follow:
- heuristics: platform limits, readability, a hook (`heuristics.heuristic_score`);
- fluency: the share of the author's own posts (a calibration set) that the scorer LM finds at
  least as surprising per token as the draft, under a generic prefix;
- ending: the same share for the LM's probability that the text ends where it ends (a draft cut
  mid-word or mid-sentence ranks low);
- style_fit (a factor on the total, see `combine`): relative, not absolute. How much better the
  scorer LM predicts the draft when it has read a few of the author's posts than under a generic
  prefix (mean per-token logprob gain, so length-fair), as the share of the author's calibration
  posts the draft matches or beats.
  When other authors' posts are given, it is the mean of that and a character n-gram classifier's
  probability that the author, not the others, wrote it (`style_lm`, `style_clf` keep both);
- topic: model-free topic adherence (`scoring.topic.topic_score`);
- predicted engagement: the author's engagement model (0..1);
- judge (optional): a judge model's 1-10 rating, as 0..1;
- preference (a factor, optional): the account's preference model (`learn.preference`), would
  this person approve it; given only where it beat the total on the person's later decisions.

All LM rows (drafts and, on the first call, the calibration posts; generic and author-conditioned
prefixes) go to the scorer model in one batched `score` call. Each component that falls short
explains itself in words, which is the feedback GEPA reflects on.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from reer_pipeline import platforms
from reer_pipeline.lm.base import LanguageModel
from reer_pipeline.scoring.engagement import EngagementModel
from reer_pipeline.scoring.gate import AuthorIndex, GateResult, check_draft, copy
from reer_pipeline.scoring.heuristics import heuristic_score
from reer_pipeline.scoring.topic import topic_score
from reer_pipeline.text import LINK_RE

if TYPE_CHECKING:
    from reer_pipeline.learn.preference import PreferenceModel

CLIP_LOW = -4.0  # per-token logprob floor, so one odd token cannot dominate a mean
END = "\n\n"  # scored after a draft under the generic prefix: does the text end there?
CONTEXT_POSTS = 4  # author posts the conditioned prefix shows
CONTEXT_CHARS = 1500  # at most this many characters of them
CUT_Z, GARBLED_Z = 3.0, 4.5  # LM gate rules' thresholds (robust z against the calibration posts)
LOSS_MAD_FLOOR, END_MAD_FLOOR = 0.05, 0.5  # nats: the z-scores' smallest spreads
LM_RULES = ("cut", "garbled")
HEAD_CHARS, TAIL_CHARS = 800, 300  # what the LM reads of a long text (see `head`, `tail`)
CALIBRATION_POSTS = 48  # author posts the LM components are ranked against
ORDER_MIN_GAIN, ORDER_MIN_WORDS = 0.05, 6  # nats two shuffles must lose, for texts this long
ORDER_SHUFFLES = 2
NEXT_CHARS = 200  # the end of a text the LM reads to guess its next token (the cut rule)
LAST_WORD_RE = re.compile(r"(?<![#@\w])[^\W\d_]+$")  # a plain word (no hashtag, mention, digit)


@dataclass(frozen=True)
class Component:
    """One scorer component: how it is computed, how it counts in the total, its column in
    `candidate_scores`, and what GEPA's metric says when it falls short.

    `weight` weighs it in the mean of the quality components; a `factor` instead multiplies
    that mean, raised to its weight (see `combine`). `low_note` (formatted with `value`) is the
    feedback below `low`; otherwise `behind_note` (with `value` and `reference`) is the feedback
    when it is more than `behind` below the reference post's value.
    """

    name: str
    weight: float
    column: str
    compute: Callable[[Batch], list[float]]  # one value per text, 0..1 (NaN: not measured)
    factor: bool = False
    low: float | None = None
    low_note: str = ""
    behind: float | None = None
    behind_note: str = ""

    def note(self, value: float, reference: float | None = None) -> str | None:
        """The feedback on `value` (None when it is fine or missing)."""
        if math.isnan(value):
            return None
        if self.low is not None and value < self.low:
            return self.low_note.format(value=value)
        if self.behind is not None and reference is not None and value < reference - self.behind:
            return self.behind_note.format(value=value, reference=reference)
        return None


@dataclass
class Batch:
    """The texts of one `CandidateScorer.score` call and what its components share."""

    scorer: CandidateScorer
    texts: list[str]
    topics: list[str | None]
    heuristics: list  # `heuristic_score` of each text
    lm: dict  # `CandidateScorer.lm_components`: one batched scorer-LM pass
    style_clf: list[float]
    values: dict = field(default_factory=dict)  # the components computed so far, by name


def _not_measured(batch: Batch) -> list[float]:
    return [math.nan] * len(batch.texts)


def _engagement(batch: Batch) -> list[float]:
    model = batch.scorer.engagement
    if model is None:
        return _not_measured(batch)
    return [float(v) for v in model.predict_content(batch.texts)]


def _judge(batch: Batch) -> list[float]:
    judge = batch.scorer.judge
    return _not_measured(batch) if judge is None else list(judge(batch.texts))


def _preference(batch: Batch) -> list[float]:
    """The account's preference model (`learn.preference`), on the components before it."""
    model = batch.scorer.preference
    if model is None:
        return _not_measured(batch)
    scores = [
        {k: v[i] for k, v in batch.values.items()}
        | {"style_lm": batch.lm["style_lm"][i], "style_clf": batch.style_clf[i]}
        for i in range(len(batch.texts))
    ]
    return model.predict(batch.texts, scores)


SCORE_COMPONENTS = (
    Component(
        name="heuristics",
        weight=0.1,
        column="heuristics",
        compute=lambda b: [h.score for h in b.heuristics],
    ),
    Component(
        name="fluency",
        weight=0.1,
        column="fluency",
        compute=lambda b: b.lm["fluency"],
        low=0.1,
        low_note="It reads unnaturally (fluency {value:.2f}).",
    ),
    Component(
        name="ending",
        weight=0.1,
        column="ending",
        compute=lambda b: b.lm["ending"],
        low=0.1,
        low_note="It seems to stop mid-thought: end on a complete sentence.",
    ),
    Component(
        name="style_fit",
        weight=1.0,
        column="style_fit",
        compute=lambda b: combine_style(b.lm["style_lm"], b.style_clf),
        factor=True,
        low=0.3,
        low_note=(
            "Low style fit ({value:.2f}): the author's own posts predict it no better than "
            "generic text does; it does not sound like them."
        ),
        behind=0.2,
        behind_note="Style fit {value:.2f} is below the reference post's {reference:.2f}.",
    ),
    Component(
        name="topic",
        weight=0.1,
        column="topic_fit",  # `topic` is the topic's text
        compute=lambda b: [topic_score(t, p or "") for t, p in zip(b.texts, b.topics, strict=True)],
        low=0.5,
        low_note="It only touches the topic (topic adherence {value:.2f}).",
    ),
    Component(
        name="engagement",
        weight=0.3,
        column="engagement",
        compute=_engagement,
        behind=0.0,
        behind_note=(
            "Predicted engagement {value:.2f} is below the reference post's {reference:.2f}."
        ),
    ),
    Component(name="judge", weight=0.0, column="judge", compute=_judge),
    Component(  # only where it beat the total on held-out decisions (learn.preference)
        name="preference",
        weight=1.0,
        column="preference",
        compute=_preference,
        factor=True,
        low=0.5,
        low_note="The person would likely reject it (approval chance {value:.2f}).",
    ),
)
COMPONENTS = tuple(c.name for c in SCORE_COMPONENTS)
DEFAULT_WEIGHTS = {c.name: c.weight for c in SCORE_COMPONENTS}


def shuffled_words(text: str, k: int = 0) -> str:
    """The words of `text` in the `k`-th fixed pseudo-random order (seeded by the text)."""
    words = text.split()
    seed = int.from_bytes(hashlib.sha1(f"{k}:{text}".encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    for _ in range(5):
        order = rng.permutation(len(words))
        if list(order) != sorted(order):
            break
    return " ".join(words[i] for i in order)


def style_prefix(platform: str) -> str:
    return f"A {platform} post:\n"


def author_prefix(platform: str, posts: Sequence[str]) -> str:
    shown = "\n\n".join(p.strip() for p in posts)
    return f"Posts by one author on {platform}:\n\n{shown}\n\n"


def lm_text(text: str) -> str:
    """The text the scorer LM reads: links out (their random characters say nothing of style
    or fluency), spaces collapsed."""
    return re.sub(r"[ \t]+", " ", LINK_RE.sub("", text or "")).strip()


def head(text: str, chars: int = HEAD_CHARS) -> str:
    """The start of a long text, cut at a word boundary (the LM reads no more for fluency and
    style: enough to judge both, and long LinkedIn posts stay cheap)."""
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0]


def tail(text: str, chars: int = TAIL_CHARS) -> str:
    """The end of a text from a word boundary, for the ending measure."""
    return text if len(text) <= chars else text[-chars:].split(" ", 1)[-1]


def mean_loss(logprobs: Sequence[float]) -> float:
    return float(-np.mean(np.clip(logprobs, CLIP_LOW, 0.0))) if len(logprobs) else float("inf")


def share_at_most(reference: np.ndarray, values: Sequence[float]) -> list[float]:
    """For each value, the share of `reference` that is >= it (1 = as good as the best)."""
    ref = np.sort(np.asarray(reference, float))
    if not len(ref):
        return [float("nan")] * len(values)
    return [
        float("nan") if math.isnan(v) else float(1 - np.searchsorted(ref, v, "left") / len(ref))
        for v in values
    ]


def share_below(reference: np.ndarray, values: Sequence[float]) -> list[float]:
    """For each value, the share of `reference` that is <= it (higher value = better)."""
    return share_at_most(-np.asarray(reference, float), [-v for v in values])


def robust_z(reference: np.ndarray, values: np.ndarray, floor: float) -> np.ndarray:
    """(values - median) / (1.4826 MAD) of the non-NaN reference, the MAD at least `floor`;
    NaN values stay NaN, and the z is 0 when there is no reference."""
    ref = np.asarray(reference, float)
    ref = ref[~np.isnan(ref)]
    values = np.asarray(values, float)
    if not len(ref):
        return np.zeros_like(values)
    med = np.median(ref)
    return (values - med) / max(1.4826 * np.median(np.abs(ref - med)), floor)


def pick_context(texts: Sequence[str], k: int = CONTEXT_POSTS, chars: int = CONTEXT_CHARS):
    """Up to `k` of the author's posts (at most half) for the conditioned prefix, spread over the
    list and under `chars` in all (the longest dropped when they do not fit), and the rest for
    calibration."""
    candidates = [i for i, t in enumerate(texts) if t.strip()]
    k = min(k, len(candidates) // 2)  # keep at least half of the posts for calibration
    step = max(1, len(candidates) // max(1, k))
    chosen = candidates[::step][:k]
    while chosen and sum(len(texts[i]) for i in chosen) > chars:
        chosen.remove(max(chosen, key=lambda i: len(texts[i])))
    rest = [i for i in candidates if i not in chosen]
    return [texts[i] for i in chosen], [texts[i] for i in rest]


@dataclass
class LMStats:
    """Per-text scorer-LM measures: generic loss, end logprob, conditioned gain, and the loss
    its shuffled words add (NaN for texts under ORDER_MIN_WORDS words)."""

    loss: np.ndarray
    end: np.ndarray
    gain: np.ndarray
    order: np.ndarray


class StyleClassifier:
    """Character n-gram logistic regression of the author's posts against other authors'."""

    def __init__(self, own: Sequence[str], others: Sequence[str], max_others: int = 3000):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        others = list(others)
        if len(others) > max_others:
            others = [others[i] for i in np.linspace(0, len(others) - 1, max_others).astype(int)]
        self.model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2),
            LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000),
        )
        self.model.fit(list(own) + others, [1] * len(own) + [0] * len(others))

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [float(p) for p in self.model.predict_proba(list(texts))[:, 1]]


@dataclass
class CandidateScorer:
    """Scores drafts of one author on one platform against that author's own posts.

    `author_texts`: the author's posts (the copy rule checks all of them; a few condition the
    style LM, the rest calibrate it). `other_texts`: other authors' posts (optional) for the
    style classifier. `prompt_texts`: instructions the drafts must not echo (optional; each
    `score` call can add its own).
    """

    platform: str
    author_texts: list[str]
    scorer: LanguageModel | None = None
    engagement: EngagementModel | None = None
    judge: Callable[[list[str]], list[float]] | None = None  # texts -> 0..1
    preference: PreferenceModel | None = None  # the account's, where it beat the total
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    other_texts: Sequence[str] = ()
    prompt_texts: Sequence[str] = ()
    _index: AuthorIndex | None = None
    _calibration: LMStats | None = None
    _classifier: StyleClassifier | None = None

    def __post_init__(self):
        self.platform = platforms.get(self.platform).name
        self.author_texts = [t for t in self.author_texts if t and t.strip()]
        self._index = AuthorIndex(self.author_texts)
        self._context, self._calibration_texts = pick_context(self.author_texts)
        self._calibration_texts = self._calibration_texts[:CALIBRATION_POSTS]
        if self.other_texts and self.author_texts:
            self._classifier = StyleClassifier(self.author_texts, self.other_texts)

    # ---- the scorer LM ----------------------------------------------------------------------
    def _lm_stats(self, texts: list[str]) -> LMStats:
        """Generic loss, end logprob, conditioned gain and word-order loss of `texts` (and, the
        first time, of the calibration posts), in one batched `score` call."""
        nan = np.full(len(texts), np.nan)
        if self.scorer is None or not self._context:
            return LMStats(nan, nan.copy(), nan.copy(), nan.copy())
        todo = [lm_text(t) for t in texts]
        calibrate = self._calibration is None and bool(self._calibration_texts)
        if calibrate:
            todo += [lm_text(t) for t in self._calibration_texts]
        rows = [i for i, t in enumerate(todo) if t]
        heads = [head(todo[i]) for i in rows]
        tails = [tail(todo[i]) for i in rows]
        long = [r for r, i in enumerate(rows) if heads[r] != todo[i]]  # scored in two pieces
        tail_of = {r: len(rows) + k for k, r in enumerate(long)}
        generic = style_prefix(self.platform)
        conditioned = author_prefix(self.platform, [head(lm_text(t)) for t in self._context])
        ordered = [
            (r, k)
            for r, h in enumerate(heads)
            if len(h.split()) >= ORDER_MIN_WORDS
            for k in range(ORDER_SHUFFLES)
        ]
        shuffled_of: dict[int, list[int]] = {}
        for j, (r, _) in enumerate(ordered):
            shuffled_of.setdefault(r, []).append(2 * len(rows) + len(long) + j)
        prefixes = [generic] * (len(rows) + len(long)) + [conditioned] * len(rows)
        continuations = (
            [heads[r] if r in tail_of else todo[i] + END for r, i in enumerate(rows)]
            + [tails[r] + END for r in long]
            + heads
            + [shuffled_words(heads[r], k) for r, k in ordered]
        )
        logprobs = self.scorer.score(prefixes + [generic] * len(ordered), continuations)
        loss, end, gain, order = (np.full(len(todo), np.nan) for _ in range(4))
        for r, i in enumerate(rows):
            plain = logprobs[r] if r in tail_of else logprobs[r][:-1]
            ending = logprobs[tail_of[r]] if r in tail_of else logprobs[r]
            cond = logprobs[len(rows) + len(long) + r]
            if not plain or not cond or not ending:
                continue
            loss[i] = mean_loss(plain)
            end[i] = ending[-1]
            gain[i] = loss[i] - mean_loss(cond)
            if r in shuffled_of and all(logprobs[j] for j in shuffled_of[r]):
                shuffled = np.mean([mean_loss(logprobs[j]) for j in shuffled_of[r]])
                order[i] = shuffled - mean_loss(plain)
        n = len(texts)
        if calibrate:
            self._calibration = LMStats(loss[n:], end[n:], gain[n:], order[n:])
        return LMStats(loss[:n], end[:n], gain[:n], order[:n])

    def _continues_word(self, texts: list[str]) -> list[bool]:
        """Whether the scorer LM's most likely next token goes on with the text's last word
        (a draft cut mid-word), for texts that end in a plain word; one batched greedy call."""
        out = [False] * len(texts)
        if self.scorer is None or not getattr(self.scorer.capabilities, "score", False):
            return out
        ends = {i: lm_text(t) for i, t in enumerate(texts)}
        todo = [i for i, t in ends.items() if LAST_WORD_RE.search(t)]
        if not todo:
            return out
        generic = style_prefix(self.platform)
        prompts = [generic + tail(ends[i], NEXT_CHARS) for i in todo]
        nexts = self.scorer.generate(prompts, n=1, temperature=0.0, max_tokens=1)
        for i, completions in zip(todo, nexts, strict=True):
            out[i] = bool(completions and completions[0][:1].isalnum())
        return out

    def lm_components(self, texts: list[str]) -> dict[str, list[float]]:
        stats = self._lm_stats(texts)
        cal = self._calibration
        if cal is None:
            nan = [float("nan")] * len(texts)
            return {
                "raw": None,
                "rules": [[] for _ in texts],
                "fluency": nan,
                "ending": list(nan),
                "style_lm": list(nan),
            }

        def ok(a):
            return a[~np.isnan(a)]

        return {
            "raw": stats,
            "rules": self._lm_rules(texts, stats, cal, self._continues_word(texts)),
            "fluency": share_at_most(ok(cal.loss), stats.loss),
            "ending": share_below(ok(cal.end), stats.end),
            "style_lm": share_below(ok(cal.gain), stats.gain),
        }

    @staticmethod
    def _lm_rules(
        texts: list[str], stats: LMStats, cal: LMStats, continues: list[bool]
    ) -> list[list[tuple[str, str]]]:
        """The scorer LM's gate rules. cut: the LM's next token would go on with the last word,
        or (against robust z-scores of the calibration posts) it does not expect the text to end
        there (CUT_Z) and the text ends in a letter or digit. garbled: loss and ending together
        far off the author's posts (GARBLED_Z), or shuffling its words (the mean of
        ORDER_SHUFFLES orders) costs under ORDER_MIN_GAIN nats a token (real sentences lose far
        more: 0.06 was the lowest of 97 real held-out posts)."""
        loss_z = robust_z(cal.loss, stats.loss, LOSS_MAD_FLOOR)
        end_z = -robust_z(cal.end, stats.end, END_MAD_FLOOR)
        rules = []
        for text, lz, ez, order, cont in zip(
            texts, loss_z, end_z, stats.order, continues, strict=True
        ):
            found = []
            last = lm_text(text)[-1:]
            if cont:
                found.append(("cut", "it stops mid-word: the last word is not finished"))
            elif ez > CUT_Z and last.isalnum():
                found.append(("cut", f"it stops mid-word or mid-sentence (ending z {ez:.1f})"))
            if order < ORDER_MIN_GAIN:
                found.append(
                    ("garbled", f"its words are in no order (shuffled, it loses {order:.2f} nats)")
                )
            elif lz + ez > GARBLED_Z:
                found.append(
                    (
                        "garbled",
                        f"it reads far less naturally than the author's posts "
                        f"(loss z {lz:.1f}, ending z {ez:.1f})",
                    )
                )
            rules.append(found)
        return rules

    def style_fit(self, texts: list[str]) -> list[float]:
        """The relative style fit alone (see the module docstring)."""
        return combine_style(self.lm_components(texts)["style_lm"], self._style_clf(texts))

    def _style_clf(self, texts: list[str]) -> list[float]:
        """The classifier's probability that the author wrote each text (NaN without one)."""
        if self._classifier is None:
            return [float("nan")] * len(texts)
        return self._classifier(texts)

    # ---- scoring ----------------------------------------------------------------------------
    def score(
        self,
        texts: list[str],
        references: list[dict] | None = None,
        topic: str | None = None,
        topics: Sequence[str | None] | None = None,
        prompt_texts: Sequence[str] = (),
        facts: Sequence[Sequence[str]] | None = None,
    ) -> list[dict]:
        """Gate verdict, component scores, the total (`combine`; 0 for an unusable draft) and
        feedback, one dict per text.

        `topic` applies to every text, `topics` gives one per text; `facts` (optional, one list
        per text) the topic's facts and links, which back what a draft asserts (the gate's
        invented rule). `references` (optional, one per text) may hold a gold post's
        `engagement`, `style_fit` and `text` (a draft copying that text is a copy), so the
        feedback can say how a draft falls short of a real post.
        """
        if not texts:
            return []
        texts = [t or "" for t in texts]
        topics = list(topics) if topics is not None else [topic] * len(texts)
        refs = list(references or [None] * len(texts))
        facts = list(facts) if facts is not None else [()] * len(texts)
        prompts = [*self.prompt_texts, *prompt_texts]
        lm = self.lm_components(texts)
        batch = Batch(
            scorer=self,
            texts=texts,
            topics=topics,
            heuristics=[heuristic_score(t, self.platform) for t in texts],
            lm=lm,
            style_clf=self._style_clf(texts),
        )
        values = batch.values
        for c in SCORE_COMPONENTS:  # in order: the preference model reads the ones before it
            values[c.name] = c.compute(batch)
        results = []
        for i, text in enumerate(texts):
            ref = refs[i] or {}
            gate = check_draft(text, self.platform, topics[i], self._index, prompts, facts[i])
            copied = gate.usable and ref.get("text") and copy(text, AuthorIndex([ref["text"]]))
            if copied:  # a copy of the gold post the draft is compared with
                why = copied.replace("author's", "reference")
                gate = GateResult(False, [f"copy: {why}"], ["copy"])
            if gate.rules != ["empty"] and lm["rules"][i]:
                gate = GateResult(
                    False,
                    gate.reasons + [f"{rule}: {why}" for rule, why in lm["rules"][i]],
                    gate.rules + [rule for rule, _ in lm["rules"][i]],
                )
            h = batch.heuristics[i]
            parts = {name: v[i] for name, v in values.items()}
            total = combine(parts, self.weights) if gate.usable and h.postable else 0.0
            results.append(
                {
                    **parts,
                    "style_lm": lm["style_lm"][i],
                    "style_clf": batch.style_clf[i],
                    "total": total,
                    "usable": gate.usable,
                    "gate_reasons": gate.reasons,
                    "gate_rules": gate.rules,
                    "lm": {
                        k: float(getattr(lm["raw"], k)[i]) if lm["raw"] else float("nan")
                        for k in ("loss", "end", "gain", "order")
                    },
                    "within_limit": h.postable,
                    "heuristic_details": h.details,
                    "feedback": feedback(parts, h, ref, gate),
                }
            )
        return results


def combine_style(style_lm: list[float], style_clf: list[float]) -> list[float]:
    """Style fit: the mean of the LM's and the classifier's measure where both exist."""
    return [
        c if math.isnan(s) else s if math.isnan(c) else (s + c) / 2
        for s, c in zip(style_lm, style_clf, strict=True)
    ]


def combine(parts: dict[str, float], weights: dict[str, float]) -> float:
    """The total of a usable draft: the weighted mean of the quality components present, times
    each factor (style fit) raised to its weight. Voice multiplies rather than adds, so a fluent,
    on-topic post in someone else's voice cannot outrank the author's own (measured: another
    author's posts against held-out posts, AUC 0.68 as a sixth of a mean, 0.84 as a factor)."""
    factors = {c.name for c in SCORE_COMPONENTS if c.factor}
    quality = {
        k: v for k, v in parts.items() if k not in factors and not math.isnan(v) and weights.get(k)
    }
    present = {k: parts[k] for k in factors if not math.isnan(parts.get(k, math.nan))}
    weight = sum(weights[k] for k in quality)
    if not weight and not present:
        return 0.0
    total = sum(weights[k] * v for k, v in quality.items()) / weight if weight else 1.0
    for k, v in present.items():
        if weights.get(k):
            total *= v ** weights[k]
    return float(total)


def feedback(parts: dict, h, ref: dict, gate=None) -> str:
    """What fell short and why, in words; an unusable draft's broken rules come first."""
    notes = []
    if gate is not None and not gate.usable:
        notes.append("Unusable draft (" + ", ".join(gate.rules) + "): " + "; ".join(gate.reasons))
    if not h.postable and not (gate and "over_limit" in gate.rules):
        notes.append(
            f"Over the platform limit: {h.details['chars']} characters against "
            f"{h.details['limit']}, and it does not split cleanly into a thread."
        )
    if gate is not None and not gate.usable:
        return " ".join(notes) + "."
    if h.components.get("hook", 1.0) < 1.0:
        notes.append("No hook: open with a question, a number, a list, a bold claim or a story.")
    if h.components.get("readability", 1.0) < 0.5:
        notes.append("Hard to read: use shorter sentences and plainer words.")
    for c in SCORE_COMPONENTS:
        note = c.note(parts.get(c.name, math.nan), ref.get(c.name))
        if note:
            notes.append(note)
    if ref.get("strategy") and not ref.get("strategy_followed", True):
        notes.append(f"It ignores the strategy '{ref['strategy']}'.")
    return " ".join(notes) or (
        "Usable: meets the platform rules, sounds like the author, stays on topic, and engages."
    )
