"""Train one small MLP on the 8x8 digits with 1 process or several, and get the same weights.

    python scripts/train_distributed.py --out one.json
    torchrun --nproc_per_node=2 scripts/train_distributed.py --out two.json

Why the runs agree: every process builds the same model from the same seed (and DDP copies rank 0's
weights to all anyway), every process permutes the training set with the same seed each epoch, and
rank r takes every world_size-th example of it, so step k of all ranks together sees exactly the
``--global-batch`` examples one process sees at step k. Each rank's loss is the mean over its
``global_batch / world_size`` examples, and DDP averages the ranks' gradients: the mean of equal-sized
means is the mean over the whole global batch, the gradient one process computes. There is no batch
norm (whose statistics would be per rank) and no dropout, and examples that do not fill a whole step
are dropped in both runs. What remains is the order of floating-point additions, so the weights agree
to about 1e-6 rather than bit for bit.

Rank 0 writes a JSON file with the losses, accuracies and checksums of the final weights.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from dlbook import distributed
from dlbook.data import digits
from dlbook.models import MLP
from dlbook.train import evaluate, train_epoch


def checksums(model: torch.nn.Module) -> dict[str, float]:
    """Sum, norm and a random projection of all weights, in float64: any change in any weight shows."""
    flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    direction = torch.randn(len(flat), generator=torch.Generator().manual_seed(1234), dtype=torch.float64)
    return {
        "weights_sum": flat.sum().item(),
        "weights_norm": flat.norm().item(),
        "weights_projection": (flat @ direction).item(),
        "n_parameters": len(flat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results (rank 0 writes it)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--global-batch", type=int, default=64, help="examples per step over all processes")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="e.g. cpu to use gloo on a GPU machine")
    args = parser.parse_args()

    info = distributed.setup(args.device)
    if args.global_batch % info.world_size:
        raise SystemExit(f"--global-batch {args.global_batch} does not split evenly over {info.world_size} processes")
    batch = args.global_batch // info.world_size
    torch.manual_seed(args.seed)  # the same initial weights in every process (DDP would copy rank 0's anyway)
    data = digits(seed=args.seed)
    loader = distributed.distributed_loader(data.x_train, data.y_train, batch, shuffle=True, seed=args.seed)
    model = distributed.wrap(MLP([64, args.hidden, args.hidden, 10]).to(info.device))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    start, losses = time.perf_counter(), []
    for epoch in range(args.epochs):  # the loader calls sampler.set_epoch(epoch) itself
        mine = train_epoch(model, loader, optimizer, amp=False)  # float32 everywhere: exact comparisons
        losses.append(distributed.all_reduce_mean(mine["train_loss"]))  # each rank saw an equal share
        if info.is_main:
            print(f"epoch {epoch + 1}: train loss {losses[-1]:.6f} (world size {info.world_size})", flush=True)
    seconds = time.perf_counter() - start
    net = distributed.unwrap(model)  # evaluation needs no gradients to average: the plain model, locally
    val, test = (evaluate(net, part, amp=False) for part in data.loaders(batch_size=256)[1:])
    if info.is_main:
        results = {
            "world_size": info.world_size,
            "backend": info.backend,
            "device": str(info.device),
            "global_batch": args.global_batch,
            "batch_per_process": batch,
            "steps_per_epoch": len(loader),
            "epochs": args.epochs,
            "train_losses": losses,
            "final_train_loss": losses[-1],
            "val_accuracy": val["accuracy"],
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            **checksums(net),
            "seconds": round(seconds, 3),
            "torch": torch.__version__,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    distributed.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
