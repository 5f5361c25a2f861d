"""Fixtures for the LM tests: offline hub, a private data root, one fp32 model, local servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# one intra-op thread: on a shared 2-core box two spinning threads make decoding ~8x slower
os.environ.setdefault("REER_TORCH_THREADS", "1")
# tests run on the fast model even where `make models` installed the larger default proposer
os.environ.setdefault("REER_PROPOSER_LM_URI", "local")


@pytest.fixture(scope="session", autouse=True)
def lm_data_root(tmp_path_factory):
    """A data root shared by the LM tests (the embedded model is converted once per session)."""
    old = os.environ.get("REER_DATA_DIR")
    root = tmp_path_factory.mktemp("lm_data")
    os.environ["REER_DATA_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("REER_DATA_DIR", None)
    else:
        os.environ["REER_DATA_DIR"] = old


@pytest.fixture(scope="session")
def model_dir(lm_data_root) -> Path:
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.embedded import embedded_model_dir

    return embedded_model_dir(DataLayout.from_env().models)


@pytest.fixture(scope="session")
def hf32(model_dir):
    from reer_pipeline.lm.hf import HFModel

    return HFModel(str(model_dir), dtype="float32", uri="hf::embedded")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real server process on 127.0.0.1, started and stopped by the test."""

    def __init__(self, args: list[str], port: int, health: str, log: Path, wait: float = 120):
        self.port, self.log = port, log
        self.proc = subprocess.Popen(
            args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ}
        )
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=2)
                return
            except Exception:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not come up: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def katan(tmp_path: Path, *flags: str) -> Server:
    """llm-katan's echo backend speaking the OpenAI and Anthropic wire formats."""
    port = free_port()
    exe = Path(sys.executable).with_name("llm-katan")
    args = [
        str(exe),
        "--model",
        "echo-model",
        "--backend",
        "echo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--providers",
        "openai,anthropic",
        "--disable-dashboard",
        "--stats-file",
        str(tmp_path / "katan_stats.json"),
        *flags,
    ]
    return Server(args, port, "/health", tmp_path / f"katan_{port}.log", wait=60)
