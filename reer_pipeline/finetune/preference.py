"""The author adapter's preference step: DPO (TRL's `DPOTrainer`) on what the person chose,
starting from the account's adapter, which is also the reference the step is measured against.

Pairs come from the review log, the newest decision per draft:
- an edited approval: the text the person approved over the draft as it was written;
- on one topic, each approved text over each rejected draft (at most `max_per_topic` a topic).
The prompt is drafting's request for the topic (`data.post_request`), the wording the adapter
was trained on. Links are taken out of both texts: a person's posts carry links and drafts
do not (the packager adds them), and pairs that differ by their links taught the adapter to
write nothing but "[link]" (x:andreruffert, 2026-12-04). Pairs are split by time: the newest
`test_fraction` are held out.

Measured on the held-out pairs: preference accuracy before and after (the share of pairs whose
chosen text the adapter gives the higher log-probability), the reward accuracy (the share whose
margin rose over the starting adapter's: DPO's implicit reward), and the DPO loss against the
starting adapter (log 2 before, by definition); the held-out perplexity of the account's own test
posts; and how many of its drafts for the held-out prompts are broken (a loop by the gate's
rule, or nothing but links). The step is kept only when the held-out loss fell, that perplexity
rose by at most `max_ppl_rise` (5%), and no more drafts are broken than before: the loss and
the perplexity alone passed a step whose drafts were link spam. No dagster import.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from reer_pipeline.files import atomic_path, write_atomic
from reer_pipeline.finetune.data import LINK, Example, post_request, replace_links
from reer_pipeline.finetune.evaluate import heldout_perplexity
from reer_pipeline.finetune.train import CARD
from reer_pipeline.stats import bootstrap_interval

REPORT = "preference_report.json"  # the last step's report, in the adapter folder (written by
# `finetune.author.step_on_decisions`, which adds the newest decision it stepped on)


@dataclass(frozen=True)
class Pair:
    """The person preferred `chosen` over `rejected` for `prompt` (decided at `at`)."""

    prompt: str
    chosen: str
    rejected: str
    topic: str
    at: str


@dataclass(frozen=True)
class PreferenceConfig:
    """One DPO step on an adapter, and the rule that keeps it."""

    beta: float = 0.1  # DPO's beta: how far the step may move from the starting adapter
    learning_rate: float = 1e-4
    max_steps: int = 40  # at most; fewer when `epochs` passes over the pairs take fewer
    epochs: float = 2.0  # more overfits a few dozen pairs (held-out perplexity rose 17% at 6.7)
    batch_size: int = 4
    max_length: int = 256  # prompt + text tokens; longer pairs are cut
    test_fraction: float = 0.25  # the newest pairs, held out
    max_per_topic: int = 8  # approved-over-rejected pairs of one topic
    max_ppl_rise: float = 0.05  # the held-out perplexity of the account's posts may rise this much
    min_pairs: int = 8  # fewer pairs train nothing
    seed: int = 0


def pairs_from_decisions(
    decisions: Iterable[dict], platform: str, max_per_topic: int = 8
) -> list[Pair]:
    """Preference pairs from review-log decisions (any order; the newest per draft counts)."""
    newest: dict[str, dict] = {}
    for d in sorted(decisions, key=lambda d: d["seq"]):
        newest[d["draft_id"]] = d
    out, approved, rejected = [], {}, {}
    for d in newest.values():
        prompt = post_request(platform, d["topic"])
        when = str(d.get("decided_at") or d["seq"])
        drafted = without_links(str(d.get("drafted_text") or ""))
        if d["decision"] == "approved":
            text = without_links(str(d.get("approved_text") or drafted))
            approved.setdefault(d["topic"], []).append((text, when))
            if drafted and text != drafted:
                out.append(Pair(prompt, text, drafted, d["topic"], when))
        elif d["decision"] == "rejected" and drafted:
            rejected.setdefault(d["topic"], []).append((drafted, when))
    out = [p for p in out if p.chosen]
    for topic, good in approved.items():
        bad = rejected.get(topic, [])
        made = [
            Pair(post_request(platform, topic), g, b, topic, max(gw, bw))
            for g, gw in good
            for b, bw in bad
            if g and g != b
        ]
        out += made[:max_per_topic]
    return sorted(out, key=lambda p: (p.at, p.topic, p.chosen))


def without_links(text: str) -> str:
    """`text` without its links (and link placeholders), spaces collapsed."""
    return " ".join(replace_links(text).replace(LINK, " ").split())


def split_pairs(pairs: Sequence[Pair], test_fraction: float) -> tuple[list[Pair], list[Pair]]:
    """(train, test): the oldest pairs and the newest `test_fraction` of them (at least one)."""
    n_test = max(1, round(len(pairs) * test_fraction)) if len(pairs) > 1 else 0
    return list(pairs[: len(pairs) - n_test]), list(pairs[len(pairs) - n_test :])


def margins(lm, pairs: Sequence[Pair]) -> np.ndarray:
    """log p(chosen | prompt) - log p(rejected | prompt) under `lm`, per pair (one batched call)."""
    prefixes = [lm.render([{"role": "user", "content": p.prompt}]) for p in pairs]
    lps = lm.score(prefixes * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    totals = np.array([sum(x) for x in lps])
    return totals[: len(pairs)] - totals[len(pairs) :]


def broken_drafts(lm, pairs: Sequence[Pair], max_tokens: int = 80) -> int:
    """How many of the adapter's drafts for the pairs' prompts (one each, batched) are broken:
    a loop by the gate's rule (`scoring.gate.loop`), or nothing but links."""
    from reer_pipeline.scoring.gate import loop

    prompts = [[{"role": "user", "content": p.prompt}] for p in pairs]
    texts = [c[0] for c in lm.generate(prompts, max_tokens=max_tokens)]
    return sum(bool(loop(t) or not without_links(t)) for t in texts)


def dpo_loss(before: np.ndarray, after: np.ndarray, beta: float) -> float:
    """Mean DPO loss of the pairs: -log sigmoid(beta * (margin after - margin before))."""
    z = beta * (np.asarray(after) - np.asarray(before))
    return float(np.mean(np.logaddexp(0.0, -z)))


def steps(cfg: PreferenceConfig, n_train: int) -> int:
    """The step's length: `epochs` passes over `n_train` pairs, at most `max_steps`."""
    return max(1, min(cfg.max_steps, math.ceil(cfg.epochs * n_train / cfg.batch_size)))


def _train(
    adapter_dir: Path, base_dir: Path, train: Sequence[Pair], out: Path, cfg, n_steps: int
) -> list:
    """`n_steps` of DPO from the adapter at `adapter_dir` (TRL copies it as the frozen
    reference); the trained adapter's peft files are written to `out`. Returns the logged
    training losses."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tok = AutoTokenizer.from_pretrained(base_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    data = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": p.prompt}],
                "chosen": [{"role": "assistant", "content": p.chosen}],
                "rejected": [{"role": "assistant", "content": p.rejected}],
            }
            for p in train
        ]
    )
    args = DPOConfig(
        output_dir=str(out / "trainer"),
        beta=cfg.beta,
        learning_rate=cfg.learning_rate,
        max_steps=n_steps,
        per_device_train_batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        seed=cfg.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    trainer.train()
    shutil.rmtree(out / "trainer", ignore_errors=True)
    model.save_pretrained(str(out), selected_adapters=["default"])
    return [[h["step"], h["loss"]] for h in trainer.state.log_history if "loss" in h]


def preference_step(
    adapter_dir: Path,
    decisions: Iterable[dict],
    platform: str,
    test_posts: Sequence[Example],
    out_dir: Path,
    cfg: PreferenceConfig | None = None,
    models_dir: Path | None = None,
) -> dict:
    """Train the DPO step of the adapter at `adapter_dir` on the decisions' pairs, measure it on
    the held-out pairs and the account's `test_posts`, and write the stepped adapter (its card
    extended with the report) to `out_dir` atomically. Returns the report; `kept` says whether
    the step passed its rule (the caller swaps it in only then)."""
    from reer_pipeline.lm.registry import ADAPTER_SEP, load_lm

    cfg = cfg or PreferenceConfig()
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    card = json.loads((adapter_dir / CARD).read_text())
    pairs = pairs_from_decisions(decisions, platform, cfg.max_per_topic)
    train, test = split_pairs(pairs, cfg.test_fraction)
    report: dict = {"config": asdict(cfg), "pairs": len(pairs), "train": len(train)}
    report["test"] = len(test)
    if len(pairs) < cfg.min_pairs or not train:
        return report | {"kept": False, "why": f"{len(pairs)} pairs, needs {cfg.min_pairs}"}
    base_uri = f"hf::{card['base']['model']}"
    texts, requests = [e.target for e in test_posts], [e.request for e in test_posts]

    def measure(path: Path) -> tuple[np.ndarray, object, int]:
        lm = load_lm(f"{base_uri}{ADAPTER_SEP}{path}", models_dir=models_dir, dtype="float32")
        return margins(lm, test), heldout_perplexity(lm, texts, requests), broken_drafts(lm, test)

    before, ppl_before, broken_before = measure(adapter_dir)
    n_steps = steps(cfg, len(train))
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        losses = _train(adapter_dir, Path(card["base"]["path"]), train, tmp, cfg, n_steps)
        write_atomic(tmp / CARD, json.dumps(card).encode())  # the loader checks the base
        after, ppl_after, broken_after = measure(tmp)
        held = dpo_loss(before, after, cfg.beta)
        rose, low, high = bootstrap_interval(
            (after - before,), lambda d: float(np.mean(d > 0)), seed=cfg.seed
        )
        rise = ppl_after.ppl / ppl_before.ppl - 1
        kept = held < math.log(2) and rise <= cfg.max_ppl_rise and broken_after <= broken_before
        report |= {
            "steps": n_steps,
            "accuracy_before": float(np.mean(before > 0)),
            "accuracy_after": float(np.mean(after > 0)),
            "reward_accuracy": {"value": rose, "low": low, "high": high},
            "heldout_loss_before": math.log(2),
            "heldout_loss_after": held,
            "heldout_ppl_before": ppl_before.ppl,
            "heldout_ppl_after": ppl_after.ppl,
            "heldout_ppl_rise": rise,
            "broken_drafts_before": broken_before,
            "broken_drafts_after": broken_after,
            "train_losses": losses,
            "kept": kept,
            "why": (
                "the held-out pairs' loss fell and the posts' perplexity held"
                if kept
                else f"held-out loss {held:.3f} (start {math.log(2):.3f}), "
                f"perplexity {rise:+.1%} (at most {cfg.max_ppl_rise:+.0%}), broken drafts "
                f"{broken_after} of {len(test)} (before {broken_before})"
            ),
        }
        write_atomic(tmp / CARD, json.dumps(card | {"preference": report}, indent=1).encode())
    return report
