"""DSPy on any backend through DSPy 3.4's extension point, `dspy.LM(..., engine=...)`.

The engine turns one canonical `dspy.lm15.Request` into one `generate` call. When DSPy's
JSONAdapter asks for a JSON schema (`response_format`), local backends decode under that schema
with llguidance, so the output always parses.
"""

from __future__ import annotations

import json
import logging

from reer_pipeline.lm.base import LanguageModel

log = logging.getLogger(__name__)


def _schema(response_format) -> dict | None:
    """The JSON schema inside an OpenAI-style response_format, or a generic object schema."""
    if not response_format:
        return None
    rf = dict(response_format)
    if rf.get("type") == "json_schema":
        inner = rf.get("json_schema", rf)
        return dict(inner.get("schema", {"type": "object"}))
    if rf.get("type") == "json_object":
        return {"type": "object"}
    return None


def bound_schema(schema: dict, max_tokens: int, max_items: int = 5) -> dict:
    """Copy of `schema` whose strings and arrays are capped so the JSON can close within
    `max_tokens` (about 3 characters per token, half the budget kept for structure)."""
    schema = json.loads(json.dumps(schema))
    nodes: list[dict] = []

    def walk(node, weight):
        if not isinstance(node, dict):
            return 0
        n = 0
        if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
            nodes.append(node)
            n += weight
        if node.get("type") == "array":
            node.setdefault("maxItems", max_items)
            n += walk(node.get("items"), weight * min(node["maxItems"], max_items))
        for sub in (node.get("properties") or {}).values():
            n += walk(sub, weight)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key) or []:
                n += walk(sub, weight)
        for sub in (node.get("$defs") or {}).values():
            n += walk(sub, weight)
        return n

    leaves = walk(schema, 1)
    for node in nodes:
        node["maxLength"] = max(16, (3 * max_tokens) // (2 * max(1, leaves)))
    return schema


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(getattr(p, "text", "") or "" for p in content)


def request_messages(request) -> list[dict[str, str]]:
    """Chat messages of a canonical request (system first; developer folded into user)."""
    msgs = []
    if request.system is not None:
        msgs.append({"role": "system", "content": _text(request.system)})
    for m in request.messages:
        role = m.role if m.role in ("system", "user", "assistant") else "user"
        msgs.append({"role": role, "content": _text(m.parts)})
    return msgs


class ProtocolEngine:
    """A DSPy custom engine over a `LanguageModel` (one request -> one completion)."""

    supports_function_calling = False
    supports_reasoning = False

    def __init__(self, lm: LanguageModel, constrain: bool = True):
        self.lm = lm
        self.constrain = constrain and lm.capabilities.constrained
        self.supports_response_schema = self.constrain
        params = {"temperature", "top_p", "max_tokens", "stop"}
        self.supported_params = params | ({"response_format"} if self.constrain else set())
        self.stats = {"requests": 0, "constrained": 0, "incomplete": 0}

    def complete(self, request):
        from dspy.lm15 import Message, Response, TextPart, Usage

        cfg = request.config
        kwargs = dict(
            n=1,
            temperature=0.0 if cfg.temperature is None else cfg.temperature,
            top_p=1.0 if cfg.top_p is None else cfg.top_p,
            max_tokens=cfg.max_tokens or 512,
            stop=list(cfg.stop) or None,
        )
        schema = _schema(cfg.response_format) if self.constrain else None
        if schema is not None:
            from reer_pipeline.lm.constrained import json_schema_grammar

            kwargs["grammar"] = json_schema_grammar(bound_schema(schema, kwargs["max_tokens"]))
            self.stats["constrained"] += 1
        before = (self.lm.usage.prompt_tokens, self.lm.usage.completion_tokens)
        text = self.lm.generate([request_messages(request)], **kwargs)[0][0]
        self.stats["requests"] += 1
        finish = "stop"
        if schema is not None and not _parses(text):
            self.stats["incomplete"] += 1
            finish = "length"
        usage = Usage(
            input_tokens=self.lm.usage.prompt_tokens - before[0],
            output_tokens=self.lm.usage.completion_tokens - before[1],
        )
        return Response(
            id=None,
            model=self.lm.uri,
            message=Message.assistant([TextPart(text)]),
            finish_reason=finish,
            usage=usage,
        )

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


def _parses(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def to_dspy(lm: LanguageModel, constrain: bool = True, cache: bool = False, **kwargs):
    """A `dspy.LM` whose every call runs on `lm` (structured output constrained when local)."""
    import dspy

    engine = ProtocolEngine(lm, constrain=constrain)
    name = "reer/" + lm.uri.replace("::", "/").strip("/")
    return dspy.LM(name, engine=engine, cache=cache, num_retries=0, **kwargs)


def call_with_retries(module, lm: LanguageModel | None = None, retries: int = 1, **inputs):
    """Run a DSPy module; retry parse failures `retries` times, count them, return None if all fail.

    Failures are counted in `lm.usage.failures` / `lm.usage.retries` (when `lm` is given).
    """
    for attempt in range(retries + 1):
        try:
            return module(**inputs)
        except Exception as e:  # noqa: BLE001 - adapters raise several parse error types
            log.warning("DSPy call failed (%s), attempt %d", type(e).__name__, attempt + 1)
            if lm is not None:
                lm.usage.failures += 1
                if attempt < retries:
                    lm.usage.retries += 1
    return None
