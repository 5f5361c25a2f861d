"""`mlx::` backend: mlx-lm in-process (fast on Apple Silicon, slow on Linux CPU).

Loads the same converted directory as `hf::`. Scoring runs right-padded batches (positions and
the causal mask stay exact for real tokens) and computes a shared token prefix once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reer_pipeline.lm.base import Capabilities, Prompt, Usage, render_prompt
from reer_pipeline.lm.embedded import resolve_model_path
from reer_pipeline.lm.hf import continuation_positions, cut_at_stop, encode_pairs, plan_batches


class MLXModel:
    """A causal LM run by mlx-lm, from a local directory (default: the embedded model)."""

    def __init__(
        self,
        model: str = "embedded",
        token_budget: int = 2048,
        uri: str | None = None,
        models_dir: Path | None = None,
        adapter: str | None = None,
    ):
        """`adapter`: a LoRA adapter folder in mlx-lm's format (`mlx_lm.lora --adapter-path`)."""
        from mlx_lm import load

        self.path = resolve_model_path(model, models_dir)
        self.uri = uri or f"mlx::{model}"
        self.adapter = adapter
        self.model, self.tokenizer = load(self.path, adapter_path=adapter)
        self.token_budget = token_budget
        self.capabilities = Capabilities(
            generate=True, score=True, chat=True, n_per_call=False, constrained=True
        )
        self.usage = Usage()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"MLXModel(uri={self.uri!r})"

    def render(self, prompt: Prompt) -> str:
        return render_prompt(self.tokenizer, prompt)

    def generate(
        self,
        prompts: list[Prompt],
        n: int = 1,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> list[list[str]]:
        """n completions per prompt, one sequence at a time; `grammar` is llguidance."""
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        results, prompt_tokens, completion_tokens = [], 0, 0
        for p in prompts:
            ids = self.tokenizer.encode(self.render(p), add_special_tokens=False)
            outs = []
            for _ in range(n):
                procs = [self._grammar_processor(grammar, len(ids))] if grammar else None
                sampler = make_sampler(temp=temperature or 0.0, top_p=top_p)
                text, count = "", 0
                with self._lock:
                    for r in stream_generate(
                        self.model,
                        self.tokenizer,
                        ids,
                        max_tokens=max_tokens,
                        sampler=sampler,
                        logits_processors=procs,
                    ):
                        text += r.text
                        count += 1
                        if stop and any(s in text for s in stop):
                            break
                outs.append(cut_at_stop(text, stop))
                prompt_tokens += len(ids)
                completion_tokens += count
            results.append(outs)
        self.usage.record(
            "generate", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        return results

    def _grammar_processor(self, grammar: str, prompt_len: int):
        import mlx.core as mx

        from reer_pipeline.lm.constrained import GrammarMasker

        hf_tok = self.tokenizer._tokenizer
        vocab = self.model.model.embed_tokens.weight.shape[0]
        masker = GrammarMasker(hf_tok, grammar, 1, vocab)

        def process(tokens, logits):
            if len(tokens) > prompt_len:
                masker.consume([int(tokens[-1])])
            allowed = mx.array(masker.allowed()[:, : logits.shape[-1]])
            return mx.where(allowed, logits, -mx.inf)

        return process

    # ---- scoring ----------------------------------------------------------------------------
    def _out_proj(self, h):
        if hasattr(self.model, "lm_head"):
            return self.model.lm_head(h)
        return self.model.model.embed_tokens.as_linear(h)

    def _forward(self, batch, shared_len, prefix_cache, out):
        import mlx.core as mx
        from mlx_lm.models.cache import KVCache

        suffixes = [seq[shared_len:] for _, seq, _ in batch]
        width = max(len(s) for s in suffixes)
        pad = self.tokenizer.eos_token_id
        ids = mx.array([s + [pad] * (width - len(s)) for s in suffixes])
        cache = None
        if prefix_cache is not None:
            cache = []
            for c in prefix_cache:
                k, v = c.keys[..., :shared_len, :], c.values[..., :shared_len, :]
                new = KVCache()
                new.keys, new.values = mx.repeat(k, len(batch), 0), mx.repeat(v, len(batch), 0)
                new.offset = shared_len
                cache.append(new)
        hidden = self.model.model(ids, cache=cache)
        rows, cols, targets, owners = continuation_positions(batch, shared_len)
        if not rows:
            return
        h = hidden[mx.array(rows), mx.array(cols)]
        logits = self._out_proj(h).astype(mx.float32)
        lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        lp = mx.take_along_axis(lp, mx.array(targets)[:, None], axis=1)[:, 0]
        for i, v in zip(owners, lp.tolist(), strict=True):
            out[i].append(v)

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        """Per-token logprobs of each continuation; shared token prefixes are computed once."""
        import mlx.core as mx
        from mlx_lm.models.cache import make_prompt_cache

        seqs, starts = encode_pairs(self.tokenizer._tokenizer, prefixes, continuations)
        out: list[list[float]] = [[] for _ in seqs]
        cache, cached_for = None, None
        with self._lock:
            for shared, batch in plan_batches(seqs, starts, self.token_budget):
                head = list(batch[0][1][:shared])
                if shared and cached_for != head:
                    cache = make_prompt_cache(self.model)
                    mx.eval(self.model.model(mx.array([head]), cache=cache))
                    cached_for = head
                self._forward(batch, shared, cache if shared else None, out)
        self.usage.record("score", scored_tokens=sum(len(s) for s in seqs))
        return out
