import os
import subprocess
import sys
from pathlib import Path

from reer_pipeline.lm.threads import ENV, threads_per_process, usable_cores

ROOT = Path(__file__).resolve().parents[2]


def test_default_never_oversubscribes_the_usable_cores(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    cores = usable_cores()
    assert cores == len(os.sched_getaffinity(0))
    for steps in range(1, 2 * cores + 2):
        n = threads_per_process(steps)
        assert n >= 1
        assert n * steps <= max(cores, steps)
    assert threads_per_process(1) == cores


def test_override_then_env_then_cores(monkeypatch):
    monkeypatch.setenv(ENV, "3")
    assert threads_per_process(2) == 3
    assert threads_per_process(2, override=5) == 5
    monkeypatch.setenv(ENV, "0")  # 0 means: use the policy
    assert threads_per_process(1) == usable_cores()


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
        want = str(max(1, usable_cores() // steps))
        assert out == [want, want, want, "PASSIVE"]
