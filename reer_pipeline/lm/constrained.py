"""Grammar-constrained decoding with llguidance: JSON-schema grammars and token masks."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np


def json_schema_grammar(schema: dict | str) -> str:
    """An llguidance grammar accepting exactly the JSON documents of `schema` (compact form)."""
    import llguidance

    text = schema if isinstance(schema, str) else json.dumps(schema)
    return llguidance.LLMatcher.grammar_from_json_schema(
        text, defaults={"whitespace_flexible": False}
    )


@lru_cache(maxsize=8)
def _lltokenizer(tokenizer):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)


class GrammarMasker:
    """One llguidance matcher per sequence; gives a boolean mask of allowed next tokens."""

    def __init__(self, tokenizer, grammar: str, batch: int, vocab: int):
        import llguidance

        lltok = _lltokenizer(tokenizer)
        self.matchers = [llguidance.LLMatcher(lltok, grammar) for _ in range(batch)]
        if self.matchers[0].is_error():
            raise ValueError(f"invalid grammar: {self.matchers[0].get_error()}")
        self.vocab = vocab
        self.eos = tokenizer.eos_token_id

    def consume(self, tokens) -> None:
        for m, t in zip(self.matchers, tokens, strict=True):
            if not m.is_stopped() and not m.is_error():
                m.consume_token(int(t))

    def allowed(self) -> np.ndarray:
        """(batch, vocab) bool: tokens each matcher accepts next (EOS only once done)."""
        out = np.zeros((len(self.matchers), self.vocab), dtype=bool)
        for i, m in enumerate(self.matchers):
            if m.is_stopped() or m.is_error():
                out[i, self.eos] = True
                continue
            bits = np.unpackbits(np.frombuffer(m.compute_bitmask(), np.uint8), bitorder="little")
            n = min(self.vocab, bits.size)
            out[i, :n] = bits[:n].astype(bool)
        return out

    def accepting(self) -> list[bool]:
        return [m.is_accepting() for m in self.matchers]


def torch_logits_processor(tokenizer, grammar: str, batch: int, vocab: int, prompt_len: int):
    """A transformers LogitsProcessor masking every token the grammar does not allow."""
    import torch
    from transformers import LogitsProcessor

    masker = GrammarMasker(tokenizer, grammar, batch, vocab)

    class _Processor(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if input_ids.shape[1] > prompt_len:
                masker.consume(input_ids[:, -1].tolist())
            allowed = torch.from_numpy(masker.allowed()[:, : scores.shape[1]])
            return scores.masked_fill(~allowed.to(scores.device), float("-inf"))

    return _Processor()
