"""A real warehouse for the desk: the shipped sample's posts, and `candidates` written by the
project's own `save_candidates` (drafts whose texts are the sample's newest real posts, plus one
hostile draft), so the fast tests need no model. The slow tests draft with the embedded model."""

import os
import socket
import threading
import time

import duckdb
import pytest

from reer_pipeline.layout import DataLayout
from reer_pipeline.platforms import Account
from reer_pipeline.program.draft import save_candidates
from tests.conftest import SAMPLE
from tests.scoring.conftest import warehouse

ACCOUNT = Account("x", "BarackObama")
HOSTILE = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
SLOT = {"weekday": 3, "hour": 15, "lift": 1.2}


def candidate(topic: str, text: str, usable: bool = True) -> dict:
    return {
        "topic": topic,
        "audience": "a general audience",
        "angle": "the main point",
        "strategy": "plain",
        "strategy_post_ids": [],
        "trajectory_post_ids": [],
        "generation": "single",
        "text": text,
        "parts": [text],
        "within_limit": len(text) <= 280,
        "parse_ok": True,
        "usable": usable,
        "gate_reasons": [] if usable else ["off_topic: it is not about the topic"],
        "error": None,
        "slot": SLOT,
        "selection": None,
    }


def add_candidates(db, drafts: list[dict]) -> None:
    with duckdb.connect(str(db)) as con:
        save_candidates(con, ACCOUNT, drafts, "base")


def real_drafts(db, n: int = 4) -> list[dict]:
    """The account's `n` newest original posts as drafts for the topic 'health care'."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """SELECT text FROM posts WHERE is_original AND length(text) > 40
            ORDER BY created_at DESC LIMIT ?""",
            [n],
        ).fetchall()
    return [candidate("health care", r[0]) for r in rows]


@pytest.fixture
def desk_root(data_root):
    """A data root whose warehouse holds the sample's posts and five drafts (one hostile)."""
    db = data_root / "warehouse.duckdb"
    warehouse(db, [SAMPLE]).close()
    add_candidates(db, real_drafts(db) + [candidate("health care", HOSTILE, usable=False)])
    return data_root


@pytest.fixture
def layout(desk_root) -> DataLayout:
    return DataLayout.from_env()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving `app` on 127.0.0.1 in a thread (a real socket, real HTTP)."""

    def __init__(self, app, host: str = "127.0.0.1"):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def model_env(monkeypatch):
    """One torch thread per model: the machine is shared (docs/scaling.md)."""
    monkeypatch.setenv("REER_TORCH_THREADS", os.environ.get("REER_TORCH_THREADS", "1"))
