"""nanoGPT's CPU recipe for character-level Shakespeare, with dlbook's GPT, on this machine's CPU.

    python benchmarks/gpt_shakespeare_cpu.py            # nanoGPT's recipe, every core: about 2 minutes on 2
    python benchmarks/gpt_shakespeare_cpu.py --steps 3200 --lr 2e-3 \
        --label "the same model, 3,200 steps at learning rate 2e-3"   # about 2.5 minutes on 2 cores
    python benchmarks/gpt_shakespeare_cpu.py --steps 50 --out /tmp/check.json   # a quick check that it runs

nanoGPT's README trains a GPT of 4 blocks of width 128 (4 heads) on windows of 64 characters, batches of 12,
2,000 steps, no dropout, on a CPU (``config/train_shakespeare_char.py`` with ``--device=cpu --compile=False
--block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000
--dropout=0.0``) and reports a validation loss of about 1.88 after about 3 minutes. This script runs the same
recipe (AdamW, learning rate 1e-3 with 100 warm-up steps and a cosine decay to 1e-4, betas (0.9, 0.99), weight
decay 0.1 on the matrices, gradient clipping at 1) with ``dlbook.models.GPT`` (which has biases, nanoGPT's
default has none) on the book's Shakespeare text, and records the validation loss per character (nats), measured
on all of the validation plays, and the wall time of training in ``benchmarks/results/gpt_shakespeare_cpu.json``
(one entry per ``--label``; a run replaces the entry of its label).

The texts differ: nanoGPT's tiny-shakespeare is a 1.1 MB extract of 40,000 lines; the book's is all 37 plays
(4.8 MB), validated on plays the model has not read, so the two losses are only roughly comparable.
"""

import argparse
import json
import math
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import dlbook
from dlbook.data import shakespeare_splits
from dlbook.hardware import describe, peak_gflops
from dlbook.models import GPT, count_parameters, gpt_flops_per_token
from dlbook.schedules import warmup_cosine_scheduler
from dlbook.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
RECIPE = dict(context_length=64, embed_dim=128, num_layers=4, num_heads=4)


def batches(ids: torch.Tensor, batch: int, length: int, steps: int, seed: int):
    """``steps`` batches of ``batch`` random windows: x, y ``(batch, length)``, y the next characters."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(len(ids) - length, (batch,), generator=generator)
        window = torch.stack([ids[s : s + length + 1] for s in starts.tolist()])
        yield window[:, :-1], window[:, 1:]


@torch.no_grad()
def loss_per_char(model: nn.Module, ids: torch.Tensor, length: int) -> float:
    """Mean cross-entropy (nats) over the text ``ids``, read in consecutive windows of ``length``."""
    model.eval()
    n = (len(ids) - 1) // length * length
    x, y = ids[:n].view(-1, length), ids[1 : n + 1].view(-1, length)
    total = sum(
        F.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), reduction="sum").item()
        for xb, yb in zip(x.split(256), y.split(256), strict=True)
    )
    model.train()
    return total / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--label", default="nanoGPT's CPU recipe")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpt_shakespeare_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dlbook.seed(0)
    train_text, val_text, _ = shakespeare_splits(0.1, 0.1)
    chars = CharTokenizer.from_text(train_text)
    train_ids, val_ids = chars.encode(train_text, tensor=True), chars.encode(val_text, tensor=True)
    model = GPT(chars.vocab_size, **RECIPE, fused=True)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": 0.1}, {"params": others, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.99),
    )  # fmt: skip
    warmup = min(100, args.steps // 10)
    schedule = warmup_cosine_scheduler(optimizer, args.steps, warmup, final_lr_ratio=0.1)
    length = RECIPE["context_length"]
    load_before = os.getloadavg()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for step, (x, y) in enumerate(batches(train_ids, args.batch, length, args.steps, seed=1), start=1):
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == args.steps:
            print(
                f"step {step}: training loss {loss.item():.3f} ({time.perf_counter() - start_wall:.0f} s)", flush=True
            )
    train_wall, train_cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    val_loss = loss_per_char(model, val_ids, length)
    tokens = args.steps * args.batch * length
    flops = gpt_flops_per_token(model) * tokens
    peak = peak_gflops("cpu")
    result = {
        "label": args.label,
        "model": RECIPE | {"vocab_size": chars.vocab_size, "parameters": count_parameters(model)},
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "val_loss_nats_per_char": round(val_loss, 4),
        "val_bits_per_char": round(val_loss / math.log(2), 4),
        "val_characters": len(val_ids),
        "train_wall_seconds": round(train_wall, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "tokens_per_second": round(tokens / train_wall),
        "gflops_per_second": round(flops / train_wall / 1e9, 1),
        "mfu": None if not peak else round(flops / train_wall / 1e9 / peak, 3),
        "threads": args.threads,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "device": describe("cpu"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "reference": "nanoGPT README: val loss 1.88 after about 3 minutes on a CPU, on its tiny-shakespeare text",
    }
    print(json.dumps(result, indent=2))
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    runs = [run for run in runs if run["label"] != args.label] + [result]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
