"""Cloud backends on their official SDKs: OpenAI, Anthropic, Together, OpenAI-compatible servers.

Every call goes through a per-provider rate limiter (requests and tokens per minute) and a retry
loop (exponential backoff with jitter, honouring Retry-After, within a total timeout). SDK retries
are off so the ledger counts every attempt. API keys live only inside the SDK client: they are
never in a repr, a log line or an exception message.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime

from reer_pipeline.lm.base import Capabilities, Prompt, ScoringUnsupported, Usage

log = logging.getLogger(__name__)

# USD per million (input, output) tokens; configurable per instance with `prices=`.
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-sonnet-4-5": (3.00, 15.00),
}


class LMCallError(RuntimeError):
    """A cloud call failed after its last retry; names provider, model and status, never a key."""

    def __init__(self, provider: str, model: str, status: int | str | None, attempts: int, msg):
        self.provider, self.model, self.status, self.attempts = provider, model, status, attempts
        super().__init__(
            f"{provider} model {model!r} failed with status {status} after {attempts} attempt(s): "
            f"{msg}"
        )


class RateLimiter:
    """Sliding window (one minute) of requests and tokens; `acquire` blocks until both fit."""

    def __init__(self, rpm: int | None = None, tpm: int | None = None, window: float = 60.0):
        self.rpm, self.tpm, self.window = rpm, tpm, window
        self._events: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def acquire(self, tokens: int = 0) -> float:
        """Wait for room for one request of `tokens`; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._events and now - self._events[0][0] >= self.window:
                    self._events.popleft()
                used = sum(t for _, t in self._events)
                ok_r = self.rpm is None or len(self._events) < self.rpm
                ok_t = self.tpm is None or not self._events or used + tokens <= self.tpm
                if ok_r and ok_t:
                    self._events.append((now, tokens))
                    return waited
                delay = max(0.01, self.window - (now - self._events[0][0]))
            time.sleep(min(delay, 1.0))
            waited += min(delay, 1.0)


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, rpm: int | None, tpm: int | None) -> RateLimiter:
    """One limiter per provider (and base URL), shared by every instance in the process."""
    with _limiters_lock:
        lim = _limiters.setdefault(key, RateLimiter(rpm, tpm))
        lim.rpm, lim.tpm = rpm, tpm
        return lim


def retry_after_seconds(headers) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header: delta-seconds or an HTTP date."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _status(exc: Exception) -> int | str:
    code = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if code:
        return int(code)
    name = type(exc).__name__
    return "timeout" if "Timeout" in name else "connection error" if "Connection" in name else name


def _retryable(status) -> bool:
    return (
        status in ("timeout", "connection error")
        or status in (408, 409, 429)
        or (isinstance(status, int) and status >= 500)
    )


def _est_tokens(prompts, max_tokens: int, n: int) -> int:
    chars = sum(
        len(p) if isinstance(p, str) else sum(len(m["content"]) for m in p) for p in prompts
    )
    return chars // 4 + max_tokens * n * len(prompts)


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


class CloudLM:
    """Limiter, retries, ledger and redaction; subclasses implement `_generate_one`."""

    provider = "cloud"
    key_env = ""
    key_required = True  # a self-hosted openai-compatible server may need none
    capabilities = Capabilities(generate=True, score=False, chat=True, n_per_call=False)

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        max_retries: int = 4,
        timeout: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        prices: tuple[float, float] | None = None,
    ):
        self.model = model
        self.base_url = base_url
        self._key = api_key or (os.environ.get(self.key_env) if self.key_env else None) or ""
        if self.key_required and not self._key:
            raise ValueError(
                f"{self.key_env} is not set: {self.provider}::{model} needs an API key"
            )
        self.max_retries, self.timeout = max_retries, timeout
        self.backoff, self.max_backoff = backoff, max_backoff
        self.prices = prices or PRICES.get(model, (0.0, 0.0))
        self.limiter = limiter_for(f"{self.provider}|{base_url or ''}", rpm, tpm)
        self.usage = Usage()
        self._client = self._make_client()

    @property
    def uri(self) -> str:
        return f"{self.provider}::{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(uri={self.uri!r})"

    def _make_client(self):
        raise NotImplementedError

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _call(self, fn, est_tokens: int):
        """Run `fn` under the rate limit with retries; raise LMCallError after the last one."""
        deadline = time.monotonic() + self.timeout * (self.max_retries + 1)
        for attempt in range(1, self.max_retries + 2):
            self.limiter.acquire(est_tokens)
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - SDK errors differ per provider
                status = _status(exc)
                if not isinstance(status, int) and status not in ("timeout", "connection error"):
                    raise  # a bug or a bad request shape, not a provider failure
                last = attempt > self.max_retries or not _retryable(status)
                headers = getattr(getattr(exc, "response", None), "headers", None)
                delay = retry_after_seconds(headers)
                if delay is None:
                    delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                    delay *= 0.5 + random.random()  # jitter
                if not last and time.monotonic() + delay > deadline:
                    last = True
                if last:
                    self.usage.failures += 1
                    msg = self._redact(str(getattr(exc, "message", "") or type(exc).__name__))
                    raise LMCallError(
                        self.provider, self.model, status, attempt, msg[:300]
                    ) from None
                self.usage.retries += 1
                log.warning(
                    "%s %s: status %s, retry %d in %.2fs",
                    self.provider,
                    self.model,
                    status,
                    attempt,
                    delay,
                )
                time.sleep(delay)

    def _echo_call(self, fn, est_tokens: int):
        """`_call` for an echo+logprobs completion: a server that rejects the request shape
        cannot score, which is ScoringUnsupported, not a failure to retry."""
        try:
            return self._call(fn, est_tokens)
        except LMCallError as e:
            if e.status not in (400, 404, 405, 422, 501):
                raise
            raise ScoringUnsupported(
                f"{self.uri} at {self.base_url or 'its default URL'} rejected an echo+logprobs "
                f"completion (status {e.status}): it returns no prompt logprobs; cannot score"
            ) from None

    def _account(self, prompt_tokens: int, completion_tokens: int, kind: str) -> None:
        cost = (prompt_tokens * self.prices[0] + completion_tokens * self.prices[1]) / 1e6
        self.usage.record(kind, prompt_tokens, completion_tokens, cost_usd=cost)

    def generate(
        self,
        prompts: list[Prompt],
        n: int = 1,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
    ) -> list[list[str]]:
        """n completions per prompt (asks for n per request where the API allows it)."""
        out = []
        for p in prompts:
            texts: list[str] = []
            while len(texts) < n:
                want = n - len(texts)
                got = self._call(
                    lambda p=p, want=want: self._generate_one(
                        p, want, temperature, top_p, max_tokens, stop
                    ),
                    _est_tokens([p], max_tokens, want),
                )
                texts.extend(got[: n - len(texts)] or [""])
            out.append(texts)
        return out

    def _generate_one(self, prompt, n, temperature, top_p, max_tokens, stop) -> list[str]:
        raise NotImplementedError

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        raise ScoringUnsupported(
            f"{self.provider}::{self.model} cannot score: its API returns no prompt logprobs. "
            "Use a local backend (hf::, mlx::), together::, or an openai-compatible server that "
            "returns prompt logprobs (vLLM)."
        )


class OpenAILM(CloudLM):
    """OpenAI chat completions (cannot score: no prompt logprobs)."""

    provider = "openai"
    key_env = "OPENAI_API_KEY"
    capabilities = Capabilities(generate=True, score=False, chat=True, n_per_call=True)
    _max_tokens_param = "max_completion_tokens"

    def _make_client(self):
        import openai

        return openai.OpenAI(
            api_key=self._key or "missing",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
        )

    def _generate_one(self, prompt, n, temperature, top_p, max_tokens, stop):
        kwargs = {self._max_tokens_param: max_tokens}
        if n > 1:
            kwargs["n"] = n
        r = self._client.chat.completions.create(
            model=self.model,
            messages=_messages(prompt),
            temperature=temperature,
            top_p=top_p,
            stop=stop or None,
            **kwargs,
        )
        u = r.usage
        self._account(
            getattr(u, "prompt_tokens", 0) or 0, getattr(u, "completion_tokens", 0) or 0, "generate"
        )
        return [c.message.content or "" for c in r.choices]


class OpenAICompatibleLM(OpenAILM):
    """Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, mlx_lm.server).

    Scores through /v1/completions with echo+logprobs where the server returns prompt logprobs.
    """

    provider = "openai-compatible"
    key_env = "OPENAI_COMPATIBLE_API_KEY"
    key_required = False
    capabilities = Capabilities(generate=True, score=True, chat=True, n_per_call=True)
    _max_tokens_param = "max_tokens"

    def __init__(self, model: str, base_url: str, **kwargs):
        super().__init__(model, base_url=base_url.rstrip("/"), **kwargs)

    @property
    def uri(self) -> str:
        return f"{self.provider}::{self.base_url}::{self.model}"

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        """Per-token logprobs from echo; ScoringUnsupported if the server ignores echo."""
        out = []
        for prefix, cont in zip(prefixes, continuations, strict=True):
            text = prefix + cont
            r = self._echo_call(
                lambda t=text: self._client.completions.create(
                    model=self.model,
                    prompt=t,
                    max_tokens=1,
                    echo=True,
                    logprobs=0,
                    temperature=0,
                ),
                len(text) // 4 + 1,
            )
            lp = getattr(r.choices[0], "logprobs", None) if r.choices else None
            offsets = getattr(lp, "text_offset", None) if lp else None
            values = getattr(lp, "token_logprobs", None) if lp else None
            if not offsets or not values or len(offsets) < 2:
                raise ScoringUnsupported(
                    f"openai-compatible server at {self.base_url} returned no prompt logprobs for "
                    "echo=True (mlx_lm.server and Ollama ignore echo); it cannot score"
                )
            gen = 1  # the one generated token after the echoed prompt
            pairs = list(zip(offsets, values, strict=False))[: len(offsets) - gen]
            out.append([v for o, v in pairs if o >= len(prefix) and v is not None])
            self.usage.scored_tokens += len(out[-1])
        self.usage.by_kind["score"] = self.usage.by_kind.get("score", 0) + 1
        return out


class AnthropicLM(CloudLM):
    """Anthropic messages API (one completion per request; cannot score)."""

    provider = "anthropic"
    key_env = "ANTHROPIC_API_KEY"

    def _make_client(self):
        import anthropic

        # this SDK sends the key as a bearer token; x-api-key serves servers that expect it
        return anthropic.Anthropic(
            api_key=self._key or "missing",
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
            default_headers={"x-api-key": self._key or "missing"},
        )

    def _generate_one(self, prompt, n, temperature, top_p, max_tokens, stop):
        msgs = _messages(prompt)
        system = "\n".join(m["content"] for m in msgs if m["role"] == "system")
        kwargs = {"system": system} if system else {}
        if stop:
            kwargs["stop_sequences"] = list(stop)
        # this SDK version has no typed sampling arguments; they travel in the body
        sampling = {"temperature": min(temperature, 1.0)}
        if top_p < 1.0:
            sampling["top_p"] = top_p
        r = self._client.messages.create(
            model=self.model,
            max_tokens=max_tokens,
            messages=[m for m in msgs if m["role"] != "system"],
            extra_body=sampling,
            **kwargs,
        )
        self._account(r.usage.input_tokens, r.usage.output_tokens, "generate")
        return ["".join(getattr(b, "text", "") for b in r.content)]


class TogetherLM(CloudLM):
    """Together chat completions; scoring through completions with echo + logprobs."""

    provider = "together"
    key_env = "TOGETHER_API_KEY"
    capabilities = Capabilities(generate=True, score=True, chat=True, n_per_call=True)

    def _make_client(self):
        import together

        # our base URLs end in /v1 (the OpenAI convention); the together SDK adds /v1 itself
        root = self.base_url.rstrip("/").removesuffix("/v1") if self.base_url else None
        return together.Together(
            api_key=self._key or "missing",
            base_url=root,
            max_retries=0,
            timeout=self.timeout,
        )

    def _generate_one(self, prompt, n, temperature, top_p, max_tokens, stop):
        r = self._client.chat.completions.create(
            model=self.model,
            messages=_messages(prompt),
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop or None,
        )
        u = r.usage
        self._account(
            getattr(u, "prompt_tokens", 0) or 0, getattr(u, "completion_tokens", 0) or 0, "generate"
        )
        return [c.message.content or "" for c in r.choices]

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        """Echoed prompt logprobs; continuation tokens are those starting at or after the prefix."""
        out = []
        for prefix, cont in zip(prefixes, continuations, strict=True):
            text = prefix + cont
            r = self._echo_call(
                lambda t=text: self._client.completions.create(
                    model=self.model, prompt=t, max_tokens=1, echo=True, logprobs=1
                ),
                len(text) // 4 + 1,
            )
            lp = r.prompt[0].logprobs if getattr(r, "prompt", None) else None
            tokens = list(getattr(lp, "tokens", None) or [])
            values = list(getattr(lp, "token_logprobs", None) or [])
            if not tokens:
                raise ScoringUnsupported(f"together::{self.model} returned no prompt logprobs")
            pos, keep = 0, []
            for tok, v in zip(tokens, values, strict=False):
                if pos >= len(prefix) and v is not None:
                    keep.append(v)
                pos += len(tok)
            out.append(keep)
            self._account(len(tokens), 0, "score")
            self.usage.scored_tokens += len(keep)
        return out
