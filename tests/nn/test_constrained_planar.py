"""molgen.nn.constrained's NonCrossing: edges drawn as crossing-free segments, so planar graphs;
its segment test, its guarantee under every connect rule, its law on a small case."""

from fractions import Fraction

import networkx as nx
import pytest
import torch
from sampling_checks import assert_frequencies, assert_one_hot

import molgen.nn as mnn
from molgen.nn import constrained as C

COST = torch.tensor([0.0, 1.0])


def meet_exactly(p, q, r, s):
    """Whether closed segments pq and rs share a point, in rational arithmetic: a point of
    each with parameters t, u in [0, 1] that coincide (collinear: overlapping ranges)."""
    p, q, r, s = ([Fraction(c) for c in point] for point in (p, q, r, s))
    d1, d2 = (q[0] - p[0], q[1] - p[1]), (s[0] - r[0], s[1] - r[1])
    w = (r[0] - p[0], r[1] - p[1])
    denominator = d1[0] * d2[1] - d1[1] * d2[0]
    if denominator != 0:
        t = (w[0] * d2[1] - w[1] * d2[0]) / denominator
        u = (w[0] * d1[1] - w[1] * d1[0]) / denominator
        return 0 <= t <= 1 and 0 <= u <= 1
    if w[0] * d1[1] - w[1] * d1[0] != 0:
        return False  # parallel, on different lines

    def along(point):  # position on the common line, by the longer direction
        axis = 0 if abs(d1[0]) + abs(d2[0]) > 0 else 1
        return point[axis]

    low1, high1 = sorted((along(p), along(q)))
    low2, high2 = sorted((along(r), along(s)))
    return max(low1, low2) <= min(high1, high2)


def test_segments_meet_agrees_with_exact_intersection_on_integer_points():
    gen = torch.Generator().manual_seed(0)
    points = torch.randint(-4, 5, (4000, 4, 2), generator=gen).double()  # many collinear
    keep = (points[:, 0] != points[:, 1]).any(-1) & (points[:, 2] != points[:, 3]).any(-1)
    points = points[keep]
    got = C.segments_meet(points[:, 0], points[:, 1], points[:, 2], points[:, 3])
    exact = torch.tensor([meet_exactly(*(pt.tolist() for pt in quad)) for quad in points])
    # every meeting pair is caught; the only extra ones are collinear pairs that do not meet
    assert not (exact & ~got).any()
    extra = points[got & ~exact]
    cross = lambda a, b, c: (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]  # noqa: E731
    assert (cross(extra[:, 0], extra[:, 1], extra[:, 2]) == 0).all()
    assert (cross(extra[:, 0], extra[:, 1], extra[:, 3]) == 0).all()
    assert exact.sum() > 500 and (~exact).sum() > 500  # both kinds well represented


def drawn_segments_meet(positions, classes):
    """The pairs of drawn edges with no common end whose segments meet (exact test)."""
    edges = [tuple(e) for e in (classes > 0).nonzero().tolist() if e[0] < e[1]]
    bad = []
    for a, (i, j) in enumerate(edges):
        for k, m in edges[a + 1 :]:
            if {i, j} & {k, m}:
                continue
            ends = (positions[v].tolist() for v in (i, j, k, m))
            if meet_exactly(*ends):
                bad.append(((i, j), (k, m)))
    return bad


@pytest.mark.parametrize("rivals", [None, 5, 91])
@pytest.mark.parametrize("connect", [None, "join", "tree"])
@pytest.mark.parametrize("argmax", [False, True])
def test_no_two_drawn_edges_cross_so_every_sample_is_planar(connect, argmax, rivals):
    gen = torch.Generator().manual_seed(1)
    batch, n = 12, 14
    positions = torch.rand(batch, n, 2, generator=gen)
    logits = torch.randn(batch, n * (n - 1) // 2, 2, generator=gen) + torch.tensor([0.0, 1.0])
    node_mask = torch.rand(batch, n, generator=gen) > 0.15
    rules = (C.Budget(torch.full((batch, n), 5.0), COST), C.NonCrossing(positions, rivals))
    if argmax:
        out = C.constrained_symmetric_one_hot_argmax(
            logits, rules=rules, connect=connect, node_mask=node_mask
        )
    else:
        out = C.constrained_symmetric_gumbel_softmax(
            logits, 1.0, rules=rules, connect=connect, node_mask=node_mask, generator=gen
        )
    assert_one_hot(out)
    classes = out.argmax(-1)
    assert torch.equal(classes, classes.transpose(1, 2))
    for b in range(batch):
        assert drawn_segments_meet(positions[b], classes[b]) == []
        graph = nx.from_numpy_array(classes[b].numpy())
        assert nx.check_planarity(graph)[0]
        assert max(d for _, d in graph.degree()) <= 5
        present = node_mask[b].nonzero().flatten().tolist()
        if connect == "join":  # a non-crossing joining edge always exists (budget 5 is ample)
            assert nx.is_connected(graph.subgraph(present))
    # the rule bites: without it these dense logits draw crossing edges
    free = C.constrained_symmetric_gumbel_softmax(logits, 1.0, rules=rules[:1], generator=gen)
    assert any(drawn_segments_meet(positions[b], free.argmax(-1)[b]) for b in range(batch))


def test_the_law_masks_only_the_weaker_of_two_crossing_pairs_of_a_round():
    # Four corners of a square: its sides cross nothing, its diagonals (0, 2) and (1, 3)
    # cross each other and are drawn in the same round of N = 4. The diagonal with the higher
    # edge score is drawn by its own logits; the other never.
    draws = 20_000
    positions = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).expand(draws, 4, 2)
    pairs = torch.triu_indices(4, 4, 1).T.tolist()  # (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    edge_logit = torch.tensor([0.3, 0.5, -0.7, 1.2, 0.2, -0.1])
    logits = torch.stack([torch.zeros(6), edge_logit], -1).expand(draws, 6, 2)
    gen = torch.Generator().manual_seed(0)
    out = C.constrained_symmetric_gumbel_softmax(
        logits, 1.0, rules=(C.NonCrossing(positions),), generator=gen
    )
    classes = out.argmax(-1)
    for index, (i, j) in enumerate(pairs):
        drawn = classes[:, i, j]
        if (i, j) == (1, 3):
            assert not drawn.any()
            continue
        p = torch.sigmoid(edge_logit[index]).item()
        counts = torch.bincount(drawn, minlength=2)
        assert_frequencies(counts, torch.tensor([1 - p, p], dtype=torch.float64), draws)


def test_with_rivals_a_pair_waits_for_a_likelier_pair_it_crosses_in_a_later_round():
    from molgen.nn.constrained.loop import _round_robin_schedule

    n = 7
    positions = torch.rand(1, n, 2, generator=torch.Generator().manual_seed(3))
    rows, cols = torch.triu_indices(n, n, 1)
    round_of = torch.empty(len(rows), dtype=torch.long)
    for r, ids in enumerate(_round_robin_schedule(n)):
        round_of[ids] = r
    early, late = next(
        (a, b)
        for a in range(len(rows))
        for b in range(len(rows))
        if round_of[a] < round_of[b]
        and not {rows[a].item(), cols[a].item()} & {rows[b].item(), cols[b].item()}
        and meet_exactly(*(positions[0, v].tolist() for v in (rows[a], cols[a], rows[b], cols[b])))
    )
    edge = torch.full((len(rows),), -30.0)
    edge[early], edge[late] = 20.0, 30.0  # both certain on their own; the later one likelier
    logits = torch.stack([torch.zeros_like(edge), edge], -1).unsqueeze(0)

    def drawn(rivals):
        out = C.constrained_symmetric_one_hot_argmax(
            logits, rules=(C.NonCrossing(positions, rivals),)
        )
        return out[0, rows, cols].argmax(-1).nonzero().flatten().tolist()

    assert drawn(None) == [early]  # the rounds' order: the early pair blocks the likelier one
    assert drawn(1) == drawn(len(rows)) == [late]  # it waits, and the likelier pair is drawn


def test_masked_pairs_get_no_gradient_and_the_module_draws_the_same():
    positions = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    logits = torch.zeros(1, 6, 2, requires_grad=True)
    with torch.no_grad():
        logits[0, 1, 1] = 3.0  # diagonal (0, 2) beats (1, 3)
    sampler = mnn.BudgetedSymmetricGumbelSoftmax(connect=None)
    budget = torch.full((1, 4), 3.0)
    out = sampler(
        logits, budget, COST, 1.0, generator=torch.Generator().manual_seed(0), positions=positions
    )
    again = C.constrained_symmetric_gumbel_softmax(
        logits,
        1.0,
        rules=(C.Budget(budget, COST), C.NonCrossing(positions)),
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(out, again)
    out[0, 1, 3, 1].backward()
    assert out[0, 1, 3].tolist() == [1.0, 0.0]  # (1, 3) masked: "no edge" for sure
    assert torch.all(logits.grad[0, 4] == 0)  # and no gradient reaches its logits


def test_bad_positions_are_refused():
    logits = torch.zeros(2, 6, 2)
    with pytest.raises(ValueError, match=r"\[B, N, 2\]"):
        C.NonCrossing(torch.zeros(2, 4))
    for rivals in (0, 1.5, True):
        with pytest.raises(ValueError, match="rivals"):
            C.NonCrossing(torch.zeros(2, 4, 2), rivals)
    with pytest.raises(ValueError, match=r"positions must have shape \(2, 4, 2\)"):
        C.constrained_symmetric_gumbel_softmax(logits, rules=(C.NonCrossing(torch.zeros(3, 4, 2)),))
