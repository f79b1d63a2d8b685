"""molgen.nn.constrained's SiteBudget and site_gumbel_softmax: attachment sites of fragment
graphs, their budgets, their law, their gradients."""

import math

import pytest
import torch
from sampling_checks import assert_frequencies, assert_one_hot

import molgen.nn as mnn
from molgen.nn import constrained as C
from molgen.nn import functional as F

COST = torch.tensor([0.0, 1.0, 2.0, 3.0])


def random_case(batch, n, sites, seed, max_budget=3, p_absent=0.2, p_no_site=0.4):
    """Pair bond logits, pair site logits, integer site budgets (many sites absent), mask."""
    gen = torch.Generator().manual_seed(seed)
    n_pairs = n * (n - 1) // 2
    bond_logits = torch.randn(batch, n_pairs, len(COST), generator=gen) * 2
    site_logits = torch.randn(batch, n_pairs, 2, sites, generator=gen) * 2
    budget = torch.randint(1, max_budget + 1, (batch, n, sites), generator=gen).float()
    budget[torch.rand(batch, n, sites, generator=gen) < p_no_site] = 0
    node_mask = torch.rand(batch, n, generator=gen) > p_absent
    return bond_logits, site_logits, budget, node_mask


def sample(bond_logits, site_logits, budget, seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return C.site_gumbel_softmax(bond_logits, site_logits, budget, COST, generator=gen, **kwargs)


def drawn_edges(edges, sites):
    """The edges the rules saw, long ``[B, N, N]`` classes: where a site was drawn, the best
    non-zero class (with ``hard=False`` a relaxed tree edge may put most weight on class 0)."""
    has_edge = sites.detach().sum(-1) > 0.5
    return torch.where(has_edge, edges.detach()[..., 1:].argmax(-1) + 1, 0)


def site_spent(classes, sites, cost=COST):
    """``[B, N, S]``: what each site spends, by an explicit loop over the edges."""
    chosen = sites.detach().argmax(-1)
    out = torch.zeros(*classes.shape[:2], sites.shape[-1], dtype=torch.float64)
    for b, i, j in (classes > 0).nonzero().tolist():
        out[b, i, chosen[b, i, j]] += cost[classes[b, i, j]].item()
    return out


def components(classes, nodes):
    """Union-find roots of ``nodes`` under the non-zero entries of ``classes`` ``[N, N]``."""
    root = {i: i for i in nodes}

    def find(i):
        while root[i] != i:
            i = root[i]
        return i

    for i, j in (classes > 0).nonzero().tolist():
        root[find(i)] = find(j)
    return {find(i) for i in nodes}


@pytest.mark.parametrize("forest", [True, False])
@pytest.mark.parametrize("connect", [None, "tree", "join"])
@pytest.mark.parametrize(("hard", "estimator"), [(True, "st"), (True, "gumbel_rao"), (False, "st")])
def test_no_site_ever_spends_more_than_its_budget(forest, connect, hard, estimator):
    for seed in range(4):
        bond_logits, site_logits, budget, node_mask = random_case(64, 8, 4, seed)
        edges, sites = sample(
            bond_logits,
            site_logits,
            budget,
            seed,
            node_mask=node_mask,
            forest=forest,
            connect=connect,
            hard=hard,
            estimator=estimator,
        )
        assert torch.equal(edges, edges.transpose(1, 2))
        classes = drawn_edges(edges, sites)
        has_edge = classes > 0
        assert not has_edge[~node_mask].any() and not has_edge.transpose(1, 2)[~node_mask].any()
        # One site exactly where there is an edge (a relaxed one sums to 1), none elsewhere.
        assert torch.allclose(sites.sum(-1)[has_edge], torch.ones(()))
        assert torch.all(sites[~has_edge] == 0)
        if hard:
            assert torch.equal(classes, edges.argmax(-1))
            assert_one_hot(sites[has_edge])
        assert torch.all(site_spent(classes, sites) <= budget.double())


def tree_checks(edges, kept, node_mask):
    """The kept nodes form one tree, the others have no edge."""
    classes = edges.argmax(-1)
    for b in range(classes.shape[0]):
        nodes = kept[b].nonzero().flatten().tolist()
        dropped = (node_mask[b] & ~kept[b]).nonzero().flatten()
        assert not (classes[b, dropped] > 0).any()
        n_edges = int((classes[b] > 0).sum()) // 2
        assert n_edges == max(len(nodes) - 1, 0)
        assert len(components(classes[b], nodes)) <= 1


def attachable_by_loop(total, node_mask):
    """The nodes a tree of single edges in node order keeps: the first present node, then each
    present node that can bond (total >= 1) while the nodes kept before it have room >= 1;
    each kept node adds its total and its edge spends 1 at both ends."""
    kept = torch.zeros_like(node_mask)
    for b in range(node_mask.shape[0]):
        room, started = 0.0, False
        for k in node_mask[b].nonzero().flatten().tolist():
            if started and total[b, k] < 1:
                continue
            if started and room < 1:
                break
            room += total[b, k].item() - (2 if started else 0)
            kept[b, k], started = True, True
    return kept


def test_forest_and_tree_give_one_tree_of_the_attachable_nodes():
    """Integer budgets, cheapest cost 1: the kept nodes are those a tree in node order can
    attach on the total site budgets; with MaxCycle(2) the tree is the whole graph."""
    for seed in range(6):
        bond_logits, site_logits, budget, node_mask = random_case(128, 10, 3, seed, p_absent=0.3)
        bond_logits[..., 2:] += 2.0  # dear edges first: the tree's room is tight
        edges, _ = sample(bond_logits, site_logits, budget, seed, node_mask=node_mask)
        kept = attachable_by_loop(budget.sum(-1), node_mask)
        assert kept.sum() > 3 * 128 and (node_mask & ~kept).sum() > 50  # not vacuous
        tree_checks(edges, kept, node_mask)


def test_max_cycle_two_alone_gives_forests():
    bond_logits, site_logits, budget, node_mask = random_case(256, 9, 3, 0, max_budget=4)
    edges, _ = sample(bond_logits, site_logits, budget, node_mask=node_mask, connect=None)
    classes = edges.argmax(-1)
    for b in range(classes.shape[0]):
        nodes = list(range(classes.shape[1]))
        n_edges = int((classes[b] > 0).sum()) // 2
        assert n_edges == len(nodes) - len(components(classes[b], nodes))  # no cycle
    assert (classes > 0).sum() > 0


def test_without_forest_edges_may_close_rings_across_nodes():
    """forest=False lets edges close rings across nodes (a rare ring system written as
    atoms; MaxCycle's own tests cover max_cycle), budgets still hold; forest=True with a
    max_cycle is an error."""
    bond_logits, site_logits, budget, node_mask = random_case(256, 8, 2, 1, max_budget=4)
    for forest, max_cycle in ((False, 4), (True, None)):
        edges, sites = sample(bond_logits, site_logits, budget, forest=forest, max_cycle=max_cycle)
        classes = edges.argmax(-1)
        assert torch.all(site_spent(classes, sites) <= budget.double())
        # cycle rank: edges - nodes + components
        rings = sum(
            int((classes[b] > 0).sum()) // 2 - 8 + len(components(classes[b], range(8)))
            for b in range(classes.shape[0])
        )
        assert rings > 50 if not forest else rings == 0
    with pytest.raises(ValueError, match="forest=True allows no cycle"):
        sample(bond_logits, site_logits, budget, max_cycle=4)


def test_the_budget_rule_with_forest_and_tree_also_draws_only_the_tree():
    """MaxCycle(2) with connect="tree" leaves no edge besides the tree for a Budget too."""
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(128, 45, 4, generator=gen) * 2
    budget = torch.randint(1, 5, (128, 10), generator=gen).float()  # no node without budget
    node_mask = torch.rand(128, 10, generator=gen) > 0.2
    rules = (C.Budget(budget, COST), C.MaxCycle(2))
    edges = C.constrained_symmetric_gumbel_softmax(
        logits, rules=rules, connect="tree", node_mask=node_mask, generator=gen
    )
    tree_checks(edges, C.tree_attachable(budget, COST, node_mask), node_mask)


def test_a_site_used_once_is_not_used_again():
    """Node 0 has two sites of budget 1 and bonds nodes 1 and 2 (whose one site is spent by
    that bond): its two edges use different sites, whatever the logits."""
    batch = 2000
    gen = torch.Generator().manual_seed(0)
    budget = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]).expand(batch, 3, 2)
    site_logits = torch.randn(batch, 3, 2, 2, generator=gen) * 3
    bond_logits = torch.randn(batch, 3, 4, generator=gen)
    edges, sites = C.site_gumbel_softmax(bond_logits, site_logits, budget, COST, generator=gen)
    classes = edges.argmax(-1)
    assert torch.all(classes[:, 0, 1] == 1) and torch.all(classes[:, 0, 2] == 1)
    assert torch.all(classes[:, 1, 2] == 0)
    assert torch.all(sites[:, 0, 1].argmax(-1) != sites[:, 0, 2].argmax(-1))


def two_node_law(bond_logits, site_logits, budget, tree):
    """Exact law of (class, site of node 0, site of node 1) for one pair: the class among
    those both nodes have a site for (>= 1 under a tree), then each end's site among its
    sites with enough budget, each a masked softmax. Index ``c * S * S + s0 * S + s1``."""
    n_sites = budget.shape[-1]
    theta = bond_logits.double()
    room = budget.amax(-1)
    fits = room.min() >= COST
    if tree:
        fits[0] = False
    p_class = torch.softmax(theta.masked_fill(~fits, -math.inf), -1)
    law = torch.zeros(len(COST), n_sites, n_sites, dtype=torch.float64)
    law[0, 0, 0] = p_class[0]
    for c in range(1, len(COST)):
        if not fits[c]:
            continue
        p_ends = [
            torch.softmax(site_logits[e].double().masked_fill(budget[e] < COST[c], -math.inf), -1)
            for e in (0, 1)
        ]
        law[c] = p_class[c] * p_ends[0][:, None] * p_ends[1][None, :]
    return law.flatten()


@pytest.mark.parametrize("tree", [False, True])
def test_two_node_law_is_the_masked_softmax_product(tree):
    """200k draws of one pair: the (class, site, site) frequencies match the exact law
    (chi-square). Node 0's site 2 has budget 0 but the largest logit: never drawn."""
    n = 200_000
    bond_logits = torch.tensor([0.2, 0.9, 0.4, 1.5])
    site_logits = torch.tensor([[0.3, -0.5, 4.0], [0.1, 0.7, -0.2]])
    budget = torch.tensor([[2.0, 1.0, 0.0], [3.0, 1.0, 2.0]])
    expected = two_node_law(bond_logits, site_logits, budget, tree)
    assert expected.view(4, 3, 3)[:, 2].sum() == 0 and expected.view(4, 3, 3)[3].sum() == 0
    edges, sites = sample(
        bond_logits.expand(n, 1, 4),
        site_logits.expand(n, 1, 2, 3),
        budget.expand(n, 2, 3),
        tau=0.6,
        connect="tree" if tree else None,
    )
    classes = edges[:, 0, 1].argmax(-1)
    # A pair without an edge has no site: index 0 with s0 = s1 = 0.
    s0, s1 = sites[:, 0, 1].argmax(-1), sites[:, 1, 0].argmax(-1)
    counts = torch.bincount(classes * 9 + s0 * 3 + s1, minlength=36)
    assert_frequencies(counts, expected, n)


def masked_softmax(logits, allowed):
    return torch.softmax(logits.double().masked_fill(~allowed, -math.inf), -1)


def test_three_node_tree_law_spends_the_sites_drawn_before():
    """N = 3, forest + tree, budgets where the tree's preference never binds: node 1 draws
    the class of (0, 1) among those both ends have a site for, then each end's site; node 2
    (one site of budget 1 each) draws its earlier node j with class 1, then j's site among
    those the first edge left >= 1 (node 0's site 1 has budget 1: used once, it is masked)
    and its own. The third pair gets no edge. Exact law by enumeration, 200k draws."""
    n = 200_000
    bond_logits = torch.tensor([[0.2, 0.5, 0.9, 2.0], [0.0, 0.3, 1.0, 0.0], [0.0, -0.4, 0.6, 0.0]])
    site_logits = torch.tensor(
        [[[0.1, 0.9], [0.4, -0.3]], [[-0.2, 0.5], [0.3, 0.0]], [[0.6, 0.0], [-0.5, 0.2]]]
    )
    budget = torch.tensor([[3.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    pair = {(0, 1): 0, (0, 2): 1, (1, 2): 2}
    law = torch.zeros(2, 2, 2, 2, 2, 2, dtype=torch.float64)  # c01 - 1, s0, s1, j, s_j, s_2
    fits = torch.tensor([False, True, True, False])  # node 1 has no site of budget 3
    p_class = masked_softmax(bond_logits[0], fits)
    p_j = torch.softmax(bond_logits[1:, 1].double(), -1)  # (0, 2) or (1, 2), class 1
    for c, s0, s1, j, s_j, s_2 in torch.cartesian_prod(*[torch.arange(2)] * 6).tolist():
        cost = c + 1
        p = p_class[cost] * masked_softmax(site_logits[0, 0], budget[0] >= cost)[s0]
        p = p * masked_softmax(site_logits[0, 1], budget[1] >= cost)[s1]
        left = budget[j].clone()
        left[(s0, s1)[j]] -= cost
        p = p * p_j[j] * masked_softmax(site_logits[pair[(j, 2)], 0], left >= 1)[s_j]
        law[c, s0, s1, j, s_j, s_2] = (
            p * masked_softmax(site_logits[pair[(j, 2)], 1], budget[2] >= 1)[s_2]
        )
    edges, sites = sample(
        bond_logits.expand(n, 3, 4), site_logits.expand(n, 3, 2, 2), budget.expand(n, 3, 2)
    )
    classes = edges.argmax(-1)
    to_one = classes[:, 1, 2] > 0  # node 2's tree edge goes to node 1
    assert torch.all(classes[:, 0, 1] > 0) and torch.all((classes[:, 0, 2] > 0) != to_one)
    j = to_one.long()
    assert torch.all(classes[torch.arange(n), j, 2] == 1)
    rows = torch.arange(n)
    chosen = sites.argmax(-1)
    index = (
        (classes[:, 0, 1] - 1) * 32
        + chosen[:, 0, 1] * 16
        + chosen[:, 1, 0] * 8
        + j * 4
        + chosen[rows, j, 2] * 2
        + chosen[rows, 2, j]
    )
    assert_frequencies(torch.bincount(index, minlength=64), law.flatten(), n)


def test_site_budget_with_one_site_is_the_budget_rule():
    """S = 1: a site budget is the node budget, and the edges are the Budget rule's, draw for
    draw (the site rule's own seeds come from another generator). Budgets >= 1: a node that
    can bond nothing is left out by SiteBudget's tree, kept unbonded by Budget's."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 36, 4, generator=gen) * 2
    budget = torch.randint(1, 5, (64, 9), generator=gen).float()
    node_mask = torch.rand(64, 9, generator=gen) > 0.2
    site_logits = torch.randn(64, 36, 2, 1, generator=gen)
    for connect in (None, "tree", "join"):
        site_rule = C.SiteBudget(
            budget.unsqueeze(-1), COST, site_logits, generator=torch.Generator().manual_seed(1)
        )
        by_site, by_node = (
            C.constrained_symmetric_gumbel_softmax(
                logits,
                rules=(rule, C.MaxCycle(5)),
                connect=connect,
                node_mask=node_mask,
                generator=torch.Generator().manual_seed(2),
            )
            for rule in (site_rule, C.Budget(budget, COST))
        )
        assert torch.equal(by_site, by_node)
        has_edge = by_site.argmax(-1) > 0
        assert torch.all(site_rule.sites[..., 0] == has_edge)


@pytest.mark.parametrize("estimator", F.ESTIMATORS)
def test_gradients_reach_the_site_logits_of_the_edges_drawn(estimator):
    bond_logits, site_logits, budget, node_mask = random_case(32, 7, 4, 1)
    site_logits.requires_grad_()
    bond_logits.requires_grad_()
    edges, sites = sample(
        bond_logits, site_logits, budget, node_mask=node_mask, estimator=estimator
    )
    weights = torch.randn(sites.shape, generator=torch.Generator().manual_seed(5))
    (sites * weights).sum().backward()
    grad = site_logits.grad  # [B, P, 2, S]
    rows, cols = torch.triu_indices(7, 7, offset=1)
    has_edge = edges.detach().argmax(-1)[:, rows, cols] > 0  # [B, P]
    assert torch.all(grad[~has_edge] == 0)
    # A site of budget 0 is masked for every bond: zero gradient.
    ends = torch.stack([budget[:, rows], budget[:, cols]], 2)  # [B, P, 2, S]
    assert torch.all(grad[ends == 0] == 0)
    assert (grad[has_edge] != 0).any(-1).float().mean() > 0.5
    assert bond_logits.grad is None or torch.all(bond_logits.grad == 0)  # sites only


def test_straight_through_sites_carry_the_relaxed_sites_gradient():
    """Same seed: the hard sites are the argmax of the relaxed ones (the same noise and
    masks), and their straight-through gradient is the relaxed sites' gradient."""
    bond_logits, site_logits, budget, node_mask = random_case(32, 7, 4, 3)
    weights = torch.randn(32, 7, 7, 4, generator=torch.Generator().manual_seed(1))
    grads, samples = [], []
    for hard in (True, False):
        logits = site_logits.clone().requires_grad_()
        _, sites = sample(bond_logits, logits, budget, 4, node_mask=node_mask, hard=hard, tau=0.7)
        (sites * weights).sum().backward()
        grads.append(logits.grad)
        samples.append(sites.detach())
    has_site = samples[0].sum(-1) > 0
    assert torch.equal(samples[0][has_site].argmax(-1), samples[1][has_site].argmax(-1))
    assert (samples[1][has_site].max(-1).values < 0.9).sum() > 20  # relaxed indeed
    torch.testing.assert_close(grads[0], grads[1])
    assert (grads[0] != 0).sum() > 100


@pytest.mark.parametrize("connect", [None, "tree", "join"])
def test_same_seed_same_sample_with_or_without_grad(connect):
    bond_logits, site_logits, budget, node_mask = random_case(32, 8, 3, 2)
    kwargs = {"node_mask": node_mask, "connect": connect, "estimator": "gumbel_rao"}
    first = sample(bond_logits, site_logits, budget, 7, **kwargs)
    with_grad = sample(bond_logits, site_logits.requires_grad_(), budget, 7, **kwargs)
    other = sample(bond_logits, site_logits, budget, 8, **kwargs)
    for a, b in zip(first, with_grad, strict=True):
        assert torch.equal(a, b.detach())
    assert not torch.equal(first[1], other[1])


def test_dense_site_logits_equal_pair_site_logits():
    bond_logits, _, budget, node_mask = random_case(16, 6, 3, 4)
    dense = torch.randn(16, 6, 6, 3, generator=torch.Generator().manual_seed(0))
    rows, cols = torch.triu_indices(6, 6, offset=1)
    pairs = torch.stack([dense[:, rows, cols], dense[:, cols, rows]], 2)
    for a, b in zip(
        sample(bond_logits, dense, budget, node_mask=node_mask),
        sample(bond_logits, pairs, budget, node_mask=node_mask),
        strict=True,
    ):
        assert torch.equal(a, b)


def test_argmax_twin_takes_each_draws_mode():
    """Ample budgets and no forest: every pair takes its argmax class and every edge end its
    argmax site, under rounds or a tree alike."""
    bond_logits, site_logits, _, _ = random_case(8, 5, 3, 6)
    budget = torch.full((8, 5, 3), 100.0)
    edges, sites = C.site_one_hot_argmax(
        bond_logits, site_logits, budget, COST, forest=False, connect=None
    )
    rows, cols = torch.triu_indices(5, 5, offset=1)
    assert torch.equal(edges.argmax(-1)[:, rows, cols], bond_logits.argmax(-1))
    has_edge = edges[:, rows, cols].argmax(-1) > 0
    assert torch.equal(
        sites[:, rows, cols].argmax(-1)[has_edge], site_logits[:, :, 0].argmax(-1)[has_edge]
    )
    assert torch.equal(
        sites[:, cols, rows].argmax(-1)[has_edge], site_logits[:, :, 1].argmax(-1)[has_edge]
    )
    tree = C.site_one_hot_argmax(bond_logits, site_logits, budget, COST, forest=False)
    again = C.site_one_hot_argmax(bond_logits, site_logits, budget, COST, forest=False)
    assert all(torch.equal(a, b) for a, b in zip(tree, again, strict=True))


def test_argmax_twin_respects_budgets_and_forest():
    bond_logits, site_logits, budget, node_mask = random_case(64, 8, 3, 9)
    edges, sites = C.site_one_hot_argmax(bond_logits, site_logits, budget, COST, node_mask)
    assert torch.all(site_spent(edges.argmax(-1), sites) <= budget.double())
    tree_checks(edges, attachable_by_loop(budget.sum(-1), node_mask), node_mask)


def test_module_matches_the_functions():
    bond_logits, site_logits, budget, node_mask = random_case(16, 6, 3, 3)
    layer = mnn.SiteGumbelSoftmax(estimator="reinmax", eval_mode="argmax")
    assert "forest=True" in repr(layer) and "connect='tree'" in repr(layer)
    assert "max_cycle=5" in repr(mnn.SiteGumbelSoftmax(forest=False, max_cycle=5))
    with pytest.raises(ValueError, match="forest=False"):
        mnn.SiteGumbelSoftmax(max_cycle=5)
    assert layer.training  # training mode samples whatever eval_mode says
    out = layer(
        bond_logits, site_logits, budget, COST, 0.5, node_mask, torch.Generator().manual_seed(0)
    )
    ref = C.site_gumbel_softmax(
        bond_logits,
        site_logits,
        budget,
        COST,
        0.5,
        node_mask=node_mask,
        estimator="reinmax",
        generator=torch.Generator().manual_seed(0),
    )
    assert all(torch.equal(a, b) for a, b in zip(out, ref, strict=True))
    layer.eval()
    mode = layer(bond_logits, site_logits, budget, COST, node_mask=node_mask)
    ref = C.site_one_hot_argmax(bond_logits, site_logits, budget, COST, node_mask)
    assert all(torch.equal(a, b) for a, b in zip(mode, ref, strict=True))
    with pytest.raises(ValueError, match="forest"):
        mnn.SiteGumbelSoftmax(forest=1)


def test_site_budget_of_reads_the_table():
    table = torch.tensor([[0, 0, 0], [4, 0, 0], [2, 1, 0], [1, 1, 2]])
    classes = torch.tensor([[1, 3, 0], [2, 2, 1]])
    one_hot = torch.nn.functional.one_hot(classes, 4).float()
    by_matmul = C.site_budget_of(one_hot, table)
    expected = torch.stack([torch.stack([table[t] for t in row]) for row in classes]).float()
    assert torch.equal(by_matmul, expected)
    assert torch.equal(C.site_budget_of(classes, table), expected)
    with pytest.raises(ValueError, match="types"):
        C.site_budget_of(one_hot[..., :3], table)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        C.site_budget_of(classes + 2, table)


@pytest.mark.parametrize(
    ("budget", "site_logits", "match"),
    [
        (torch.ones(2, 4), torch.zeros(2, 6, 2, 3), r"\[B, N, S\]"),
        (torch.ones(2, 5, 3), torch.zeros(2, 6, 2, 3), r"\[B, N, S\] = \[2, 4, S\]"),
        (torch.ones(2, 4, 3), torch.zeros(2, 6, 2, 2), "site_logits must have shape"),
        (torch.ones(2, 4, 3), torch.zeros(2, 6, 2, 3, dtype=torch.long), "floating"),
        (-torch.ones(2, 4, 3), torch.zeros(2, 6, 2, 3), ">= 0"),
        (torch.ones(2, 4, 0), torch.zeros(2, 6, 2, 0), "no sites"),
    ],
)
def test_bad_arguments(budget, site_logits, match):
    with pytest.raises(ValueError, match=match):
        C.site_gumbel_softmax(torch.zeros(2, 6, 4), site_logits, budget, COST)
