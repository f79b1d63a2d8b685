r""":class:`MaxCycle`: no edge closes a cycle longer than a given length (ring sizes)."""

from __future__ import annotations

import torch
from torch import Tensor

from molgen.nn.constrained.loop import Candidates, EdgeState, Rule, _one_step


def _cycle_allowed(step: Tensor, max_cycle: int) -> Tensor:
    r"""``[B, N, N]`` bool: the pairs a round may join without closing a cycle longer than
    ``max_cycle``: ends at most ``max_cycle - 1`` edges apart (:math:`(I + A)^{max\_cycle - 1}
    > 0`, by binary powers), or one end still without an edge. Such an end gets one edge of
    the round at most, so it closes no cycle; two edges of one round between the same two
    pieces of several nodes would close one that no distance before the round bounds.
    ``step``: ``[B, N, N]``, :math:`I + A` of the graph drawn so far."""
    lone = step.sum(-1) == 1  # [B, N]: no edge yet
    near, hops = None, max_cycle - 1
    while True:
        if hops & 1:
            near = step if near is None else (near @ step).clamp_(max=1.0)
        hops >>= 1
        if not hops:
            break
        step = (step @ step).clamp_(max=1.0)
    return (near > 0) | lone.unsqueeze(2) | lone.unsqueeze(1)


class MaxCycle(Rule):
    r"""No edge closes a cycle longer than ``length`` edges (e.g. 7: no ring of 8 or more
    atoms).

    In a round, a pair may get a non-zero class only if its ends are joined by a path of at
    most ``length - 1`` edges in the graph drawn before the round, or one end has no edge yet
    (the pairs of a round share no node, so such an end gets one edge of the round at most).
    Two fragments of several nodes are therefore never bonded in a round; tree and joining
    edges (:attr:`Candidates.bridging`) join two components and close no cycle. Paths only
    shorten as edges are added, so each edge closes cycles of at most ``length`` edges and the
    graph's cycle space has a basis of such cycles: every cycle of a minimum cycle basis (a
    smallest set of smallest rings) is at most that long too. ``length=2`` allows no cycle (a
    forest); ``length >= N`` masks nothing.

    Args:
        length: the longest cycle an edge may close, an int ``>= 2``.
    """

    def __init__(self, length: int) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"max_cycle must be None or an int >= 2, got {length!r}")
        self.length = length

    def init(self, state: EdgeState) -> None:
        n = state.num_nodes
        # A longer cycle needs more than n nodes: the rule is off.
        self.active = self.length < n
        if self.active:
            edges = torch.zeros_like(state.classes, dtype=torch.bool)
            self.step = _one_step(edges, n)  # [B, N, N]: I + A of the graph so far
            self._allowed = None  # computed when a round needs it

    def mask(self, state: EdgeState, candidates: Candidates) -> Tensor | None:
        if not self.active or candidates.bridging:
            return None
        if self._allowed is None:
            self._allowed = _cycle_allowed(self.step, self.length)
        return self._allowed[:, candidates.left, candidates.right].unsqueeze(-1)  # [B, K, 1]

    def update(self, state: EdgeState, candidates: Candidates, classes: Tensor) -> None:
        if not self.active:
            return
        left, right = candidates.left, candidates.right
        added = (classes > 0).to(self.step.dtype)  # [B, K]
        self.step[:, left, right] = self.step[:, right, left] = self.step[:, left, right] + added
        self._allowed = None

    def __repr__(self) -> str:
        return f"MaxCycle({self.length})"
