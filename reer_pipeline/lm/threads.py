"""The one thread policy: how many threads a process gives torch (and OpenMP/BLAS).

Threads per process = the cores this process may use // the model steps that can run at once
(the `lm` pool limit), at least 1, unless `REER_TORCH_THREADS` or an explicit count says
otherwise. More threads than cores spin against each other: beside one busy process, 2 torch
threads on 2 cores decoded at a fraction of 1 thread's speed (benchmarks/decode.py).
"""

from __future__ import annotations

import os
import sys

ENV = "REER_TORCH_THREADS"
BLAS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def threads_per_process(concurrent_steps: int = 1, override: int | None = None) -> int:
    """`override`, else env REER_TORCH_THREADS, else usable cores // concurrent steps (>= 1)."""
    if override:
        return max(1, int(override))
    env = os.environ.get(ENV, "").strip()
    if env and int(env) > 0:
        return int(env)
    return max(1, usable_cores() // max(1, int(concurrent_steps)))


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
