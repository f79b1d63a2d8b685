"""The layout maps of the graph generator (molgen.models.graph_generator)."""

import math

import pytest
import torch

from molgen.config import load_config
from molgen.models import GraphGenerator
from molgen.models.graph_generator import (
    COMMUNITY_EDGE_WIDTH,
    COMMUNITY_START_LOGITS,
    SPREAD_STEPS,
    community_rise,
    distance_fall,
    spread_positions,
)


def _radius(positions: torch.Tensor, spacing: float) -> torch.Tensor:
    """r = s * sqrt(12) * sigma / sqrt(N), sigma^2 the mean of the x and y variances, per
    graph ``[B]``."""
    n = positions.shape[1]
    var_x = positions[..., 0].var(-1, unbiased=False)
    var_y = positions[..., 1].var(-1, unbiased=False)
    return spacing * math.sqrt(12) * ((var_x + var_y) / 2).sqrt() / math.sqrt(n)


def test_one_step_moves_each_close_pair_apart_by_a_quarter_of_the_shortfall():
    # nodes 0 and 1 close together, the rest on a wide ring: only 0 and 1 are within r
    ring = [[10 * math.cos(k * math.pi / 3), 10 * math.sin(k * math.pi / 3)] for k in range(6)]
    positions = torch.tensor([[[0.0, 0.0], [0.3, 0.4], *ring]], dtype=torch.float64)
    r = _radius(positions, 1.0).item()
    distance = torch.cdist(positions, positions)[0]
    distance[0, 1] = distance[1, 0] = distance[range(8), range(8)] = math.inf
    assert 0.5 < r < distance.min()  # only the pair 0-1 is closer than r
    out = spread_positions(positions, 1.0, steps=1)
    shift = (r - 0.5) / 4 * torch.tensor([0.6, 0.8], dtype=torch.float64)
    assert torch.allclose(out[0, 0], -shift) and torch.allclose(out[0, 1], positions[0, 1] + shift)
    assert torch.equal(out[0, 2:], positions[0, 2:])


def test_spreading_thins_out_close_pairs_of_uniform_points():
    gen = torch.Generator().manual_seed(0)
    positions = torch.rand(8, 64, 2, generator=gen)
    out = spread_positions(positions, 0.8)
    r = _radius(positions, 0.8)  # [B]; the spread layout's sigma differs a little

    def close_pairs(p):
        d = torch.cdist(p, p) + torch.eye(64) * 1e9
        return (d < 0.5 * r.view(-1, 1, 1)).sum().item() // 2

    assert close_pairs(positions) > 40 and close_pairs(out) == 0
    assert (
        torch.cdist(out, out).add(torch.eye(64)).min()
        > torch.cdist(positions, positions).add(torch.eye(64)).min()
    )


def test_spreading_is_equivariant_and_commutes_with_similarity_maps():
    gen = torch.Generator().manual_seed(1)
    positions = torch.rand(3, 20, 2, generator=gen, dtype=torch.float64)
    out = spread_positions(positions, 0.9)
    perm = torch.randperm(20, generator=gen)
    assert torch.allclose(spread_positions(positions[:, perm], 0.9), out[:, perm])
    angle = 0.7
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    shift = torch.tensor([5.0, -2.0], dtype=torch.float64)
    moved = spread_positions(3.0 * positions @ rotation.T + shift, 0.9)
    assert torch.allclose(moved, 3.0 * out @ rotation.T + shift)


def test_spreading_has_exact_gradients():
    gen = torch.Generator().manual_seed(2)
    positions = torch.rand(2, 10, 2, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda p: spread_positions(p, 1.2, steps=3), (positions,))


def test_distance_fall_is_zero_at_the_mean_distance_and_scale_free():
    positions = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]])
    fall = distance_fall(positions, 2.0)
    # squared distances (0-1, 0-2, 1-2) = 1, 4, 5; mean 10/3
    expected = 2.0 * (torch.tensor([1.0, 4.0, 5.0]) / (10 / 3) - 1)
    assert torch.allclose(fall[0], expected)
    assert torch.allclose(distance_fall(7 * positions + 3, 2.0), fall)


def test_a_node_spacing_generator_spreads_its_heads_layout():
    overrides = [
        "data.name=planar",
        "generator.hidden=[8]",
        "generator.z_dim=4",
        "generator.constraint=valence_connected",
        "generator.non_crossing=true",
    ]
    counts = [0] * 8 + [1] * 5
    plain = GraphGenerator(load_config(None, overrides).generator, 12, counts, max_degree=12)
    cfg = load_config(None, [*overrides, "generator.node_spacing=0.8"])
    spaced = GraphGenerator(cfg.generator, 12, counts, max_degree=12)
    spaced.load_state_dict(plain.state_dict())  # same weights: the spacing is not a parameter
    h = plain.features(plain.sample_noise(5, generator=torch.Generator().manual_seed(0)))
    head = plain.node_positions(h)
    assert torch.allclose(spaced.node_positions(h), spread_positions(head, 0.8, SPREAD_STEPS))
    assert not torch.allclose(spaced.node_positions(h), head)
    assert "node_spacing=0.8" in repr(spaced) and "node_spacing" not in repr(plain)


@pytest.mark.parametrize("spacing", ["0", "-1", "nan"])
def test_node_spacing_must_be_a_positive_number(spacing):
    from molgen.config import ConfigError

    with pytest.raises(ConfigError, match=r"generator\.node_spacing"):
        load_config(
            None,
            [
                "data.name=planar",
                "generator.constraint=valence",
                "generator.non_crossing=true",
                f"generator.node_spacing={spacing}",
            ],
        )


def test_community_rise_is_the_shared_membership_less_a_half():
    hard = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    rise = community_rise(hard, 3.0)
    # pairs in triu order: 01 02 03 12 13 23; 01 and 23 share a community
    assert torch.allclose(rise[0], 3.0 * (torch.tensor([1.0, 0, 0, 0, 0, 1]) - 0.5))
    soft = torch.tensor([[[0.5, 0.3, 0.2], [0.2, 0.8, 0.0], [1.0, 0.0, 0.0]]])
    shared = torch.tensor([0.5 * 0.2 + 0.3 * 0.8, 0.5, 0.2])
    assert torch.allclose(community_rise(soft, 1.0)[0], shared - 0.5)
    # within and between communities: +w/2 and -w/2, whatever the sizes and number; w per graph
    three = torch.eye(3)[torch.tensor([0, 0, 0, 1, 2, 2])].unsqueeze(0)
    assert torch.equal(community_rise(three, 2.0).unique(), torch.tensor([-1.0, 1.0]))
    per_graph = community_rise(torch.cat([three, three]), torch.tensor([[2.0], [4.0]]))
    assert torch.equal(per_graph[1], 2 * per_graph[0])


def _community_generator(
    communities: int | None = 3, num_nodes: int = 12, size: int | str | None = None
) -> GraphGenerator:
    overrides = ["data.name=sbm", "generator.hidden=[8]", "generator.z_dim=4"]
    if communities is not None:
        overrides.append(f"generator.communities={communities}")
    if size is not None:
        overrides.append(f"generator.community_size={size}")
    counts = [0] * 4 + [1] * (num_nodes - 3)  # 4 to N nodes
    model = GraphGenerator(load_config(None, overrides).generator, num_nodes, counts)
    if communities is not None:  # uneven shares (they start even)
        model.community_head.reset_parameters()  # glorot
    return model


def _nodes(counts: list[int], num_nodes: int) -> torch.Tensor:
    present = (torch.arange(num_nodes) < torch.tensor(counts).unsqueeze(-1)).long()
    return torch.nn.functional.one_hot(present, 2).float()  # [B, N, 2]


def _runs_by_formula(shares: torch.Tensor, n: int, k: int, num_nodes: int):
    """The class docstring's soft rows ``[N, K]`` and hard rows (each slot in the run that
    holds it) for the shares of the first runs; the runs after them empty, at infinity."""
    inf = torch.tensor([math.inf])
    ends = torch.cat([-inf, n * shares.cumsum(0)[:-1], inf.expand(k + 1 - len(shares))])
    u = torch.arange(float(num_nodes))[:, None] + 0.5
    soft = torch.sigmoid((u - ends[:-1]) / COMMUNITY_EDGE_WIDTH) - torch.sigmoid(
        (u - ends[1:]) / COMMUNITY_EDGE_WIDTH
    )
    holding = [int((ends[1:-1] < i + 0.5).sum()) for i in range(num_nodes)]
    return soft, torch.eye(k)[holding]


def test_communities_are_runs_of_the_nodes_in_shares_of_the_node_count():
    torch.manual_seed(0)
    model = _community_generator(communities=4, num_nodes=12)
    h = torch.randn(6, 8).tanh()
    counts = [4, 7, 12, 12, 9, 5]
    x = _nodes(counts, 12)
    membership, weight = model.node_communities(h, x)  # [B, N, K], [B, 1]
    assert membership.shape == (6, 12, 4)
    # community k: sigmoid(i + 1/2 - n beta_{k-1}) - sigmoid(i + 1/2 - n beta_k), beta the
    # cumulative shares softmax(W [h, n / N]), beta_0 = -inf and beta_K = inf; hard forward,
    # the soft rows' gradient backward
    weights = torch.randn(6, 12, 4)
    (membership * weights).sum().backward()
    straight_through = model.community_head.weight.grad.clone()
    model.zero_grad()
    for b, n in enumerate(counts):
        out = model.community_head(torch.cat([h[b], torch.tensor([n / 12])]))
        shares = torch.softmax(out[:-1], 0)
        assert torch.allclose(weight[b], torch.nn.functional.softplus(out[-1:]))
        soft, hard = _runs_by_formula(shares, n, 4, 12)
        assert torch.allclose(membership[b].detach(), hard, atol=1e-6)
        (soft * weights[b]).sum().backward()
    assert torch.allclose(model.community_head.weight.grad, straight_through, atol=1e-5)
    labels = membership.argmax(-1)
    for b, n in enumerate(counts):  # each community one run of the present nodes
        runs = labels[b, :n].unique_consecutive()
        assert len(runs) == len(runs.unique()) > 1
    # the same features with another node count: the runs stretch with the count
    assert not torch.allclose(model.node_communities(h, _nodes([6] * 6, 12))[0], membership)


def test_a_community_size_gives_each_graph_as_many_runs_as_its_node_count_needs():
    torch.manual_seed(0)
    model = _community_generator(communities=4, num_nodes=12, size=3)
    h = torch.randn(7, 8).tanh()
    counts = [4, 7, 12, 3, 9, 1, 11]
    membership, _ = model.node_communities(h, _nodes(counts, 12))  # [B, N, K]
    weights = torch.randn(7, 12, 4)
    (membership * weights).sum().backward()
    straight_through = model.community_head.weight.grad.clone()
    model.zero_grad()
    for b, n in enumerate(counts):
        runs = min(math.ceil(n / 3), 4)  # [2, 3, 4, 1, 3, 1, 4]
        # the softmax of the first runs' logits; the runs after them empty, at infinity
        out = model.community_head(torch.cat([h[b], torch.tensor([n / 12])]))
        soft, hard = _runs_by_formula(torch.softmax(out[:runs], 0), n, 4, 12)
        assert torch.equal(soft[:, runs:], torch.zeros(12, 4 - runs))
        assert torch.allclose(membership[b].detach(), hard, atol=1e-6)
        (soft * weights[b]).sum().backward()
        labels = membership[b, :n].argmax(-1)
        assert labels.max() < runs
    assert torch.allclose(model.community_head.weight.grad, straight_through, atol=1e-5)
    with torch.no_grad():  # even shares: the runs all hold n / runs nodes, give or take one
        model.community_head.weight.zero_()
        model.community_head.bias.zero_()
    even = model.node_communities(h, _nodes(counts, 12))[0]  # [B, N, K]
    for b, n in enumerate(counts):
        runs = min(math.ceil(n / 3), 4)
        sizes = even[b, :n].sum(0)  # [K]: the present nodes of each run
        assert sizes[runs:].sum() == 0 and sizes[:runs].sum() == n
        assert sizes[:runs].min() >= n // runs and sizes[:runs].max() <= -(-n // runs)
    assert "community_size=3" in repr(model)


def test_data_splits_are_the_first_training_graph_of_each_node_count_s_in_shares():
    model = _community_generator(communities=3, num_nodes=12, size="data")
    with pytest.raises(ValueError, match="fit_communities"):
        model.node_communities(torch.zeros(1, 8), _nodes([10], 12))
    # n = 10: (6, 4); n = 12: the first, (5, 5, 2), not (3, 3, 3, 3); n = 8: four of 2, the
    # third community takes the last two
    model.fit_communities([(4, 6), (5, 5, 2), (3, 3, 3, 3), (2, 2, 2, 2)])
    table = model.community_shares
    assert torch.allclose(table[10], torch.tensor([0.6, 0.4, 0.0]))
    assert torch.allclose(table[12], torch.tensor([5, 5, 2]) / 12)
    assert torch.allclose(table[8], torch.tensor([0.25, 0.25, 0.5]))
    # no graph of 9 or 11 nodes: the nearest count's split, the smaller on a tie
    assert torch.equal(table[9], table[8]) and torch.equal(table[11], table[10])
    assert torch.equal(table[3], table[8]) and "community_size=data" in repr(model)
    # the head's shares start at zero: the runs hold the data's sizes, whatever h
    with torch.no_grad():
        model.community_head.weight.zero_()
        model.community_head.bias[:-1] = 0.0
    counts = [10, 12, 8, 11]
    membership, _ = model.node_communities(torch.randn(4, 8), _nodes(counts, 12))
    sizes = [membership[b, :n].sum(0).tolist() for b, n in enumerate(counts)]
    assert sizes == [[6, 4, 0], [5, 5, 2], [2, 2, 4], [7, 4, 0]]  # 11: the run ends at 6.6
    # the table is saved with the weights
    other = _community_generator(communities=3, num_nodes=12, size="data")
    assert not other.communities_fitted
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.community_shares, table) and other.communities_fitted
    with pytest.raises(ValueError, match=">= 1"):
        model.fit_communities([(4, 0)])
    with pytest.raises(ValueError, match="community_size='data'"):
        _community_generator(communities=3, size=3).fit_communities([(4, 6)])


def test_the_edge_logits_rise_within_a_community_and_train_the_community_head():
    torch.manual_seed(0)
    plain, model = _community_generator(None), _community_generator(3)
    model.load_state_dict(plain.state_dict(), strict=False)  # the shared layers' weights
    h, x = torch.randn(5, 8).tanh(), _nodes([4, 6, 9, 12, 12], 12)
    logits = model.bond_logits(h, x)
    membership, weight = model.node_communities(h, x)
    rise = community_rise(membership, weight)
    expected = plain.bond_logits(h) + torch.stack([torch.zeros_like(rise), rise], -1)
    assert torch.allclose(logits, expected, atol=1e-5)
    logits[..., 1].sum().backward()
    assert model.community_head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="communities"):
        model.bond_logits(h)
    with pytest.raises(ValueError, match="communities"):
        model.sample_from_logits(model.atom_logits(h), logits)
    assert "communities=3" in repr(model) and "communities" not in repr(plain)


def test_the_edge_logits_start_above_and_below_the_data_density_within_and_between():
    cfg = load_config(None, ["data.name=sbm", "generator.communities=3"]).generator
    model = GraphGenerator(cfg, 12, [0] * 4 + [1] * 9, edge_density=0.1)
    with torch.no_grad():  # the bond head's bias alone
        model.bond_head.weight.zero_()
    x, h = _nodes([12], 12), torch.randn(1, cfg.hidden[-1])
    logits = model.bond_logits(h, x)[0]  # [P, 2]
    runs = model.node_communities(h, x)[0][0].argmax(-1)  # [N]
    rows, cols = torch.triu_indices(12, 12, 1)
    within = runs[rows] == runs[cols]
    odds = logits[:, 1] - logits[:, 0] - math.log(0.1 / 0.9)  # [P]
    assert torch.allclose(odds[within], torch.tensor(COMMUNITY_START_LOGITS[0]), atol=1e-5)
    assert torch.allclose(odds[~within], torch.tensor(COMMUNITY_START_LOGITS[1]), atol=1e-5)
    assert torch.bincount(runs).tolist() == [4, 4, 4]  # even shares, whatever h
    _, weight = model.node_communities(torch.randn(6, cfg.hidden[-1]), _nodes([12] * 6, 12))
    assert torch.equal(weight, weight[:1].expand(6, 1))  # one w for every graph


def test_a_community_generator_draws_graphs_whose_edges_follow_its_communities():
    torch.manual_seed(0)
    model = _community_generator(communities=2, num_nodes=40)
    with torch.no_grad():
        model.community_head.weight.zero_()  # even shares: halves of the nodes
        model.community_head.bias.zero_()
        model.community_head.bias[-1] = 8.0  # w = softplus(8) ~ 8: nearly no edge between
    x, adj = model(torch.randn(64, 4), generator=torch.Generator().manual_seed(1))
    edges = adj.argmax(-1)  # [B, N, N]
    n = x.argmax(-1).sum(1)  # [B]
    within = between = pairs_within = pairs_between = 0
    for b in range(64):
        half = torch.arange(int(n[b])) + 0.5 > n[b] / 2
        same = half[:, None] == half[None, :]
        e = edges[b, : n[b], : n[b]].triu(1).bool()
        upper = torch.ones_like(same).triu(1)
        within += (e & same).sum().item()
        between += (e & ~same).sum().item()
        pairs_within += (same & upper).sum().item()
        pairs_between += (~same & upper).sum().item()
    assert within / pairs_within > 20 * between / pairs_between
