"""`hf::` backend: transformers on torch (bf16 where the CPU supports it), in-process."""

from __future__ import annotations

import copy
import inspect
import json
import threading
from pathlib import Path

from reer_pipeline.lm.base import Capabilities, Prompt, Usage, render_prompt
from reer_pipeline.lm.embedded import resolve_model_path
from reer_pipeline.lm.threads import apply_thread_policy

MIN_SHARED = 8  # shortest common token prefix worth computing once for a group


def base_identity(model_dir: str | Path) -> dict:
    """What identifies a base model's weights: the embedded manifest's sha256, else a hash of the
    weight files' names, sizes and mtimes (hashing a multi-GB model on every load costs more than
    it saves)."""
    import hashlib

    from reer_pipeline.lm.embedded import MANIFEST

    model_dir = Path(model_dir)
    manifest = model_dir / MANIFEST
    if manifest.exists():
        return {"manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()}
    files = sorted(model_dir.glob("*.safetensors")) + [model_dir / "config.json"]
    stats = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files if p.exists()]
    return {"files_sha256": hashlib.sha256(json.dumps(stats).encode()).hexdigest()}


class AdapterError(ValueError):
    """A LoRA adapter folder that is missing, corrupt, or made for another base model."""


def check_adapter(adapter: str | Path, base_path: str | Path) -> dict:
    """The adapter's card (or {}) once the folder is a peft LoRA adapter trained on the weights
    in `base_path`; else AdapterError, one line naming the folder."""
    adapter, base_path = Path(adapter), Path(base_path)
    if not adapter.is_dir():
        raise AdapterError(f"adapter folder {adapter} does not exist")
    try:
        config = json.loads((adapter / "adapter_config.json").read_text())
    except (OSError, ValueError) as e:
        raise AdapterError(f"adapter folder {adapter} has no readable adapter_config.json") from e
    if config.get("peft_type") != "LORA" or not (adapter / "adapter_model.safetensors").is_file():
        raise AdapterError(f"adapter folder {adapter} is not a peft LoRA adapter")
    card = {}
    if (adapter / "adapter_card.json").is_file():
        try:
            card = json.loads((adapter / "adapter_card.json").read_text())
            want = {k: v for k, v in card["base"].items() if k.endswith("sha256")}
        except (OSError, ValueError, KeyError, AttributeError) as e:
            raise AdapterError(f"adapter folder {adapter} has a corrupt adapter_card.json") from e
        have = base_identity(base_path)
        if want and want != {k: have.get(k) for k in want}:
            raise AdapterError(
                f"adapter folder {adapter} was trained on another base model "
                f"({card['base'].get('model')}), not {base_path}"
            )
    return card


def merge_adapter(model, adapter: str | Path, base_path: str | Path):
    """`model` with the LoRA adapter in `adapter` merged into its weights (no peft wrapper
    left, so the backend's forward and scoring code run unchanged)."""
    check_adapter(adapter, base_path)
    from peft import PeftModel

    try:
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except Exception as e:  # noqa: BLE001 - one line naming the folder, whatever peft raised
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise AdapterError(f"adapter folder {adapter} does not load onto {base_path}: {msg}") from e
    return merged


def bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def cache_name(model) -> str:
    """What transformers calls a forward's KV cache, argument and output alike: `cache`
    (5.x), `past_key_values` before (5.x still takes that name, with a FutureWarning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _lcp(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    for s in stop or []:
        i = text.find(s)
        if i >= 0:
            text = text[:i]
    return text


def encode_pairs(tok, prefixes, continuations):
    """Token ids of prefix+continuation and where the continuation starts (empty prefix -> BOS)."""
    start_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    seqs, starts = [], []
    for p, c in zip(prefixes, continuations, strict=True):
        p_ids = (tok(p, add_special_tokens=False)["input_ids"] if p else []) or [start_id]
        c_ids = tok(c, add_special_tokens=False)["input_ids"]
        seqs.append(p_ids + c_ids)
        starts.append(len(p_ids))
    return seqs, starts


def plan_batches(seqs, starts, budget: int):
    """Yield (shared_len, batch of (index, seq, start)): groups sharing >= MIN_SHARED leading
    tokens get their common prefix computed once; batches are length-sorted, under `budget`."""
    groups: dict[tuple, list] = {}
    for i, (s, st) in enumerate(zip(seqs, starts, strict=True)):
        groups.setdefault(tuple(s[:MIN_SHARED]), []).append((i, s, st))
    singles = []
    for items in groups.values():
        shared = 0
        if len(items) > 1:
            shared = min(_lcp([s for _, s, _ in items]), min(st for *_, st in items) - 1)
        if shared < MIN_SHARED:
            singles.extend(items)
            continue
        for batch in _chunks(items, shared, budget):
            yield shared, batch
    for batch in _chunks(singles, 0, budget):
        yield 0, batch


def continuation_positions(batch, shared_len: int):
    """For a batch of (index, seq, start) after `shared_len` cached tokens: the row and column
    whose output predicts each continuation token, that token, and its sequence's index."""
    rows, cols, targets, owners = [], [], [], []
    for r, (i, seq, start) in enumerate(batch):
        for t in range(start, len(seq)):
            rows.append(r)
            cols.append(t - 1 - shared_len)
            targets.append(seq[t])
            owners.append(i)
    return rows, cols, targets, owners


def _chunks(items, shared_len: int, budget: int):
    items = sorted(items, key=lambda x: len(x[1]))
    batch, width = [], 0
    for it in items:
        w = max(width, len(it[1]) - shared_len)
        if batch and w * (len(batch) + 1) > budget:
            yield batch
            batch, w = [], len(it[1]) - shared_len
        batch.append(it)
        width = w
    if batch:
        yield batch


def _banned(ids: list[int], size: int, grams: dict) -> list[int]:
    """Tokens that would complete an n-gram of `grams` after the last size-1 tokens of `ids`."""
    return list(grams.get(tuple(ids[len(ids) - size + 1 :]), ())) if len(ids) >= size - 1 else []


def _ngram_table(ids: list[int], size: int) -> dict:
    table: dict[tuple, set] = {}
    for i in range(len(ids) - size + 1):
        table.setdefault(tuple(ids[i : i + size - 1]), set()).add(ids[i + size - 1])
    return table


def output_penalties(
    prompt_len: int,
    repetition_penalty=None,
    no_repeat_ngram_size=None,
    no_copy_ngram_size=None,
) -> list:
    """Logits processors against loops and copies: a repetition penalty and no repeated n-gram
    within the generated tokens (the prompt's words stay free to use), and no n-gram of
    `no_copy_ngram_size` tokens copied from the prompt (its examples)."""
    from transformers import LogitsProcessor, RepetitionPenaltyLogitsProcessor

    out = []
    if repetition_penalty and float(repetition_penalty) != 1.0:
        out.append(
            RepetitionPenaltyLogitsProcessor(
                float(repetition_penalty), prompt_ignore_length=prompt_len
            )
        )
    repeat, copy = int(no_repeat_ngram_size or 0), int(no_copy_ngram_size or 0)
    if repeat > 0 or copy > 0:

        class _NGramBans(LogitsProcessor):
            prompt_tables: list[dict] | None = None

            def __call__(self, input_ids, scores):
                rows = input_ids.tolist()
                if copy > 0 and self.prompt_tables is None:
                    self.prompt_tables = [_ngram_table(r[:prompt_len], copy) for r in rows]
                for row, ids in enumerate(rows):
                    new = ids[prompt_len:]
                    banned = []
                    if repeat > 0 and len(new) >= repeat:
                        banned += _banned(new, repeat, _ngram_table(new, repeat))
                    if copy > 0 and len(new) >= copy - 1:
                        banned += _banned(new, copy, self.prompt_tables[row])
                    if banned:  # never the last allowed token (a grammar may allow one)
                        kept = scores[row].clone()
                        kept[banned] = float("-inf")
                        if bool(kept.isfinite().any()):
                            scores[row] = kept
                return scores

        out.append(_NGramBans())
    return out


class HFModel:
    """A causal LM loaded from a local directory (default: the embedded model)."""

    def __init__(
        self,
        model: str = "embedded",
        dtype: str = "auto",
        token_budget: int = 4096,
        uri: str | None = None,
        threads: int | None = None,
        models_dir: Path | None = None,
        adapter: str | None = None,
        concurrent_steps: int = 1,
    ):
        """Torch's threads for the process come from the thread policy (`lm/threads.py`):
        `threads` if given, else REER_TORCH_THREADS, else cores // `concurrent_steps` (the
        model steps that can run at once). `adapter`: a LoRA adapter folder (peft format)
        merged into the weights at load."""
        self.threads = apply_thread_policy(concurrent_steps, threads)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar per load is noise in a log

        self.path = resolve_model_path(model, models_dir)
        self.uri = uri or f"hf::{model}"
        if dtype == "auto":
            dtype = "bfloat16" if bf16_supported() else "float32"
        self.dtype = dtype
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if adapter:
            self.adapter = str(Path(adapter).expanduser().resolve())
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
            self.model = merge_adapter(model, self.adapter, self.path).to(getattr(torch, dtype))
        else:
            self.adapter = None
            self.model = AutoModelForCausalLM.from_pretrained(
                self.path, dtype=getattr(torch, dtype)
            )
        self.model.eval()
        self._cache = cache_name(self.model.base_model)
        self.token_budget = token_budget
        self.capabilities = Capabilities(
            generate=True, score=True, chat=True, n_per_call=True, constrained=True
        )
        self.usage = Usage()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"HFModel(uri={self.uri!r}, dtype={self.dtype}, threads={self.threads})"

    # ---- generation -------------------------------------------------------------------------
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
        repetition_penalty: float | None = None,
        no_repeat_ngram_size: int | None = None,
        no_copy_ngram_size: int | None = None,
    ) -> list[list[str]]:
        """n completions per prompt, sampled in one left-padded batch; `grammar` is llguidance.

        `repetition_penalty` (> 1 discourages tokens the output already has) and
        `no_repeat_ngram_size` (no n-gram twice in the output) keep a small model out of loops;
        both look at the output only, so the topic and examples in the prompt stay usable.
        `no_copy_ngram_size`: no run of that many tokens copied from the prompt (a few-shot
        prompt's example posts). None leaves each off."""
        import torch

        from reer_pipeline.lm.constrained import torch_logits_processor

        # one thread at a time, tokenizer included: a fast tokenizer's padding setting is shared
        with self._lock:
            tok = self.tokenizer
            texts = [self.render(p) for p in prompts]
            tok.padding_side = "left"
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            prompt_len = enc["input_ids"].shape[1]
            kwargs = dict(
                max_new_tokens=max_tokens,
                num_return_sequences=n,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
            if temperature and temperature > 0:
                kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if stop:
                kwargs.update(stop_strings=list(stop), tokenizer=tok)
            processors = []
            if grammar:  # first, so that the bans below see what the grammar allows
                vocab = self.model.get_output_embeddings().weight.shape[0]
                processors.append(
                    torch_logits_processor(tok, grammar, len(texts) * n, vocab, prompt_len)
                )
            processors += output_penalties(
                prompt_len, repetition_penalty, no_repeat_ngram_size, no_copy_ngram_size
            )
            if processors:
                kwargs["logits_processor"] = processors
            with torch.inference_mode():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, prompt_len:]
            done = (new == tok.pad_token_id) | (new == tok.eos_token_id)
            n_new = int((~done).sum())
            texts_out = [
                cut_at_stop(t, stop) for t in tok.batch_decode(new, skip_special_tokens=True)
            ]
            self.usage.record(
                "generate",
                prompt_tokens=int(enc["attention_mask"].sum()) * n,
                completion_tokens=n_new,
            )
            return [texts_out[i * n : (i + 1) * n] for i in range(len(texts))]

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` (no special tokens), safe beside other threads' calls."""
        with self._lock:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---- scoring ----------------------------------------------------------------------------
    def _forward_logprobs(self, batch, shared_len, cache, out):
        """Forward right-padded suffixes (after `shared_len` cached tokens); fill `out`."""
        import torch

        pad = self.tokenizer.pad_token_id
        suffixes = [seq[shared_len:] for _, seq, _ in batch]
        width = max(len(s) for s in suffixes)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), shared_len + width), dtype=torch.long)
        mask[:, :shared_len] = 1
        for r, s in enumerate(suffixes):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, shared_len : shared_len + len(s)] = 1
        pos = torch.arange(shared_len, shared_len + width).expand(len(batch), -1)
        past = None
        if cache is not None:
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(len(batch))
        hidden = self.model.base_model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=pos,
            use_cache=past is not None,
            **{self._cache: past},
        ).last_hidden_state
        rows, cols, targets, owners = continuation_positions(batch, shared_len)
        if not rows:
            return
        h = hidden[torch.tensor(rows), torch.tensor(cols)]
        logits = self.model.get_output_embeddings()(h).float()
        lp = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(targets)[:, None])[:, 0]
        for i, v in zip(owners, lp.tolist(), strict=True):
            out[i].append(v)

    def score(self, prefixes: list[str], continuations: list[str]) -> list[list[float]]:
        """Per-token logprobs of each continuation; shared token prefixes are computed once."""
        import torch

        with self._lock:  # the tokenizer too (see `generate`)
            seqs, starts = encode_pairs(self.tokenizer, prefixes, continuations)
        out: list[list[float]] = [[] for _ in seqs]
        cache, cached_for = None, None
        with self._lock, torch.inference_mode():
            for shared, batch in plan_batches(seqs, starts, self.token_budget):
                head = tuple(batch[0][1][:shared])
                if shared and cached_for != head:
                    out_head = self.model.base_model(
                        input_ids=torch.tensor([head]),
                        position_ids=torch.arange(shared)[None],
                        use_cache=True,
                    )
                    cache = getattr(out_head, self._cache)
                    cached_for = head
                self._forward_logprobs(batch, shared, cache if shared else None, out)
        self.usage.record("score", scored_tokens=sum(len(s) for s in seqs))
        return out
