"""The one language-model protocol every backend implements.

`generate` samples text; `score` returns the per-token logprobs of each continuation given its
prefix. Backends that cannot score (OpenAI chat, Anthropic) raise `ScoringUnsupported`; they never
make up a perplexity.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]
Prompt = str | list[Message]  # a raw string, or chat messages rendered with the model's template


class ScoringUnsupported(RuntimeError):
    """The backend has no way to return logprobs of a given text."""


@dataclass(frozen=True)
class Capabilities:
    generate: bool = True
    score: bool = False
    chat: bool = True
    n_per_call: bool = False  # samples n completions of a prompt in one batched call
    constrained: bool = False  # can constrain decoding to a grammar / JSON schema


@dataclass
class Usage:
    """Token and cost ledger of one backend instance."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    scored_tokens: int = 0
    cost_usd: float = 0.0
    failures: int = 0
    retries: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    def record(
        self,
        kind: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        scored_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """One call of `kind` (`generate`, `score`) and what it used."""
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.scored_tokens += scored_tokens
        self.cost_usd += cost_usd
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


@runtime_checkable
class LanguageModel(Protocol):
    uri: str
    capabilities: Capabilities
    usage: Usage

    def generate(
        self,
        prompts: list[Prompt],
        n: int = 1,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
    ) -> list[list[str]]:
        """For each prompt, n completions."""
        ...

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        """For each (prefix, continuation) pair, the logprob of every continuation token."""
        ...


SAMPLING_SETTINGS = ("repetition_penalty", "no_repeat_ngram_size", "no_copy_ngram_size")


def sampling_kwargs(lm, sampling: dict | None) -> dict:
    """The optional sampling settings (SAMPLING_SETTINGS) that `lm.generate` takes; a backend
    without them (cloud APIs) gets none, rather than an error."""
    import inspect

    if not sampling:
        return {}
    try:
        params = inspect.signature(lm.generate).parameters
    except (TypeError, ValueError):
        return {}
    return {
        k: v
        for k, v in sampling.items()
        if k in SAMPLING_SETTINGS and k in params and v is not None
    }


def render_prompt(tokenizer, prompt: Prompt) -> str:
    """A raw string as is; chat messages through the tokenizer's chat template."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)


def seed_local_models(seed: int) -> None:
    """Seed Python's RNG and every local backend already loaded (never imports one), so that
    sampling from a local model repeats."""
    random.seed(seed)
    if (torch := sys.modules.get("torch")) is not None:
        torch.manual_seed(seed)
    if (mlx_core := sys.modules.get("mlx.core")) is not None:
        mlx_core.random.seed(seed)
