"""Data-parallel training with ``torch.distributed``: one process per GPU (or CPU share), launched by torchrun.

Each process holds a full copy of the model, trains on its own shard of every batch, and
DistributedDataParallel averages the gradients over the processes before each optimizer step, so
``world_size`` processes with ``batch_size`` examples each take the step one process would take with
``world_size * batch_size``. A script written with these helpers runs unchanged three ways::

    python train.py                                   # one process: no process group at all
    torchrun --nproc_per_node=2 train.py              # one machine, 2 processes (one per GPU)
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_id=job1 --rdzv_backend=c10d \\
             --rdzv_endpoint=host0:29500 train.py     # two machines: run this on both

In the multi-node form every machine runs the same command; ``host0:29500`` is an address and port of
one of them that all can reach (the rendezvous), and ``--rdzv_id`` names the job. torchrun starts
the processes and tells each who it is in environment variables (``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``), which :func:`setup` reads::

    info = dlbook.distributed.setup()            # rank, local_rank, world_size, device, is_main
    model = dlbook.distributed.wrap(model.to(info.device))
    loader = dlbook.distributed.distributed_loader(x, y, batch_size=64 // info.world_size)
    ...                                          # train as usual; loss = all_reduce_mean(loss)
    dlbook.distributed.cleanup()

The processes talk through NCCL on CUDA GPUs and gloo on CPUs.
"""

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from dlbook.device import device as pick_device
from dlbook.device import model_device

__all__ = [
    "DistInfo", "ShardedLoader", "all_reduce_mean", "backend_for", "cleanup", "distributed_loader",
    "is_main_process", "setup", "unwrap", "wrap",
]  # fmt: skip

LAUNCH = (
    "launch the script with torchrun, e.g. `torchrun --nproc_per_node=2 script.py` on one machine, or "
    "`torchrun --nnodes=2 --nproc_per_node=8 --rdzv_id=job1 --rdzv_backend=c10d --rdzv_endpoint=host:port "
    "script.py` on each of two machines"
)
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """Who this process is: its ``rank`` among ``world_size`` processes, its ``local_rank`` on this machine,
    the ``device`` it trains on and the ``backend`` its process group uses (None for a single process)."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True in the process that prints, evaluates and writes files (rank 0)."""
        return self.rank == 0


def backend_for(device: torch.device) -> str:
    """The communication backend for ``device``: ``"nccl"`` between CUDA GPUs, ``"gloo"`` on CPUs."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def _initialized() -> bool:
    """True once this process has joined a process group."""
    return dist.is_available() and dist.is_initialized()


def _launched() -> bool:
    """True in a process that torchrun (or a launcher like it) started: WORLD_SIZE is set."""
    return bool(os.environ.get("WORLD_SIZE", "").strip())


def _environment() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from the variables torchrun sets, checked."""
    missing = [name for name in TORCHRUN_VARIABLES if not os.environ.get(name, "").strip()]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
            f"{LAUNCH}, which sets them all (or unset WORLD_SIZE to run as a single process)."
        )
    values = {}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        text = os.environ[name].strip()
        if not text.isdigit():
            raise ValueError(f"{name}={text!r} is not a whole number >= 0; {LAUNCH}.")
        values[name] = int(text)
    rank, local_rank, world_size = values["RANK"], values["LOCAL_RANK"], values["WORLD_SIZE"]
    if world_size < 1 or rank >= world_size or local_rank > rank:
        raise ValueError(
            f"inconsistent RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world_size}: need "
            f"LOCAL_RANK <= RANK < WORLD_SIZE; {LAUNCH}."
        )
    return rank, local_rank, world_size


def setup(device: str | torch.device | None = None, timeout_s: float = 600, required: bool = False) -> DistInfo:
    """Join the process group torchrun set up; return this process's :class:`DistInfo`.

    Outside torchrun (``WORLD_SIZE`` unset) it returns rank 0 of a world of 1 on ``dlbook.device()``
    without creating a process group, so the same script runs with plain ``python``; ``required=True``
    makes that an error instead. Under torchrun each process takes GPU ``LOCAL_RANK`` on a CUDA machine
    (NCCL) or the CPU otherwise (gloo); ``device="cpu"`` (or ``DLBOOK_DEVICE=cpu``) forces gloo on the
    CPU. ``timeout_s`` bounds how long a collective waits for the other processes. Calling it again
    returns the same answer.
    """
    if not _launched():
        if required:
            raise RuntimeError(f"this script trains with several processes: {LAUNCH}.")
        return DistInfo(rank=0, local_rank=0, world_size=1, device=pick_device(device))
    kind = pick_device(device).type
    rank, local_rank, world_size = _environment()
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} GPU(s): start at most "
                "one process per GPU (--nproc_per_node)."
            )
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    elif kind == "cpu":
        chosen = torch.device("cpu")
    else:
        raise RuntimeError(f"torch.distributed has no backend for {kind}: use device='cpu' (gloo) or CUDA GPUs (NCCL).")
    backend = backend_for(chosen)
    if not _initialized():
        dist.init_process_group(
            backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=chosen if backend == "nccl" else None,
        )
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=chosen, backend=backend)


def cleanup() -> None:
    """Leave the process group (call it at the end of the script); does nothing in a single process."""
    if _initialized():
        dist.destroy_process_group()


def _group() -> tuple[int, int]:
    """(rank, world_size) of this process: from the process group, or (0, 1) for a single process."""
    if _initialized():
        return dist.get_rank(), dist.get_world_size()
    if _launched():
        raise RuntimeError(
            "this process was started by torchrun but has not joined the process group: call "
            "dlbook.distributed.setup() first."
        )
    return 0, 1


def is_main_process() -> bool:
    """True in rank 0 (or a single process): the one that should print and write files."""
    if _initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0").strip() or 0) == 0


class ShardedLoader(DataLoader):
    """A DataLoader over this process's shard that reshuffles every epoch.

    DistributedSampler shuffles with ``seed + epoch``, and forgetting ``sampler.set_epoch(epoch)``
    repeats the first epoch's order for ever. This loader counts its passes: pass number ``e`` (from 0)
    calls ``set_epoch(e)``. Set ``loader.epoch`` yourself to start elsewhere, e.g. when resuming.
    """

    def __init__(self, dataset: TensorDataset, batch_size: int, sampler: DistributedSampler, drop_last: bool = True):
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
        self.epoch = 0

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return super().__iter__()


def distributed_loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = True
) -> ShardedLoader:
    """Batches ``(x: (batch_size, ...), y: (batch_size,))`` of this process's shard of ``(x, y)``.

    ``batch_size`` is per process: the step averages ``world_size * batch_size`` examples. Each epoch
    permutes all of ``x`` with ``seed + epoch`` (the same in every process) and deals it out like cards,
    rank r taking positions r, r + world_size, ... So batch k of all ranks together is batch k of a single
    process loading ``world_size * batch_size`` at a time: the runs see the same examples in the same
    steps. ``drop_last`` drops the examples that do not fill a whole step (needed for that equality;
    with ``False`` the sampler pads by repeating examples and the last batches may differ in size).
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (examples per process), got {batch_size!r}.")
    rank, world_size = _group()
    dataset = TensorDataset(x, y)
    sampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    if drop_last and len(sampler) < batch_size:
        raise ValueError(
            f"{len(x)} examples are too few for one step of {world_size} x {batch_size}: lower batch_size."
        )
    return ShardedLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)


def all_reduce_mean(value: float | torch.Tensor) -> float | torch.Tensor:
    """The mean of ``value`` over all processes (a float or a tensor, returned as the same kind, every
    process getting the result); a single process gets ``value`` back."""
    _, world_size = _group()
    if world_size == 1:
        return value
    tensor = torch.as_tensor(value, dtype=torch.float64 if isinstance(value, float | int) else None)
    place = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    total = tensor.detach().to(place, copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    mean = total / world_size
    if isinstance(value, torch.Tensor):
        return mean.to(value.device, value.dtype)
    return mean.item()


def wrap(model: nn.Module, **ddp_options) -> nn.Module:
    """``model`` in DistributedDataParallel, which averages gradients over the processes in backward.

    Move the model to ``info.device`` first (dlbook does not move models behind your back). On CUDA
    the wrapper gets ``device_ids=[local GPU]``. DDP copies rank 0's weights to every process, so all
    start equal. A single process gets ``model`` itself back. Use :func:`unwrap` to reach the model
    (to save it, or evaluate on one process only).
    """
    _group()  # a clear error when torchrun started this process but setup() was not called
    if not _initialized():
        return model
    place = model_device(model)
    if place.type == "cuda":
        if place.index != torch.cuda.current_device():
            raise ValueError(
                f"the model is on {place} but this process uses cuda:{torch.cuda.current_device()}: "
                "move it with model.to(info.device) first."
            )
        ddp_options.setdefault("device_ids", [place.index])
    elif dist.get_backend() == "nccl":
        raise ValueError(f"the model is on {place}, but NCCL needs it on this process's GPU: model.to(info.device).")
    return DistributedDataParallel(model, **ddp_options)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
