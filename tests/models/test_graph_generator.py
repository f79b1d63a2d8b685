"""The layout maps of the graph generator (molgen.models.graph_generator)."""

import math

import pytest
import torch

from molgen.config import load_config
from molgen.models import GraphGenerator
from molgen.models.graph_generator import SPREAD_STEPS, distance_fall, spread_positions


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
