"""The one thread policy: how many threads a process gives torch (and OpenMP/BLAS).

Threads per process = the cores this process may use // the model steps that can run at once
(the `lm` pool limit), and no more than the cores idle when the model loads, at least 1, unless
`REER_TORCH_THREADS` or an explicit count says otherwise. More threads than free cores spin
against each other: beside one busy process, 2 torch threads on 2 cores decoded at a fraction of
1 thread's speed (benchmarks/decode.py) and trained LoRA 18x slower than 1 thread.
"""

from __future__ import annotations

import os
import sys
import time

ENV = "REER_TORCH_THREADS"
BLAS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def idle_cores(window_s: float = 0.25) -> float:
    """How many of this process's cores sat idle over the next `window_s` seconds (Linux
    /proc/stat); the usable core count where that cannot be read."""
    try:
        cpus = {f"cpu{i}" for i in os.sched_getaffinity(0)}

        def sample() -> tuple[int, int]:
            idle = total = 0
            with open("/proc/stat") as f:
                for line in f:
                    name, *ticks = line.split()
                    if name in cpus:
                        values = [int(t) for t in ticks[:8]]
                        idle += values[3] + values[4]  # idle + iowait
                        total += sum(values)
            return idle, total

        idle0, total0 = sample()
        time.sleep(window_s)
        idle1, total1 = sample()
    except (AttributeError, OSError, ValueError, IndexError):
        return float(usable_cores())
    if total1 <= total0:
        return float(usable_cores())
    return len(cpus) * (idle1 - idle0) / (total1 - total0)


def threads_for(cores: int, concurrent_steps: int, idle: float) -> int:
    """cores // concurrent steps, capped by the idle cores (a core 3/4 idle counts), >= 1."""
    return max(1, min(cores // max(1, int(concurrent_steps)), int(idle + 0.25)))


def threads_per_process(concurrent_steps: int = 1, override: int | None = None) -> int:
    """`override`, else env REER_TORCH_THREADS, else `threads_for` the usable cores, the
    concurrent steps and the cores idle right now."""
    if override:
        return max(1, int(override))
    env = os.environ.get(ENV, "").strip()
    if env and int(env) > 0:
        return int(env)
    return threads_for(usable_cores(), concurrent_steps, idle_cores())


def apply_thread_policy(concurrent_steps: int = 1, override: int | None = None) -> int:
    """Set torch's intra-op threads to `threads_per_process(...)` and return the count.

    OpenMP and BLAS read their variables once, when they load: they get the same count as a
    default (and `OMP_WAIT_POLICY=PASSIVE`, so idle threads sleep instead of spinning) only if
    torch is not loaded yet. Variables already set are left alone."""
    n = threads_per_process(concurrent_steps, override)
    if "torch" not in sys.modules:
        for var in BLAS_ENV:
            os.environ.setdefault(var, str(n))
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(n)
    return n
