"""Concurrent `generate` calls merged into one batched call.

DSPy runs a program over many examples on threads (`Evaluate`, GEPA, `Module.batch` with
`num_threads`); each thread asks for a few sequences. A local model decodes 8 sequences at
about half the tokens/s of 32 (docs/scaling.md), so the calls that wait together with the same
settings are decoded together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

QUIET_S = 0.05  # a batch starts once no call has joined for this long
MAX_WAIT_S = 1.0  # ... or once its oldest call has waited this long
MAX_SEQUENCES = 64  # prompts x n per merged call


@dataclass
class _Call:
    prompts: list
    n: int
    settings: dict
    key: str
    since: float
    texts: list[list[str]] | None = None
    error: BaseException | None = None
    done: bool = False
    tokens: dict = field(default_factory=dict)


class MicroBatcher:
    """`generate(prompts, n, **settings)` for many threads: calls with equal `n` and settings
    that wait at the same time run as one call of `generate_fn`, in the order they came.

    One waiting thread (the first whose wait is over while no batch runs) takes the batch and
    runs it; the others sleep until their texts are there. A lone call waits QUIET_S at most;
    an error of the merged call is raised in every call of it.
    """

    def __init__(
        self,
        generate_fn: Callable[..., list[list[str]]],
        usage=None,
        quiet_s: float = QUIET_S,
        max_wait_s: float = MAX_WAIT_S,
        max_sequences: int = MAX_SEQUENCES,
    ):
        self.generate_fn = generate_fn
        self.usage = usage  # a `Usage` to split per call by sequences (prompt/completion tokens)
        self.quiet_s, self.max_wait_s, self.max_sequences = quiet_s, max_wait_s, max_sequences
        self.batches = 0  # merged calls made, and the calls they carried
        self.calls = 0
        self._waiting: list[_Call] = []
        self._running = False
        self._last_join = 0.0
        self._cond = threading.Condition()

    def __call__(self, prompts: list, n: int = 1, **settings) -> list[list[str]]:
        return self.generate(prompts, n, **settings)[0]

    def generate(self, prompts: list, n: int = 1, **settings) -> tuple[list[list[str]], dict]:
        """(n completions per prompt, this call's share of the merged call's tokens)."""
        now = time.monotonic()
        call = _Call(list(prompts), n, settings, repr((n, sorted(settings.items()))), now)
        batch = None
        with self._cond:
            self._waiting.append(call)
            self._last_join = now
            while not call.done and batch is None:
                batch = self._take(call)
                if batch is None:
                    self._cond.wait(timeout=self.quiet_s / 2)
        if batch is not None:
            self._run(batch)
        if call.error is not None:
            raise call.error
        return call.texts, call.tokens

    def _take(self, call: _Call) -> list[_Call] | None:
        """The batch `call`'s thread runs now (with `call` in it), or None to wait on."""
        now = time.monotonic()
        quiet = now - self._last_join >= self.quiet_s
        if self._running or not (quiet or now - call.since >= self.max_wait_s):
            return None
        batch, size = [], 0
        for c in list(self._waiting):
            if c.key == call.key and (
                not batch or size + len(c.prompts) * c.n <= self.max_sequences
            ):
                batch.append(c)
                size += len(c.prompts) * c.n
        if call not in batch:  # its own call would not fit: run it alone, first
            batch = [call]
        for c in batch:
            self._waiting.remove(c)
        self._running = True
        return batch

    def _run(self, batch: list[_Call]) -> None:
        prompts = [p for c in batch for p in c.prompts]
        before = self._tokens()
        try:
            texts = self.generate_fn(prompts, n=batch[0].n, **batch[0].settings)
            error = None
        except BaseException as e:  # noqa: BLE001 - handed to every caller of the batch
            texts, error = None, e
        spent = {k: v - before[k] for k, v in self._tokens().items()}
        with self._cond:
            start = 0
            for c in batch:
                if error is None:
                    c.texts = texts[start : start + len(c.prompts)]
                    share = len(c.prompts) / len(prompts)
                    c.tokens = {k: round(v * share) for k, v in spent.items()}
                c.error, c.done = error, True
                start += len(c.prompts)
            self.batches += 1
            self.calls += len(batch)
            self._running = False
            self._cond.notify_all()

    def _tokens(self) -> dict:
        u = self.usage
        if u is None:
            return {"prompt_tokens": 0, "completion_tokens": 0}
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens}
