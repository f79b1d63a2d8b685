"""DenseRelationalConv against PyG's sparse RGCNConv and a loop reference; GraphAggregation."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import RGCNConv
from torch_geometric.utils import dense_to_sparse

from molgen.nn.rgcn import DenseRelationalConv, GraphAggregation

B, N, F_IN, F_OUT, R = 3, 6, 4, 5, 4


def random_graph(generator, in_channels=F_IN, *, symmetric=False):
    """Node features, one-hot relation tensor [B, N, N, R] (every pair has one relation, the
    diagonal included) and the integer relation per pair."""
    x = torch.randn(B, N, in_channels, generator=generator, dtype=torch.float64)
    types = torch.randint(R, (B, N, N), generator=generator)
    if symmetric:
        types = torch.triu(types) + torch.triu(types, 1).transpose(1, 2)
    return x, F.one_hot(types, R).double(), types


def rgcn_like(conv: DenseRelationalConv) -> RGCNConv:
    sparse = RGCNConv(
        conv.in_channels,
        conv.out_channels,
        R,
        aggr=conv.aggr,
        root_weight=conv.root is not None,
        bias=conv.bias is not None,
    ).double()
    with torch.no_grad():
        for name in ("weight", "root", "bias"):
            if getattr(conv, name) is not None:
                getattr(sparse, name).copy_(getattr(conv, name))
    return sparse


def sparse_reference(conv, x, types, mask=None):
    """RGCNConv on the same graph: dense_to_sparse gives (i, j) pairs, edge_type = relation.

    PyG messages flow from edge_index[0] to edge_index[1]; the dense layer lets node i aggregate
    over j with weight adj[i, j], so the edges are flipped. With a mask (valid nodes first, as
    from to_dense_batch), masked nodes and their edges are dropped, as if they did not exist.
    """
    value = types + 1
    if mask is None:
        x_flat = x.reshape(B * N, -1)
    else:
        value = value * (mask[:, :, None] & mask[:, None, :])
        x_flat = x[mask]
    edge_index, edge_value = dense_to_sparse(value, mask)
    return rgcn_like(conv)(x_flat, edge_index.flip(0), edge_value - 1)


# Both evaluation orders: aggregate first when in < out, transform first otherwise.
@pytest.mark.parametrize("in_channels, out_channels", [(4, 5), (5, 4)])
@pytest.mark.parametrize("aggr", ["add", "mean"])
@pytest.mark.parametrize(
    "root_weight, bias", [(True, True), (False, True), (True, False), (False, False)]
)
def test_equals_pyg_rgcnconv_on_directed_one_hot_graphs(
    in_channels, out_channels, aggr, root_weight, bias
):
    generator = torch.Generator().manual_seed(1)
    x, adj, types = random_graph(generator, in_channels)
    conv = DenseRelationalConv(
        in_channels, out_channels, R, aggr=aggr, root_weight=root_weight, bias=bias
    ).double()
    if bias:
        torch.nn.init.normal_(conv.bias)  # zero at init; make it matter
    expected = sparse_reference(conv, x, types)
    torch.testing.assert_close(conv(x, adj).reshape(-1, out_channels), expected)


@pytest.mark.parametrize("in_channels, out_channels", [(4, 5), (5, 4)])
@pytest.mark.parametrize("aggr", ["add", "mean"])
def test_masked_nodes_are_as_if_absent(in_channels, out_channels, aggr):
    generator = torch.Generator().manual_seed(2)
    x, adj, types = random_graph(generator, in_channels, symmetric=True)
    num_nodes = torch.tensor([N, 1, N // 2])
    mask = torch.arange(N) < num_nodes[:, None]
    conv = DenseRelationalConv(in_channels, out_channels, R, aggr=aggr).double()
    out = conv(x, adj, mask)
    torch.testing.assert_close(out[mask], sparse_reference(conv, x, types, mask))
    assert out[~mask].abs().max() == 0
    # A float 0/1 mask is the same mask.
    torch.testing.assert_close(conv(x, adj, mask.double()), out)


@pytest.mark.parametrize("in_channels, out_channels", [(4, 5), (5, 4)])
def test_soft_adjacency_and_soft_mask_match_loop_reference(in_channels, out_channels):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(B, N, in_channels, generator=generator, dtype=torch.float64)
    adj = torch.rand(B, N, N, R, generator=generator, dtype=torch.float64).softmax(-1)
    mask = torch.rand(B, N, generator=generator, dtype=torch.float64)
    for aggr in ("add", "mean"):
        conv = DenseRelationalConv(in_channels, out_channels, R, aggr=aggr).double()
        torch.nn.init.normal_(conv.bias)
        expected = torch.zeros(B, N, out_channels, dtype=torch.float64)
        for b in range(B):
            for i in range(N):
                total = mask[b, i] * x[b, i] @ conv.root + conv.bias
                for r in range(R):
                    degree = sum(adj[b, i, j, r] * mask[b, j] for j in range(N))
                    scale = 1.0 if aggr == "add" else 1.0 / max(float(degree), 1.0)
                    for j in range(N):
                        total = (
                            total + scale * adj[b, i, j, r] * mask[b, j] * x[b, j] @ conv.weight[r]
                        )
                expected[b, i] = mask[b, i] * total
        torch.testing.assert_close(conv(x, adj, mask), expected)


@pytest.mark.parametrize("in_channels, out_channels", [(2, 3), (3, 2)])
def test_gradients_match_finite_differences(in_channels, out_channels):
    generator = torch.Generator().manual_seed(4)
    conv = DenseRelationalConv(in_channels, out_channels, 3, aggr="mean").double()
    x = torch.randn(2, 4, in_channels, generator=generator, dtype=torch.float64, requires_grad=True)
    adj = torch.rand(2, 4, 4, 3, generator=generator, dtype=torch.float64)
    adj = (adj * 2).requires_grad_(True)  # degrees above 1, so the mean's division is active
    mask = torch.rand(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x, adj, mask))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="aggr"):
        DenseRelationalConv(2, 2, 2, aggr="max")
    with pytest.raises(ValueError, match="num_relations"):
        DenseRelationalConv(2, 2, 0)
    conv = DenseRelationalConv(2, 3, 2)
    with pytest.raises(ValueError, match="adj must have shape"):
        conv(torch.zeros(1, 4, 2), torch.zeros(1, 4, 4, 3))
    with pytest.raises(ValueError, match="mask must have shape"):
        conv(torch.zeros(1, 4, 2), torch.zeros(1, 4, 4, 2), torch.ones(1, 5, dtype=torch.bool))


def test_reset_parameters_and_repr():
    conv = DenseRelationalConv(2, 3, 4, aggr="mean", bias=False)
    assert conv.bias is None
    before = conv.weight.detach().clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.weight)
    bound = (6 / (2 + 3)) ** 0.5  # Glorot-uniform over each relation's [2, 3] matrix
    assert conv.weight.abs().max() <= bound
    assert repr(conv) == (
        "DenseRelationalConv(2, 3, num_relations=4, root_weight=True, bias=False, aggr='mean')"
    )
    assert GraphAggregation(7, 8).extra_repr() == "7, 8"


def test_graph_aggregation_formula_and_mask():
    generator = torch.Generator().manual_seed(5)
    layer = GraphAggregation(F_IN, F_OUT).double()
    torch.nn.init.normal_(layer.lin.bias)
    x = torch.randn(B, N, F_IN, generator=generator, dtype=torch.float64)
    mask = torch.rand(B, N, generator=generator) < 0.5
    gate = torch.sigmoid(x @ layer.lin.weight[:F_OUT].T + layer.lin.bias[:F_OUT])
    value = torch.tanh(x @ layer.lin.weight[F_OUT:].T + layer.lin.bias[F_OUT:])
    expected = torch.tanh((gate * value * mask[..., None]).sum(1))
    torch.testing.assert_close(layer(x, mask), expected)
    # Masked nodes' features do not matter.
    noisy = torch.where(mask[..., None], x, 100 * torch.randn_like(x))
    torch.testing.assert_close(layer(noisy, mask), expected)
    assert layer(x).shape == (B, F_OUT)
