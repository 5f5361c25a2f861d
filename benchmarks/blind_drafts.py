"""A blind reading of two adapters' drafts: `generate` drafts with two adapters (`adapter`,
`other`) for the same held-out requests (an examples folder's newest test requests: the posts'
subjects in drafting's wording), one draft each (T 0.7, seed 0, the packager's link step), and
writes them as a drafting.json; `shuffle` writes the drafts of two rows of
`benchmarks/finetune.py`'s drafting.json (default `adapter` and `other`) to one file with an id
and no variant, and the variant of each id to a separate key file; after reading, `unblind`
joins a verdicts file (a line per draft: `<id> <yes|no> <category>: <why>`) with the key and
counts per variant.

    .venv/bin/python benchmarks/blind_drafts.py generate --examples /tmp/ft-new/examples \\
        --adapter /tmp/ft-new/adapter --other /tmp/ft-old/adapter --n 30 --out /tmp/blind
    .venv/bin/python benchmarks/blind_drafts.py shuffle --drafting /tmp/blind/drafting.json \\
        --out /tmp/blind
    .venv/bin/python benchmarks/blind_drafts.py unblind --out /tmp/blind
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path


def generate(examples: Path, adapters: dict[str, Path], n: int, out: Path) -> Path:
    """One draft per adapter for each of the `n` newest test requests, through the gate."""
    from reer_pipeline.finetune.data import read_jsonl
    from reer_pipeline.layout import DataLayout
    from reer_pipeline.lm.base import seed_local_models
    from reer_pipeline.lm.hf import HFModel
    from reer_pipeline.program.package import fill_links
    from reer_pipeline.scoring.gate import AuthorIndex, check_draft

    test = sorted(read_jsonl(examples / "test.jsonl"), key=lambda e: (e.created_at, e.post_id))
    test = test[-n:]
    index = AuthorIndex([e.target for e in read_jsonl(examples / "train.jsonl")])
    topics = [e.request.split(" post about ", 1)[-1].rstrip(".") for e in test]
    report = {"examples": str(examples), "requests": [e.request for e in test]}
    for name, adapter in adapters.items():
        lm = HFModel(
            "embedded",
            dtype="float32",
            uri=f"hf::embedded+{name}",
            adapter=str(adapter),
            models_dir=DataLayout.from_env().models,
        )
        seed_local_models(0)
        prompts = [[{"role": "user", "content": e.request}] for e in test]
        outs = []
        for i in range(0, len(prompts), 10):
            batch = prompts[i : i + 10]
            outs += [o[0] for o in lm.generate(batch, temperature=0.7, top_p=0.9, max_tokens=96)]
        rows = []
        for text, topic, e in zip(outs, topics, test, strict=True):
            draft = fill_links(text)
            result = check_draft(draft, "x", topic, index, [e.request])
            rows.append({"topic": topic, "text": draft, "usable": result.usable})
        report[f"{name}_drafts"] = rows
        report[name] = {"adapter": str(adapter), "usable": sum(r["usable"] for r in rows)}
        print(name, report[name], flush=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "drafting.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return path


def shuffle(drafting: Path, out: Path, rows: list[str], seed: int) -> None:
    report = json.loads(drafting.read_text())
    items = [(row, d) for row in rows for d in report[f"{row}_drafts"]]
    random.Random(seed).shuffle(items)
    out.mkdir(parents=True, exist_ok=True)
    lines, key = [], {}
    for i, (row, d) in enumerate(items, 1):
        lines.append(f"[{i:02d}] topic: {d['topic']}\n{d['text'].strip()}\n")
        key[f"{i:02d}"] = {"variant": row, "usable": d["usable"], "topic": d["topic"]}
    (out / "drafts.txt").write_text("\n".join(lines))
    (out / "key.json").write_text(json.dumps(key, indent=1))
    print(f"{len(items)} drafts in {out / 'drafts.txt'}; the key is in {out / 'key.json'}")


def unblind(out: Path) -> None:
    key = json.loads((out / "key.json").read_text())
    drafts = dict(
        (block[1:3], block.split("\n", 2)[-1].strip())
        for block in (out / "drafts.txt").read_text().split("\n\n")
        if block.startswith("[")
    )
    verdicts = {}
    for line in (out / "verdicts.txt").read_text().splitlines():
        if line.strip():
            i, say, *why = line.split(maxsplit=2)
            verdicts[i.strip("[]")] = (say == "yes", why[0] if why else "")
    missing = sorted(set(key) - set(verdicts))
    if missing:
        raise SystemExit(f"no verdict for {missing}")
    result = {}
    for variant in sorted({k["variant"] for k in key.values()}):
        ids = [i for i, k in key.items() if k["variant"] == variant]
        result[variant] = {
            "drafts": len(ids),
            "would_post": sum(verdicts[i][0] for i in ids),
            "gate_usable": sum(key[i]["usable"] for i in ids),
            "why_not": dict(
                Counter(verdicts[i][1].split(":")[0] for i in ids if not verdicts[i][0])
            ),
            "examples": [
                {"id": i, "topic": key[i]["topic"], "post": verdicts[i][0], "text": drafts[i]}
                for i in ids
            ],
        }
    (out / "unblinded.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps({v: {k: r[k] for k in r if k != "examples"} for v, r in result.items()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("generate", "shuffle", "unblind"))
    ap.add_argument("--examples", type=Path, help="an examples folder (its test requests)")
    ap.add_argument("--adapter", type=Path, help="the adapter drafting as `adapter`")
    ap.add_argument("--other", type=Path, help="the adapter drafting as `other`")
    ap.add_argument("--n", type=int, default=30, help="requests (one draft each per adapter)")
    ap.add_argument("--drafting", type=Path, help="drafting.json of benchmarks/finetune.py")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", nargs=2, default=["adapter", "other"])
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    if args.step == "generate":
        adapters = {"adapter": args.adapter, "other": args.other}
        generate(args.examples, adapters, args.n, args.out)
    elif args.step == "shuffle":
        shuffle(args.drafting, args.out, args.rows, args.seed)
    else:
        unblind(args.out)


if __name__ == "__main__":
    main()
