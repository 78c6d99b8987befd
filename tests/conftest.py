"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests use tiny tensors, which run fastest on one thread; two pytest workers share two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path_factory):
    """No test may reach the internet: data "downloads" point at an empty local folder unless a test
    points them at local files of its own."""
    from dlbook.data import images

    nowhere = tmp_path_factory.getbasetemp() / "no-internet"
    monkeypatch.setattr(images, "FASHION_MNIST_URL", nowhere.as_uri() + "/")
