r""":class:`AromaticRings`: aromatic edges only in whole rings of 5 or 6 that kekulize
within the budgets, and the aromatic roles of a node it reads."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from molgen.nn.constrained.budget import Budget, _finite_budget, _tree_gains
from molgen.nn.constrained.loop import Candidates, EdgeState, Rule
from molgen.nn.functional import _pair_index

# The roles of a node that AromaticRings reads, one assignment each so that the package's
# re-exports resolve for the API documentation.
#: :class:`AromaticRings` role of a node with no aromatic bond.
NOT_AROMATIC = 0
#: A pyridine-type node: one Kekule double bond in its ring (C).
PYRIDINE_TYPE = 1
#: A pyrrole-type node: a lone pair, two single bonds (O, S, NH).
PYRROLE_TYPE = 2
#: A node that is pyridine-type, or pyrrole-type when it starts a ring with a bond already
#: (N: pyridine's n, or N-substituted pyrrole's n).
PYRIDINE_OR_PYRROLE_TYPE = 3

#: The most nodes a ring of :class:`AromaticRings` has.
_RING_MAX = 6


class AromaticRings(Rule):
    r"""Aromatic edges only in whole rings of 5 or 6 aromatic edges that have a Kekule
    structure, each drawn as a unit under ``connect="tree"``.

    A ring starts when tree node :math:`i` takes the aromatic class to an earlier node
    :math:`j`; it is then :math:`(j, n_1 = i, n_2, \dots, n_{L-1})` with :math:`n_k` the
    present nodes that follow :math:`i` in node order, of size :math:`L = 5` if those nodes
    hold exactly one pyrrole-type node and otherwise only pyridine-type ones (roles,
    :data:`PYRIDINE_TYPE`, :data:`PYRROLE_TYPE`), :math:`L = 6` if all :math:`L` are
    pyridine-type. The start is allowed only where one of those sizes (in ``sizes``) fits and
    :math:`j` is in no ring and has the budget for it (a :data:`PYRIDINE_OR_PYRROLE_TYPE`
    node counts as pyrrole-type at the start if its budget left is exactly its two aromatic
    edges, e.g. an N bonded to its substituent, and as pyridine-type everywhere else); the
    ring is then fixed:

    - each :math:`n_k`, :math:`k \ge 2`, has only its aromatic tree edge to :math:`n_{k-1}`
      allowed (the tree draws one edge per node, so it is drawn);
    - the pair :math:`(j, n_{L-1})` has only the aromatic class allowed and is required in its
      round (:meth:`Rule.require`), which comes after the tree;
    - the aromatic class is masked everywhere else;
    - each ring node keeps, on top of what :class:`Budget` ``budget`` allows, a reserve of the
      budget still to spend on its aromatic edges and, if pyridine-type, one more for its
      Kekule double bond; a pyrrole-type node keeps its whole budget (no other edge, e.g. no
      substituent on furan's O). Other classes are masked where they would eat into it.

    So every aromatic edge of a sample lies in a ring of 5 or 6 aromatic edges, the rings
    share no node, and each has a Kekule structure that fits the budgets: a 6-ring of
    pyridine-type nodes alternates, a 5-ring matches its four pyridine-type nodes in pairs
    around the pyrrole-type one. With costs 1 for an aromatic edge (its single-bond part), a
    pyridine-type node spends 3 on its two aromatic edges (the 1.5 each of an aromatic bond)
    and a pyrrole-type node 2 (its lone pair gives the third electron pair).

    Assumes the ring sizes fit every other rule (e.g. ``sizes`` at most a
    :class:`MaxCycle`'s length) and that ``budget`` is the :class:`Budget` among the rules.

    Args:
        budget: the :class:`Budget` rule whose remaining budgets the reserves protect.
        roles: long ``[B, N]``, each node's role (:data:`NOT_AROMATIC`, :data:`PYRIDINE_TYPE`,
            :data:`PYRROLE_TYPE`, :data:`PYRIDINE_OR_PYRROLE_TYPE`).
        aromatic: the aromatic edge class (``>= 1``).
        sizes: the ring sizes allowed, a subset of ``(5, 6)``.
    """

    def __init__(
        self, budget: Budget, roles: Tensor, aromatic: int, sizes: Sequence[int] = (5, 6)
    ) -> None:
        if not isinstance(budget, Budget):
            raise ValueError(f"budget must be the Budget rule, got {type(budget).__name__}")
        if not isinstance(roles, Tensor) or tuple(roles.shape) != tuple(budget.budget.shape):
            shape = tuple(roles.shape) if isinstance(roles, Tensor) else type(roles).__name__
            raise ValueError(f"roles must be [B, N] like the budget, got {shape}")
        known = (NOT_AROMATIC, PYRIDINE_TYPE, PYRROLE_TYPE, PYRIDINE_OR_PYRROLE_TYPE)
        if roles.is_floating_point() or not bool(
            torch.isin(roles, torch.tensor(known, device=roles.device)).all()
        ):
            raise ValueError(f"roles must be integers in {known}")
        if isinstance(aromatic, bool) or not isinstance(aromatic, int) or aromatic < 1:
            raise ValueError(f"aromatic must be an edge class >= 1, got {aromatic!r}")
        if not sizes or not set(sizes) <= {5, 6}:
            raise ValueError(f"sizes must be a non-empty subset of (5, 6), got {sizes!r}")
        self.budget = budget
        self.roles = roles.long()
        self.aromatic = aromatic
        self.sizes = tuple(sorted(set(sizes)))

    def init(self, state: EdgeState) -> None:
        if state.connect != "tree":
            raise ValueError(f"AromaticRings needs connect='tree', got {state.connect!r}")
        if self.aromatic >= state.logits.shape[-1]:
            raise ValueError(
                f"aromatic class {self.aromatic} is not one of the {state.logits.shape[-1]}"
            )
        n, device, present = state.num_nodes, state.logits.device, state.present
        budget = self.budget.budget.to(device=device, dtype=torch.float64)
        cost = self.budget.cost.to(device)
        roles = torch.where(present, self.roles.to(device), NOT_AROMATIC)
        # A node whose budget cannot hold its ring edges (and double) takes no part.
        need = torch.where(roles == PYRROLE_TYPE, 2.0, 3.0).double()
        self.role = torch.where(budget >= need, roles, NOT_AROMATIC)  # as a ring's start
        # A later ring node has no bond before its tree edge: pyridine-type if it may be.
        member = torch.where(self.role == PYRIDINE_OR_PYRROLE_TYPE, PYRIDINE_TYPE, self.role)
        # The ring a start at tree node i would make: i and the present nodes after it.
        batch = present.shape[0]
        position = present.long().cumsum(1) - 1  # [B, N]
        by_position = torch.argsort((~present).long(), dim=1, stable=True)  # present first
        wanted = position.unsqueeze(-1) + torch.arange(_RING_MAX - 1, device=device)
        exists = present.unsqueeze(-1) & (wanted < present.sum(1).view(-1, 1, 1))
        after = by_position.gather(1, wanted.clamp(0, n - 1).flatten(1)).view(batch, n, -1)
        self.following = torch.where(exists, after, -1)  # [B, N, 5]
        kinds = torch.where(exists, member.gather(1, after.flatten(1)).view_as(after), 0)
        self.five_ok = (kinds[..., :4] != NOT_AROMATIC).all(-1) & (5 in self.sizes)  # [B, N]
        self.five_lone_pairs = (kinds[..., :4] == PYRROLE_TYPE).sum(-1)  # [B, N]
        self.six_ok = (kinds == PYRIDINE_TYPE).all(-1) & (6 in self.sizes)  # [B, N]
        # What each ring node keeps: its aromatic edges and Kekule double, or all it has.
        self.full = budget
        self.need = torch.where(member == PYRIDINE_TYPE, 3.0, budget)
        # Beyond its two aromatic edges, a ring node keeps a double bond (pyridine-type) or
        # the rest of its budget (pyrrole-type): room a tree (Budget's prefer) cannot use.
        self.beyond = torch.where(
            member == NOT_AROMATIC, 0.0, _finite_budget(self.need, cost, n) - 2
        )
        self.ring_room = {size: self._ring_room_needed(state, cost, size) for size in self.sizes}
        self.reserve = torch.zeros_like(budget)
        self.in_ring = torch.zeros_like(present)
        self.parent = torch.full_like(self.role, -1)  # the forced tree edge of a ring node
        self.closing = torch.zeros_like(state.classes, dtype=torch.bool)  # [B, P]
        self.pair_index = _pair_index(n).to(device).view(n, n)

    def _size(self, role: Tensor, node: int) -> Tensor:
        """``[B, K]``: the ring size a start at earlier nodes of roles ``role [B, K]`` (as a
        start: pyridine- or pyrrole-type) with tree node ``node`` makes (0: none)."""
        lone_pairs = self.five_lone_pairs[:, node : node + 1] + (role == PYRROLE_TYPE).long()
        five = self.five_ok[:, node : node + 1] & (role != NOT_AROMATIC) & (lone_pairs == 1)
        six = self.six_ok[:, node : node + 1] & (role == PYRIDINE_TYPE)
        return torch.where(five, 5, torch.where(six, 6, 0))

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor:
        room = self.budget.remaining - self.reserve  # [B, N]
        left, right = candidates.left, candidates.right
        ends = torch.minimum(room[:, left], room[:, right])  # [B, K]
        other = self.budget.cost_ <= ends.unsqueeze(-1)  # [B, K, C]
        i = candidates.tree_node
        if i is None:  # a round: the ring closures, and only they, are aromatic
            aromatic = self.closing[:, candidates.pairs]  # [B, K]
            other = other & ~aromatic.unsqueeze(-1)
        else:
            role, fits, need = self._starts(room, left)
            self._start = (i, role, need)  # for prefer and update of the same draw
            opens = ~self.in_ring[:, left] & fits & (self._size(role, i) > 0)
            parent = self.parent[:, i : i + 1]  # [B, 1]
            planned = parent >= 0
            aromatic = torch.where(planned, left == parent, opens)
            other = other & ~planned.unsqueeze(-1)
        return torch.cat(
            [other[..., : self.aromatic], aromatic.unsqueeze(-1), other[..., self.aromatic + 1 :]],
            -1,
        )

    def _starts(self, room: Tensor, left: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(role, fits, need)``, each ``[B, K]``, of the earlier nodes ``left`` as a ring's
        start: pyridine- or pyrrole-type (or not aromatic), whether the budget left allows it,
        and what it then keeps of its budget (its ring edges and double, or all it has)."""
        role, remaining = self.role[:, left], self.budget.remaining[:, left]
        substituted = (role == PYRIDINE_OR_PYRROLE_TYPE) & (remaining == 2)
        lone_pair = (role == PYRROLE_TYPE) | substituted
        fits = torch.where(
            role == PYRROLE_TYPE,
            remaining >= self.full[:, left],  # no edge yet
            substituted | (room[:, left] >= 3),
        )
        role = torch.where(
            lone_pair, PYRROLE_TYPE, torch.where(role == NOT_AROMATIC, role, PYRIDINE_TYPE)
        )
        return role, fits, torch.where(lone_pair, remaining, 3.0)

    def _ring_room_needed(self, state: EdgeState, cost: Tensor, size: int) -> Tensor:
        r"""``[B, N]``: the room the nodes :math:`\le i` must keep after tree node :math:`i`
        starts a ring of ``size`` so that every later present node can still get a tree edge:
        :func:`_tree_room_needed` with each later ring node's gain less what it keeps beyond
        its tree edges, and the last one's less its unit of the closing edge."""
        batch, n = self.role.shape
        gain, cheapest = _tree_gains(self.full, cost, state.present)  # [B, N]
        ring = self.following[..., 1 : size - 1]  # [B, N, size - 2]: n_2 .. n_{L-1}
        kept = self.beyond.gather(1, ring.clamp(min=0).flatten(1)).view_as(ring)
        kept[..., -1] += 1  # the closing edge
        kept = torch.where(ring >= 0, kept, 0.0)
        # net[b, i, m]: node m's gain to the tree's room after a ring starts at node i
        spare = torch.zeros(batch, n, n + 1, dtype=kept.dtype, device=kept.device)
        spare.scatter_add_(2, torch.where(ring >= 0, ring, n), kept)
        net = gain.unsqueeze(1) - spare[..., :n]  # [B, N, N]
        later = torch.ones(n, n, dtype=torch.bool, device=net.device).triu(1)  # m > i
        net = torch.where(later, net, 0.0)
        before = net.cumsum(-1) - net  # sum of the nets of the nodes i < m < k
        threshold = torch.where(later & state.present.unsqueeze(1), cheapest - before, -math.inf)
        return threshold.amax(-1).clamp(min=0.0)  # [B, N]

    def prefer(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        r""":class:`Budget`'s preference with the reserves left out of the room; a ring start
        also charges the room its nodes keep beyond their tree edges, the closing edge's units
        and the room the later ring nodes will keep (:meth:`_ring_room_needed`)."""
        i, needed = candidates.tree_node, self.budget._room_needed
        if i is None or needed is None:
            return None
        cost = self.budget.cost_
        room = _finite_budget(self.budget.remaining - self.reserve, cost, state.num_nodes)
        earlier = room[:, :i].mul(state.present[:, :i]).sum(1, keepdim=True)  # [B, 1]
        kept = earlier + room[:, i : i + 1] - 2 * cost  # [B, C]
        keeps = (kept >= needed[:, i : i + 1]).unsqueeze(1)  # [B, 1, C]
        _, role, need = self._start
        size = self._size(role, i)
        # Now: j keeps its beyond and a unit of the closing edge, i its beyond.
        now = _finite_budget(need, cost, state.num_nodes) - 2 + 1 + self.beyond[:, i : i + 1]
        ring_needed = torch.full_like(now, math.inf)
        for ring_size, ring_room in self.ring_room.items():
            ring_needed = torch.where(size == ring_size, ring_room[:, i : i + 1], ring_needed)
        opens = kept[:, self.aromatic : self.aromatic + 1] - now >= ring_needed  # [B, K]
        keeps = keeps.expand(-1, role.shape[1], -1).clone()
        keeps[..., self.aromatic] = opens
        return keeps

    def require(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        return None if candidates.bridging else self.closing[:, candidates.pairs]

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        drawn = classes == self.aromatic  # [B, K]
        i = candidates.tree_node
        if i is not None:
            self._open(candidates, drawn, i)
        spent = drawn.to(self.reserve.dtype).neg()
        self.reserve.index_add_(1, candidates.left, spent)
        self.reserve.index_add_(1, candidates.right, spent)

    def _open(self, candidates: Candidates, drawn: Tensor, i: int) -> None:
        """Fix the rings that tree node ``i``'s aromatic edge starts (those not planned)."""
        opens = drawn.any(1) & (self.parent[:, i] < 0)  # [B]
        start = (candidates.left * drawn).sum(1, keepdim=True)  # [B, 1]
        _, role, need = self._start  # of the draw's candidates, from mask
        role = (role * drawn).sum(1, keepdim=True)
        need = (need * drawn).sum(1, keepdim=True)
        size = self._size(role, i).squeeze(1)  # [B]
        ring = torch.cat([start, self.following[:, i]], 1)  # [B, 6]: j, n_1, ..., n_5
        slot = torch.arange(_RING_MAX, device=ring.device)
        member = opens.unsqueeze(1) & (slot < size.unsqueeze(1))  # [B, 6]
        nodes = ring.clamp(min=0)
        added = torch.zeros_like(self.parent).scatter_add_(1, nodes, member.long())
        self.in_ring |= added > 0
        need = torch.cat([need, self.need.gather(1, nodes[:, 1:])], 1)  # [B, 6]
        self.reserve.scatter_add_(1, nodes, torch.where(member, need, 0.0))
        # n_k (k >= 2) bonds n_{k-1}: stored + 1 so that absent entries add 0
        forced = member & (slot >= 2)
        previous = torch.cat([ring[:, :1], ring[:, :-1]], 1)
        parent = torch.zeros_like(self.parent).scatter_add_(
            1, nodes, torch.where(forced, previous + 1, 0)
        )
        self.parent = torch.where(parent > 0, parent - 1, self.parent)
        last = ring.gather(1, (size - 1).clamp(min=0).unsqueeze(1)).squeeze(1).clamp(min=0)
        pair = self.pair_index[start.squeeze(1), last]  # [B]
        closing = torch.zeros_like(self.closing).scatter_(
            1, pair.clamp(max=self.closing.shape[1] - 1).unsqueeze(1), opens.unsqueeze(1)
        )
        self.closing |= closing

    def __repr__(self) -> str:
        return f"AromaticRings(aromatic={self.aromatic}, sizes={self.sizes})"
