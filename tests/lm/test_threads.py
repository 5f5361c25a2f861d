import os
import subprocess
import sys
import time
from pathlib import Path

from reer_pipeline.lm.threads import (
    ENV,
    idle_cores,
    threads_for,
    threads_per_process,
    usable_cores,
)

ROOT = Path(__file__).resolve().parents[2]


def test_default_never_oversubscribes_the_usable_cores(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cores = usable_cores()
    assert cores == len(os.sched_getaffinity(0))
    for steps in range(1, 2 * cores + 2):
        n = threads_per_process(steps)
        assert n >= 1
        assert n * steps <= max(cores, steps)
    assert 1 <= threads_per_process(1) <= cores


def test_threads_are_capped_by_the_idle_cores():
    assert threads_for(8, 1, 8.0) == 8 and threads_for(8, 2, 8.0) == 4
    assert threads_for(2, 1, 1.8) == 2  # a neighbour using a fifth of a core leaves both
    assert threads_for(2, 1, 1.0) == 1  # one busy neighbour on 2 cores: one thread
    assert threads_for(2, 1, 0.1) == 1 and threads_for(1, 4, 1.0) == 1


def test_busy_neighbours_on_every_core_leave_one_thread(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    spin = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(usable_cores())
    ]
    try:
        time.sleep(0.5)
        assert idle_cores() < usable_cores() / 2 + 0.5
        assert threads_per_process(1) == 1
    finally:
        for p in spin:
            p.kill()
            p.wait()


def test_override_then_env_then_cores(monkeypatch):
    monkeypatch.setenv(ENV, "3")
    assert threads_per_process(2) == 3
    assert threads_per_process(2, override=5) == 5
    monkeypatch.setenv(ENV, "0")  # 0 means: use the policy
    assert 1 <= threads_per_process(1) <= usable_cores()


POLICY = """
import os, sys
from reer_pipeline.lm.threads import apply_thread_policy
n = apply_thread_policy(concurrent_steps=int(sys.argv[1]))
import torch
print(n, torch.get_num_threads(), os.environ["OMP_NUM_THREADS"], os.environ["OMP_WAIT_POLICY"])
"""


def test_apply_sets_torch_and_openmp_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "OMP_NUM_THREADS")}
    env.pop("OMP_WAIT_POLICY", None)
    env["PYTHONPATH"] = str(ROOT)
    for steps in (1, 2):
        out = subprocess.run(
            [sys.executable, "-c", POLICY, str(steps)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        n = int(out[0])
        assert 1 <= n <= max(1, usable_cores() // steps)
        assert out == [str(n), str(n), str(n), "PASSIVE"]
