"""Train the small ResNet of chapter 8 on the full Fashion-MNIST; record time to 93% validation accuracy.

    python benchmarks/fashion_resnet.py                            # the full run, on the best device
    python benchmarks/fashion_resnet.py --epochs 1 --limit 512     # a smoke test that runs on a CPU

The recipe is the chapter's full scale: inputs standardized with the training mean and standard
deviation, random shifts and flips (RandomCropFlip), ResNetMini, AdamW with a cosine schedule, and on
CUDA bfloat16 autocast (dlbook.train.fit's default there) and channels-last memory. Validation
accuracy (6,000 images held out of the training set) is measured after every epoch; "time to target"
is the training and evaluation time until the first epoch at or above --target. The test set is
measured once, at the end. Writes benchmarks/results/fashion_resnet-<device>.json (with --limit, a
``-smoke`` file, so that a smoke test never overwrites a real result).
"""

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

import dlbook
from dlbook.hardware import describe
from dlbook.models import RandomCropFlip, ResNetMini, count_parameters

RESULTS = Path(__file__).parent / "results"


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=32, help="channels of the first stage")
    parser.add_argument("--blocks", default="2,2,2", help="residual blocks per stage, e.g. 2,2,2")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW's peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--target", type=float, default=0.93, help="validation accuracy to time")
    parser.add_argument("--limit", type=int, default=None, help="use only this many train (and test) images")
    parser.add_argument("--device", default=None, help="default: the best here (cuda > mps > cpu)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.blocks = tuple(int(n) for n in args.blocks.split(","))
    if args.epochs < 1 or (args.limit is not None and args.limit < 10):
        parser.error("--epochs must be >= 1 and --limit >= 10 (one image per class)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    device = dlbook.start(seed=args.seed, device=args.device)
    n_test = None if args.limit is None else min(args.limit, 10_000)
    data = dlbook.data.fashion_mnist(n_train=args.limit, n_test=n_test)
    mean, std = data.x_train.mean(), data.x_train.std()
    train = dlbook.data.loader((data.x_train - mean) / std, data.y_train, args.batch_size, shuffle=True)
    val = dlbook.data.loader((data.x_val - mean) / std, data.y_val, 1000)
    test = dlbook.data.loader((data.x_test - mean) / std, data.y_test, 1000)

    model = nn.Sequential(RandomCropFlip(padding=2), ResNetMini(width=args.width, blocks=args.blocks))
    model = model.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    start = time.perf_counter()
    history = dlbook.train.fit(
        model, train, epochs=args.epochs, optimizer=optimizer, scheduler=scheduler, val_loader=val
    )
    total = time.perf_counter() - start
    test_accuracy = dlbook.train.evaluate(model, test)["accuracy"]  # once, at the end

    elapsed, reached = 0.0, None
    for record in history:
        elapsed += record["seconds"]
        if reached is None and record["val_accuracy"] >= args.target:
            reached = {"epoch": record["epoch"], "seconds": round(elapsed, 1)}
    result = {
        "device": describe(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": vars(args),
        "train_images": len(data.x_train),
        "val_images": len(data.x_val),
        "test_images": len(data.x_test),
        "parameters": count_parameters(model),
        "bfloat16_autocast": device.type == "cuda",
        "channels_last": device.type == "cuda",
        "target": args.target,
        "time_to_target": reached,  # null when the target was not reached
        "final_val_accuracy": round(history.last["val_accuracy"], 4),
        "best_val_accuracy": round(max(history["val_accuracy"]), 4),
        "test_accuracy": round(test_accuracy, 4),
        "total_seconds": round(total, 1),
        "epochs": [
            {key: round(record[key], 4) for key in ("epoch", "train_loss", "val_accuracy", "seconds")}
            for record in history
        ],
    }
    suffix = "-smoke" if args.limit else ""
    out = RESULTS / f"fashion_resnet-{device.type}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    when = f"epoch {reached['epoch']}, {reached['seconds']} s" if reached else "not reached"
    print(f"validation accuracy {result['final_val_accuracy']:.4f} (best {result['best_val_accuracy']:.4f}), "
          f"test {result['test_accuracy']:.4f}; {args.target:.0%}: {when}; wrote {out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
