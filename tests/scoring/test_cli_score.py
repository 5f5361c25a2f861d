"""`reer score`: exit 0 for a usable draft, 1 for an unusable one, 2 with one line when it
cannot score; never a traceback. The warehouse holds the shipped sample's real posts."""

import pytest

from reer_pipeline.cli import build_parser
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse


def run(*argv) -> int:
    args = build_parser().parse_args(["score", *argv])
    try:
        return args.func(args)
    except SystemExit as e:
        return e.code


@pytest.fixture
def sample_root(data_root):
    warehouse(data_root / "warehouse.duckdb", [SAMPLE]).close()
    return data_root


def test_cannot_score_prints_one_line_and_exits_2(sample_root, capsys):
    cases = [
        (["", "--platform", "x", "--topic", "climate"], "text is empty"),
        (["Act on climate.", "--platform", "x", "--topic", "  "], "topic is empty"),
        (["Act on climate.", "--platform", "myspace", "--topic", "climate"], "unknown platform"),
        (["Act on climate.", "--platform", "mastodon", "--topic", "climate"], "with posts: x"),
        (
            ["Act on climate.", "--platform", "x", "--topic", "climate", "--author", "nobody"],
            "authors there: BarackObama",
        ),
    ]
    for argv, message in cases:
        assert run(*argv) == 2, argv
        out = capsys.readouterr()
        assert message in out.err and out.err.count("\n") == 1 and "Traceback" not in out.err
        assert out.out == ""


def test_no_warehouse(data_root, capsys):
    assert run("Act on climate.", "--platform", "x", "--topic", "climate") == 2
    assert "no warehouse" in capsys.readouterr().err


@pytest.mark.slow
def test_usable_and_unusable_drafts(sample_root, capsys):
    draft = (
        "Climate change is already costing American families. We can cut carbon pollution "
        "and create clean energy jobs at the same time. It is time to act."
    )
    assert run(draft, "--platform", "x", "--topic", "climate change") == 0
    out = capsys.readouterr().out
    assert "account: x:BarackObama" in out and "gate: usable" in out
    for name in ("heuristics", "fluency", "ending", "style_fit", "topic", "engagement"):
        assert any(line.startswith(name) for line in out.splitlines()), name
    total = float(out.strip().splitlines()[-1].removeprefix("total: "))
    assert 0 < total <= 1

    junk = "That's a great idea, and it's so funny!"
    assert run(junk, "--platform", "twitter", "--topic", "climate change") == 1
    out = capsys.readouterr().out
    assert "gate: UNUSABLE (off_topic)" in out and out.strip().endswith("total: 0.000")
