"""LoRA training of a local causal LM on chat examples (peft on torch), resumable.

One run: examples -> token ids (loss on the assistant target only) -> length-bucketed batches
under a token budget (a deterministic plan from the seed, so a resumed run replays the same
order) -> AdamW on the LoRA weights, warmup then cosine decay, bf16 autocast where the CPU has
bf16 -> validation loss every `eval_every` steps, early stopping, the best weights kept.

A checkpoint (LoRA weights, optimizer, scheduler, RNG, step, loss log) is written atomically
every `save_every` steps under `<out_dir's parent>/.<out_dir name>.work/<run key>/`; a run with
the same inputs resumes from the newest one. The finished adapter folder (peft files, the card
`adapter_card.json`, `loss_curve.png`) replaces `out_dir` atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reer_pipeline.files import atomic_path, write_atomic
from reer_pipeline.finetune.data import Example, ExampleSplits, read_splits
from reer_pipeline.lm.hf import base_identity
from reer_pipeline.lm.registry import LOCAL_SCHEMES, default_local_backend, parse_uri
from reer_pipeline.lm.threads import apply_thread_policy

CARD = "adapter_card.json"
CURVE = "loss_curve.png"
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CARD_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """One LoRA training run (torch or mlx-lm): the adapter, the schedule, the data's limits."""

    rank: int = field(default=16, metadata={"help": "LoRA rank"})
    alpha: int | None = field(
        default=None, metadata={"help": "LoRA alpha; None means 2 x rank (scale 2)"}
    )
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    target_modules: tuple[str, ...] = field(
        default=TARGETS, metadata={"help": "the projections that get an adapter"}
    )
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW's peak learning rate"})
    warmup_frac: float = field(
        default=0.05, metadata={"help": "share of the steps with a linear warmup"}
    )
    min_lr_frac: float = field(
        default=0.1, metadata={"help": "the cosine decay ends at this share of the peak rate"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW's weight decay"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the training examples"})
    batch_tokens: int = field(
        default=2048,
        metadata={"help": "padded tokens per batch (memory: activations scale with it)"},
    )
    max_batch: int = field(default=32, metadata={"help": "examples per batch at most"})
    max_len: int = field(default=512, metadata={"help": "longer examples (tokens) are left out"})
    eval_every: int = field(default=25, metadata={"help": "steps between validation losses"})
    save_every: int = field(default=10, metadata={"help": "steps between checkpoints"})
    patience: int = field(
        default=3, metadata={"help": "evaluations without improvement before stopping"}
    )
    min_delta: float = field(
        default=0.002, metadata={"help": "a validation loss must improve by this to count"}
    )
    max_val_examples: int = field(
        default=256, metadata={"help": "validation examples the loss is measured on"}
    )
    min_train_examples: int = field(
        default=32, metadata={"help": "fewer training examples train no adapter"}
    )
    precision: str = field(
        default="auto", metadata={"help": "auto (bf16 autocast when the CPU has it) | bf16 | fp32"}
    )
    share_prefix: bool = field(
        default=True, metadata={"help": "compute a batch's common leading tokens once"}
    )
    threads: int | None = field(
        default=None, metadata={"help": "torch threads; None means the thread policy's"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the batch order and the weights"})
    max_steps: int | None = field(
        default=None, metadata={"help": "stop after this many steps (a budget)"}
    )

    def __post_init__(self):
        if self.alpha is None:  # the one place alpha is derived from the rank
            object.__setattr__(self, "alpha", 2 * self.rank)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    def run_dict(self) -> dict:
        """What defines the run (threads and checkpoint spacing do not)."""
        return {k: v for k, v in self.as_dict().items() if k not in ("threads", "save_every")}


@dataclass
class Progress:
    step: int
    total_steps: int
    train_loss: float
    val_loss: float | None
    elapsed_s: float
    tokens_per_s: float
    eta_s: float | None

    def line(self) -> str:
        """`step k of n: loss, validation loss, tokens/s, time left`, for a log."""
        val = f", validation loss {self.val_loss:.3f}" if self.val_loss is not None else ""
        left = f", about {self.eta_s / 60:.1f} min left" if self.eta_s is not None else ""
        return (
            f"step {self.step} of {self.total_steps}: loss {self.train_loss:.3f}{val}, "
            f"{self.tokens_per_s:.0f} tokens/s{left}"
        )


@dataclass
class AdapterResult:
    adapter_dir: Path
    card: dict
    steps: int
    best_step: int
    stop_reason: str
    resumed_from_step: int
    train_losses: list[tuple[int, float]] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    reused: bool = False  # the finished adapter of the same run was already there

    @classmethod
    def from_card(cls, adapter_dir: Path, card: dict, reused: bool = False) -> AdapterResult:
        return cls(
            adapter_dir,
            card,
            card["steps"],
            card["best_step"],
            card["stop_reason"],
            card["resumed_from_step"],
            [tuple(x) for x in card["train_losses"]],
            [tuple(x) for x in card["val_losses"]],
            reused,
        )

    @property
    def backend(self) -> str:
        """`hf` (peft on torch) or `mlx` (mlx-lm): the backend that loads the adapter."""
        return self.card.get("backend", "hf")

    @property
    def uri(self) -> str:
        return f"{self.backend}::{self.card['base']['model']}+adapter={self.adapter_dir}"


class TooFewExamples(ValueError):
    """Too few training or validation examples to train an adapter (nothing is written)."""


class TrainingStopped(RuntimeError):
    """Raised by an `on_progress` callback to stop a run (its last checkpoint stays)."""


# ---- helpers --------------------------------------------------------------------------------
def json_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def examples_hash(examples: Sequence[Example]) -> str:
    return json_hash([e.to_json() for e in examples])


def versions() -> dict:
    import peft
    import torch
    import transformers

    import reer_pipeline

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "reer_pipeline": getattr(reer_pipeline, "__version__", "0.1.0"),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tokenize(tok, examples: Sequence[Example], max_len: int) -> tuple[list, int]:
    """(list of (ids, target start), number left out for length) with the model's chat template."""
    from reer_pipeline.lm.hf import encode_pairs

    prefixes = [
        tok.apply_chat_template(e.messages[:-1], tokenize=False, add_generation_prompt=True)
        for e in examples
    ]
    targets = [e.target + tok.eos_token for e in examples]
    seqs, starts = encode_pairs(tok, prefixes, targets)
    out = [(s, st) for s, st in zip(seqs, starts, strict=True) if len(s) <= max_len]
    return out, len(seqs) - len(out)


def plan_epoch(lengths: Sequence[int], cfg: TrainConfig, epoch: int) -> list[list[int]]:
    """Batches of example indices for one epoch: shuffled, then sorted by length within windows
    of ~50 batches so each batch pads little, cut under `batch_tokens`, then shuffled again."""
    rng = random.Random(cfg.seed * 1000 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = max(1, 50 * cfg.batch_tokens // max(1, int(sum(lengths) / max(1, len(lengths)))))
    batches: list[list[int]] = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w : w + window], key=lambda i: lengths[i])
        cur, width = [], 0
        for i in chunk:
            wnew = max(width, lengths[i])
            if cur and (wnew * (len(cur) + 1) > cfg.batch_tokens or len(cur) >= cfg.max_batch):
                batches.append(cur)
                cur, wnew = [], lengths[i]
            cur.append(i)
            width = wnew
        if cur:
            batches.append(cur)
    rng.shuffle(batches)
    return batches


def shared_prefix_len(items) -> int:
    """Leading tokens every sequence of the batch shares, kept short of the first target token
    (the chat template's system prompt and request opening: ~40% of a short post example)."""
    from reer_pipeline.lm.hf import _lcp

    if len(items) < 2:
        return 0
    return max(0, min(_lcp([s for s, _ in items]), min(st for _, st in items) - 1))


def _collate(items, pad_id: int, shared: int = 0):
    """Right-padded suffixes after `shared` tokens, their attention mask over prefix + suffix,
    and the (row, column, token) of every target token in suffix coordinates."""
    import torch

    width = max(len(s) - shared for s, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), shared + width), dtype=torch.long)
    mask[:, :shared] = 1
    rows, cols, targets = [], [], []
    for r, (s, start) in enumerate(items):
        ids[r, : len(s) - shared] = torch.tensor(s[shared:])
        mask[r, shared : len(s)] = 1
        for t in range(start, len(s)):
            rows.append(r)
            cols.append(t - 1 - shared)
            targets.append(s[t])
    return ids, mask, torch.tensor(rows), torch.tensor(cols), torch.tensor(targets)


def batch_loss(model, items, pad_id: int, autocast: bool, share_prefix: bool = True):
    """Summed cross-entropy over target tokens, their count, and the batch's example tokens.

    The output head runs on target positions only. With `share_prefix` the batch's common
    leading tokens run once and their keys/values are repeated for every row (gradients flow
    back through the repeat), so the template's fixed preamble is not computed per example."""
    import torch

    from reer_pipeline.lm.hf import cache_name

    shared = shared_prefix_len(items) if share_prefix else 0
    ids, mask, rows, cols, targets = _collate(items, pad_id, shared)
    causal = model.get_base_model()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        if shared:
            name = cache_name(causal.model)
            head = torch.tensor([items[0][0][:shared]])
            cache = getattr(causal.model(input_ids=head, use_cache=True), name)
            cache.batch_repeat_interleave(len(items))
            pos = torch.arange(shared, shared + ids.shape[1]).expand(len(items), -1)
            hidden = causal.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                use_cache=True,
                **{name: cache},
            ).last_hidden_state
        else:
            hidden = causal.model(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = causal.get_output_embeddings()(hidden[rows, cols])
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    return loss, len(targets), sum(len(s) for s, _ in items)


def eval_loss(model, data, pad_id: int, autocast: bool, budget: int, share: bool = True) -> float:
    import torch

    model.eval()
    total, n = 0.0, 0
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    with torch.no_grad():
        i = 0
        while i < len(order):
            width, j = 0, i
            while j < len(order) and max(width, len(data[order[j]][0])) * (j - i + 1) <= budget:
                width = max(width, len(data[order[j]][0]))
                j += 1
            j = max(j, i + 1)
            batch = [data[o] for o in order[i:j]]
            loss, k, _ = batch_loss(model, batch, pad_id, autocast, share)
            total, n = total + float(loss), n + k
            i = j
    model.train()
    return total / max(1, n)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Multiplier of the learning rate at `step` (0-based): linear warmup, cosine decay."""
    warm = max(1, int(total * cfg.warmup_frac))
    if step < warm:
        return (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


# ---- checkpoints ----------------------------------------------------------------------------
@dataclass
class History:
    """Where a run stands: what a checkpoint's `state.json` holds, and the card reports."""

    step: int = 0
    train_losses: list = field(default_factory=list)  # [step, batch loss]
    val_losses: list = field(default_factory=list)  # [step, validation loss]
    best_val: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    tokens: int = 0
    target_tokens: int = 0
    train_s: float = 0.0
    stop_reason: str | None = None


def _lora_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def save_checkpoint(work: Path, model, opt, history: History, best: dict) -> None:
    import torch
    from safetensors.torch import save_file

    step = history.step
    with atomic_path(work / f"ckpt-{step:06d}") as tmp:
        tmp.mkdir(parents=True)
        save_file(_lora_state(model), str(tmp / "lora.safetensors"))
        if best:
            save_file(best, str(tmp / "best.safetensors"))
        torch.save(
            {"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()}, tmp / "optim.pt"
        )
        write_atomic(tmp / "state.json", json.dumps(asdict(history)))
    for old in sorted(work.glob("ckpt-*"))[:-2]:  # keep the newest two
        shutil.rmtree(old, ignore_errors=True)


def finished_card(
    out_dir: Path, run_key: str, weights: str = "adapter_model.safetensors"
) -> dict | None:
    """The card of the finished adapter in `out_dir` when it is the same run, else None."""
    try:
        card = json.loads((out_dir / CARD).read_text())
    except (OSError, ValueError):
        return None
    done = card.get("run_key") == run_key and (out_dir / weights).is_file()
    return card if done else None


def latest_checkpoint(work: Path) -> Path | None:
    for ckpt in sorted(work.glob("ckpt-*"), reverse=True):
        if all((ckpt / n).exists() for n in ("lora.safetensors", "optim.pt", "state.json")):
            return ckpt
    return None


def load_checkpoint(ckpt: Path, model, opt) -> tuple[History, dict]:
    import torch
    from safetensors.torch import load_file

    lora = load_file(str(ckpt / "lora.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, v in lora.items():
            params[k].copy_(v)
    extra = torch.load(ckpt / "optim.pt", weights_only=False)
    opt.load_state_dict(extra["optimizer"])
    torch.set_rng_state(extra["torch_rng"])
    best = load_file(str(ckpt / "best.safetensors")) if (ckpt / "best.safetensors").exists() else {}
    return History(**json.loads((ckpt / "state.json").read_text())), best


def local_base(base: str | Path) -> tuple[str, str]:
    """(backend, model) of a local base model: `hf::<model>` or `mlx::<model>`, else (the
    embedded model or a folder) the default local backend's: mlx on Apple Silicon."""
    base = str(base)
    if "::" not in base:
        return default_local_backend(), base
    scheme, model, _ = parse_uri(base)
    if scheme not in LOCAL_SCHEMES:
        raise ValueError(f"{base!r} is not a local model: only {LOCAL_SCHEMES} train an adapter")
    return scheme, model


# ---- the run --------------------------------------------------------------------------------
def _use_bf16(precision: str) -> bool:
    from reer_pipeline.lm.hf import bf16_supported

    if precision == "fp32":
        return False
    if precision == "bf16":
        return True
    return bf16_supported()


@dataclass
class Run:
    """One run's inputs: the config, the tokenized examples, the base model and the run key."""

    cfg: TrainConfig
    splits: ExampleSplits
    train: list  # (token ids, target start) per example
    valid: list
    too_long: int  # training examples left out for length
    pad_id: int
    model_dir: Path
    identity: dict  # the base model's name and hashes
    data_hashes: dict
    key: str
    out_dir: Path
    work: Path  # this run's checkpoints


@dataclass
class Training:
    """A run under way: the model with its LoRA weights, the optimizer, the batch plan, where the
    run stands and the best weights so far."""

    run: Run
    model: object
    opt: object
    sched: object
    autocast: bool
    batches: list[list[int]]
    total: int  # steps of the run
    history: History
    best: dict
    resumed: int  # the step this call started from


def prepare(
    splits: ExampleSplits,
    base: str,
    out_dir: Path,
    cfg: TrainConfig,
    *,
    work_dir: Path | None = None,
    models_dir: Path | None = None,
) -> Run:
    """Check and tokenize the examples, and name the run (base, data and config)."""
    from transformers import AutoTokenizer

    from reer_pipeline.lm.embedded import resolve_model_path

    if len(splits.train) < cfg.min_train_examples:
        raise TooFewExamples(
            f"too few training examples: {len(splits.train)} (need >= {cfg.min_train_examples})"
        )
    if not splits.valid:
        raise TooFewExamples("no validation examples: early stopping needs a validation split")
    model_dir = Path(resolve_model_path(base, models_dir))
    tok = AutoTokenizer.from_pretrained(model_dir)
    train, too_long = tokenize(tok, splits.train, cfg.max_len)
    valid, _ = tokenize(tok, splits.valid[: cfg.max_val_examples], cfg.max_len)
    if len(train) < cfg.min_train_examples or not valid:
        raise TooFewExamples(
            f"too few training examples within {cfg.max_len} tokens: {len(train)} "
            f"(need >= {cfg.min_train_examples}); validation: {len(valid)}"
        )
    data_hashes = {"train": examples_hash(splits.train), "valid": examples_hash(splits.valid)}
    identity = {"model": base, **base_identity(model_dir)}
    key = json_hash({"base": identity, "data": data_hashes, "config": cfg.run_dict()})[:16]
    return Run(
        cfg=cfg,
        splits=splits,
        train=train,
        valid=valid,
        too_long=too_long,
        pad_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        model_dir=model_dir,
        identity=identity,
        data_hashes=data_hashes,
        key=key,
        out_dir=out_dir,
        work=Path(work_dir or out_dir.with_name(f".{out_dir.name}.work")) / key,
    )


def start(run: Run) -> Training:
    """The base model with fresh LoRA weights and its optimizer, resumed from the run's newest
    checkpoint when there is one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cfg = run.cfg
    apply_thread_policy(override=cfg.threads)  # None: the policy's default
    torch.manual_seed(cfg.seed)
    run.work.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(run.model_dir, dtype=torch.float32)
    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    lengths = [len(s) for s, _ in run.train]
    n_epochs = max(1, math.ceil(cfg.epochs))
    plans = [plan_epoch(lengths, cfg, e) for e in range(n_epochs)]
    batches = [b for plan in plans for b in plan]
    total = max(1, round(len(plans[0]) * cfg.epochs)) if cfg.epochs < n_epochs else len(batches)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    history, best = History(), {}
    ckpt = latest_checkpoint(run.work)
    if ckpt is not None:
        history, best = load_checkpoint(ckpt, model, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(  # resumed: the next step's rate
        opt, lambda s: lr_at(s, total, cfg), last_epoch=history.step - 1
    )
    return Training(
        run=run,
        model=model,
        opt=opt,
        sched=sched,
        autocast=_use_bf16(cfg.precision),
        batches=batches,
        total=total,
        history=history,
        best=best,
        resumed=history.step,
    )


def _validate(t: Training) -> float:
    cfg = t.run.cfg
    return eval_loss(
        t.model, t.run.valid, t.run.pad_id, t.autocast, cfg.batch_tokens, cfg.share_prefix
    )


def train_steps(t: Training, on_progress: Callable[[Progress], None] | None = None) -> None:
    """Train until the last step or early stopping: validation every `eval_every` steps (and
    at step 0, the base model), the best weights kept, a checkpoint every `save_every`."""
    import torch

    cfg, h = t.run.cfg, t.history
    if h.step == 0:
        h.best_val = _validate(t)
        h.val_losses.append([0, h.best_val])
        t.best = _lora_state(t.model)  # the untrained adapter (the base model) until one beats it
    trainable = [p for p in t.model.parameters() if p.requires_grad]
    while h.step < t.total and h.stop_reason is None:
        t0 = time.perf_counter()
        items = [t.run.train[i] for i in t.batches[h.step]]
        loss_sum, n_target, n_tok = batch_loss(
            t.model, items, t.run.pad_id, t.autocast, cfg.share_prefix
        )
        (loss_sum / n_target).backward()
        batch_mean = float(loss_sum.detach()) / n_target
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        t.opt.step()
        t.sched.step()
        t.opt.zero_grad(set_to_none=True)
        h.train_s += time.perf_counter() - t0
        h.step += 1
        h.tokens += n_tok
        h.target_tokens += n_target
        h.train_losses.append([h.step, batch_mean])
        val = None
        if h.step % cfg.eval_every == 0 or h.step == t.total:
            val = _validate(t)
            h.val_losses.append([h.step, val])
            if val < h.best_val - cfg.min_delta:
                h.best_val, h.best_step, h.bad_evals = val, h.step, 0
                t.best = _lora_state(t.model)
            else:
                h.bad_evals += 1
                if h.bad_evals >= cfg.patience:
                    h.stop_reason = "early_stopped"
        if h.step % cfg.save_every == 0 or h.stop_reason or h.step == t.total:
            save_checkpoint(t.run.work, t.model, t.opt, h, t.best)
        if on_progress is not None:
            rate = h.tokens / max(1e-9, h.train_s)
            left = (t.total - h.step) * h.train_s / h.step if h.step > t.resumed else None
            on_progress(Progress(h.step, t.total, batch_mean, val, h.train_s, rate, left))
    h.stop_reason = h.stop_reason or (
        "max_steps" if cfg.max_steps is not None and t.total == cfg.max_steps else "epochs_done"
    )


def finish(t: Training, wall_s: float) -> AdapterResult:
    """Write the adapter with the best weights by validation loss (the base itself scores as
    step 0), its card and loss curve, into `out_dir` atomically; drop the checkpoints."""
    import torch

    run, h = t.run, t.history
    if t.best:
        params = dict(t.model.named_parameters())
        with torch.no_grad():
            for k, v in t.best.items():
                params[k].copy_(v)
    with atomic_path(run.out_dir) as tmp:
        tmp.mkdir(parents=True)
        t.model.save_pretrained(str(tmp))
        card = {
            "card_version": CARD_VERSION,
            "backend": "hf",
            "base": {**run.identity, "path": str(run.model_dir)},
            "config": run.cfg.as_dict(),
            "run_key": run.key,
            "data": {
                "sha256": run.data_hashes,
                "sizes": run.splits.sizes(),
                "counts": run.splits.counts(),
                "skipped": run.splits.skipped,
                "bounds": run.splits.bounds,
                "train_used": len(run.train),
                "train_too_long": run.too_long,
            },
            "steps": h.step,
            "total_steps": t.total,
            "best_step": h.best_step,
            "best_val_loss": h.best_val,
            "stop_reason": h.stop_reason,
            "resumed_from_step": t.resumed,
            "train_losses": h.train_losses,
            "val_losses": h.val_losses,
            "train_tokens": h.tokens,
            "target_tokens": h.target_tokens,
            "train_seconds": round(h.train_s, 2),
            "wall_seconds_this_call": round(wall_s, 2),
            "tokens_per_s": round(h.tokens / max(1e-9, h.train_s), 1),
            "precision": "bf16-autocast" if t.autocast else "fp32",
            "threads": torch.get_num_threads(),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "versions": versions(),
        }
        write_atomic(tmp / CARD, json.dumps(card, indent=1))
        write_loss_curve(card, tmp / CURVE)
    shutil.rmtree(run.work, ignore_errors=True)
    return AdapterResult.from_card(run.out_dir, card)


def train_adapter(
    examples: ExampleSplits | Path | str,
    base: str | Path,
    out_dir: Path,
    config: TrainConfig | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    work_dir: Path | None = None,
    models_dir: Path | None = None,
) -> AdapterResult:
    """Train a LoRA adapter of `base` (`embedded`, a local model folder, `hf::<that>`, or
    `mlx::<that>` for mlx-lm) on `examples` (an `ExampleSplits` or a folder of train/valid
    JSONL files) into `out_dir`.

    Raises TooFewExamples when there are too few training examples (no adapter is written).
    `on_progress` may raise `TrainingStopped` (or anything) to stop; a later call with the same
    inputs resumes from the last checkpoint, and returns the finished adapter when it is there.
    """
    cfg = config or TrainConfig()
    splits = examples if isinstance(examples, ExampleSplits) else read_splits(Path(examples))
    scheme, name = local_base(base)
    out_dir = Path(out_dir).resolve()
    if scheme == "mlx":
        from reer_pipeline.finetune.mlx_train import train_adapter_mlx

        return train_adapter_mlx(
            splits, name, out_dir, cfg, on_progress=on_progress, models_dir=models_dir
        )
    run = prepare(splits, name, out_dir, cfg, work_dir=work_dir, models_dir=models_dir)
    card = finished_card(run.out_dir, run.key)
    if card is not None:  # same base, data and config: nothing to train
        return AdapterResult.from_card(run.out_dir, card, reused=True)
    t0 = time.perf_counter()
    training = start(run)
    train_steps(training, on_progress)
    return finish(training, time.perf_counter() - t0)


def write_loss_curve(card: dict, path: Path) -> Path:
    """PNG of the training loss per step (and its running mean) and the validation loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    tr = card.get("train_losses") or []
    if tr:
        xs, ys = zip(*tr, strict=True)
        ax.plot(xs, ys, color="#9bb", lw=0.8, label="train (batch)")
        k = max(1, min(10, len(ys) // 4))  # steps the running mean spans
        ema, run = [], ys[0]
        for y in ys:
            run = run + (y - run) * (1 / k)
            ema.append(run)
        ax.plot(xs, ema, color="#077", lw=1.5, label="train (running mean)")
    va = card.get("val_losses") or []
    if va:
        xs, ys = zip(*va, strict=True)
        ax.plot(xs, ys, "o-", color="#c50", lw=1.5, ms=3, label="validation")
    if card.get("best_step"):
        ax.axvline(card["best_step"], color="#c50", ls=":", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / target token)")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    return write_atomic(path, png.getvalue())
