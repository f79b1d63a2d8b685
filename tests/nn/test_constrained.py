"""molgen.nn.constrained: the rules' laws and guarantees, the loop, the entry points."""

import math

import pytest
import torch
from sampling_checks import P_MIN, assert_frequencies, assert_one_hot
from scipy import stats

from molgen.nn import constrained as C
from molgen.nn import functional as F
from molgen.nn.constrained.loop import _connected_labels

COST = torch.tensor([0.0, 1.0, 2.0, 3.0])


def budgeted(logits, budget, cost=COST, seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return C.budgeted_symmetric_gumbel_softmax(logits, budget, cost, generator=gen, **kwargs)


def spent(adj, cost=COST):
    """What each node spends in the one-hot edge tensor ``[B, N, N, C]``: ``[B, N]``."""
    return cost[adj.detach().argmax(-1)].sum(-1)


def components(adj, present):
    """Union-find components of the present nodes of one graph ``[N, N, C]``: root per node."""
    n = adj.shape[0]
    root = list(range(n))

    def find(i):
        while root[i] != i:
            i = root[i]
        return i

    classes = adj.argmax(-1)
    for i in range(n):
        for j in range(i + 1, n):
            if classes[i, j] != 0 and present[i] and present[j]:
                root[find(i)] = find(j)
    return [find(i) for i in range(n)]


def random_case(batch, n, seed, max_budget=4, p_absent=0.2):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, n * (n - 1) // 2, len(COST), generator=gen) * 2
    budget = torch.randint(0, max_budget + 1, (batch, n), generator=gen).float()
    node_mask = torch.rand(batch, n, generator=gen) > p_absent
    return logits, budget, node_mask


@pytest.mark.parametrize("dense", [False, True])
def test_budgeted_with_unlimited_budgets_matches_symmetric_frequencies(dense):
    n, size = 100_000, 4
    logits = torch.randn(1, size, size, 3, generator=torch.Generator().manual_seed(0)) * 1.5
    logits = (logits + logits.transpose(1, 2)) / 2
    rows, cols = torch.triu_indices(size, size, offset=1)
    x = logits.expand(n, -1, -1, -1) if dense else logits[:, rows, cols].expand(n, -1, -1)
    budget = torch.full((n, size), math.inf)
    adj = budgeted(x, budget, COST[:3], tau=0.7)
    probs = torch.softmax(logits[0].double(), -1)
    counts = adj.double().sum(0)
    observed = counts[rows, cols].flatten().numpy()
    expected = (probs[rows, cols] * n).flatten().numpy()
    statistic = ((observed - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(statistic, df=12) > P_MIN  # 6 pairs, 3 classes each


def test_budgeted_joint_distribution_follows_the_round_order():
    """N = 3: rounds (1, 2), (0, 1), (0, 2); each pair is softmax over the classes that fit
    both ends' budget left by the earlier rounds. Exact joint law by enumeration."""
    n = 200_000
    cost = COST[:3]
    pair_logits = torch.tensor([[0.3, 0.8, -0.2], [0.1, 0.5, 0.9], [-0.4, 1.0, 0.6]])
    budget = torch.tensor([2.0, 2.0, 3.0])
    order = [(1, 2), (0, 1), (0, 2)]
    index = {(0, 1): 0, (0, 2): 1, (1, 2): 2}
    expected = torch.zeros(3, 3, 3, dtype=torch.float64)  # classes of pairs (0,1), (0,2), (1,2)
    for outcome in torch.cartesian_prod(*[torch.arange(3)] * 3).tolist():
        remaining, prob = budget.clone(), 1.0
        for i, j in order:
            c = outcome[index[(i, j)]]
            fits = cost <= torch.minimum(remaining[i], remaining[j])
            theta = pair_logits[index[(i, j)]].double().masked_fill(~fits, -math.inf)
            probs = torch.softmax(theta, -1)
            prob *= probs[c].item()
            remaining[i] -= cost[c]
            remaining[j] -= cost[c]
        expected[tuple(outcome)] = prob
    adj = budgeted(pair_logits.expand(n, 3, 3), budget.expand(n, 3), cost)
    classes = adj.argmax(-1)
    joint = classes[:, 0, 1] * 9 + classes[:, 0, 2] * 3 + classes[:, 1, 2]
    counts = torch.bincount(joint, minlength=27).double()
    assert_frequencies(counts, expected.flatten(), n)


@pytest.mark.parametrize("tau", [1.0, 0.6])
def test_tree_joint_distribution_is_tree_then_rounds(tau):
    """N = 3, connect="tree": node 1 draws (0, 1)'s class among those >= 1 that fit; node 2
    draws (j, c) jointly over j in {0, 1}, c >= 1 that fit; the pair outside the tree is then
    drawn within what is left (class 0 always allowed). Exact joint law by enumeration; tau
    changes no hard sample."""
    n = 200_000
    cost = COST[:3]
    pair_logits = torch.tensor([[0.3, 0.8, -0.2], [0.1, 0.5, 0.9], [-0.4, 1.0, 0.6]])
    budget = torch.tensor([3.0, 2.0, 3.0])
    index = {(0, 1): 0, (0, 2): 1, (1, 2): 2}
    theta = pair_logits.double()

    def fitting(remaining, i, j):
        return cost <= torch.minimum(remaining[i], remaining[j])

    expected = torch.zeros(27, dtype=torch.float64)
    for outcome in torch.cartesian_prod(*[torch.arange(3)] * 3).tolist():
        c01, c02, c12 = outcome
        fits = fitting(budget, 0, 1)
        fits[0] = False
        p_tree1 = torch.softmax(theta[0].masked_fill(~fits, -math.inf), -1)[c01].item()
        if p_tree1 == 0:
            continue
        after1 = budget.double().clone()
        after1[:2] -= cost[c01]
        # node 2: (j, c) over j = 0, 1 and c = 1, 2
        options = torch.cat([theta[index[(j, 2)], 1:] for j in (0, 1)])
        fits = torch.cat([fitting(after1, j, 2)[1:] for j in (0, 1)])
        probs = torch.softmax(options.masked_fill(~fits, -math.inf), -1)
        prob = 0.0
        for j, c in ((0, c02), (1, c12)):  # which of node 2's edges the tree drew
            if c == 0 or probs[j * 2 + c - 1] == 0:
                continue
            left = after1.clone()
            left[[j, 2]] -= cost[c]
            other = (1 - j, 2)  # outside the tree: drawn within what is left
            fit = fitting(left, *other)
            p_other = torch.softmax(theta[index[other]].masked_fill(~fit, -math.inf), -1)
            prob += probs[j * 2 + c - 1].item() * p_other[outcome[index[other]]].item()
        expected[c01 * 9 + c02 * 3 + c12] = p_tree1 * prob
    assert abs(expected.sum().item() - 1) < 1e-12
    adj = budgeted(pair_logits.expand(n, 3, 3), budget.expand(n, 3), cost, tau=tau,
                   connect="tree")  # fmt: skip
    classes = adj.argmax(-1)
    joint = classes[:, 0, 1] * 9 + classes[:, 0, 2] * 3 + classes[:, 1, 2]
    assert_frequencies(torch.bincount(joint, minlength=27), expected, n)


def test_tree_connects_whenever_a_tree_in_node_order_exists():
    """Tight budgets and logits that favour dear edges: whenever the nodes' budgets admit a tree
    of single edges in node order (the room of the nodes before each present node, each
    attached by a single edge, is at least 1), every present node bonds an earlier one."""
    n, batch = 8, 400
    feasible_seen = infeasible_seen = 0
    for seed in range(3):
        logits, _, node_mask = random_case(batch, n, seed=seed + 20, p_absent=0.2)
        logits[..., 2:] += 3.0  # double and triple edges would use up the room first
        gen = torch.Generator().manual_seed(seed)
        budget = torch.randint(1, 5, (batch, n), generator=gen).float()
        adj = budgeted(logits, budget, node_mask=node_mask, connect="tree", seed=seed)
        assert torch.all(spent(adj) <= budget)
        classes = adj.argmax(-1)
        for b in range(batch):
            present = [i for i in range(n) if node_mask[b, i]]
            room, feasible = 0.0, True
            for k in present:
                if k != present[0]:
                    feasible &= room >= 1
                    room -= 2
                room += budget[b, k].item()
            attached = all(
                any(classes[b, j, i] != 0 for j in present if j < i) for i in present[1:]
            )
            if feasible:
                assert attached
            feasible_seen += feasible
            infeasible_seen += not feasible
    assert feasible_seen > 300 and infeasible_seen > 100


def test_tree_keeps_room_for_later_nodes():
    """Budgets 2, 2, 1 and a near-certain double edge (0, 1): a double edge would leave no
    room for node 2, so the tree edge (0, 1) is single and node 2 bonds node 0 or 1."""
    cost = COST[:3]
    logits = torch.tensor([[[0.0, 0.0, 30.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]).expand(500, 3, 3)
    adj = budgeted(logits, torch.tensor([2.0, 2.0, 1.0]).expand(500, 3), cost, connect="tree")
    classes = adj.argmax(-1)
    assert torch.all(classes[:, 0, 1] == 1)
    assert torch.all((classes[:, 0, 2] != 0) | (classes[:, 1, 2] != 0))


def test_tree_attachable_matches_a_loop_over_the_nodes():
    """Against the rule walked node by node: a present node attaches if the tree so far has
    room for the cheapest edge (1 here), and then adds its budget less both ends' cost."""
    gen = torch.Generator().manual_seed(0)
    budget = torch.randint(0, 5, (500, 8), generator=gen).float()
    budget[:50, 3] = math.inf
    node_mask = torch.rand(500, 8, generator=gen) > 0.25
    kept = C.tree_attachable(budget, COST, node_mask)
    dropped = 0
    for b in range(500):
        room, closed = None, False  # None: no tree yet
        for i in range(8):
            expected = bool(node_mask[b, i]) and not closed
            if expected and room is None:
                room = budget[b, i].item()
            elif expected:
                expected = room >= 1
                room += budget[b, i].item() - 2 if expected else 0
            closed = closed or (room is not None and room < 1) or (node_mask[b, i] and not expected)
            assert bool(kept[b, i]) == expected, (b, i)
            dropped += bool(node_mask[b, i]) and not expected
    assert dropped > 100
    all_present = torch.ones_like(node_mask)
    assert torch.equal(
        C.tree_attachable(budget, COST), C.tree_attachable(budget, COST, all_present)
    )


@pytest.mark.parametrize("connect", [False, "tree", "join"])
@pytest.mark.parametrize(("hard", "estimator"), [(True, "st"), (True, "reinmax"), (False, "st")])
def test_budgets_are_never_exceeded(connect, hard, estimator):
    binding = 0
    for seed, n in enumerate([2, 3, 4, 5, 6, 7, 9]):
        logits, budget, node_mask = random_case(300, n, seed)
        adj = budgeted(
            logits, budget, node_mask=node_mask, connect=connect, hard=hard, estimator=estimator
        )
        used = spent(adj)
        assert torch.all(used <= budget)
        binding += int((used == budget)[budget > 0].sum())
    assert binding > 100  # the budgets did constrain the samples


def test_budgeted_samples_are_symmetric_one_hot_and_respect_node_mask():
    logits, budget, node_mask = random_case(200, 6, seed=1, max_budget=8)
    for connect in (False, "tree", "join"):
        adj = budgeted(logits, budget, node_mask=node_mask, connect=connect, tau=0.5)
        assert adj.shape == (200, 6, 6, 4) and torch.equal(adj, adj.transpose(1, 2))
        assert_one_hot(adj)
        assert torch.all(adj.diagonal(dim1=1, dim2=2)[:, 0] == 1)
        absent = ~(node_mask.unsqueeze(2) & node_mask.unsqueeze(1))
        assert torch.all(adj[absent][:, 0] == 1)


def test_budgeted_dense_input_equals_pair_input():
    logits = torch.randn(50, 5, 5, 4)
    budget = torch.randint(0, 5, (50, 5)).float()
    rows, cols = torch.triu_indices(5, 5, offset=1)
    pairs = (logits[:, rows, cols] + logits[:, cols, rows]) / 2
    for connect in (False, "tree", "join"):
        dense = budgeted(logits, budget, seed=3, connect=connect)
        assert torch.equal(dense, budgeted(pairs, budget, seed=3, connect=connect))


@pytest.mark.parametrize("connect", ["tree", "join", True])
def test_connect_with_ample_budgets_gives_connected_graphs(connect):
    n = 7
    logits, _, node_mask = random_case(300, n, seed=2, p_absent=0.3)
    logits[..., 0] += 3.0  # mostly no edge: unconstrained samples are fragmented
    budget = torch.full((300, n), (n - 1) * 3.0)
    free = budgeted(logits, budget, node_mask=node_mask)
    adj = budgeted(logits, budget, node_mask=node_mask, connect=connect)
    fragmented = 0
    for b in range(300):
        present = node_mask[b].tolist()
        roots = {r for r, p in zip(components(adj[b], present), present, strict=True) if p}
        assert len(roots) <= 1
        free_roots = components(free[b], present)
        fragmented += len({r for r, p in zip(free_roots, present, strict=True) if p}) > 1
        if connect == "tree":  # every present node bonds an earlier present node
            classes = adj[b].argmax(-1)
            for i in range(n):
                earlier = [j for j in range(i) if present[j]]
                if present[i] and earlier:
                    assert any(classes[j, i] != 0 for j in earlier)
    assert fragmented > 100


def test_join_stops_only_when_no_allowed_edge_joins_two_fragments():
    """Tight budgets: after joining, no pair of present nodes in different fragments has
    room for the cheapest edge at both ends (checked from the output alone)."""
    for seed, n in enumerate([3, 4, 5, 6, 8]):
        logits, budget, node_mask = random_case(300, n, seed + 10, max_budget=3)
        logits[..., 0] += 2.0
        adj = budgeted(logits, budget, node_mask=node_mask, connect="join")
        room = budget - spent(adj)
        for b in range(300):
            present = node_mask[b].tolist()
            roots = components(adj[b], present)
            for i in range(n):
                for j in range(i + 1, n):
                    if present[i] and present[j] and roots[i] != roots[j]:
                        assert min(room[b, i], room[b, j]) < 1


def test_join_adds_the_highest_logit_allowed_edges_with_gradient():
    cost = COST[:3]
    # pairs (0, 1), (0, 2), (1, 2); class 0 certain, so the sample has no edge before joining
    logits = torch.tensor([[[60.0, 1.0, 2.0], [60.0, 3.0, 0.0], [60.0, 2.5, 0.0]]])
    logits.requires_grad_()
    budget = torch.tensor([[1.0, 3.0, 3.0]])
    adj = budgeted(logits, budget, cost, connect="join")
    # (0, 2) class 1 first (logit 3); node 0 is then full, so {1} joins through (1, 2) class 1
    assert adj[0].argmax(-1).tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    adj[0, 0, 2, 1].backward()
    assert logits.grad[0, 1].abs().sum() > 0 and torch.all(torch.isfinite(logits.grad))
    mode = C.budgeted_symmetric_one_hot_argmax(logits, budget, cost, connect="join")
    assert torch.equal(mode, adj.detach())


@pytest.mark.parametrize("connect", [False, "tree", "join"])
def test_budgeted_same_seed_same_sample(connect):
    logits, budget, node_mask = random_case(100, 6, seed=4)
    a = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=1)
    b = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=1)
    c = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("estimator", F.ESTIMATORS)
@pytest.mark.parametrize("connect", [False, "tree", "join"])
def test_budgeted_gradients_reach_every_unmasked_entry(estimator, connect):
    """Class 3 costs more than any budget (always masked); the budgets are ample for the rest.
    Float64, so that no relaxed sample saturates to an exact one-hot (zero ST gradient)."""
    n = 5
    logits = torch.randn(40, n * (n - 1) // 2, 4, dtype=torch.float64, requires_grad=True)
    node_mask = torch.ones(40, n, dtype=torch.bool)
    node_mask[:20, 3] = False
    cost = torch.tensor([0.0, 1.0, 2.0, 9.0])
    adj = budgeted(
        logits, torch.full((40, n), 8.0), cost, node_mask=node_mask, connect=connect,
        estimator=estimator,
    )  # fmt: skip
    weights = torch.randn(adj.shape, generator=torch.Generator().manual_seed(0), dtype=adj.dtype)
    (adj * weights).sum().backward()
    grad = logits.grad
    assert torch.all(torch.isfinite(grad))
    rows, cols = torch.triu_indices(n, n, offset=1)
    present = node_mask[:, rows] & node_mask[:, cols]
    assert torch.all(grad[..., 3] == 0) and torch.all(grad[~present] == 0)
    assert torch.all(grad[present][:, 1:3] != 0)
    # "tree" masks class 0 where it forces an edge: those pairs hold an edge
    no_class0_grad = present & (grad[..., 0] == 0)
    drawn = adj.detach()[:, rows, cols].argmax(-1)
    assert torch.all(drawn[no_class0_grad] != 0)
    assert connect == "tree" or not no_class0_grad.any()


def test_budgeted_no_grad_gives_the_same_sample():
    logits, budget, node_mask = random_case(100, 6, seed=5)
    for estimator in F.ESTIMATORS:
        kwargs = {"node_mask": node_mask, "estimator": estimator, "connect": "join", "seed": 6}
        with_grad = budgeted(logits.clone().requires_grad_(), budget, **kwargs)
        with torch.no_grad():
            assert torch.equal(budgeted(logits, budget, **kwargs), with_grad.detach())


def test_budgeted_argmax_is_the_mode_with_unlimited_budgets_and_respects_budgets():
    logits = torch.randn(30, 6, 6, 4)
    node_mask = torch.rand(30, 6) > 0.2
    unlimited = torch.full((30, 6), math.inf)
    mode = C.budgeted_symmetric_one_hot_argmax(logits, unlimited, COST, node_mask=node_mask)
    assert torch.equal(mode, F.symmetric_one_hot_argmax(logits, node_mask=node_mask))
    budget = torch.randint(0, 4, (30, 6)).float()
    for connect in (False, "tree", "join"):
        mode = C.budgeted_symmetric_one_hot_argmax(logits, budget, COST, connect=connect)
        assert torch.all(spent(mode) <= budget) and torch.equal(mode, mode.transpose(1, 2))


@pytest.mark.parametrize(
    ("logits", "budget", "cost", "kwargs", "match"),
    [
        (torch.randn(2, 6, 4), torch.ones(2, 5), COST, {}, r"\[B, N\(N-1\)/2, C\]"),
        (torch.randn(2, 4, 5, 4), torch.ones(2, 4), COST, {}, r"\[B, N, N, C\]"),
        (torch.randn(2, 6), torch.ones(2, 4), COST, {}, "logits must have shape"),
        (torch.randn(2, 6, 4), torch.ones(2, 4, 1), COST, {}, "budget"),
        (torch.randn(2, 6, 4), -torch.ones(2, 4), COST, {}, "budget must be >= 0"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST[:3], {}, r"cost must have shape \[C\]"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), -COST, {}, "cost must be finite and >= 0"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST + 1, {}, r"cost\[0\]"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"tau": 0.0}, "tau"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"connect": "spanning"}, "connect"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"estimator": "x"}, "estimator"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"max_cycle": 1}, "max_cycle"),
        (torch.randn(2, 6, 4), torch.ones(2, 4), COST, {"max_cycle": 4.0}, "max_cycle"),
        (
            torch.randn(2, 6, 4),
            torch.ones(2, 4),
            COST,
            {"node_mask": torch.ones(2, 3, dtype=torch.bool)},
            "node_mask",
        ),
    ],
)
def test_budgeted_bad_arguments(logits, budget, cost, kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.budgeted_symmetric_gumbel_softmax(logits, budget, cost, **kwargs)


def short_cycles_span(adj, max_cycle):
    """Whether the cycles of at most ``max_cycle`` edges of one graph (one-hot ``[N, N, C]``,
    class 0 = no edge) span its cycle space, i.e. a minimum cycle basis has no longer cycle:
    simple cycles enumerated by depth-first search, their edge sets' GF(2) rank against the
    cycle rank E - N + components."""
    n = adj.shape[0]
    classes = adj.argmax(-1)
    neighbours = [[j for j in range(n) if j != i and classes[i, j] != 0] for i in range(n)]
    bit = {}
    for i in range(n):
        for j in neighbours[i]:
            bit.setdefault(frozenset((i, j)), 1 << len(bit))
    cycles = set()

    def walk(start, node, mask, used, length):
        for nxt in neighbours[node]:
            edge = bit[frozenset((node, nxt))]
            if nxt == start and length >= 2 and not edge & mask:
                cycles.add(mask | edge)
            elif nxt > start and not used >> nxt & 1 and length < max_cycle - 1:
                walk(start, nxt, mask | edge, used | 1 << nxt, length + 1)

    for start in range(n):
        walk(start, start, 0, 1 << start, 0)
    basis = []  # GF(2) elimination on bit masks
    for vector in cycles:
        for b in basis:
            vector = min(vector, vector ^ b)
        if vector:
            basis.append(vector)
    n_components = len(set(components(adj, torch.ones(n, dtype=torch.bool))))
    return len(basis) == len(bit) - n + n_components


@pytest.mark.parametrize("connect", [False, "tree", "join"])
def test_max_cycle_leaves_no_longer_ring(connect):
    """Every cycle of a minimum cycle basis (RDKit's rings) has at most ``max_cycle`` edges,
    checked against cycles enumerated independently; without the rule many graphs have a
    longer one, and with it edges still close short cycles."""
    n, batch = 8, 150
    logits, _, node_mask = random_case(batch, n, seed=11, p_absent=0.1)
    logits[..., 1] += 1.5  # mostly single edges: many cycles
    budget = torch.full((batch, n), 4.0)
    for max_cycle in (3, 4):
        free = budgeted(logits, budget, node_mask=node_mask, connect=connect, seed=2)
        capped = budgeted(
            logits, budget, node_mask=node_mask, connect=connect, seed=2, max_cycle=max_cycle
        )
        assert torch.all(spent(capped) <= budget)
        longer = sum(not short_cycles_span(free[b], max_cycle) for b in range(batch))
        assert longer > 10
        assert all(short_cycles_span(capped[b], max_cycle) for b in range(batch))
        n_edges = (capped.argmax(-1) != 0).sum((1, 2)) // 2
        present = node_mask.sum(1)
        assert int((n_edges >= present).sum()) > 20  # cycles were still closed
        if connect == "tree":
            for b in range(batch):  # the tree comes first: still one piece
                roots = components(capped[b], node_mask[b])
                assert len({roots[i] for i in range(n) if node_mask[b, i]}) == 1


def test_max_cycle_two_gives_forests_and_large_values_change_nothing():
    logits, budget, node_mask = random_case(200, 7, seed=4, max_budget=6)
    for connect in (False, "tree", "join"):
        forest = budgeted(logits, budget, node_mask=node_mask, connect=connect, max_cycle=2)
        n_edges = (forest.argmax(-1) != 0).sum((1, 2)) // 2
        for b in range(200):
            roots = components(forest[b], torch.ones(7, dtype=torch.bool))
            assert n_edges[b] == 7 - len(set(roots))  # edges = nodes - components: no cycle
        free = budgeted(logits, budget, node_mask=node_mask, connect=connect)
        for max_cycle in (7, 100):
            same = budgeted(
                logits, budget, node_mask=node_mask, connect=connect, max_cycle=max_cycle
            )
            assert torch.equal(same, free)
        mode = C.budgeted_symmetric_one_hot_argmax(
            logits, budget, COST, node_mask=node_mask, connect=connect, max_cycle=2
        )
        n_edges = (mode.argmax(-1) != 0).sum((1, 2)) // 2
        assert all(
            n_edges[b] == 7 - len(set(components(mode[b], torch.ones(7, dtype=torch.bool))))
            for b in range(200)
        )


def test_max_cycle_gradients_reach_the_entries_it_allows():
    logits, budget, node_mask = random_case(64, 6, seed=5, max_budget=6)
    logits.requires_grad_(True)
    adj = budgeted(logits, budget, node_mask=node_mask, connect="tree", max_cycle=4)
    (adj * torch.randn_like(adj)).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert int((logits.grad != 0).sum()) > 0


def test_budgeted_single_node_graph():
    adj = C.budgeted_symmetric_gumbel_softmax(
        torch.randn(2, 0, 4, requires_grad=True), torch.ones(2, 1), COST, connect=True
    )
    assert adj.tolist() == [[[[1.0, 0.0, 0.0, 0.0]]]] * 2


def test_budgeted_estimators_share_the_sample():
    logits, budget, node_mask = random_case(100, 6, seed=7)
    samples = [
        budgeted(logits, budget, node_mask=node_mask, estimator=estimator, connect="tree")
        for estimator in F.ESTIMATORS
    ]
    assert torch.equal(samples[0], samples[1]) and torch.equal(samples[0], samples[2])


# ------------------------------------------------------------------ rules and the loop


class MaxDegree(C.Rule):
    """A rule written outside the module: no node gets more than ``k`` edges."""

    def __init__(self, k):
        self.k = k

    def init(self, state):
        self.degree = torch.zeros(state.present.shape, dtype=torch.long)

    def mask(self, state, candidates):
        full = (self.degree[:, candidates.left] >= self.k) | (
            self.degree[:, candidates.right] >= self.k
        )
        no_edge = torch.arange(state.logits.shape[-1]) == 0
        return ~full.unsqueeze(-1) | no_edge  # [B, K, C]

    def update(self, state, candidates, classes):
        added = (classes > 0).long()
        self.degree.index_add_(1, candidates.left, added)
        self.degree.index_add_(1, candidates.right, added)


class Recorder(C.Rule):
    """Records the hooks the loop calls and the edges it reports."""

    def __init__(self):
        self.calls = []

    def attachable(self, state):
        self.calls.append("attachable")

    def init(self, state):
        self.calls.append("init")
        self.edges = torch.zeros(state.classes.shape, dtype=torch.long)

    def mask(self, state, candidates):
        self.calls.append("mask")

    def update(self, state, candidates, classes):
        self.calls.append("update")
        self.edges[:, candidates.pairs] += (classes > 0).long()


@pytest.mark.parametrize("connect", [None, "join", "tree"])
def test_a_new_rule_plugs_into_the_loop(connect):
    """A rule defined here, with the budget: its guarantee holds for every graph, every edge
    of the sample was reported to it once, and it changed samples it had to change."""
    logits, budget, node_mask = random_case(300, 7, seed=30, max_budget=9)
    logits[..., 1] += 1.0
    gen = torch.Generator().manual_seed(0)
    budget_only = C.constrained_symmetric_gumbel_softmax(
        logits, rules=(C.Budget(budget, COST),), connect=connect, node_mask=node_mask,
        generator=gen,
    )  # fmt: skip
    recorder = Recorder()
    rules = (C.Budget(budget, COST), MaxDegree(2), recorder)
    adj = C.constrained_symmetric_gumbel_softmax(
        logits, rules=rules, connect=connect, node_mask=node_mask,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    classes = adj.argmax(-1)
    degree = (classes != 0).sum(-1)
    assert torch.all(degree <= 2) and torch.all(spent(adj) <= budget)
    assert int(((budget_only.argmax(-1) != 0).sum(-1) > 2).sum()) > 50
    rows, cols = torch.triu_indices(7, 7, offset=1)
    assert torch.equal(recorder.edges, (classes[:, rows, cols] != 0).long())
    calls = recorder.calls
    assert calls[: 2 if connect == "tree" else 1] == (
        ["attachable", "init"] if connect == "tree" else ["init"]
    )
    assert calls.count("mask") >= 7 and calls.count("update") >= 7


@pytest.mark.parametrize("max_cycle", [None, 4])
@pytest.mark.parametrize("connect", [None, "join", "tree"])
def test_rules_api_is_the_budgeted_entry_point(connect, max_cycle):
    logits, budget, node_mask = random_case(100, 6, seed=31)
    rules = (C.Budget(budget, COST),) + (() if max_cycle is None else (C.MaxCycle(max_cycle),))
    new = C.constrained_symmetric_gumbel_softmax(
        logits, 0.5, rules=rules, connect=connect, node_mask=node_mask,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    old = budgeted(
        logits, budget, seed=3, tau=0.5, node_mask=node_mask, connect=connect,
        max_cycle=max_cycle,
    )  # fmt: skip
    assert torch.equal(new, old)
    mode = C.constrained_symmetric_one_hot_argmax(
        logits, rules=rules, connect=connect, node_mask=node_mask
    )
    assert torch.equal(
        mode,
        C.budgeted_symmetric_one_hot_argmax(
            logits, budget, COST, node_mask=node_mask, connect=connect, max_cycle=max_cycle
        ),
    )


def test_tree_keeps_only_attachable_nodes_and_connects_them():
    """Whatever node_mask the caller gives, the nodes no tree in node order can attach get no
    edge and every other present node bonds an earlier one; narrowing the mask first with
    tree_attachable (as the generator does for its atoms) gives the same sample."""
    n, batch = 8, 400
    logits, _, node_mask = random_case(batch, n, seed=32, p_absent=0.2)
    logits[..., 2:] += 3.0
    budget = torch.randint(1, 4, (batch, n), generator=torch.Generator().manual_seed(1)).float()
    adj = budgeted(logits, budget, node_mask=node_mask, connect="tree", seed=4)
    kept = C.tree_attachable(budget, COST, node_mask)
    dropped = node_mask & ~kept
    assert int(dropped.sum()) > 50
    classes = adj.argmax(-1)
    assert torch.all((classes != 0).sum(-1)[dropped] == 0)
    for b in range(batch):
        present = [i for i in range(n) if kept[b, i]]
        assert all(any(classes[b, j, i] != 0 for j in present if j < i) for i in present[1:])
    narrowed = budgeted(logits, budget, node_mask=kept, connect="tree", seed=4)
    assert torch.equal(narrowed, adj)
    assert torch.equal(C.tree_attachable(budget, COST, kept), kept)


def test_the_callers_budget_is_not_spent():
    logits, budget, node_mask = random_case(20, 5, seed=33)
    budget = budget.double()
    before = budget.clone()
    budgeted(logits, budget, node_mask=node_mask, connect="join")
    assert torch.equal(budget, before)


def test_connect_names():
    logits, budget, _ = random_case(4, 4, seed=34)
    rules = (C.Budget(budget, COST),)
    for legacy in (True, False, "earlier"):  # only the budgeted entry point reads these
        with pytest.raises(ValueError, match="connect"):
            C.constrained_symmetric_gumbel_softmax(logits, rules=rules, connect=legacy)
    seed = {"seed": 5}
    assert torch.equal(budgeted(logits, budget, connect="earlier", **seed),
                       budgeted(logits, budget, connect="tree", **seed))  # fmt: skip
    assert torch.equal(budgeted(logits, budget, connect=True, **seed),
                       budgeted(logits, budget, connect="join", **seed))  # fmt: skip
    with pytest.raises(ValueError, match="rules must be Rule objects"):
        C.constrained_symmetric_gumbel_softmax(logits, rules=(budget,))


# ---------------------------------------------------------------------------- aromatic rings

#: Edge classes of the aromatic cases: none, single, double, aromatic (its single-bond part).
AROMATIC_COST = torch.tensor([0.0, 1.0, 2.0, 1.0])
AROMATIC = 3
#: Node types of the aromatic cases: budget and role (C, N, O, S, F, [nH]).
TYPE_BUDGET = torch.tensor([4.0, 3.0, 2.0, 6.0, 1.0, 2.0])
TYPE_ROLE = torch.tensor([1, 3, 2, 2, 0, 2])


def aromatic_case(batch, n, seed, aromatic_bias=1.0):
    gen = torch.Generator().manual_seed(seed)
    types = torch.multinomial(
        torch.tensor([0.6, 0.15, 0.08, 0.05, 0.06, 0.06]), batch * n, True, generator=gen
    ).view(batch, n)
    budget, roles = TYPE_BUDGET[types], TYPE_ROLE[types]
    present = torch.rand(batch, n, generator=gen) > 0.1
    present &= C.tree_attachable(budget, AROMATIC_COST, present)  # as a generator draws atoms
    logits = torch.randn(batch, n * (n - 1) // 2, len(AROMATIC_COST), generator=gen)
    logits[..., AROMATIC] += aromatic_bias
    return logits, budget, roles, present


def aromatic_rules(budget, roles, max_cycle=None):
    rules = C.budget_rules(budget, AROMATIC_COST, max_cycle)
    sizes = [size for size in (5, 6) if max_cycle is None or size <= max_cycle]
    return (*rules, C.AromaticRings(rules[0], roles, AROMATIC, sizes))


def aromatic_draw(logits, budget, roles, present, seed=0, **kwargs):
    return C.constrained_symmetric_gumbel_softmax(
        logits,
        rules=aromatic_rules(budget, roles, kwargs.pop("max_cycle", None)),
        connect="tree",
        node_mask=present,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    )


def aromatic_problems(classes, budget, roles, present):
    """What breaks AromaticRings' guarantee in one graph (``[N, N]`` classes), checked
    independently with networkx: the aromatic edges form disjoint 5- and 6-cycles, a 6-cycle
    of pyridine-type nodes or a 5-cycle of four of them and one pyrrole-type node, with a
    perfect matching of the pyridine-type nodes by aromatic edges (a Kekule structure) that
    fits the budgets (one more unit at each pyridine-type node; nothing but its two ring
    edges at a pyrrole-type node, or one single edge more at a node of role 3); and the
    present nodes are connected."""
    import networkx as nx

    problems = []
    n = classes.shape[0]
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if classes[i, j] > 0]
    ring = nx.Graph([(i, j) for i, j in edges if classes[i, j] == AROMATIC])
    degree = (classes > 0).sum(-1)
    substituted = [k for k in ring.nodes if roles[k] == 3 and degree[k] == 3]
    for k in substituted:
        if sorted(classes[k][classes[k] > 0].tolist()) != [1, AROMATIC, AROMATIC]:
            problems.append(f"node {k} of role 3 with bonds {classes[k].tolist()}")
    roles = roles.clone()
    roles[substituted] = 2
    roles[roles == 3] = 1
    for cycle in nx.connected_components(ring):
        sub = ring.subgraph(cycle)
        kinds = sorted(int(roles[k]) for k in cycle)
        if any(d != 2 for _, d in sub.degree()) or kinds not in ([1] * 6, [1, 1, 1, 1, 2]):
            problems.append(f"aromatic component {sorted(cycle)} with roles {kinds}")
        pyridine = [k for k in cycle if roles[k] == 1]
        matching = nx.max_weight_matching(sub.subgraph(pyridine), maxcardinality=True)
        if 2 * len(matching) != len(pyridine):
            problems.append(f"no Kekule structure for {sorted(cycle)}")
    spent = AROMATIC_COST[classes].sum(-1)
    for k in ring.nodes:
        if roles[k] == 1 and spent[k] + 1 > budget[k]:
            problems.append(f"pyridine-type node {k} spends {spent[k]} + 1 > {budget[k]}")
        if roles[k] == 2 and degree[k] != 2 and k not in substituted:
            problems.append(f"pyrrole-type node {k} has {degree[k]} edges")
    graph = nx.Graph(edges)
    graph.add_nodes_from(present.nonzero().flatten().tolist())
    if nx.number_connected_components(graph) > 1:
        problems.append("more than one component")
    return problems


@pytest.mark.parametrize("max_cycle", [None, 6, 5])
def test_aromatic_rings_are_whole_kekulizable_rings_in_every_sample(max_cycle):
    logits, budget, roles, present = aromatic_case(400, 16, seed=max_cycle or 0)
    adj = aromatic_draw(logits, budget, roles, present, max_cycle=max_cycle)
    assert_one_hot(adj)
    classes = adj.argmax(-1)
    assert torch.all(spent(adj, AROMATIC_COST) <= budget)
    for b in range(len(classes)):
        assert not aromatic_problems(classes[b], budget[b], roles[b], present[b]), b
    aromatic = (classes == AROMATIC).sum((1, 2)) // 2
    assert (aromatic > 0).float().mean() > 0.3  # the rule draws rings, not just masks them
    if max_cycle == 5:  # only 5-rings: 5 aromatic edges each
        assert torch.all(aromatic % 5 == 0)


def test_aromatic_ring_closures_are_drawn_whatever_their_logits():
    """Aromatic logits high on the pairs (i - 1, i) and very low elsewhere: rings start in the
    tree, and each closing pair gets the aromatic class with probability 1 (the only class
    allowed there, required)."""
    logits, budget, roles, present = aromatic_case(300, 14, seed=3, aromatic_bias=0.0)
    rows, cols = torch.triu_indices(14, 14, 1)
    logits[..., AROMATIC] = torch.where(cols == rows + 1, 4.0, -30.0)
    classes = aromatic_draw(logits, budget, roles, present).argmax(-1)
    rings = 0
    for b in range(len(classes)):
        assert not aromatic_problems(classes[b], budget[b], roles[b], present[b]), b
        rings += int((classes[b] == AROMATIC).sum()) // 2
    assert rings > 300  # many closures against a logit of -30


def test_aromatic_ring_start_follows_the_tree_softmax_and_fixes_the_ring():
    """Six carbons: node 1's tree edge to node 0 is drawn over the four classes with softmax
    probabilities; the aromatic one makes the whole 6-ring, every other class no aromatic
    edge at all (the only ring the rule allows starts there)."""
    n_samples = 20_000
    logits = torch.tensor([0.0, 0.3, -0.2, 0.5]).expand(n_samples, 15, 4).clone()
    budget = torch.full((n_samples, 6), 4.0)
    roles = torch.ones(n_samples, 6, dtype=torch.long)
    present = torch.ones(n_samples, 6, dtype=torch.bool)
    classes = aromatic_draw(logits, budget, roles, present).argmax(-1)
    aromatic = (classes == AROMATIC).sum((1, 2)) // 2
    assert set(aromatic.unique().tolist()) <= {0, 6}
    first = classes[:, 0, 1]
    counts = torch.bincount(first, minlength=4)[1:]
    assert torch.equal(first == AROMATIC, aromatic == 6) or counts[AROMATIC - 1] == 0
    assert_frequencies(counts, torch.softmax(logits[0, 0, 1:].double(), -1), n_samples)


def test_aromatic_rings_are_reproducible_and_leave_the_other_rules_unchanged():
    logits, budget, roles, present = aromatic_case(64, 12, seed=5)
    first = aromatic_draw(logits, budget, roles, present, seed=7)
    assert torch.equal(first, aromatic_draw(logits, budget, roles, present, seed=7))
    # No node can be aromatic: the same draw as without the rule and the aromatic class masked.
    none = torch.zeros_like(roles)
    masked = logits.clone()
    masked[..., AROMATIC] = -math.inf
    without = C.constrained_symmetric_gumbel_softmax(
        masked,
        rules=C.budget_rules(budget, AROMATIC_COST),
        connect="tree",
        node_mask=present,
        generator=torch.Generator().manual_seed(7),
    )
    assert torch.equal(aromatic_draw(logits, budget, none, present, seed=7), without)


def test_aromatic_masked_classes_have_zero_probability_and_gradient():
    """The aromatic class is never allowed at a pair of two nodes that cannot be in a ring
    (its logit gets no gradient, and it is never drawn); a ring's closing pair has only the
    aromatic class allowed (no gradient to any of its logits); rings' own pairs do."""
    logits, budget, roles, present = aromatic_case(64, 12, seed=6)
    logits.requires_grad_(True)
    adj = aromatic_draw(logits, budget, roles, present)
    weights = torch.randn(adj.shape, generator=torch.Generator().manual_seed(0))
    (adj * (weights + weights.transpose(1, 2))).sum().backward()
    classes = adj.detach().argmax(-1)
    rows, cols = torch.triu_indices(12, 12, 1)
    pair_classes, grad = classes[:, rows, cols], logits.grad  # [B, P], [B, P, C]
    never = (roles[:, rows] == 0) | (roles[:, cols] == 0)
    assert torch.all(pair_classes[never] != AROMATIC)
    assert torch.all(grad[never][:, AROMATIC] == 0)
    # A ring's closing pair joins its first and last node.
    aromatic = pair_classes == AROMATIC
    first = _connected_labels(aromatic, 12)  # [B, N]: the smallest node of each one's ring
    same = first.unsqueeze(-1) == first.unsqueeze(1)  # [B, N, N]
    last = torch.where(same, torch.arange(12), -1).amax(-1)  # the largest
    closing = aromatic & (rows == first[:, rows]) & (cols == last[:, rows])
    assert closing.any()
    assert torch.all(grad[closing] == 0)
    assert grad[aromatic & ~closing][:, AROMATIC].abs().sum() > 0


def test_aromatic_rings_reject_bad_arguments():
    budget = torch.full((2, 6), 4.0)
    rule = C.Budget(budget, AROMATIC_COST)
    roles = torch.ones(2, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="roles must be"):
        C.AromaticRings(rule, roles[:, :3], AROMATIC)
    with pytest.raises(ValueError, match="roles must be integers"):
        C.AromaticRings(rule, roles * 4, AROMATIC)
    with pytest.raises(ValueError, match="sizes"):
        C.AromaticRings(rule, roles, AROMATIC, sizes=(4,))
    with pytest.raises(ValueError, match="Budget"):
        C.AromaticRings(C.MaxCycle(6), roles, AROMATIC)
    logits = torch.zeros(2, 15, 4)
    with pytest.raises(ValueError, match="connect='tree'"):
        C.constrained_symmetric_gumbel_softmax(
            logits, rules=(rule, C.AromaticRings(rule, roles, AROMATIC)), connect="join"
        )
