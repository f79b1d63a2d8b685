"""Structure features against brute-force counts: cycles (networkx and enumeration of vertex
sequences), valence histograms and aromatic counts (loops over atoms and bonds); smoothness
(gradcheck), permutation invariance and masking."""

import itertools
import math

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

from molgen.nn import GraphStructureFeatures
from molgen.nn.graph_features import cycle_counts, graph_structure_features, soft_histogram

LENGTHS = (3, 4, 5, 6)
ORDERS = torch.tensor([0.0, 1.0, 2.0, 3.0, 1.5], dtype=torch.float64)  # class 4: aromatic


def random_symmetric(nodes, generator, *, density=None, batch=()):
    """Symmetric matrices with zero diagonal: binary with ``density``, else uniform weights."""
    values = torch.rand(*batch, nodes, nodes, generator=generator, dtype=torch.float64)
    if density is not None:
        values = (values < density).double()
    upper = values.triu(1)
    return upper + upper.transpose(-1, -2)


def networkx_cycles(adj):
    graph = nx.from_numpy_array(adj.numpy())
    counts = dict.fromkeys(LENGTHS, 0)
    for cycle in nx.simple_cycles(graph, length_bound=max(LENGTHS)):
        if len(cycle) >= 3:
            counts[len(cycle)] += 1
    return [counts[k] for k in LENGTHS]


def expected_cycles(weights, length):
    """Sum over sequences of distinct vertices of the product of the weights around the cycle,
    divided by the 2k sequences of each cycle."""
    total = 0.0
    for vertices in itertools.permutations(range(weights.shape[0]), length):
        total += math.prod(
            weights[vertices[i], vertices[(i + 1) % length]].item() for i in range(length)
        )
    return total / (2 * length)


@pytest.mark.parametrize("density", [0.3, 0.5, 0.8])
def test_cycle_counts_equal_networkx_on_random_graphs(density):
    generator = torch.Generator().manual_seed(int(density * 10))
    adj = random_symmetric(9, generator, density=density, batch=(4,))
    counts = cycle_counts(adj)
    assert counts.shape == (4, 4)
    expected = torch.tensor([networkx_cycles(a) for a in adj], dtype=torch.float64)
    assert expected.sum() > 0
    torch.testing.assert_close(counts, expected)


def test_cycle_counts_of_rings_and_fused_rings():
    """Benzene, naphthalene (two 6-rings; its 10-cycle is beyond the lengths counted) and the
    cube graph (six 4-cycles, and 6-cycles that are not faces)."""
    for graph in (nx.cycle_graph(6), nx.lattice.hexagonal_lattice_graph(1, 2), nx.cubical_graph()):
        adj = torch.tensor(nx.to_numpy_array(graph))
        torch.testing.assert_close(
            cycle_counts(adj), torch.tensor(networkx_cycles(adj), dtype=torch.float64)
        )
    naphthalene = torch.tensor(nx.to_numpy_array(nx.lattice.hexagonal_lattice_graph(1, 2)))
    torch.testing.assert_close(
        cycle_counts(naphthalene), torch.tensor([0, 0, 0, 2], dtype=torch.float64)
    )


def test_cycle_counts_of_weighted_graphs_are_expected_counts():
    """On weights in [0, 1], the count is the sum over vertex sequences (the expected number of
    cycles when each edge is present with its weight); the diagonal is ignored."""
    generator = torch.Generator().manual_seed(0)
    weights = random_symmetric(7, generator)
    with_loops = weights + torch.diag(torch.rand(7, generator=generator, dtype=torch.float64))
    expected = torch.tensor([expected_cycles(weights, k) for k in LENGTHS], dtype=torch.float64)
    torch.testing.assert_close(cycle_counts(with_loops), expected)


def test_cycle_counts_of_a_few_sampled_graphs_average_to_the_expected_count():
    """Monte Carlo check of the expected-count reading: mean count of sampled binary graphs."""
    generator = torch.Generator().manual_seed(1)
    probabilities = random_symmetric(6, generator)
    upper = torch.rand(20000, 6, 6, generator=generator, dtype=torch.float64)
    edges = (upper < probabilities).double().triu(1)
    sampled = cycle_counts(edges + edges.transpose(-1, -2))
    stderr = sampled.std(0) / math.sqrt(len(sampled))
    assert torch.all((sampled.mean(0) - cycle_counts(probabilities)).abs() < 4 * stderr)


def test_gradient_at_a_binary_graph_is_the_cycles_an_edge_closes():
    """Multilinear in each edge: d count / d A_ij (both entries) at a binary graph equals the
    count with the edge minus the count without it."""
    generator = torch.Generator().manual_seed(2)
    adj = random_symmetric(8, generator, density=0.5)
    for i, j in [(0, 1), (2, 5), (3, 7)]:
        edge = torch.zeros(8, 8, dtype=torch.float64)
        edge[i, j] = edge[j, i] = 1
        weight = torch.tensor(float(adj[i, j]), dtype=torch.float64, requires_grad=True)
        with_weight = adj * (1 - edge) + weight * edge
        slope = torch.stack(
            [
                torch.autograd.grad(c, weight, retain_graph=True)[0]
                for c in cycle_counts(with_weight)
            ]
        )
        torch.testing.assert_close(
            slope, cycle_counts(adj * (1 - edge) + edge) - cycle_counts(adj * (1 - edge))
        )


def test_soft_histogram_counts_integers_and_interpolates_between_them():
    values = torch.tensor([0.0, 2.0, 2.25, 3.0, 7.5, -1.0], dtype=torch.float64)
    weights = soft_histogram(values, 4)
    expected = torch.tensor(
        [
            [1, 0, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0.75, 0.25],
            [0, 0, 0, 1],  # the last bin
            [0, 0, 0, 1],  # beyond it
            [1, 0, 0, 0],
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(weights, expected)
    # At an integer the derivative is the right one (the left one at the last bin).
    at = torch.tensor([1.0, 3.0], dtype=torch.float64, requires_grad=True)
    grads = [torch.autograd.grad(soft_histogram(at, 4)[:, k].sum(), at)[0] for k in range(4)]
    torch.testing.assert_close(
        torch.stack(grads, 1), torch.tensor([[0, -1, 1, 0], [0, 0, -1, 1]], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="num_bins must be >= 2"):
        soft_histogram(values, 1)


def one_hot_graphs(batch, nodes, atoms, generator, types=3, relations=5):
    """One-hot node types [B, N, T], relations [B, N, N, R] (symmetric, "no bond" on the
    diagonal and to padding) and mask [B, N]: ``atoms`` real nodes then padding."""
    x = F.one_hot(torch.randint(types, (batch, nodes), generator=generator), types).double()
    mask = torch.zeros(batch, nodes, dtype=torch.bool)
    mask[:, :atoms] = True
    bonds = torch.randint(relations, (batch, nodes, nodes), generator=generator)
    bonds = bonds * (torch.rand(batch, nodes, nodes, generator=generator) < 0.5)
    bonds = bonds.triu(1)
    bonds = (bonds + bonds.transpose(1, 2)) * (mask[:, :, None] & mask[:, None, :])
    return x * mask[..., None], F.one_hot(bonds, relations).double(), mask, bonds


def reference_features(x, bonds, mask, max_valence, aromatic):
    """The features of one one-hot graph by loops over atoms and bonds, and networkx."""
    atoms = [i for i in range(len(mask)) if mask[i]]
    graph = nx.Graph()
    graph.add_nodes_from(atoms)
    graph.add_edges_from((i, j) for i in atoms for j in atoms if i < j and bonds[i, j] > 0)
    aromatic_graph = nx.Graph()
    aromatic_graph.add_edges_from(
        (i, j) for i in atoms for j in atoms if i < j and bonds[i, j] == aromatic
    )
    histogram = torch.zeros(x.shape[1], max_valence + 1, dtype=torch.float64)
    for i in atoms:
        valence = sum(ORDERS[bonds[i, j]].item() for j in atoms if j != i)
        low = min(math.floor(valence), max_valence)
        high = min(low + 1, max_valence)
        share = valence - low if low < max_valence else 0.0
        histogram[int(x[i].argmax()), low] += 1 - share
        histogram[int(x[i].argmax()), high] += share
    counts = [
        *networkx_cycles(torch.tensor(nx.to_numpy_array(graph))),
        graph.number_of_edges() - graph.number_of_nodes() + 1,
        aromatic_graph.number_of_edges(),
        *networkx_cycles(torch.tensor(nx.to_numpy_array(aromatic_graph))),
        *histogram.flatten().tolist(),
    ]
    return torch.asinh(torch.tensor(counts, dtype=torch.float64))


def test_features_of_one_hot_graphs_equal_loop_and_networkx_counts():
    generator = torch.Generator().manual_seed(3)
    x, adj, mask, bonds = one_hot_graphs(6, 9, 8, generator)
    features = graph_structure_features(x, adj, mask, ORDERS, aromatic_channel=4, max_valence=4)
    assert features.shape == (6, 5 + 5 + 3 * 5)
    for b in range(6):
        torch.testing.assert_close(features[b], reference_features(x[b], bonds[b], mask[b], 4, 4))


def test_benzene_and_cyclohexane_aromatic_counts():
    """Benzene's ring is one aromatic 6-cycle of 6 aromatic bonds; cyclohexane's has none."""
    ring = torch.tensor(nx.to_numpy_array(nx.cycle_graph(6)), dtype=torch.long)
    x = torch.zeros(2, 6, 1, dtype=torch.float64)
    x[..., 0] = 1
    adj = F.one_hot(torch.stack([ring * 4, ring]), 5).double()
    features = GraphStructureFeatures(ORDERS, 1, aromatic_channel=4, max_valence=3)(
        x, adj, torch.ones(2, 6)
    )
    counts = torch.sinh(features)
    aromatic = counts[:, 5:10]  # bonds, then 3- to 6-cycles
    torch.testing.assert_close(aromatic[0], torch.tensor([6.0, 0, 0, 0, 1], dtype=torch.float64))
    torch.testing.assert_close(aromatic[1], torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(counts[:, 3], torch.ones(2, dtype=torch.float64))  # one 6-cycle
    torch.testing.assert_close(counts[:, 4], torch.ones(2, dtype=torch.float64))  # circuit rank
    # Valence histogram of the single node type over bins 0..3: aromatic 2 x 1.5 = 3, single 2.
    torch.testing.assert_close(
        counts[:, 10:], torch.tensor([[0, 0, 0, 6.0], [0, 0, 6.0, 0]], dtype=torch.float64)
    )


def relaxed_graphs(batch, nodes, generator, types=3, relations=5):
    """Softmax node types, symmetric softmax relations and a float mask: no integer valences,
    so the histogram is away from its kinks."""
    x = torch.randn(batch, nodes, types, generator=generator, dtype=torch.float64).softmax(-1)
    logits = torch.randn(batch, nodes, nodes, relations, generator=generator, dtype=torch.float64)
    adj = (logits + logits.transpose(1, 2)).softmax(-1)
    mask = torch.rand(batch, nodes, generator=generator, dtype=torch.float64)
    return x, adj, mask


def test_gradcheck_and_gradgradcheck_on_relaxed_graphs():
    """First and second derivatives (the gradient penalty backpropagates through the input
    gradient) against finite differences, aromatic features included."""
    generator = torch.Generator().manual_seed(4)
    graphs = relaxed_graphs(2, 4, generator, types=2, relations=3)
    inputs = tuple(t.requires_grad_() for t in graphs)
    orders = torch.tensor([0.0, 1.0, 1.5], dtype=torch.float64)  # class 2: aromatic

    def features(x, adj, mask):
        return graph_structure_features(x, adj, mask, orders, aromatic_channel=2, max_valence=3)

    assert torch.autograd.gradcheck(features, inputs)
    assert torch.autograd.gradgradcheck(features, inputs, fast_mode=True)


def test_permutation_invariance():
    generator = torch.Generator().manual_seed(5)
    x, adj, mask = relaxed_graphs(3, 7, generator)
    module = GraphStructureFeatures(ORDERS, 3, aromatic_channel=4)
    permutation = torch.randperm(7, generator=generator)
    permuted = module(
        x[:, permutation], adj[:, permutation][:, :, permutation], mask[:, permutation]
    )
    torch.testing.assert_close(permuted, module(x, adj, mask))


def test_masked_nodes_contribute_nothing():
    """Padding nodes with arbitrary types and bonds (to each other and to atoms) change nothing;
    the features equal those of the graph without them."""
    generator = torch.Generator().manual_seed(6)
    x, adj, mask = relaxed_graphs(3, 9, generator)
    mask[:, 6:] = 0
    module = GraphStructureFeatures(ORDERS, 3, aromatic_channel=4)
    trimmed = module(x[:, :6], adj[:, :6, :6], mask[:, :6])
    torch.testing.assert_close(module(x, adj, mask), trimmed)
    torch.testing.assert_close(module(x, adj, mask > 0.5), module(x, adj, (mask > 0.5).double()))


def test_module_shapes_repr_and_errors():
    module = GraphStructureFeatures([0.0, 1.0, 2.0], 4, max_valence=5)
    assert module.out_channels == 5 + 4 * 6
    assert not list(module.parameters()) and not module.state_dict()  # nothing saved
    x, adj, mask, _ = one_hot_graphs(
        2, 5, 4, torch.Generator().manual_seed(7), types=4, relations=3
    )
    assert module(x.float(), adj.float(), mask).shape == (2, module.out_channels)
    assert "bond_orders=[0, 1, 2], num_node_types=4, aromatic_channel=None" in repr(module)
    with pytest.raises(ValueError, match="x must have shape"):
        module(x[..., :3], adj, mask)
    with pytest.raises(ValueError, match="bond_orders must have shape"):
        graph_structure_features(x, adj, mask, ORDERS)
    with pytest.raises(ValueError, match="mask must have shape"):
        module(x, adj, mask[:, :3])
    with pytest.raises(ValueError, match="aromatic_channel must be a bond relation"):
        GraphStructureFeatures([0.0, 1.0, 2.0], 4, aromatic_channel=0)
    with pytest.raises(ValueError, match="adj must have shape"):
        cycle_counts(torch.zeros(3, 4))
