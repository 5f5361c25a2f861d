"""The `reer` command, run as a user runs it: in a subprocess."""

import json
import os
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import SAMPLE
from tests.ingest.test_formats import BAD


def reer(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "reer_pipeline.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=2700,
        **kw,
    )


@pytest.mark.parametrize("command", [[], ["parse"], ["demo"], ["draft"]])
def test_help_for_every_command(command):
    out = reer(*command, "--help")
    assert out.returncode == 0 and "usage: reer" in out.stdout


@pytest.mark.parametrize(
    "args", [[], ["nonsense"], ["parse"], ["demo", "--bogus"], ["draft"], ["draft", "t", "-n", "x"]]
)
def test_bad_arguments_exit_nonzero_with_a_message(args):
    out = reer(*args)
    assert out.returncode == 2 and "error:" in out.stderr


def test_parse_reports_each_file(tmp_path):
    out = reer(
        "parse",
        str(SAMPLE),
        str(BAD / "binary.bin"),
        str(tmp_path / "missing.csv"),
        env={"REER_DATA_DIR": str(tmp_path), "PATH": ""},
    )
    assert out.returncode == 2  # a missing file is a usage error
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert reports[0]["posts"] == 3207 and reports[0]["error"] is None
    assert reports[1]["error"].startswith("binary.bin: binary file")
    assert "missing.csv: no such file" in out.stderr


@pytest.mark.slow
def test_demo_materializes_the_whole_graph_with_the_dagster_cli(tmp_path):
    env = {
        "REER_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "PATH": os.environ["PATH"],  # dagster's log capture runs `tail`
        "REER_MODELS_DIR": os.environ["REER_MODELS_DIR"],
    }
    if "REER_TORCH_THREADS" in os.environ:  # this test's share of the cores under xdist
        env["REER_TORCH_THREADS"] = os.environ["REER_TORCH_THREADS"]
    (tmp_path / "home").mkdir()
    out = reer("demo", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "warehouse.duckdb" in out.stdout and "127.0.0.1:3000" in out.stdout
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM posts").fetchone() == (3207,)
        assert con.execute("SELECT count(*) FROM top_posts").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM candidate_scores").fetchone()[0] > 0
    # the whole graph, run the way CI and a user run it: `dagster asset materialize`
    # ingest per file, then mining, the author model, tuning and drafting per account
    assert out.stdout.count("$ dagster asset materialize") == 5
    assert "--partition 'x:BarackObama|gepa'" in out.stdout
    assert "Accounts: x:BarackObama" in out.stdout
    tuned = tmp_path / "data" / "programs" / "x__BarackObama" / "gepa"
    assert (tuned / "program.json").exists() and (tuned / "evaluation.json").exists()
    adapter = tmp_path / "data" / "adapters" / "x__BarackObama" / "adapter"
    evaluation = json.loads((adapter / "evaluation.json").read_text())
    assert f"Author model of x:BarackObama: {evaluation['verdict']}" in out.stdout
