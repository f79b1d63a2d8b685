"""The normalised Laplacian's smallest eigenvalues as critic features."""

import networkx as nx
import numpy as np
import pytest
import torch

from molgen.nn.graph_features import LaplacianSpectrum, laplacian_spectrum


def _dense(graphs, n):
    adj = torch.zeros(len(graphs), n, n, dtype=torch.float64)
    mask = torch.zeros(len(graphs), n, dtype=torch.float64)
    for b, graph in enumerate(graphs):
        k = graph.number_of_nodes()
        adj[b, :k, :k] = torch.from_numpy(nx.to_numpy_array(graph))
        mask[b, :k] = 1
    return adj, mask


def test_matches_networkx_on_padded_graphs_without_isolated_nodes():
    graphs = [
        nx.cycle_graph(5),
        nx.disjoint_union(nx.path_graph(3), nx.complete_graph(4)),  # two components
        nx.gnp_random_graph(9, 0.5, seed=1),
    ]
    assert all(min(dict(g.degree()).values()) > 0 for g in graphs)
    adj, mask = _dense(graphs, 10)
    values = laplacian_spectrum(adj, mask, 5, eps=1e-12)
    for row, graph in zip(values, graphs, strict=True):
        expected = np.sort(np.linalg.eigvalsh(nx.normalized_laplacian_matrix(graph).toarray()))
        np.testing.assert_allclose(row.numpy(), expected[:5], atol=1e-9)
    assert values[1, :2].abs().max() < 1e-9 and values[1, 2] > 1e-3  # one zero per component


def test_padding_sorts_above_the_graphs_eigenvalues():
    adj, mask = _dense([nx.path_graph(3)], 8)
    values = laplacian_spectrum(adj, mask, 8, eps=1e-12)[0]
    np.testing.assert_allclose(values[:3].numpy(), [0.0, 1.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(values[3:].numpy(), 2.0)


def test_first_order_gradient_matches_finite_differences():
    graph = nx.gnp_random_graph(6, 0.6, seed=3)
    adj, mask = _dense([graph], 7)
    adj = (adj * 0.8 + 0.1 * (1 - torch.eye(7))).requires_grad_(True)  # a relaxed graph
    weights = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)

    def objective(a):
        a = (a + a.transpose(1, 2)) / 2
        return (laplacian_spectrum(a, mask, 3) * weights).sum()

    (grad,) = torch.autograd.grad(objective(adj), adj)
    direction = torch.randn(adj.shape, generator=torch.Generator().manual_seed(0), dtype=adj.dtype)
    h = 1e-6
    with torch.no_grad():
        numeric = (objective(adj + h * direction) - objective(adj - h * direction)) / (2 * h)
    assert float((grad * direction).sum()) == pytest.approx(float(numeric), rel=1e-5)


def test_the_gradient_penalty_double_backward_is_finite_on_repeated_eigenvalues():
    # two components and padding: repeated eigenvalues, where eigvalsh's second derivative is
    # infinite
    adj, mask = _dense([nx.disjoint_union(nx.cycle_graph(4), nx.cycle_graph(4))], 10)
    edges = torch.stack([1 - adj, adj], -1).requires_grad_(True)
    spectrum = LaplacianSpectrum(4)
    (grad,) = torch.autograd.grad(spectrum(edges, mask).square().sum(), edges, create_graph=True)
    (second,) = torch.autograd.grad(grad.norm(), edges)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()


def test_module_shapes_and_errors():
    edges = torch.zeros(2, 5, 5, 2)
    edges[..., 0] = 1
    assert LaplacianSpectrum(3)(edges, torch.ones(2, 5)).shape == (2, 3)
    assert LaplacianSpectrum(9)(edges, torch.ones(2, 5)).shape == (2, 5)  # at most N
    with pytest.raises(ValueError, match="k must be"):
        LaplacianSpectrum(0)
    with pytest.raises(ValueError, match="mask"):
        laplacian_spectrum(edges[..., 1], torch.ones(2, 4), 2)
