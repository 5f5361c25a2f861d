"""DSPy on any backend through DSPy 3.4's extension point, `dspy.LM(..., engine=...)`.

The engine turns one canonical `dspy.lm15.Request` into one `generate` call. When DSPy's
JSONAdapter asks for a JSON schema (`response_format`), local backends decode under that schema
with llguidance, so the output always parses. `PlainTextAdapter` is the other shape: a chat
whose reply is the one output field as plain text, for small models that write prose better
than JSON.
"""

from __future__ import annotations

import json
import logging
import re

import dspy

from reer_pipeline.lm.base import LanguageModel, sampling_kwargs
from reer_pipeline.lm.batching import MicroBatcher

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

    def __init__(self, lm: LanguageModel, constrain: bool = True, sampling: dict | None = None):
        """`sampling`: extra settings for every `generate` (repetition_penalty,
        no_repeat_ngram_size), kept only where the backend takes them."""
        self.lm = lm
        self.sampling = sampling_kwargs(lm, sampling)
        self.constrain = constrain and lm.capabilities.constrained
        self.supports_response_schema = self.constrain
        params = {"temperature", "top_p", "max_tokens", "stop"}
        self.supported_params = params | ({"response_format"} if self.constrain else set())
        self.stats = {"requests": 0, "constrained": 0, "incomplete": 0}
        self.batcher = MicroBatcher(lm.generate, usage=lm.usage)  # DSPy's threads share calls

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
        texts, tokens = self.batcher.generate(
            [request_messages(request)], **kwargs, **self.sampling
        )
        text = texts[0][0]
        self.stats["requests"] += 1
        finish = "stop"
        if schema is not None and not _parses(text):
            self.stats["incomplete"] += 1
            finish = "length"
        usage = Usage(
            input_tokens=tokens["prompt_tokens"], output_tokens=tokens["completion_tokens"]
        )
        return Response(
            id=None,
            model=self.lm.uri,
            message=Message.assistant([TextPart(text)]),
            finish_reason=finish,
            usage=usage,
        )

    def generate_batch(self, prompts: list, n: int = 1, **kwargs) -> list[list[str]]:
        """n plain-text completions of each prompt in one `generate` call (shared with other
        threads' calls), with the engine's sampling settings (for programs that batch what DSPy
        would send one by one)."""
        self.stats["requests"] += len(prompts) * n
        return self.batcher(list(prompts), n=n, **{**self.sampling, **kwargs})

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


def protocol_engine(lm) -> ProtocolEngine | None:
    """The `ProtocolEngine` a `dspy.LM` runs on: its engine, or the one a routing engine picks
    for its model name (`finetune.dspy_provider.RoutingEngine`); None for a provider's LM."""
    engine = getattr(lm, "engine", None)
    if hasattr(engine, "engine_for"):
        engine = engine.engine_for(lm.model)
    return engine if isinstance(engine, ProtocolEngine) else None


def _parses(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def to_dspy(
    lm: LanguageModel,
    constrain: bool = True,
    cache: bool = False,
    sampling: dict | None = None,
    **kwargs,
):
    """A `dspy.LM` whose every call runs on `lm` (structured output constrained when local);
    `sampling` goes to every `generate` (see `ProtocolEngine`)."""
    engine = ProtocolEngine(lm, constrain=constrain, sampling=sampling)
    name = "reer/" + lm.uri.replace("::", "/").strip("/")
    return dspy.LM(name, engine=engine, cache=cache, num_retries=0, **kwargs)


# ---- plain text -------------------------------------------------------------------------------
LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:[\w ]{0,20}(?:post|tweet|draft|answer|reply))(?:\*\*)?\s*:\s*(?:\*\*)?\s*"
    r"|^\s*(?:sure[,!.]?\s*)?here(?:'s| is)\b[^:\n]{0,60}:\s*",
    re.I,
)
QUOTES = ('""', "''", "“”", "‘’")


def clean_reply(text: str) -> str:
    """A plain-text reply without a leading label ("Post:") or the quotes around all of it."""
    text = LABEL.sub("", str(text or "").strip(), count=1).strip()
    for a, b in QUOTES:
        if len(text) > 1 and text[0] == a[0] and text[-1] == b[-1]:
            text = text[1:-1].strip()
    return text


def _reply(value) -> str:
    """An output value as the reply text: a list one item per line (what `parse` reads back)."""
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _list_items(text: str) -> list[str]:
    items = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip() for line in text.splitlines()]
    return [clean_reply(i) for i in items if i]


class PlainTextAdapter(dspy.ChatAdapter):
    """Signature -> chat messages a small model can follow; its reply is the output as is.

    The system message is the signature's instructions (what optimizers tune); each demo is a
    user turn (its inputs) and an assistant turn (its output); the user message is the inputs,
    a single input as its bare text. A signature has one output field: a string (the whole
    reply) or a list of strings (one item per line).

    A ChatAdapter only because DSPy's fine-tuning (`BootstrapFinetune`, `infer_data_format`)
    takes no other adapter; nothing of ChatAdapter's format is used, and a reply that does not
    parse is not retried as JSON."""

    def __init__(self):
        super().__init__(use_json_adapter_fallback=False)

    def _user(self, signature, values: dict) -> str:
        present = [
            (k, values[k]) for k in signature.input_fields if values.get(k) not in (None, "")
        ]
        if len(present) == 1:
            return str(present[0][1])
        return "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in present)

    def format(self, signature, demos, inputs) -> list[dict]:
        if len(signature.output_fields) != 1:
            raise ValueError(
                f"{type(self).__name__} takes one output field, not {list(signature.output_fields)}"
            )
        out = next(iter(signature.output_fields))
        messages = [{"role": "system", "content": signature.instructions}]
        for d in demos or []:
            if d.get(out) and any(d.get(k) for k in signature.input_fields):
                messages += [
                    {"role": "user", "content": self._user(signature, d)},
                    {"role": "assistant", "content": _reply(d[out])},
                ]
        messages.append({"role": "user", "content": self._user(signature, inputs)})
        return messages

    def format_finetune_data(self, signature, demos, inputs, outputs) -> dict:
        """Chat training data: the prompt `format` makes, and the reply the model should give."""
        reply = _reply(outputs[next(iter(signature.output_fields))])
        return {
            "messages": [
                *self.format(signature, demos, inputs),
                {"role": "assistant", "content": reply},
            ]
        }

    def parse(self, signature, completion: str) -> dict:
        name, field = next(iter(signature.output_fields.items()))
        text = str(completion or "").strip()
        if getattr(field.annotation, "__origin__", None) is list:
            return {name: _list_items(text)}
        return {name: clean_reply(text)}


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
