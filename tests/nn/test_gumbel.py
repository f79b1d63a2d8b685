"""molgen.nn.GumbelSoftmax / SymmetricGumbelSoftmax / BudgetedSymmetricGumbelSoftmax modules and
the torch-only import."""

import subprocess
import sys

import pytest
import torch

import molgen.nn as mnn
from molgen.nn import functional as F


def test_module_matches_functional_in_training_mode():
    logits = torch.randn(32, 9, 5)
    mask = torch.rand(32, 9, 5) > 0.3
    mask[..., 0] = True
    layer = mnn.GumbelSoftmax(estimator="gumbel_rao", gumbel_rao_samples=4)
    assert layer.training
    out = layer(logits, 0.5, mask=mask, generator=torch.Generator().manual_seed(0))
    ref = F.gumbel_softmax(
        logits,
        0.5,
        estimator="gumbel_rao",
        gumbel_rao_samples=4,
        mask=mask,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(out, ref)


def test_learnable_tau_gets_gradient_through_module():
    layer = mnn.GumbelSoftmax(hard=True)
    log_tau = torch.nn.Parameter(torch.tensor(0.0))
    logits = torch.randn(16, 4, requires_grad=True)
    (layer(logits, log_tau.exp()) * torch.randn(16, 4)).sum().backward()
    assert log_tau.grad is not None and torch.isfinite(log_tau.grad) and log_tau.grad != 0


@pytest.mark.parametrize("hard", [True, False])
def test_eval_mode_sample_keeps_sampling(hard):
    layer = mnn.GumbelSoftmax(hard=hard).eval()
    logits = torch.zeros(2000, 4)
    out = layer(logits, 1.0)
    assert out.argmax(-1).unique().numel() == 4  # random, not the mode


def test_eval_mode_argmax_is_deterministic_mode():
    layer = mnn.GumbelSoftmax(hard=False, eval_mode="argmax", dim=1)
    logits = torch.randn(10, 6, 3)
    mask = torch.ones(10, 6, 3, dtype=torch.bool)
    mask[:, 2] = False
    assert not torch.equal(layer(logits), layer(logits))  # training: samples
    layer.eval()
    out = layer(logits, 0.5, mask=mask)
    assert torch.equal(out, layer(logits, 0.5, mask=mask))
    assert torch.equal(out.argmax(1), logits.masked_fill(~mask, -1e9).argmax(1))
    layer.train()
    assert not torch.equal(layer(logits), layer(logits))


def test_symmetric_module_train_and_eval():
    layer = mnn.SymmetricGumbelSoftmax(estimator="reinmax", eval_mode="argmax")
    logits = torch.randn(4, 6, 6, 5, requires_grad=True)
    node_mask = torch.rand(4, 6) > 0.2
    gen = torch.Generator().manual_seed(1)
    adj = layer(logits, 0.5, node_mask=node_mask, generator=gen)
    ref = F.symmetric_gumbel_softmax(
        logits,
        0.5,
        estimator="reinmax",
        node_mask=node_mask,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(adj, ref)
    adj.sum().backward()
    assert logits.grad is not None
    layer.eval()
    mode = layer(logits, 0.5, node_mask=node_mask)
    assert torch.equal(mode, F.symmetric_one_hot_argmax(logits, node_mask=node_mask))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimator": "straight"}, "estimator"),
        ({"hard": False, "estimator": "gumbel_rao"}, "hard"),
        ({"hard": 1}, "hard"),
        ({"gumbel_rao_samples": 0}, "gumbel_rao_samples"),
        ({"gumbel_rao_samples": 2.0}, "gumbel_rao_samples"),
        ({"eval_mode": "mode"}, "eval_mode"),
        ({"dim": 1.0}, "dim"),
    ],
)
def test_constructor_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mnn.GumbelSoftmax(**kwargs)


def test_symmetric_constructor_validates():
    with pytest.raises(ValueError, match="estimator"):
        mnn.SymmetricGumbelSoftmax(estimator="st ")


def test_repr_shows_settings():
    assert repr(mnn.GumbelSoftmax()) == (
        "GumbelSoftmax(hard=True, estimator='st', eval_mode='sample')"
    )
    assert repr(mnn.GumbelSoftmax(estimator="gumbel_rao", gumbel_rao_samples=3, dim=1)) == (
        "GumbelSoftmax(hard=True, estimator='gumbel_rao', gumbel_rao_samples=3, "
        "eval_mode='sample', dim=1)"
    )
    assert repr(mnn.SymmetricGumbelSoftmax(hard=False, eval_mode="argmax")) == (
        "SymmetricGumbelSoftmax(hard=False, estimator='st', eval_mode='argmax')"
    )
    assert repr(mnn.BudgetedSymmetricGumbelSoftmax(connect=True)) == (
        "BudgetedSymmetricGumbelSoftmax(hard=True, estimator='st', eval_mode='sample', "
        "connect='join', max_cycle=None)"
    )
    # the older name of the tree rule is read as its canonical name
    assert repr(mnn.BudgetedSymmetricGumbelSoftmax(connect="earlier", max_cycle=7)).endswith(
        "connect='tree', max_cycle=7)"
    )
    with pytest.raises(ValueError, match="max_cycle"):
        mnn.BudgetedSymmetricGumbelSoftmax(max_cycle=1)


def test_budgeted_module_train_and_eval():
    logits = torch.randn(16, 15, 4)
    budget = torch.randint(0, 5, (16, 6)).float()
    cost = torch.tensor([0.0, 1.0, 2.0, 3.0])
    node_mask = torch.rand(16, 6) > 0.2
    layer = mnn.BudgetedSymmetricGumbelSoftmax(estimator="reinmax", connect="join")
    out = layer(logits, budget, cost, 0.5, node_mask, torch.Generator().manual_seed(2))
    ref = mnn.budgeted_symmetric_gumbel_softmax(
        logits,
        budget,
        cost,
        0.5,
        estimator="reinmax",
        node_mask=node_mask,
        connect="join",
        generator=torch.Generator().manual_seed(2),
    )
    assert torch.equal(out, ref)
    layer.eval_mode = "argmax"
    layer.eval()
    mode = mnn.budgeted_symmetric_one_hot_argmax(
        logits, budget, cost, node_mask=node_mask, connect="join"
    )
    assert torch.equal(layer(logits, budget, cost, node_mask=node_mask), mode)
    assert torch.all(cost[mode.argmax(-1)].sum(-1) <= budget)


def test_budgeted_constructor_validates_connect():
    with pytest.raises(ValueError, match="connect"):
        mnn.BudgetedSymmetricGumbelSoftmax(connect="spanning")


def test_modules_have_no_parameters_or_state():
    layer = mnn.GumbelSoftmax()
    layer.reset_parameters()
    assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_import_needs_only_torch():
    code = (
        "import sys, molgen.nn, molgen.nn.functional, molgen.nn.schedules\n"
        "heavy = [m for m in ('pydantic', 'torch_geometric', 'rdkit', 'wandb', 'yaml') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_is_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        _ = mnn.NoSuchLayer
