"""Cloud backends against real servers on 127.0.0.1: llm-katan (echo + failures), mlx_lm.server."""

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reer_pipeline.lm.base import ScoringUnsupported
from reer_pipeline.lm.cloud import (
    AnthropicLM,
    LMCallError,
    OpenAICompatibleLM,
    OpenAILM,
    RateLimiter,
    TogetherLM,
    retry_after_seconds,
)
from tests.lm.conftest import Server, free_port, katan

KEY = "sk-planted-SECRET-7f3a9c"


def compat(server, **kw):
    kw = {"api_key": KEY, "max_retries": 2, "backoff": 0.05, "timeout": 5.0, **kw}
    return OpenAICompatibleLM("echo-model", base_url=f"http://127.0.0.1:{server.port}/v1", **kw)


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    s = katan(tmp_path_factory.mktemp("katan"))
    yield s
    s.stop()


@pytest.mark.slow  # starts llm-katan
def test_generate_n_and_ledger(echo):
    lm = compat(echo, prices=(1.0, 2.0))
    out = lm.generate(["hello there", [{"role": "user", "content": "hi"}]], n=2, max_tokens=8)
    assert [len(o) for o in out] == [2, 2] and all(isinstance(t, str) for o in out for t in o)
    u = lm.usage
    assert u.calls >= 2 and u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.cost_usd == pytest.approx((u.prompt_tokens + 2 * u.completion_tokens) / 1e6)


@pytest.mark.slow  # starts llm-katan
def test_anthropic_sdk_against_the_anthropic_wire_format(echo):
    lm = AnthropicLM("echo-model", api_key=KEY, base_url=f"http://127.0.0.1:{echo.port}")
    out = lm.generate(
        [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]],
        n=2,
        max_tokens=8,
    )
    assert len(out[0]) == 2 and lm.usage.calls == 2
    with pytest.raises(ScoringUnsupported, match="anthropic"):
        lm.score(["a"], ["b"])


def test_openai_cannot_score_and_says_so():
    with pytest.raises(ScoringUnsupported, match="cannot score"):
        OpenAILM("gpt-4o-mini", api_key=KEY).score(["a"], ["b"])


@pytest.mark.slow  # starts llm-katan
@pytest.mark.parametrize(
    "flags,status",
    [
        (["--rate-limit-after", "1"], 429),
        (["--error-rate", "1.0"], 500),
        (["--timeout-after", "1"], 504),
    ],
)
def test_failures_are_retried_then_named(tmp_path, caplog, capsys, flags, status):
    server = katan(tmp_path, *flags)
    try:
        lm = compat(server)
        if status != 500:
            lm.generate(["first request passes"], max_tokens=4)
        with caplog.at_level(logging.DEBUG), pytest.raises(LMCallError) as err:
            lm.generate(["then it fails"], max_tokens=4)
    finally:
        server.stop()
    e = err.value
    assert e.status == status and e.attempts == 3 and lm.usage.retries == 2
    assert "openai-compatible" in str(e) and str(status) in str(e)
    assert lm.usage.failures == 1
    _assert_no_key(str(e), repr(e), repr(lm), caplog.text, *capsys.readouterr())


@pytest.mark.slow  # starts llm-katan
def test_client_timeout_is_retried_and_reported(tmp_path, caplog, capsys):
    server = katan(tmp_path, "--latency-ms", "1500")
    try:
        lm = compat(server, timeout=0.3, max_retries=1)
        t0 = time.monotonic()
        with caplog.at_level(logging.DEBUG), pytest.raises(LMCallError, match="timeout"):
            lm.generate(["slow"], max_tokens=4)
        assert time.monotonic() - t0 < 5
    finally:
        server.stop()
    _assert_no_key(caplog.text, *capsys.readouterr())


def _assert_no_key(*texts):
    for t in texts:
        assert KEY not in t


@pytest.mark.slow  # starts llm-katan
def test_planted_key_never_appears_in_logs_or_reprs(echo, caplog, capsys):
    with caplog.at_level(logging.DEBUG):
        lm = compat(echo)
        lm.generate(["hi"], max_tokens=4)
        print(lm, lm.usage, lm.__dict__.keys())
        logging.getLogger("test").info("lm=%r usage=%s", lm, lm.usage.as_dict())
    out, err = capsys.readouterr()
    _assert_no_key(caplog.text, out, err, repr(lm), str(lm.usage.as_dict()))


def test_rate_limiter_spaces_requests_and_tokens():
    lim = RateLimiter(rpm=2, window=0.5)
    t0 = time.monotonic()
    for _ in range(3):
        lim.acquire()
    assert time.monotonic() - t0 >= 0.4
    lim = RateLimiter(tpm=100, window=0.5)
    t0 = time.monotonic()
    lim.acquire(80)
    lim.acquire(80)
    assert time.monotonic() - t0 >= 0.4


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert (
        0
        < retry_after_seconds(
            {
                "retry-after": time.strftime(
                    "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30)
                )
            }
        )
        <= 31
    )
    assert retry_after_seconds({}) is None


@pytest.mark.slow
def test_mlx_lm_server_serves_openai_together_and_compatible_clients(model_dir, tmp_path):
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "mlx_lm.server",
        "--model",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = Server(args, port, "/v1/models", tmp_path / "mlx_server.log", wait=120)
    base_url = f"http://127.0.0.1:{port}/v1"
    kw = {"base_url": base_url, "api_key": KEY, "timeout": 120, "max_retries": 0}
    try:
        for lm in (
            OpenAICompatibleLM(str(model_dir), **kw),
            OpenAILM(str(model_dir), **kw),
            TogetherLM(str(model_dir), **kw),
        ):
            out = lm.generate([[{"role": "user", "content": "Hi"}]], max_tokens=3, temperature=0.0)
            assert isinstance(out[0][0], str) and lm.usage.completion_tokens > 0, lm.uri
            # mlx_lm.server ignores echo, so no client can score through it, and each says so
            with pytest.raises(ScoringUnsupported, match="logprobs"):
                lm.score(["The sky is"], [" blue."])
    finally:
        server.stop()


class RetryAfterHandler(BaseHTTPRequestHandler):
    """429 with `Retry-After: 1` on the first request, then a valid chat completion."""

    requests: list[float] = []

    def do_POST(self):  # noqa: N802 - the http.server hook
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).requests.append(time.monotonic())
        if len(self.requests) == 1:
            body, status = b'{"error": {"message": "slow down"}}', 429
        else:
            status = 200
            body = json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "ok"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if status == 429:
            self.send_header("retry-after", "1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("client", [OpenAILM, TogetherLM, OpenAICompatibleLM])
def test_a_429_waits_for_its_retry_after_then_succeeds(client):
    RetryAfterHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RetryAfterHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lm = client(
            "m",
            base_url=f"http://127.0.0.1:{server.server_port}/v1",
            api_key=KEY,
            max_retries=2,
            backoff=0.01,  # without the header the wait would be ~10 ms
            timeout=10,
        )
        assert lm.generate(["hi"], max_tokens=2) == [["ok"]]
    finally:
        server.shutdown()
    first, second = RetryAfterHandler.requests
    assert second - first >= 1.0  # waited out Retry-After, not the 10 ms backoff
    assert lm.usage.retries == 1 and lm.usage.failures == 0 and lm.usage.calls == 1


@pytest.mark.parametrize(
    "uri, variable",
    [
        ("openai::gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic::claude-3-5-haiku", "ANTHROPIC_API_KEY"),
        ("together::meta-llama/Llama-3-8b", "TOGETHER_API_KEY"),
    ],
)
def test_a_missing_key_fails_loudly_with_its_variable(monkeypatch, uri, variable):
    from reer_pipeline.lm.registry import build_lm

    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match=variable):
        build_lm(uri)
    monkeypatch.setenv(variable, "sk-test-not-a-real-key")
    assert build_lm(uri).uri == uri
