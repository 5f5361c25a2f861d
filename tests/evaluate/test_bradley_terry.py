"""Bradley-Terry ratings, win counting and answer parsing on synthetic comparisons (fast)."""

import itertools

import numpy as np

from reer_pipeline.evaluate.tournament import (
    Comparison,
    bradley_terry,
    parse_answer,
    summarize,
    win_matrix,
)


def synthetic(strengths, games: int, seed: int = 0):
    """Comparisons of every pair `games` times, the winner drawn with P(i beats j) =
    s_i / (s_i + s_j) (the Bradley-Terry model), both orders agreeing, the scorer likewise."""
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(len(strengths))]
    out = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        for k in range(games):
            win = float(rng.random() < strengths[i] / (strengths[i] + strengths[j]))
            out.append(Comparison(k, a, b, win, win, win))
    return names, out


def test_bradley_terry_recovers_a_known_order_and_ratios():
    truth = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    names, comparisons = synthetic(truth, games=400)
    p = bradley_terry(win_matrix(comparisons, names, "judge"))
    assert list(np.argsort(-p)) == list(range(len(truth)))  # the known order
    ratios = (p / p[0]) / (truth / truth[0])
    assert np.all(np.abs(np.log(ratios)) < 0.35), ratios  # within ~40% on every ratio


def test_a_system_that_never_wins_stays_finite_and_last():
    names = ["a", "b", "c"]
    comparisons = [Comparison(0, "a", "b", 1.0, 1.0, 1.0)] * 5 + [
        Comparison(0, "b", "c", 1.0, 1.0, 1.0)
    ] * 5
    p = bradley_terry(win_matrix(comparisons, names, "judge"))
    assert np.all(np.isfinite(p)) and p[0] > p[1] > p[2] > 0


def test_win_rates_are_complementary_and_position_bias_counts_flips():
    names, comparisons = synthetic([2.0, 1.0, 0.5], games=30, seed=1)
    # a judge that always picks the first-shown draft: every verdict flips with the order
    biased = [Comparison(c.topic, c.a, c.b, 1.0, 0.0, c.scorer) for c in comparisons]
    s = summarize(biased, names)
    assert s["position_bias"]["value"] == 1.0 and s["first_shown_picked"]["value"] == 1.0
    assert all(r["win_rate"]["value"] == 0.5 for r in s["systems"])  # both orders: ties
    s = summarize(comparisons, names)
    assert s["position_bias"]["value"] == 0.0 and s["scorer_agreement"]["value"] == 1.0
    for a, b in itertools.combinations(names, 2):  # a over b and b over a sum to one
        wins = win_matrix(comparisons, names, "judge")
        i, j = names.index(a), names.index(b)
        assert wins[i, j] + wins[j, i] == 30
    rates = [r["win_rate"]["value"] for r in s["systems"]]
    assert abs(np.mean(rates) - 0.5) < 1e-9  # every system plays as many games
    bt = [r["bt"] for r in s["systems"]]
    assert np.argsort(rates).tolist() == np.argsort(bt).tolist()


def test_answers_parse_to_a_or_b_or_nothing():
    assert [parse_answer(t) for t in ("A", " b.", "Draft B", "**A**")] == list("ABBA")
    assert [parse_answer(t) for t in ("", "Both", "The answer", "C")] == [None] * 4
