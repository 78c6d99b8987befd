"""Chapter 13's models: recommenders, text classifiers, saving them, and the script that serves one."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dlbook.models import (
    LSTMClassifier,
    MatrixFactorization,
    NeuralCF,
    TransformerClassifier,
    WordVocabulary,
    load_classifier,
    save_classifier,
)
from dlbook.train import fit

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "predict_sentiment.py"


@pytest.mark.parametrize("kind", [MatrixFactorization, NeuralCF])
def test_score_all_agrees_with_forward(kind):
    torch.manual_seed(0)
    model = kind(5, 7, dim=4)
    users = torch.tensor([4, 0, 2])
    pairs = torch.stack([users.repeat_interleave(7), torch.arange(7).repeat(3)], dim=1)
    assert torch.allclose(model.score_all(users), model(pairs).view(3, 7), atol=1e-6)
    with pytest.raises(ValueError, match="item ids must be in"):
        model(torch.tensor([[0, 7]]))


def test_matrix_factorization_learns_who_likes_what():
    torch.manual_seed(0)
    users, items = torch.arange(20).repeat_interleave(5), torch.arange(20).repeat_interleave(5) % 2 * 5
    items = items + torch.arange(5).repeat(20)  # even users rate items 0-4, odd users items 5-9
    x = torch.cat([torch.stack([users, items], 1), torch.stack([users, (items + 5) % 10], 1)])
    y = torch.cat([torch.ones(100), torch.zeros(100)])
    model = MatrixFactorization(20, 10, dim=4)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50, shuffle=True)
    fit(model, loader, epochs=40, optimizer=torch.optim.Adam(model.parameters(), 0.05),
        loss_fn=F.binary_cross_entropy_with_logits, progress=False)  # fmt: skip
    scores = model.score_all(torch.tensor([0, 1]))
    assert scores[0, :5].min() > scores[0, 5:].max() and scores[1, 5:].min() > scores[1, :5].max()


def test_vocabulary():
    vocab = WordVocabulary.from_texts(["Not bad, not bad at all!", "bad"], min_count=2)
    assert vocab.words == ["bad", "not"] and len(vocab) == 4
    assert vocab.encode(["not BAD", "", "unseen words"]).tolist() == [[3, 2], [1, 0], [1, 1]]
    with pytest.raises(TypeError, match="list of strings"):
        vocab.encode("not bad")


@pytest.mark.parametrize("kind", [LSTMClassifier, TransformerClassifier])
def test_classifier_ignores_padding(kind):
    torch.manual_seed(0)
    model = kind(20, num_classes=3).eval()
    ids = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    assert model(ids).shape == (2, 3)
    assert torch.allclose(model(ids), model(padded), atol=1e-5)
    with pytest.raises(ValueError, match="word ids must be in"):
        model(torch.tensor([[20]]))


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    texts, labels = ["good fun", "great fun", "dull mess", "awful dull"] * 8, torch.tensor([1, 1, 0, 0] * 8)
    vocab = WordVocabulary.from_texts(texts, min_count=1)
    model = TransformerClassifier(len(vocab), embed_dim=16, num_heads=2, num_layers=1, dropout=0.0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(vocab.encode(texts), labels), batch_size=8)
    fit(model, loader, epochs=15, optimizer=torch.optim.Adam(model.parameters(), 1e-2), progress=False)
    path = tmp_path / "sentiment.pt"
    save_classifier(path, model, vocab, ["rotten", "fresh"])
    return path, model.eval(), vocab


def test_save_and_load_classifier(saved):
    path, model, vocab = saved
    loaded, loaded_vocab, classes = load_classifier(path)
    ids = vocab.encode(["good fun", "dull"])
    assert classes == ["rotten", "fresh"] and loaded_vocab.words == vocab.words
    assert torch.equal(loaded(ids), model(ids)) and not loaded.training


def run(*args, stdin=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True, text=True)


def test_script_predicts(saved):
    path = str(saved[0])
    done = run("--model", path, "good fun", "awful dull mess")
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert [line[0] for line in lines] == ["fresh", "rotten"]
    assert [line[2] for line in lines] == ["good fun", "awful dull mess"]
    assert all(0.5 <= float(line[1]) <= 1 for line in lines)
    piped = run("--model", path, stdin="great fun\ndull\n")
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 2


def test_script_explains_bad_input(saved, tmp_path):
    path = str(saved[0])
    empty = run("--model", path, "fine", "  ")
    assert empty.returncode == 2 and "review 2 is empty" in empty.stderr and not empty.stdout
    assert run("--model", path, stdin="").returncode == 2
    long = run("--model", path, "x" * 50, "--max-chars", "10")
    assert long.returncode == 2 and "--max-chars" in long.stderr
    missing = run("--model", str(tmp_path / "nope.pt"), "good")
    assert missing.returncode == 1 and "no model file" in missing.stderr
    not_torch = tmp_path / "notes.txt"
    not_torch.write_text("hello")
    wrong = run("--model", str(not_torch), "good")
    assert wrong.returncode == 1 and "not a torch checkpoint" in wrong.stderr
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert "not one written by save_classifier" in run("--model", str(other), "good").stderr
