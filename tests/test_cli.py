"""The `reer` command, run as a user runs it: in a subprocess."""

import json
import os
import subprocess
import sys

import duckdb
import pytest
import yaml

from reer_pipeline.cli import language_models
from reer_pipeline.finetune.author import judge
from reer_pipeline.finetune.evaluate import Perplexity
from reer_pipeline.program.topics import load_topics
from tests.conftest import SAMPLE
from tests.ingest.test_formats import BAD
from tests.program.test_topics import SHIPPED as SHIPPED_TOPICS
from tests.scoring.conftest import warehouse


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


def test_parse_reports_each_file(tmp_path, sample_facts):
    out = reer(
        "parse",
        str(SAMPLE),
        str(BAD / "binary.bin"),
        str(tmp_path / "missing.csv"),
        env={"REER_DATA_DIR": str(tmp_path), "PATH": ""},
    )
    assert out.returncode == 2  # a missing file is a usage error
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert reports[0]["posts"] == sample_facts.posts and reports[0]["error"] is None
    assert reports[1]["error"].startswith("binary.bin: binary file")
    assert "missing.csv: no such file" in out.stderr


@pytest.mark.slow
def test_demo_materializes_the_whole_graph_with_the_dagster_cli(tmp_path, sample_facts):
    env = {
        "REER_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "PATH": os.environ["PATH"],  # dagster's log capture runs `tail`
        "REER_MODELS_DIR": os.environ["REER_MODELS_DIR"],
    }
    if "PYTHONPATH" in os.environ:  # a worktree runs its own code, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if "REER_TORCH_THREADS" in os.environ:  # this test's share of the cores under xdist
        env["REER_TORCH_THREADS"] = os.environ["REER_TORCH_THREADS"]
    (tmp_path / "home").mkdir()
    out = reer("demo", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "warehouse.duckdb" in out.stdout and "127.0.0.1:3000" in out.stdout
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM posts").fetchone() == (sample_facts.posts,)
        assert con.execute("SELECT count(*) FROM top_posts").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM candidate_scores").fetchone()[0] > 0
        topics = [r[0] for r in con.execute("SELECT DISTINCT topic FROM candidates").fetchall()]
        texts = [r[0].lower() for r in con.execute("SELECT text FROM posts").fetchall()]
        names = con.execute("SELECT name, when_to_use FROM strategy_cards").fetchall()
    # the demo drafts about what the account writes about: phrases of its own posts, not the
    # example topics of topics.yaml (entries without an author, for accounts without subjects)
    assert topics and not set(topics) & {t["topic"] for t in load_topics(SHIPPED_TOPICS)}
    assert all(sum(t.lower() in p for p in texts) >= 2 for t in topics), topics
    for name, _use in names:  # a label: no contraction residue ("ll"), "post" or quote
        said = set(name.lower().replace("/", " ").split())
        assert not said & {"ll", "ve", "re", "post", "posts"}, name
        assert name[:1].isalnum() and not set(name) & set('"“”'), name
    # the whole graph, run the way CI and a user run it: `dagster asset materialize`
    # ingest per file, then mining, the author model, tuning and drafting per account
    assert out.stdout.count("$ dagster asset materialize") == 5
    assert f"--partition '{sample_facts.account}|gepa'" in out.stdout
    assert f"Accounts: {sample_facts.account}" in out.stdout
    # what the demo made, to read: the cards, then each topic's best drafts
    assert f"Strategy cards of {sample_facts.account}:" in out.stdout
    drafted = out.stdout.split(f"Drafts of {sample_facts.account}")[1]
    assert all(f"[{t}] #1 " in drafted for t in topics), drafted
    tuned = tmp_path / "data" / "programs" / "x__BarackObama" / "gepa"
    assert (tuned / "program.json").exists() and (tuned / "evaluation.json").exists()
    adapter = tmp_path / "data" / "adapters" / "x__BarackObama" / "adapter"
    evaluation = json.loads((adapter / "evaluation.json").read_text())
    assert f"Author model of x:BarackObama: {evaluation['verdict']}" in out.stdout
    assert "+" not in evaluation["verdict"]
    approve_one_on_the_desk(tmp_path / "data", out.stdout, env, sample_facts.account)


def approve_one_on_the_desk(root, stdout: str, env: dict, account: str) -> None:
    """The demo approves nothing; its last lines say how many drafts wait on the desk. A person
    approves one through the desk's API, and the publish job sends it to the outbox."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from reer_pipeline.layout import DataLayout
    from reer_pipeline.publish.outbox import outbox_path, read
    from reer_pipeline.serve.app import create_app

    waiting, serve, _outbox = stdout.strip().splitlines()[-3:]
    desk = TestClient(create_app(DataLayout(root)), base_url="http://127.0.0.1:8000")
    queue = desk.get(f"/api/accounts/{account}/queue").json()
    assert waiting.startswith(f"{queue['pending']} drafts wait on the desk") and queue["pending"]
    assert "make serve" in serve and queue["approved"] == 0 and not outbox_path(root).exists()
    draft = queue["drafts"][0]
    now = datetime.now(UTC).isoformat()
    r = desk.post(
        f"/api/drafts/{draft['draft_id']}/decision",
        json={"account": account, "decision": "approved", "slot": now},
    )
    assert r.status_code == 200, r.text
    args = ["asset", "materialize", "-m", "reer_pipeline.definitions", "--select"]
    done = subprocess.run(
        [sys.executable, "-m", "dagster", *args, "published_posts", "--partition", account],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [record] = read(outbox_path(root))
    assert record["draft_id"] == draft["draft_id"] and record["account"] == account


def run_config(path, **settings):
    """A run-config YAML setting the `language_models` resource, as a run would take it."""
    path.write_text(yaml.safe_dump({"resources": {"language_models": {"config": settings}}}))
    return str(path)


@pytest.fixture
def sample_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    warehouse(root / "warehouse.duckdb", [SAMPLE]).close()
    return root


def test_draft_takes_the_key_variable_from_the_resource_config(sample_root, tmp_path):
    """`key_env` of the run config reaches `reer draft`: the proposer is built with it (and an
    unset variable is named in one line, before any call)."""
    config = run_config(
        tmp_path / "run.yaml",
        proposer_lm="openai::gpt-4o-mini",
        key_env={"openai": "REER_TEST_GATEWAY_KEY"},
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"REER_DATA_DIR": str(sample_root), "OPENAI_API_KEY": "sk-not-this-one"}
    env.pop("REER_TEST_GATEWAY_KEY", None)
    out = reer("draft", "climate", "--platform", "x", "--config", config, env=env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "REER_TEST_GATEWAY_KEY is not set" in out.stderr and "Traceback" not in out.stderr
    assert "sk-not-this-one" not in out.stderr


def test_draft_models_carry_the_resource_rate_limits(tmp_path):
    config = run_config(
        tmp_path / "run.yaml",
        proposer_lm="openai-compatible::http://127.0.0.1:9/v1::m",
        requests_per_minute={"openai-compatible": 7},
        tokens_per_minute={"openai-compatible": 900},
    )
    lm = language_models("draft", config).get("proposer_lm")
    assert (lm.limiter.rpm, lm.limiter.tpm) == (7, 900)


def test_draft_rejects_a_config_the_resource_does_not_take(tmp_path):
    config = run_config(tmp_path / "run.yaml", hf_dtype=["not", "a", "dtype"])
    with pytest.raises(SystemExit) as exit_:
        language_models("draft", config)
    assert exit_.value.code == 2


@pytest.mark.slow
def test_draft_prints_ranked_drafts_with_the_configured_dtype_and_no_library_warning(
    sample_root, tmp_path
):
    from reer_pipeline.lm.hf import bf16_supported

    dtype = "float32" if bf16_supported() else "bfloat16"  # not what `auto` picks here
    config = run_config(tmp_path / "run.yaml", proposer_lm="hf::embedded", hf_dtype=dtype)
    env = {**os.environ, "REER_DATA_DIR": str(sample_root), "COLUMNS": "400"}
    out = reer(
        "draft",
        "climate",
        "--platform",
        "x",
        "-n",
        "1",
        "--max-tokens",
        "24",
        "--config",
        config,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"dtype={dtype}" in out.stderr  # the proposer and the scorer
    assert out.stderr.count(f"dtype={dtype}") == 2
    assert "usable" in out.stderr and "climate" in out.stdout
    assert "Warning" not in out.stderr, out.stderr[-2000:]


@pytest.mark.parametrize(
    ("reduction", "low", "high", "words"),
    [
        (0.41, 0.39, 0.44, "41% lower (95% interval 39% to 44%)"),
        (-0.2, -0.3, -0.1, "20% higher (95% interval 10% to 30%)"),
    ],
)
def test_the_author_model_verdict_reads_in_plain_words(reduction, low, high, words):
    def ppl(value):
        return Perplexity(value, value, value, 0.95, [value] * 12, [1.0] * 12, [3] * 12)

    interval = {"reduction": reduction, "low": low, "high": high, "level": 0.95}
    beats, text = judge(ppl(40.0), ppl(40.0 * (1 - reduction)), interval)
    assert f"held-out perplexity {words}" in text and "+" not in text
    assert "with the base model" in text and "on 12 posts" in text
    assert beats == (low > 0) and text.startswith("not better") != beats


def test_reer_draft_offers_every_generation_strategy():
    from reer_pipeline.cli import GENERATION_CHOICES
    from reer_pipeline.program.modules import GENERATIONS

    assert GENERATION_CHOICES == GENERATIONS
