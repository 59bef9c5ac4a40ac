"""The notebook training loop."""

import pytest
import torch

import course_utils as cu


def _problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    return loader


def _loss(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def test_train_reduces_the_loss_and_records_history():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist = cu.train(model, _problem(), _loss, opt, epochs=20, eval_fn=lambda m: 1.0)
    assert len(hist["loss"]) == 20 and hist["eval"] == [1.0] * 20
    assert hist["loss"][-1] < 1e-2 * hist["loss"][0]
    assert not model.training


def test_train_records_named_evaluations():
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    norms = lambda m: {"weight norm": m.weight.norm(), "bias": m.bias.item()}  # noqa: E731
    hist = cu.train(model, _problem(), _loss, opt, epochs=3, eval_fn=norms)
    assert set(hist) == {"loss", "weight norm", "bias"} and len(hist["weight norm"]) == 3
    assert hist["weight norm"][-1] == pytest.approx(model.weight.norm().item())
    with pytest.raises(ValueError, match="'loss'"):
        cu.train(model, _problem(), _loss, opt, epochs=1, eval_fn=lambda m: {"loss": 0.0})


def test_train_stops_on_divergence():
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(FloatingPointError, match="learning rate"):
        cu.train(model, _problem(), _loss, opt, epochs=50)
