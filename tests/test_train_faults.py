"""Faults and mistakes fit() and the checkpoints must survive: each test failed before its fix."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlbook import train
from dlbook.checkpoint import load_checkpoint, save_checkpoint


def blobs(n: int = 120, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + 0.6 * torch.randn(n, 2, generator=g), y


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def loader(x, y, batch_size=32):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def quiet_fit(model, data, **options):
    return train.fit(model, data, device="cpu", progress=False, **options)


class DivergeAt:
    """An optimizer wrapper that poisons the weights with nan from a given step on."""

    def __init__(self, optimizer, step):
        self.optimizer, self.step_at, self.steps = optimizer, step, 0
        self.param_groups = optimizer.param_groups

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.optimizer.step()
        self.steps += 1
        if self.steps >= self.step_at:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(math.nan)

    def state_dict(self):
        return self.optimizer.state_dict()


def test_divergence_under_early_stopping_leaves_the_best_weights():
    x, y = blobs()
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = loader(x, y)  # 4 batches an epoch: diverges in epoch 3
    with pytest.raises(FloatingPointError, match="best"):
        quiet_fit(
            model,
            data,
            epochs=5,
            optimizer=DivergeAt(optimizer, 9),
            val_loader=data,
            early_stopping=train.EarlyStopping(patience=3),
        )
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_fresh_run_does_not_overwrite_an_earlier_checkpoint(tmp_path):
    x, y = blobs()
    path = tmp_path / "run.pt"
    quiet_fit(mlp(), loader(x, y), epochs=3, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        quiet_fit(mlp(), loader(x, y), epochs=1, checkpoint=path)
    assert path.read_bytes() == before


def test_resume_with_another_optimizer_class_is_refused_before_loading(tmp_path):
    x, y = blobs()
    path = tmp_path / "run.pt"
    model = mlp()
    quiet_fit(
        model,
        loader(x, y),
        epochs=1,
        checkpoint=path,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
    )
    fresh = mlp(seed=1)
    weights = [p.detach().clone() for p in fresh.parameters()]
    with pytest.raises(ValueError, match="SGD.*Adam|Adam.*SGD"):
        quiet_fit(
            fresh, loader(x, y), epochs=2, checkpoint=path, resume=True, optimizer=torch.optim.Adam(fresh.parameters())
        )
    assert all(torch.equal(a, b) for a, b in zip(weights, fresh.parameters(), strict=True))


def test_mse_with_mismatched_shapes_is_an_error_not_a_broadcast():
    x = torch.randn(64, 2)
    y = x.sum(1)  # (n,), while the model gives (n, 1)
    with pytest.raises(ValueError, match=r"\(32, 1\).*\(32,\)"):
        quiet_fit(nn.Linear(2, 1), loader(x, y), epochs=1, loss_fn=F.mse_loss)


class NumpyState(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3)
        self.seen = np.zeros(2)

    def forward(self, x):
        return self.linear(x)

    def get_extra_state(self):
        return {"seen": self.seen}

    def set_extra_state(self, state):
        self.seen = state["seen"]


def test_a_checkpoint_that_cannot_be_resumed_is_refused_before_training(tmp_path):
    x, y = blobs()
    model = NumpyState()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(TypeError, match=r"_extra_state.*numpy.ndarray.*never be resumed"):
        quiet_fit(model, loader(x, y), epochs=1, checkpoint=tmp_path / "c.pt")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # no epoch was lost
    with pytest.raises(TypeError, match="numpy"):
        save_checkpoint(tmp_path / "d.pt", model=model.state_dict())
    assert not (tmp_path / "d.pt").exists()


def test_nan_validation_loss_in_the_first_epoch_does_not_freeze_the_best_epoch():
    stopper = train.EarlyStopping(patience=2)
    history = train.History(
        [{"epoch": 1, "val_loss": math.nan}, {"epoch": 2, "val_loss": 1.0}, {"epoch": 3, "val_loss": 0.5}]
    )
    assert stopper.best_epoch(history) == 3
    assert not stopper.should_stop(history)


def test_a_text_file_as_checkpoint_gets_the_damaged_file_message(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("epoch 1: loss 0.3\n")
    with pytest.raises(RuntimeError, match="damaged"):
        load_checkpoint(path)


def test_stale_temporary_files_are_cleaned(tmp_path):
    path = tmp_path / "c.pt"
    stale = tmp_path / ".c.pt.abc123.tmp"
    stale.write_bytes(b"left by a killed save")
    save_checkpoint(path, weights=torch.ones(2))
    assert not stale.exists()


def test_a_tilde_in_the_checkpoint_path_means_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    save_checkpoint("~/runs/c.pt", weights=torch.ones(2))
    assert (tmp_path / "home" / "runs" / "c.pt").is_file()
    assert not (tmp_path / "~").exists()
    assert torch.equal(load_checkpoint("~/runs/c.pt")["weights"], torch.ones(2))


def test_friendly_errors_for_common_mistakes():
    x, y = blobs()
    with pytest.raises(TypeError, match=r"nn.CrossEntropyLoss\(\)"):
        quiet_fit(mlp(), loader(x, y), epochs=1, loss_fn=nn.CrossEntropyLoss)
    used_up = iter(loader(x, y))
    with pytest.raises(TypeError, match="re-iterable|DataLoader"):
        quiet_fit(mlp(), used_up, epochs=2)
    with pytest.raises(ValueError, match="val_accurcy"):
        quiet_fit(
            mlp(),
            loader(x, y),
            epochs=2,
            val_loader=loader(x, y),
            early_stopping=train.EarlyStopping(metric="val_accurcy", mode="max"),
        )
