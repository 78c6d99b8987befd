"""dlbook.train: fit/evaluate against hand-written loops, History, checkpoints, exact resume, bad input."""

import math
import os
import pickle
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dlbook import train


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small train fastest on one thread, most of all on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(n: int = 240, seed: int = 0):
    """Three Gaussian blobs in the plane: x (n, 2) float32, y (n,) long."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + 0.6 * torch.randn(n, 2, generator=g), y


def mlp(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def loader(x, y, batch_size=32, shuffle=False, generator=None):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator)


class NoisyBlobs(Dataset):
    """Blobs with augmentation noise drawn from numpy and python's random, so resume must restore both."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        noise = torch.tensor([np.random.normal(0, 0.1), random.gauss(0, 0.1)], dtype=torch.float32)
        return self.x[i] + noise, self.y[i]


# accuracy and evaluate


def test_accuracy_counts_matching_rows():
    targets = torch.tensor([0, 2, 1, 1, 0])
    guesses = [0, 1, 1, 2, 0]  # rows 0, 2 and 4 are right
    logits = F.one_hot(torch.tensor(guesses), 3).float() * 5 + 0.1 * torch.randn(5, 3)
    assert train.accuracy(logits, targets) == sum(g == t for g, t in zip(guesses, targets.tolist(), strict=True)) / 5
    with pytest.raises(ValueError, match="batch, classes"):
        train.accuracy(logits, targets[:4])
    with pytest.raises(TypeError, match="long"):
        train.accuracy(logits, targets.float())


def test_evaluate_matches_one_pass_over_all_data_and_restores_mode():
    x, y = blobs(50)
    model = mlp(dropout=0.5)  # dropout makes train mode differ from eval mode
    model.train()
    result = train.evaluate(model, loader(x, y, batch_size=16), device="cpu")  # batches 16, 16, 16, 2
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert result["accuracy"] == pytest.approx((logits.argmax(1) == y).double().mean().item(), abs=1e-12)
    train.evaluate(model, loader(x, y), device="cpu")
    assert not model.training


def test_evaluate_regression_has_no_accuracy():
    x = torch.randn(20, 2)
    y = x.sum(1, keepdim=True)
    model = nn.Linear(2, 1)
    result = train.evaluate(model, loader(x, y, batch_size=8), loss_fn=F.mse_loss)
    with torch.no_grad():
        assert result == {"loss": pytest.approx(F.mse_loss(model(x), y).item(), rel=1e-6)}


# fit


def test_fit_learns_and_records_history():
    x, y = blobs()
    train_loader, val_loader = loader(x[:180], y[:180], batch_size=8, shuffle=True), loader(x[180:], y[180:])
    model = mlp()
    history = train.fit(model, train_loader, epochs=6, val_loader=val_loader, device="cpu", progress=False)

    model.eval()
    with torch.no_grad():
        manual = (model(x[180:]).argmax(1) == y[180:]).double().mean().item()
    result = train.evaluate(model, val_loader)
    assert result["accuracy"] == pytest.approx(manual, abs=1e-12)
    assert manual > 0.9  # chance is 1/3

    assert len(history) == 6 and history["epoch"] == [1, 2, 3, 4, 5, 6]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert len(history[key]) == 6 and all(isinstance(v, float) and math.isfinite(v) for v in history[key])
    assert history.last["val_loss"] == result["loss"]  # the model has not changed since the last epoch
    assert history.last["val_accuracy"] == result["accuracy"]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["lr"] == [1e-3] * 6


def test_fit_is_the_textbook_loop():
    """On the cpu, fit gives bit for bit the weights of a plain loop with the same optimizer."""
    x, y = blobs(96)
    data = loader(x, y, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3))
    model = mlp(seed=1)
    train.fit(model, data, epochs=3, device="cpu", progress=False)

    reference = mlp(seed=1)
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-3)
    data.generator.manual_seed(3)
    for _ in range(3):
        for xb, yb in data:
            optimizer.zero_grad()
            F.cross_entropy(reference(xb), yb).backward()
            optimizer.step()
    for ours, theirs in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs)


def test_train_loss_is_the_batch_weighted_mean():
    """With a learning rate of 0 the weights never move, so train_loss must equal evaluate's loss."""
    x, y = blobs(70)
    model = mlp()
    data = loader(x, y, batch_size=32)  # uneven batches: 32, 32, 6
    history = train.fit(
        model, data, epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), device="cpu", progress=False
    )
    expected = train.evaluate(model, data)
    assert history["train_loss"] == pytest.approx([expected["loss"]] * 2, rel=1e-6)
    assert history["train_accuracy"] == pytest.approx([expected["accuracy"]] * 2, abs=1e-12)


def test_scheduler_steps_once_per_epoch():
    x, y = blobs(64)
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train.fit(
        model, loader(x, y), epochs=3, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False
    )
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_nan_loss_stops_at_once_with_a_clear_error():
    x, y = blobs(64)
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    calls = []

    def nan_on_third_batch(logits, targets):
        calls.append(1)
        loss = F.cross_entropy(logits, targets)
        return loss * math.nan if len(calls) == 3 else loss

    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 3.*lower\s+learning rate"):
        train.fit(
            model,
            loader(x, y, batch_size=16),
            epochs=2,
            loss_fn=nan_on_third_batch,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
            device="cpu",
            progress=False,
        )
    assert len(calls) == 3  # no batch after the bad one
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_huge_learning_rate_diverges_with_a_clear_error():
    x, y = blobs(64)
    model = mlp()
    with pytest.raises(FloatingPointError, match="diverged"):
        train.fit(
            model,
            loader(x, y, batch_size=8),
            epochs=5,
            optimizer=torch.optim.SGD(model.parameters(), lr=1e10),
            device="cpu",
            progress=False,
        )


def test_progress_leaves_one_line(capsys):
    x, y = blobs(32)
    train.fit(mlp(), loader(x, y), epochs=3, device="cpu", progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    final = err.rstrip("\n").split("\r")[-1]
    assert "3/3" in final and "loss=" in final and "acc=" in final
    train.fit(mlp(), loader(x, y), epochs=2, device="cpu", progress=False)
    assert capsys.readouterr() == ("", "")


def test_progress_in_a_notebook_updates_one_output(capsys, monkeypatch):
    """In a notebook the bar rewrites one output in place, so the saved notebook keeps just the final line."""
    shown = []

    class Output:
        update = staticmethod(shown.append)

    monkeypatch.setattr("IPython.display.display", lambda obj, display_id: Output())
    monkeypatch.setattr(train, "_in_notebook", lambda: True)
    x, y = blobs(32)
    train.fit(mlp(), loader(x, y), epochs=3, device="cpu")
    lines = [pretty.data for pretty in shown]
    assert lines and not any("\r" in line or "\n" in line for line in lines)
    assert "3/3" in lines[-1] and "loss=" in lines[-1]
    assert capsys.readouterr() == ("", "")


# checkpoints and resume


def _fit_noisy(model, data, epochs, path, resume=False):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    return train.fit(
        model,
        data,
        epochs=epochs,
        optimizer=optimizer,
        scheduler=scheduler,
        checkpoint=path,
        resume=resume,
        device="cpu",
        progress=False,
    )


@pytest.mark.parametrize("own_generator", [False, True])
def test_resume_is_bit_identical(tmp_path, own_generator):
    x, y = blobs(64)

    def start(seed):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed) if own_generator else None
        data = DataLoader(NoisyBlobs(x, y), batch_size=16, shuffle=True, generator=generator)
        return mlp(seed=seed, dropout=0.3), data

    model, data = start(0)
    straight = _fit_noisy(model, data, 4, tmp_path / "straight.pt")

    model, data = start(0)
    _fit_noisy(model, data, 2, tmp_path / "resumed.pt")
    model, data = start(99)  # a new session: other weights and random states, all restored from the file
    resumed = _fit_noisy(model, data, 4, tmp_path / "resumed.pt", resume=True)

    straight_state = train.load_checkpoint(tmp_path / "straight.pt")
    assert straight_state["epoch"] == 4
    for name, tensor in straight_state["model"].items():
        assert torch.equal(model.state_dict()[name], tensor), name
    for key in ("epoch", "train_loss", "train_accuracy", "lr"):
        assert resumed[key] == straight[key], key


def test_resume_when_already_done_and_when_no_file_yet(tmp_path):
    x, y = blobs(64)
    path = tmp_path / "run" / "ckpt.pt"
    model = mlp()
    first = train.fit(model, loader(x, y), epochs=2, checkpoint=path, resume=True, device="cpu", progress=False)
    assert len(first) == 2 and path.exists()
    fresh = mlp(seed=5)
    again = train.fit(fresh, loader(x, y), epochs=2, checkpoint=path, resume=True, device="cpu", progress=False)
    assert again["train_loss"] == first["train_loss"]
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_contents_load_with_weights_only(tmp_path):
    x, y = blobs(64)
    model = mlp()
    path = tmp_path / "c.pt"
    history = train.fit(
        model, loader(x, y), epochs=2, val_loader=loader(x, y), checkpoint=path, device="cpu", progress=False
    )
    state = torch.load(path, weights_only=True)  # torch's own safe loader accepts it
    assert state["epoch"] == 2 and state["scheduler"] is None
    assert train.History.from_dict(state["history"]).records == history.records
    for name, tensor in model.state_dict().items():
        assert torch.equal(state["model"][name], tensor)
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


def test_history_round_trip_and_errors():
    history = train.History()
    with pytest.raises(IndexError, match="empty"):
        _ = history.last
    history.append({"epoch": 1, "train_loss": 0.5})
    history.append({"epoch": 2, "train_loss": 0.25, "extra": 7.0})
    copy = train.History.from_dict(history.to_dict())
    assert copy.records == history.records and len(copy) == 2 and copy.last["extra"] == 7.0
    assert copy["extra"][1] == 7.0 and math.isnan(copy["extra"][0])
    with pytest.raises(KeyError, match="val_loss.*train_loss"):
        copy["val_loss"]
    with pytest.raises(ValueError, match="History"):
        train.History.from_dict([1, 2])


def test_failed_save_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    train.save_checkpoint(path, weights=torch.arange(4.0), epoch=1)

    def broken_save(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")  # a crash half way through writing
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(path, weights=torch.zeros(4), epoch=2)
    monkeypatch.undo()
    state = train.load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["weights"], torch.arange(4.0))
    assert os.listdir(tmp_path) == ["c.pt"]


ran = []


class Payload:
    """What an untrusted checkpoint might hold: unpickling it would run code."""

    def __reduce__(self):
        return (ran.append, ("payload ran",))


def test_load_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "surprise": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"evil\.pt.*Python object"):
        train.load_checkpoint(path)
    assert ran == []


def test_load_missing_and_damaged_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt"):
        train.load_checkpoint(tmp_path / "nothing.pt")
    good = train.save_checkpoint(tmp_path / "good.pt", weights=torch.randn(1000))
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_bytes(b"not a checkpoint")
    for name in ("cut.pt", "text.pt"):
        with pytest.raises(RuntimeError, match=rf"{name}.*damaged"):
            train.load_checkpoint(tmp_path / name)


# bad input


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True, "3"])
def test_bad_epochs(epochs):
    x, y = blobs(32)
    with pytest.raises(ValueError, match="epochs"):
        train.fit(mlp(), loader(x, y), epochs=epochs, device="cpu", progress=False)


def test_empty_loader():
    empty = loader(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="train_loader gave no batches"):
        train.fit(mlp(), empty, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="no batches"):
        train.evaluate(mlp(), empty)


def test_model_without_parameters():
    x, y = blobs(32)
    with pytest.raises(ValueError, match="no parameters.*ModuleList"):
        train.fit(nn.Identity(), loader(x, y), epochs=1, device="cpu", progress=False)


def test_float_targets_for_cross_entropy():
    x, y = blobs(32)
    with pytest.raises(TypeError, match=r"y\.long\(\)"):
        train.fit(mlp(), loader(x, y.float()), epochs=1, device="cpu", progress=False)
    with pytest.raises(TypeError, match="long"):
        train.evaluate(mlp(), loader(x, y.float()), loss_fn=nn.CrossEntropyLoss())


def test_other_bad_input(tmp_path):
    x, y = blobs(32)
    with pytest.raises(ValueError, match="checkpoint=path"):
        train.fit(mlp(), loader(x, y), epochs=1, resume=True, device="cpu", progress=False)
    with pytest.raises(TypeError, match="pair"):
        train.fit(mlp(), DataLoader(x, batch_size=8), epochs=1, device="cpu", progress=False)
    not_fit = train.save_checkpoint(tmp_path / "other.pt", weights=torch.ones(2))
    with pytest.raises(ValueError, match="not a checkpoint written by fit"):
        train.fit(mlp(), loader(x, y), epochs=1, checkpoint=not_fit, resume=True, device="cpu", progress=False)


@pytest.mark.skipif(not (torch.cuda.is_available() or torch.backends.mps.is_available()), reason="no accelerator")
def test_fit_on_the_accelerator(tmp_path):
    x, y = blobs()
    model = mlp()
    history = train.fit(
        model,
        loader(x, y, shuffle=True),
        epochs=6,
        val_loader=loader(x, y),
        checkpoint=tmp_path / "c.pt",
        progress=False,
    )  # dlbook.device(), bf16 autocast on cuda
    assert next(model.parameters()).device.type != "cpu"
    assert history.last["val_accuracy"] > 0.9
    state = train.load_checkpoint(tmp_path / "c.pt", map_location="cpu")
    assert all(t.device.type == "cpu" for t in state["model"].values())
