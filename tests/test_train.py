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

import dlbook
from dlbook import progress, train
from dlbook.checkpoint import load_checkpoint, save_checkpoint


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
    monkeypatch.setattr(progress, "in_jupyter", lambda: True)
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

    straight_state = load_checkpoint(tmp_path / "straight.pt")
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
    save_checkpoint(path, weights=torch.arange(4.0), epoch=1)

    def broken_save(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")  # a crash half way through writing
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, weights=torch.zeros(4), epoch=2)
    monkeypatch.undo()
    state = load_checkpoint(path)
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
        load_checkpoint(path)
    assert ran == []


def test_load_missing_and_damaged_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    good = save_checkpoint(tmp_path / "good.pt", weights=torch.randn(1000))
    data = good.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_bytes(b"not a checkpoint")
    for name in ("cut.pt", "text.pt"):
        with pytest.raises(RuntimeError, match=rf"{name}.*damaged"):
            load_checkpoint(tmp_path / name)


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
    not_fit = save_checkpoint(tmp_path / "other.pt", weights=torch.ones(2))
    with pytest.raises(ValueError, match="not a checkpoint written by fit"):
        train.fit(mlp(), loader(x, y), epochs=1, checkpoint=not_fit, resume=True, device="cpu", progress=False)


@pytest.mark.skipif(not (torch.cuda.is_available() or torch.backends.mps.is_available()), reason="no accelerator")
def test_fit_on_the_accelerator(tmp_path):
    x, y = blobs()
    model = mlp().to(dlbook.device())
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
    state = load_checkpoint(tmp_path / "c.pt", map_location="cpu")
    assert all(t.device.type == "cpu" for t in state["model"].values())


# early stopping and per-epoch metrics


def _snapshot(model: nn.Module) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def _fit_on_a_curve(curve, early_stopping, epochs=10):
    """Fit blobs while a metric replays ``curve``; return the History, the model, each epoch's weights."""
    x, y = blobs(64)
    model = mlp()
    values, weights = iter(curve), []

    def replay(m):
        weights.append(_snapshot(m))  # the weights this epoch's value belongs to
        return next(values)

    history = train.fit(
        model,
        loader(x, y, batch_size=16),
        epochs=epochs,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        early_stopping=early_stopping,
        metrics={"score": replay},
        device="cpu",
        progress=False,
    )
    return history, model, weights


def _assert_holds(model, weights):
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights():
    # best at epoch 3; epochs 4, 5, 6 do not beat 3.0, so with patience 3 training ends after epoch 6
    curve = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0, 0.5, 0.1]
    stopper = train.EarlyStopping(patience=3, metric="score")
    history, model, weights = _fit_on_a_curve(curve, stopper)
    assert history["epoch"] == [1, 2, 3, 4, 5, 6] and history["score"] == curve[:6]
    assert stopper.best_epoch(history) == 3
    _assert_holds(model, weights[2])
    assert not torch.equal(model.state_dict()["0.weight"], weights[5]["0.weight"])  # it did move on after 3


def test_early_stopping_max_mode_and_min_delta():
    # with min_delta 0.02: 0.6 improves on 0.5, 0.605 does not, 0.65 does (epoch 4), 0.64 and 0.66 do not
    curve = [0.5, 0.6, 0.605, 0.65, 0.64, 0.66, 0.9, 0.9, 0.9, 0.9]
    stopper = train.EarlyStopping(patience=2, metric="score", mode="max", min_delta=0.02)
    history, model, weights = _fit_on_a_curve(curve, stopper)
    assert len(history) == 6 and stopper.best_epoch(history) == 4
    _assert_holds(model, weights[3])
    without_delta = train.EarlyStopping(patience=2, metric="score", mode="max")
    assert without_delta.best_epoch(history) == 6 and not without_delta.should_stop(history)


def test_running_out_of_epochs_still_restores_the_best():
    curve = [3.0, 2.0, 1.0, 1.5, 1.6]
    stopper = train.EarlyStopping(patience=3, metric="score")
    history, model, weights = _fit_on_a_curve(curve, stopper, epochs=5)
    assert len(history) == 5
    _assert_holds(model, weights[2])
    history, model, weights = _fit_on_a_curve(curve[:3], stopper, epochs=3)
    _assert_holds(model, weights[2])  # the last epoch was the best: nothing to undo


def mismatched_blobs():
    """Training and validation sets whose labels disagree, so the validation loss soon rises."""
    x, y = blobs(96)
    return loader(x[:64], y[:64], batch_size=16, shuffle=True), loader(x[64:], (y[64:] + 1) % 3)


def test_early_stopping_on_val_loss_keeps_the_lowest_val_loss():
    train_loader, val_loader = mismatched_blobs()
    model = mlp()
    history = train.fit(
        model,
        train_loader,
        epochs=20,
        val_loader=val_loader,
        early_stopping=train.EarlyStopping(patience=2),
        device="cpu",
        progress=False,
    )
    assert len(history) < 20
    assert train.evaluate(model, val_loader)["loss"] == min(history["val_loss"])
    assert history["val_loss"].index(min(history["val_loss"])) == len(history) - 3  # then two worse epochs


def test_resume_keeps_the_early_stopping_state(tmp_path):
    def run(epochs, path, seed=0, resume=False):
        torch.manual_seed(seed)
        train_loader, val_loader = mismatched_blobs()
        model = mlp(seed=seed)
        history = train.fit(
            model,
            train_loader,
            epochs=epochs,
            val_loader=val_loader,
            early_stopping=train.EarlyStopping(patience=3),
            checkpoint=path,
            resume=resume,
            device="cpu",
            progress=False,
        )
        return history, model

    straight, straight_model = run(20, tmp_path / "straight.pt")
    assert 3 < len(straight) < 20
    best = straight["val_loss"].index(min(straight["val_loss"])) + 1

    # cut after the best epoch, before patience ran out; a new session resumes from the file
    interrupted, _ = run(best + 1, tmp_path / "resumed.pt")
    assert len(interrupted) == best + 1
    resumed, resumed_model = run(20, tmp_path / "resumed.pt", seed=7, resume=True)
    assert resumed["epoch"] == straight["epoch"]
    assert resumed["val_loss"] == straight["val_loss"]
    _assert_holds(resumed_model, straight_model.state_dict())

    again, again_model = run(20, tmp_path / "resumed.pt", seed=9, resume=True)  # stopped: no new epoch
    assert len(again) == len(straight)
    _assert_holds(again_model, straight_model.state_dict())


def test_metrics_are_recorded_every_epoch_in_eval_mode(tmp_path):
    x, y = blobs(96)
    test_loader = loader(x[64:], y[64:])
    model = mlp(dropout=0.5)
    seen = []

    def test_accuracy(m):
        seen.append((m.training, torch.is_grad_enabled()))
        return train.evaluate(m, test_loader)["accuracy"]

    def weight_norm(m):
        return torch.cat([p.flatten() for p in m.parameters()]).norm()  # a 0-d tensor is fine

    history = train.fit(
        model,
        loader(x[:64], y[:64], batch_size=16),
        epochs=3,
        metrics={"test_accuracy": test_accuracy, "weight_norm": weight_norm},
        checkpoint=tmp_path / "c.pt",
        device="cpu",
        progress=False,
    )
    assert seen == [(False, False)] * 3 and model.training
    assert all(isinstance(v, float) for v in history["test_accuracy"] + history["weight_norm"])
    model.eval()
    with torch.no_grad():
        expected_accuracy = (model(x[64:]).argmax(1) == y[64:]).double().mean().item()
        expected_norm = torch.sqrt(sum((p**2).sum() for p in model.parameters())).item()
    assert history.last["test_accuracy"] == pytest.approx(expected_accuracy, abs=1e-12)
    assert history.last["weight_norm"] == pytest.approx(expected_norm, rel=1e-6)
    stored = train.History.from_dict(load_checkpoint(tmp_path / "c.pt")["history"])
    assert stored["weight_norm"] == history["weight_norm"]


def test_early_stopping_and_metrics_bad_input(tmp_path):
    x, y = blobs(32)
    data = loader(x, y)

    def fit(**kwargs):
        return train.fit(mlp(), data, epochs=2, device="cpu", progress=False, **kwargs)

    for bad in ({"patience": 0}, {"patience": 2.5}, {"patience": True}):
        with pytest.raises(ValueError, match="patience"):
            train.EarlyStopping(**bad)
    with pytest.raises(ValueError, match="'min'.*'max'"):
        train.EarlyStopping(mode="maximum")
    for bad in (-0.1, math.nan, "0"):
        with pytest.raises(ValueError, match="min_delta"):
            train.EarlyStopping(min_delta=bad)
    with pytest.raises(TypeError, match=r"EarlyStopping\(\.\.\.\)"):
        fit(early_stopping=5)
    with pytest.raises(ValueError, match="'val_loss', which needs val_loader"):
        fit(early_stopping=train.EarlyStopping())
    with pytest.raises(ValueError, match="'train_accurcy'.*train_accuracy"):
        fit(early_stopping=train.EarlyStopping(metric="train_accurcy"))
    with pytest.raises(TypeError, match=r"dict \{name: fn\(model\) -> float\}"):
        fit(metrics=[lambda m: 1.0])
    with pytest.raises(TypeError, match="dict"):
        fit(metrics={"score": 1.0})
    with pytest.raises(ValueError, match=r"\['val_loss'\] clash"):
        fit(metrics={"val_loss": lambda m: 1.0})
    with pytest.raises(TypeError, match="'score' returned list, not a number"):
        fit(metrics={"score": lambda m: [1.0, 2.0]})
    path = tmp_path / "plain.pt"
    train.fit(mlp(), data, epochs=1, checkpoint=path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="without early stopping"):
        fit(checkpoint=path, resume=True, early_stopping=train.EarlyStopping(metric="train_loss"))


# where a model runs, per-step schedules, and the public pieces of the loop


def test_model_device_is_where_the_parameters_are_and_never_a_silent_move():
    model = mlp()
    assert train.model_device(model) == torch.device("cpu")
    assert train.model_device(model, "cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"model is on cpu.*model.to\(device\)"):
        train.model_device(model, "meta")
    with pytest.raises(ValueError, match=r"model is on cpu.*model.to\(device\)"):
        train.fit(model, loader(*blobs(32)), epochs=1, device="meta", progress=False)
    split = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2, device="meta"))
    with pytest.raises(ValueError, match="spread over"):
        train.model_device(split)
    assert train.model_device(nn.ReLU()) == torch.device("cpu")  # nothing to place: runs where asked
    assert train.model_device(nn.ReLU(), "meta") == torch.device("meta")
    with pytest.raises(ValueError, match="no parameters to train"):
        train.fit(nn.Flatten(), loader(*blobs(32)), epochs=1, progress=False)


def test_a_scheduler_can_step_after_every_optimizer_step():
    x, y = blobs(64)
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    history = train.fit(
        model, loader(x, y, batch_size=16), epochs=3, optimizer=optimizer, scheduler=scheduler,
        scheduler_step="step", progress=False,
    )  # fmt: skip
    assert scheduler.last_epoch == 12  # 4 batches an epoch, 3 epochs
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 13)
    assert history["lr"] == pytest.approx([0.1, 0.1 / 5, 0.1 / 9])  # the rate of each epoch's first step
    with pytest.raises(ValueError, match="'epoch' or 'step'"):
        train.fit(mlp(), loader(x, y), epochs=1, scheduler=scheduler, scheduler_step="batch", progress=False)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        train.fit(mlp(), loader(x, y), epochs=1, scheduler=plateau, scheduler_step="step", progress=False)


def test_fit_is_train_epoch_then_evaluate():
    """fit's epochs are train_epoch's: the same weights and numbers from the public pieces by hand."""
    x, y = blobs(64)
    model, twin = mlp(seed=2), mlp(seed=2)
    history = train.fit(model, loader(x, y, batch_size=16), epochs=2, val_loader=loader(x, y), progress=False)
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    for epoch in range(2):
        record = train.train_epoch(twin, loader(x, y, batch_size=16), optimizer)
        assert record["train_loss"] == history["train_loss"][epoch]
    assert train.evaluate(twin, loader(x, y)) == {
        "loss": history.last["val_loss"],
        "accuracy": history.last["val_accuracy"],
    }
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))


def test_max_grad_norm_clips_every_step_like_clip_grad_norm():
    x, y = blobs(64)
    model, twin = mlp(seed=3), mlp(seed=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train.fit(model, loader(x, y, batch_size=16), epochs=2, optimizer=optimizer, max_grad_norm=0.1, progress=False)
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.5)
    for _ in range(2):
        for xb, yb in loader(x, y, batch_size=16):
            twin_optimizer.zero_grad()
            F.cross_entropy(twin(xb), yb).backward()
            assert nn.utils.clip_grad_norm_(twin.parameters(), 0.1) > 0.1  # the clipping does something
            twin_optimizer.step()
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    for bad in (0, -1.0, math.inf, "1"):
        with pytest.raises(ValueError, match="max_grad_norm"):
            train.fit(mlp(), loader(x, y), epochs=1, max_grad_norm=bad, progress=False)
