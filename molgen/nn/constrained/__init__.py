r"""Constrained sampling of symmetric edge tensors: rules that mask the (pair, class) choices.

A graph of :math:`N` nodes is drawn pair by pair, each unordered pair :math:`\{i, j\}` once,
from its logits :math:`\ell_{ij} \in \mathbb{R}^C` (class 0 = no edge). Before each draw every
rule masks the classes it forbids given the graph drawn so far, and after it every rule updates
its own state with the classes drawn:

.. math::
    c_{ij} \sim \mathrm{Categorical}\big(\mathrm{softmax}(\ell_{ij})\ \text{restricted to}\
    \textstyle\bigcap_k \mathrm{allowed}_k(\{i, j\} \mid \text{graph so far})\big)

A masked class has probability exactly 0 and zero gradient, as with ``mask`` in
:func:`~molgen.nn.functional.gumbel_softmax`. The rules shipped here:

- :class:`Budget`: each node :math:`i` has a budget :math:`b_i` and an edge of class :math:`c`
  spends :math:`\mathrm{cost}_c` at both ends; a class is allowed only if it fits both ends'
  remaining budget, so :math:`\sum_j \mathrm{cost}_{c_{ij}} \le b_i` always (valences and
  bond orders).
- :class:`MaxCycle`: no edge closes a cycle longer than :math:`L` edges (no ring of more than
  :math:`L` atoms); ``MaxCycle(2)`` allows no cycle (a forest).
- :class:`SiteBudget`: each node has several *sites* :math:`s` with budgets :math:`b_{is}`
  (a ring system's atoms with hydrogens; an atom is one site, its valence); an edge of class
  :math:`c` is allowed only if both ends have a site with :math:`\mathrm{cost}_c` left, and
  the site at each end is then drawn by a masked Gumbel-Softmax over the site logits, so
  :math:`\sum_j \mathrm{cost}_{c_{ij}} [s_{ij} = s] \le b_{is}` always (fragment graphs;
  :func:`site_gumbel_softmax` samples edges and sites together).
- :class:`NonCrossing`: each node has a point in the plane and an edge is allowed only if its
  segment meets no earlier edge without a common end, so the graph is planar.
- :class:`AromaticRings` (``connect="tree"``): the aromatic class only in whole rings of 5 or
  6 aromatic edges with a Kekule structure within the budgets, each fixed when the tree starts
  it and closed by an edge that a round must draw (:meth:`Rule.require`).

The pairs are drawn in rounds of pairs that share no node (a round-robin schedule of the
complete graph: :math:`N` rounds for odd :math:`N`, :math:`N - 1` for even), one
:func:`~molgen.nn.functional.gumbel_softmax` call per round over the batch, and the rules update
after each round. Round :math:`r` holds the pairs with :math:`i + j \equiv r \pmod m`
(:math:`m = N` odd, :math:`N - 1` even; for even :math:`N` node :math:`N - 1` meets the node
:math:`k` with :math:`2k \equiv r`), so pairs of low-index nodes come first. With no rule (or
rules that mask nothing) the law is that of :func:`~molgen.nn.functional.symmetric_gumbel_softmax`.

``connect`` makes the graph of present nodes connected (part of the sample, the same in
training and sampling):

- ``"tree"``: a spanning tree first, then the other pairs in rounds. Node by node,
  :math:`i = 1, \dots, N - 1`, one edge :math:`(j, c)` to an earlier present node is drawn
  with probability :math:`\propto \exp(\ell_{jic})` over the :math:`j < i` and classes
  :math:`c \ge 1` the rules allow, and among those the rules prefer where any (a
  :class:`Budget` prefers the edges that leave the earlier nodes room for every later node's
  tree edge). The nodes that no tree in node order can attach under the rules
  (:meth:`Rule.attachable`, e.g. :func:`tree_attachable` for a :class:`Budget`) are treated as
  absent: they get no edge. Every other present node bonds an earlier one, so the graph of the
  nodes kept is connected. In SMILES atom order every molecule has this form, so the rule
  excludes no molecule written in that order.
- ``"join"``: after the rounds, while two fragments can be joined by an edge the rules allow (a
  pair of present nodes in different fragments, a non-zero class), the highest-logit such
  (pair, class) is set, one per graph and step. The result is connected unless no allowed edge
  joins two fragments. The joined entry carries its drawn entry's gradient (straight-through).
- ``None``: no rule.

Rules plug into the one loop, :func:`~molgen.nn.constrained.loop._draw_edges`, through
:class:`Rule`'s hooks; a new rule (as :class:`AromaticRings` keeps aromatic bonds in whole rings
and :class:`SiteBudget` makes fragments bond only at their attachment sites) is a subclass, and
the loop does not change.

The package holds one concept per module: :mod:`~molgen.nn.constrained.loop` (the loop, the
state the rules read, :class:`Rule`, ``connect``), :mod:`~molgen.nn.constrained.budget`,
:mod:`~molgen.nn.constrained.cycles`, :mod:`~molgen.nn.constrained.planar`,
:mod:`~molgen.nn.constrained.sites` and
:mod:`~molgen.nn.constrained.aromatic` (a rule each, with its entry points); every name
of ``__all__`` is importable from :mod:`molgen.nn.constrained` itself.
"""

from molgen.nn.constrained.aromatic import (
    NOT_AROMATIC,
    PYRIDINE_OR_PYRROLE_TYPE,
    PYRIDINE_TYPE,
    PYRROLE_TYPE,
    AromaticRings,
)
from molgen.nn.constrained.budget import (
    Budget,
    budgeted_symmetric_gumbel_softmax,
    budgeted_symmetric_one_hot_argmax,
    tree_attachable,
)
from molgen.nn.constrained.budget import budget_rules as budget_rules
from molgen.nn.constrained.cycles import MaxCycle
from molgen.nn.constrained.loop import (
    Candidates,
    EdgeState,
    Rule,
    constrained_symmetric_gumbel_softmax,
    constrained_symmetric_one_hot_argmax,
)
from molgen.nn.constrained.planar import NonCrossing, segments_meet
from molgen.nn.constrained.sites import (
    SiteBudget,
    site_budget_of,
    site_gumbel_softmax,
    site_one_hot_argmax,
)
from molgen.nn.constrained.sites import site_rules as site_rules

# Also here, outside __all__: budget_rules and site_rules (the rule tuples of the entry points).
__all__ = [
    "NOT_AROMATIC",
    "PYRIDINE_OR_PYRROLE_TYPE",
    "PYRIDINE_TYPE",
    "PYRROLE_TYPE",
    "AromaticRings",
    "Budget",
    "Candidates",
    "EdgeState",
    "MaxCycle",
    "NonCrossing",
    "Rule",
    "SiteBudget",
    "budgeted_symmetric_gumbel_softmax",
    "budgeted_symmetric_one_hot_argmax",
    "constrained_symmetric_gumbel_softmax",
    "constrained_symmetric_one_hot_argmax",
    "site_budget_of",
    "site_gumbel_softmax",
    "segments_meet",
    "site_one_hot_argmax",
    "tree_attachable",
]
