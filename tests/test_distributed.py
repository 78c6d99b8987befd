"""dlbook.distributed: the single-process fall-back, clear errors, the sharding, and 1 vs 2 processes agreeing."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from dlbook import distributed

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_distributed.py"
TORCHRUN = Path(sys.executable).parent / "torchrun"
COMPARED = ("final_train_loss", "test_loss", "weights_sum", "weights_norm", "weights_projection")


@pytest.fixture
def outside_torchrun(monkeypatch):
    """A process nobody launched: none of torchrun's variables set."""
    for name in (*distributed.TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE", "DLBOOK_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    assert not torch.distributed.is_initialized()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launched_as(monkeypatch, rank: int, world_size: int, local_rank: int | None = None) -> None:
    env = {"RANK": rank, "LOCAL_RANK": rank if local_rank is None else local_rank, "WORLD_SIZE": world_size}
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))


def test_outside_torchrun_one_process_without_a_group(outside_torchrun):
    info = distributed.setup("cpu")
    assert info == distributed.DistInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
    assert info.is_main and distributed.is_main_process()
    assert not torch.distributed.is_initialized()
    model = nn.Linear(3, 2)
    assert distributed.wrap(model) is model and distributed.unwrap(model) is model
    assert distributed.all_reduce_mean(2.5) == 2.5
    t = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_mean(t) is t
    distributed.cleanup()  # nothing to leave: no error


def test_required_outside_torchrun_says_how_to_launch(outside_torchrun):
    with pytest.raises(RuntimeError, match=r"torchrun --nproc_per_node=2 script.py.*--rdzv_endpoint=host:port"):
        distributed.setup(required=True)


def test_half_set_environment_is_a_clear_error(outside_torchrun, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match=r"LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not: launch .*torchrun"):
        distributed.setup("cpu")


@pytest.mark.parametrize(
    "rank, world_size, local_rank, message",
    [(2, 2, 0, "inconsistent"), (0, 0, 0, "inconsistent"), (1, 2, 2, "inconsistent"), ("one", 2, 0, "whole number")],
)
def test_impossible_ranks_are_refused(outside_torchrun, monkeypatch, rank, world_size, local_rank, message):
    launched_as(monkeypatch, rank, world_size, local_rank)
    with pytest.raises(ValueError, match=message):
        distributed.setup("cpu")


def test_under_torchrun_the_helpers_need_setup_first(outside_torchrun, monkeypatch):
    launched_as(monkeypatch, 1, 2)
    assert not distributed.is_main_process()  # RANK says so, even before setup
    x, y = torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)
    for call in (
        lambda: distributed.wrap(nn.Linear(2, 2)),
        lambda: distributed.all_reduce_mean(1.0),
        lambda: distributed.distributed_loader(x, y, 2),
    ):
        with pytest.raises(RuntimeError, match=r"call dlbook.distributed.setup\(\) first"):
            call()


def test_a_process_group_of_one_on_the_cpu(outside_torchrun, monkeypatch):
    launched_as(monkeypatch, 0, 1)
    try:
        info = distributed.setup("cpu")
        assert (info.world_size, info.backend, info.device) == (1, "gloo", torch.device("cpu"))
        assert torch.distributed.is_initialized() and distributed.setup("cpu") == info  # again: the same
        model = nn.Linear(3, 2)
        wrapped = distributed.wrap(model)
        assert isinstance(wrapped, nn.parallel.DistributedDataParallel) and distributed.unwrap(wrapped) is model
        assert distributed.all_reduce_mean(3.0) == 3.0
        mean = distributed.all_reduce_mean(torch.tensor([1.0, 4.0]))
        assert mean.dtype == torch.float32 and mean.tolist() == [1.0, 4.0]
    finally:
        distributed.cleanup()
    assert not torch.distributed.is_initialized()


def batches(monkeypatch, rank: int, world_size: int, batch_size: int, epochs: int = 2, n: int = 103):
    """The example ids in each batch of each epoch, as rank ``rank`` of ``world_size`` would load them."""
    monkeypatch.setattr(distributed, "_group", lambda: (rank, world_size))
    x = torch.arange(n)
    loader = distributed.distributed_loader(x, x, batch_size, shuffle=True, seed=7)
    return [[xb.tolist() for xb, _ in loader] for _ in range(epochs)]


def test_rank_batches_together_are_the_one_process_batches(outside_torchrun, monkeypatch):
    one = batches(monkeypatch, 0, 1, batch_size=10)
    ranks = [batches(monkeypatch, r, 2, batch_size=5) for r in range(2)]
    assert [len(epoch) for epoch in one] == [10, 10]  # 103 examples: the 3 that fill no step are dropped
    for epoch in range(2):
        for step, whole in enumerate(one[epoch]):
            shards = [ranks[r][epoch][step] for r in range(2)]
            assert sorted(shards[0] + shards[1]) == sorted(whole)  # the same examples in the same step
            assert not set(shards[0]) & set(shards[1])  # and no example on both ranks
    assert one[0] != one[1]  # a new order every epoch (set_epoch is called on each pass)


def test_loader_refuses_bad_sizes(outside_torchrun):
    x = torch.zeros(6, 2)
    with pytest.raises(ValueError, match="same length"):
        distributed.distributed_loader(x, torch.zeros(5), 2)
    with pytest.raises(ValueError, match="positive int"):
        distributed.distributed_loader(x, torch.zeros(6), 0)
    with pytest.raises(ValueError, match="too few"):
        distributed.distributed_loader(x, torch.zeros(6), 8)


def test_backend_for_each_device():
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"
    assert distributed.backend_for(torch.device("cpu")) == "gloo"


def test_on_cuda_each_process_takes_its_local_gpu(outside_torchrun, monkeypatch):
    # No GPU needed: pretend to be local rank 1 of 2 on a machine with 2 GPUs and record what setup asks for.
    launched_as(monkeypatch, 3, 4, local_rank=1)
    calls = {}
    monkeypatch.setattr(distributed, "pick_device", lambda name=None: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda dev: calls.setdefault("set_device", dev))
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, **kw: calls.update(kw, backend=backend))
    info = distributed.setup()
    assert (info.rank, info.local_rank, info.world_size) == (3, 1, 4)
    assert info.device == torch.device("cuda", 1) and info.backend == "nccl" and not info.is_main
    assert calls["set_device"] == torch.device("cuda", 1)
    assert calls["backend"] == "nccl" and calls["device_id"] == torch.device("cuda", 1)
    assert (calls["rank"], calls["world_size"], calls["init_method"]) == (3, 4, "env://")

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match="one process per GPU"):
        distributed.setup()


def test_wrap_on_cuda_names_the_gpu(monkeypatch):
    monkeypatch.setattr(distributed, "_initialized", lambda: True)
    monkeypatch.setattr(distributed, "_group", lambda: (1, 2))
    monkeypatch.setattr(distributed, "model_device", lambda model: torch.device("cuda", 1))
    monkeypatch.setattr(distributed, "DistributedDataParallel", lambda model, **kw: ("ddp", kw))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert distributed.wrap(nn.Linear(2, 2)) == ("ddp", {"device_ids": [1]})
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    with pytest.raises(ValueError, match="model.to"):
        distributed.wrap(nn.Linear(2, 2))


def train(out: Path, processes: int, device: str = "cpu", epochs: int = 3) -> dict:
    """Run scripts/train_distributed.py with plain python (processes=0) or torchrun; return its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in (*distributed.TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    script = [str(SCRIPT), "--out", str(out), "--device", device, "--epochs", str(epochs)]
    for _ in range(3):  # a port taken between choosing it and binding it: choose another
        port = free_port()
        env["MASTER_PORT"] = str(port)
        launcher = (
            [str(TORCHRUN), f"--nproc_per_node={processes}", "--master_addr=127.0.0.1", f"--master_port={port}"]
            if processes
            else [sys.executable]
        )
        run = subprocess.run([*launcher, *script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if run.returncode == 0 or "address already in use" not in (run.stdout + run.stderr).lower():
            break
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text())


def assert_agree(one: dict, many: dict, rtol: float) -> dict[str, float]:
    differences = {key: abs(one[key] - many[key]) / abs(one[key]) for key in COMPARED}
    assert all(d < rtol for d in differences.values()), differences
    assert many["steps_per_epoch"] == one["steps_per_epoch"] and many["global_batch"] == one["global_batch"]
    return differences


def test_one_and_two_processes_train_the_same_model(tmp_path):
    one = train(tmp_path / "one.json", processes=0)
    two = train(tmp_path / "two.json", processes=2)
    assert (one["world_size"], one["backend"], one["batch_per_process"]) == (1, None, 64)
    assert (two["world_size"], two["backend"], two["batch_per_process"]) == (2, "gloo", 32)
    assert two["final_train_loss"] < 0.5 * two["train_losses"][0]  # it learned something
    assert_agree(one, two, rtol=1e-5)
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 1 / 400  # at most one test digit differs


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (NCCL)")
def test_nccl_on_the_gpus_agrees_with_one_gpu(tmp_path):
    processes = min(2, torch.cuda.device_count())  # one GPU: a process group of 1 still runs NCCL and DDP
    one = train(tmp_path / "one.json", processes=0, device="cuda")
    many = train(tmp_path / "many.json", processes=processes, device="cuda")
    assert many["backend"] == "nccl" and many["world_size"] == processes
    # different per-GPU batch sizes may pick different matmul kernels: a looser tolerance than on the CPU
    assert_agree(one, many, rtol=1e-4)
