r"""MolGAN's generator on graphs without chemistry: a node count from the data's law, then
edges from the generator's pair logits."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear

from molgen.config import GeneratorConfig
from molgen.models.generator import Generator, glorot_linear

__all__ = ["GraphGenerator", "community_rise", "distance_fall", "spread_positions"]

#: :math:`w` at the start of a ``non_crossing`` generator. With 64 uniform random points and
#: the planar data's edge density as the prior, the sampler then draws 174 edges a graph, 72
#: with :math:`w = 1`; a Delaunay triangulation of them has about 178.
INITIAL_DISTANCE_WEIGHT = 10.0

#: Relaxation steps of :func:`spread_positions` in a ``node_spacing`` generator.
SPREAD_STEPS = 10

#: Where a ``communities`` generator's edge logits start, relative to the data's density
#: :math:`\operatorname{logit} \rho`: a pair within a community this far above, and a pair
#: between two (second) this far below. On the SBM data (:math:`\rho` = 0.098) that is 0.31
#: and 0.0049, the recipe's 0.3 and 0.005, and with ``community_size: 35`` an untrained
#: generator draws graphs of mean degree 9.3 (the data's 9.2).
COMMUNITY_START_LOGITS = (1.4, -3.1)

#: :math:`\delta`, the width in nodes of the soft edge between two communities' runs (which
#: the gradient sees; the forward pass is hard).
COMMUNITY_EDGE_WIDTH = 1.0


def _note_communities_fitted(generator: GraphGenerator, incompatible_keys: object) -> None:
    """After a state dict is loaded: whether it filled every row of the share table."""
    generator.communities_fitted = bool((generator.community_shares.sum(-1) > 0).all())


def _softplus_inverse(value: float) -> float:
    r"""The :math:`\theta` whose softplus is ``value`` :math:`w`, :math:`w + \log(1 - e^{-w})`."""
    return value + math.log(-math.expm1(-value))


def distance_fall(positions: Tensor, weight: float | Tensor) -> Tensor:
    r"""How far each pair's edge logit falls with its distance in the plane,
    :math:`w \, (d_{ij}^2 / \overline{d^2} - 1)` for ``positions [B, N, 2]``, where
    :math:`\overline{d^2}` is the graph's mean over its pairs: ``[B, N(N-1)/2]`` in
    ``torch.triu_indices(N, N, 1)`` order (a pair at the mean distance keeps its logit)."""
    n = positions.shape[1]
    rows, cols = torch.triu_indices(n, n, 1, device=positions.device)
    squared = (positions[:, rows] - positions[:, cols]).pow(2).sum(-1)  # [B, P]
    return weight * (squared / squared.mean(-1, keepdim=True).clamp_min(1e-12) - 1)


def community_rise(membership: Tensor, weight: float | Tensor) -> Tensor:
    r"""How far each pair's edge logit rises with the community its nodes share,
    :math:`w \, (\mathbf{c}_i \cdot \mathbf{c}_j - \frac12)` for memberships
    ``membership [B, N, K]`` (rows on the simplex) and ``weight`` :math:`w` (a number, or
    ``[B, 1]`` per graph): ``[B, N(N-1)/2]`` in ``torch.triu_indices(N, N, 1)`` order. With
    hard memberships a pair within a community rises by :math:`w/2` and a pair between two
    falls by as much, whatever the number and sizes of the graph's communities (as in a block
    model, two edge probabilities)."""
    n = membership.shape[1]
    rows, cols = torch.triu_indices(n, n, 1, device=membership.device)
    shared = (membership[:, rows] * membership[:, cols]).sum(-1)  # [B, P]
    return weight * (shared - 0.5)


def spread_positions(positions: Tensor, spacing: float, steps: int = SPREAD_STEPS) -> Tensor:
    r"""``positions [B, N, 2]`` pushed apart: each of ``steps`` steps moves every node away
    from each node closer than :math:`r`, by a quarter of the shortfall,

    .. math::
        \mathbf{p}_i \mathrel{+}= \frac{1}{4} \sum_{j \ne i}
        \max(0, r - d_{ij}) \frac{\mathbf{p}_i - \mathbf{p}_j}{d_{ij}},
        \qquad r = s \, \frac{\sqrt{12}\,\sigma}{\sqrt{N}},

    where :math:`s` is ``spacing`` and :math:`\sigma^2 = (\sigma_x^2 + \sigma_y^2) / 2` the
    mean variance of the graph's coordinates (for points spread evenly over a square,
    :math:`\sqrt{12}\,\sigma / \sqrt N` is the side of a square holding one node). Close
    pairs are what make a crossing-free drawing of uniform random points differ from their
    Delaunay triangulation (a node that falls near another ends up inside a triangle of three
    edges, with degree 3); the steps thin them out while nodes more than :math:`r` apart do
    not move. The map is differentiable, equivariant under node permutations, and commutes
    with translations, rotations and scalings of the layout. Quadratic in :math:`N` per
    step."""
    n = positions.shape[1]
    centred = positions - positions.mean(1, keepdim=True)
    variance = centred.pow(2).sum(-1).mean(1) / 2  # [B]: sigma^2, the mean of var x and var y
    radius = spacing * (12 * variance / n).sqrt().view(-1, 1, 1)  # [B, 1, 1]
    apart = ~torch.eye(n, dtype=torch.bool, device=positions.device)  # [N, N]
    for _ in range(steps):
        diff = positions.unsqueeze(2) - positions.unsqueeze(1)  # [B, N, N, 2]: p_i - p_j
        distance = diff.pow(2).sum(-1).clamp_min(1e-24).sqrt()  # [B, N, N]
        shortfall = (radius - distance).clamp_min(0) * apart  # [B, N, N]
        push = (diff * (shortfall / distance).unsqueeze(-1)).sum(2)  # [B, N, 2]
        positions = positions + push / 4
    return positions


class GraphGenerator(Generator):
    r"""The :class:`~molgen.models.Generator` on graphs of one node type and one edge type.

    Each sample draws its node count first, then its edges:

    .. math::
        n \sim p, \quad p(n) = \frac{c_n}{\sum_m c_m}, \qquad
        x_i = [i < n] \ (i = 0, \dots, N - 1), \qquad
        \mathbf{A} = \mathrm{SymGS}(\mathbf{W}_A \mathrm{MLP}(\mathbf{z}), \tau,
        \text{mask} = \mathbf{x}, \text{budget} = d_{\max})

    where :math:`c_n` (``node_counts[n]``) is the number of training graphs with :math:`n`
    nodes, so the node counts of the samples follow the training set's empirical law exactly;
    nodes :math:`n, \dots, N - 1` are absent (class 0, "no node", as padding in the data) and
    get no edge. The count is drawn from ``generator`` (the noise RNG) independently of
    :math:`\mathbf{z}`, and no gradient reaches it: the law is the data's, not learned. The
    edges come from the MLP and the linear bond head of the molecule generator, with its
    symmetric Gumbel sampler, by ``cfg.constraint``:

    - ``"none"``: each pair independently;
    - ``"valence"``: no node has more than ``max_degree`` edges (the :class:`~molgen.nn.Budget`
      rule, every edge costing 1 of both ends' budget ``max_degree``; None: no limit);
    - ``"valence_connected"``: the same, and the present nodes connected (``cfg.connect``:
      ``"tree"`` draws a spanning tree first, node by node, each node bonded to an earlier
      one; ``"join"`` joins the pieces afterwards).

    The edge logits start at the data's density :math:`\rho`: the bond head's bias is
    :math:`(0, \log \frac{\rho}{1 - \rho})` for ("no edge", "edge") at every pair, so an
    untrained generator draws graphs about as dense as the training graphs (its weights start
    as the molecule generator's; without this the first thousands of steps go to lowering
    every pair's logit from even odds).

    With ``cfg.non_crossing`` the generator also places the nodes in the plane, a linear head
    :math:`\mathbf{P} = \mathbf{W}_P \mathrm{MLP}(\mathbf{z})` reshaped to ``[B, N, 2]``
    (:meth:`node_positions`), and the edge logit of each pair falls with the squared distance
    between its nodes relative to the graph's mean over pairs,

    .. math::
        \ell_{ij,1} \mathrel{-}= w \left(\frac{d_{ij}^2}{\overline{d^2}} - 1\right),
        \qquad d_{ij} = \lVert \mathbf{p}_i - \mathbf{p}_j \rVert,\ w = \mathrm{softplus}(
        \theta)

    (:math:`\theta` learned, :math:`w` = :data:`INITIAL_DISTANCE_WEIGHT` at the start; the
    term is zero on average and blind to the layout's scale, like the rule), through which
    the positions get their gradient; the edges are then drawn under
    :class:`~molgen.nn.constrained.NonCrossing` at those positions: no two edges cross, so
    every sample is planar (and, with ``"valence_connected"``, connected where the degree
    budget allows). With ``cfg.non_crossing_order="score"`` the rule's ``rivals`` are
    :math:`3N - 6`: a pair waits for the likelier pairs that cross it. With
    ``cfg.node_spacing`` :math:`s` the head's positions first go through
    :func:`spread_positions` (close nodes pushed apart; all :math:`N` slots take part).

    With ``cfg.communities`` :math:`K` the generator also splits the present nodes into
    communities, runs of the node order whose shares of the :math:`n` nodes it chooses per
    graph from :math:`\mathbf{h}` and :math:`n` (:meth:`node_communities`): community
    :math:`k` holds the nodes between :math:`n \beta_{k-1}` and :math:`n \beta_k`,

    .. math::
        c_{ik} = \sigma\Big(\frac{i + \frac12 - n \beta_{k-1}}{\delta}\Big)
        - \sigma\Big(\frac{i + \frac12 - n \beta_k}{\delta}\Big), \qquad
        \beta_k = \sum_{l \le k} \pi_l, \quad
        (\boldsymbol{\pi}, w) = (\mathrm{softmax}, \mathrm{softplus})
        (\mathbf{W}_C [\mathbf{h}, n / N])

    (:math:`\beta_0 = -\infty`, :math:`\beta_K = \infty`, so each row sums to 1;
    :math:`\delta` = :data:`COMMUNITY_EDGE_WIDTH`; a share near 0 drops its community), taken
    straight through: forward, each node wholly in the run that holds it, backward, the
    gradient of :math:`c_{ik}`. With ``cfg.community_size`` :math:`S` a graph of :math:`n`
    nodes has :math:`m = \min(\lceil n / S \rceil, K)` communities: the softmax is over the
    first :math:`m` logits, and the runs after them are empty (:math:`\beta_k = \infty` for
    :math:`k \ge m`), so that the number of communities follows the graph's size (a block
    model's blocks have bounded sizes; without it every graph starts with :math:`K` even
    runs, too small in small graphs and too large in large ones). With
    ``cfg.community_size="data"`` the number and the shares come from the training graph of
    :math:`n` nodes instead (:meth:`fit_communities`): the share logits add the log of its
    shares, so that the head starts at the data's split. The edge logit of each pair
    then rises by :math:`w/2` within a community and falls by :math:`w/2` between two,
    :math:`\ell_{ij,1} \mathrel{+}=` :func:`community_rise`, with the graph's :math:`w`
    (from the head, not a lone parameter, so that it moves as fast as the edge logits' bias:
    a block model's gap is several logits). They start where a block model's do, the same for
    every graph (:math:`\mathbf{W}_C` zero): :math:`w` at the gap of
    :data:`COMMUNITY_START_LOGITS`, the edge bias midway between its two, and the shares even
    (or the data's).
    The node count is drawn before the edge logits, which therefore read it, as a block
    model's blocks must fit the graph's size. Which nodes form a community is only a
    labelling: any partition is runs of some node order.

    ``atom_logits`` returns the law of each node's presence,
    :math:`\log [P(n \le i), P(n > i)]`, the same for every sample (for the generator's
    ``return_logits``). Sampling temperatures and ``eval_mode`` apply to the edges only.

    Args:
        cfg: :class:`molgen.config.GeneratorConfig` (``bond_head`` must be ``"linear"``).
        num_nodes: :math:`N`.
        node_counts: :math:`(N + 1,)`, :math:`c_0, \dots, c_N` (``GraphVocabulary.node_counts``).
        edge_density: :math:`\rho \in (0, 1)` (``GraphVocabulary.edge_density``; clamped to
            :math:`[10^{-4}, 1 - 10^{-4}]`); None: the bias starts at 0 (even odds).
        max_degree: :math:`d_{\max}`, each node's edge budget under ``cfg.constraint``
            ``"valence"`` and ``"valence_connected"``; None: unlimited.

    Shapes:
        - **z:** :math:`(B, z_{dim})`
        - **output:** nodes :math:`(B, N, 2)`, edges :math:`(B, N, N, 2)`, one-hot when hard
    """

    def __init__(
        self,
        cfg: GeneratorConfig,
        num_nodes: int,
        node_counts: Sequence[int] | Tensor,
        max_degree: int | None = None,
        edge_density: float | None = None,
    ):
        if cfg.bond_head != "linear":
            raise ValueError("GraphGenerator has one node type: bond_head must be 'linear'")
        if cfg.min_nodes:
            raise ValueError("GraphGenerator draws node counts from the data: min_nodes must be 0")
        budget = math.inf if max_degree is None else float(max_degree)
        super().__init__(cfg, num_nodes, 2, 2, atom_valences=[0.0, budget], bond_orders=[0.0, 1.0])
        del self.atom_head  # node counts come from the data's law, not from the noise
        counts = torch.as_tensor(node_counts, dtype=torch.float64)
        if counts.shape != (num_nodes + 1,) or bool((counts < 0).any()) or not counts.sum() > 0:
            raise ValueError(
                f"node_counts must be {num_nodes + 1} counts >= 0 (n = 0..{num_nodes}), not all "
                f"0; got {counts.tolist()}"
            )
        # Derived from the vocabulary, which the checkpoint holds: not saved twice.
        self.register_buffer("node_probs", counts / counts.sum(), persistent=False)
        self.max_degree = max_degree
        self.position_head = None
        self.node_spacing = cfg.node_spacing
        if cfg.non_crossing:  # GeneratorConfig ensures the budgeted sampler, which has rivals
            self.position_head = glorot_linear(cfg.hidden[-1], num_nodes * 2)
            self.distance_weight = nn.Parameter(torch.empty(()))
            if cfg.non_crossing_order == "score":
                self.bond_sampler.crossing_rivals = max(3 * num_nodes - 6, 1)
        self.community_head = None
        if cfg.communities is not None:
            # the K shares, then w before its softplus
            self.community_head = glorot_linear(cfg.hidden[-1] + 1, cfg.communities + 1)
        self.community_size = cfg.community_size
        if cfg.community_size == "data":
            # row n: the shares of the n nodes a graph of n nodes splits into (fit_communities)
            self.register_buffer("community_shares", torch.zeros(num_nodes + 1, cfg.communities))
            # whether it holds them, known on the host when it is filled (fitted or loaded), so
            # that the forward need not ask the device at every step
            self.communities_fitted = False
            self.register_load_state_dict_post_hook(_note_communities_fitted)
        self.edge_logit = None
        if edge_density is not None:
            density = min(max(edge_density, 1e-4), 1 - 1e-4)
            self.edge_logit = math.log(density / (1 - density))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, Linear):
                layer.reset_parameters()
        self.bond_head.reset_parameters()
        # Generator.__init__ resets before the prior is known; __init__ resets again after.
        if getattr(self, "edge_logit", None) is not None:
            # with communities, midway between the within and between pairs' starts
            midway = sum(COMMUNITY_START_LOGITS) / 2 if self.community_head is not None else 0.0
            with torch.no_grad():
                self.bond_head.bias.view(-1, self.num_bond_types)[:, 1] = self.edge_logit + midway
        if getattr(self, "position_head", None) is not None:
            self.position_head.reset_parameters()
            nn.init.constant_(self.distance_weight, _softplus_inverse(INITIAL_DISTANCE_WEIGHT))
        if getattr(self, "community_head", None) is not None:
            self.community_head.reset_parameters()
            within, between = COMMUNITY_START_LOGITS
            with torch.no_grad():
                # even shares at the start: random ones give runs of half and twice the size;
                # one w for every graph: a w read from h spreads the graphs' densities (degree
                # sd 1.4 where the block model's is 1.1)
                self.community_head.weight.zero_()
                self.community_head.bias[:-1] = 0.0
                self.community_head.bias[-1] = _softplus_inverse(within - between)

    def fit_communities(self, community_sizes: Sequence[Sequence[int]]) -> None:
        """With ``cfg.community_size="data"``: split a graph of :math:`n` nodes as the first
        training graph of :math:`n` nodes is split (the nearest node count's split, in
        shares, where no training graph has :math:`n`; the fewer nodes on a tie), from each
        training graph's community sizes (:func:`molgen.data.graphs.community_sizes`; they
        add up to its node count). The sizes go largest first; beyond :math:`K` communities
        the :math:`K`-th takes the rest. Saved with the weights."""
        if self.community_size != "data":
            raise ValueError("fit_communities is for generator.community_size='data'")
        k = self.community_shares.shape[1]
        first: dict[int, Tensor] = {}
        for sizes in community_sizes:
            ordered = sorted(sizes, reverse=True)
            if not ordered or min(ordered) < 1:
                raise ValueError(f"community sizes must be >= 1, got {list(sizes)}")
            kept = [size for size in ordered[: k - 1] + [sum(ordered[k - 1 :])] if size]
            share = torch.zeros(k, dtype=torch.float64)
            share[: len(kept)] = torch.tensor(kept, dtype=torch.float64) / sum(kept)
            first.setdefault(sum(kept), share)
        if not first:
            raise ValueError("fit_communities needs the community sizes of one graph at least")
        counts = torch.tensor(sorted(first))  # [C], the training graphs' node counts
        nearest = (torch.arange(self.num_nodes + 1)[:, None] - counts).abs().argmin(-1)  # [N+1]
        table = torch.stack([first[int(c)] for c in counts])[nearest]  # [N + 1, K]
        self.community_shares.copy_(table.to(self.community_shares.dtype))
        self.communities_fitted = True

    @property
    def bonds_need_atoms(self) -> bool:
        """Whether the edge logits read the sampled nodes: with ``cfg.communities``, whose
        runs fit the node count."""
        return self.community_head is not None

    def node_positions(self, h: Tensor) -> Tensor | None:
        """Each node's point in the plane, ``[B, N, 2]``, from the features ``h [B, H]``
        (None without ``cfg.non_crossing``)."""
        if self.position_head is None:
            return None
        positions = self.position_head(h).view(h.shape[0], self.num_nodes, 2)
        if self.node_spacing is None:
            return positions
        return spread_positions(positions, self.node_spacing)

    def node_communities(self, h: Tensor, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """Each node's community membership ``[B, N, K]`` (rows on the simplex) and the
        weight :math:`w` of :func:`community_rise` per graph ``[B, 1]``, from the features
        ``h [B, H]`` and the sampled nodes ``x [B, N, 2]`` (None without ``cfg.communities``)."""
        if self.community_head is None:
            return None
        n = x[..., 1].sum(1, keepdim=True)  # [B, 1]
        out = self.community_head(torch.cat([h, n / self.num_nodes], -1))  # [B, K + 1]
        share_logits, weight = out[:, :-1], F.softplus(out[:, -1:])
        k = share_logits.shape[-1]
        ranks = torch.arange(k, device=h.device)  # [K]
        last = torch.full_like(n, k - 1)  # [B, 1]: the rank of the graph's last run
        if self.community_size == "data":
            if not self.communities_fitted:
                raise ValueError(
                    "generator.community_size='data' splits graphs as the training graphs "
                    "are split: call fit_communities first"
                )
            data_shares = self.community_shares[n.squeeze(-1).long()]  # [B, K]
            share_logits = share_logits + data_shares.log()  # the data's where the head is 0
            last = (data_shares > 0).sum(-1, keepdim=True).to(n.dtype) - 1
        elif self.community_size is not None:
            last = torch.ceil(n / self.community_size).clamp(1, k) - 1
        # the runs after the last hold no share and start at infinity: they are empty
        shares = torch.softmax(share_logits.masked_fill(ranks > last, -math.inf), -1)  # [B, K]
        ends = n * shares.cumsum(-1)[:, :-1]  # [B, K - 1]: where runs 1..K-1 end, in nodes
        ends = ends.masked_fill(ranks[:-1] >= last, math.inf)
        slots = torch.arange(self.num_nodes, device=h.device, dtype=h.dtype) + 0.5  # [N]
        beyond = torch.sigmoid((slots[:, None] - ends.unsqueeze(1)) / COMMUNITY_EDGE_WIDTH)
        ones = torch.ones_like(beyond[..., :1])  # [B, N, 1]
        # [B, N, K]: past the start of run k, less past its end; the runs telescope, rows sum to 1
        soft = torch.cat([ones, beyond], -1) - torch.cat([beyond, torch.zeros_like(ones)], -1)
        # straight through: each node wholly in the run holding it (the ends before it are
        # its run's rank: the soft rows' argmax misses runs narrower than about 3 nodes),
        # the soft rows' gradient
        rank = (slots[:, None] > ends.unsqueeze(1)).sum(-1)  # [B, N]
        hard = F.one_hot(rank, k).to(soft.dtype)
        return hard + soft - soft.detach(), weight

    def bond_logits(
        self, h: Tensor, x: Tensor | None = None, positions: Tensor | None = None
    ) -> Tensor:
        """Edge logits of the pairs ``[B, P, 2]``; with ``cfg.non_crossing`` the edge class's
        falls with the pair's squared distance in ``positions`` (:meth:`node_positions`,
        computed here when not given); with ``cfg.communities`` it rises within a community
        of the nodes ``x [B, N, 2]`` (which it then needs)."""
        logits = super().bond_logits(h)  # [B, P, 2], the linear head's
        if positions is None:
            positions = self.node_positions(h)
        if positions is not None:
            fall = distance_fall(positions, F.softplus(self.distance_weight))  # [B, P]
            logits = logits + F.pad(-fall.unsqueeze(-1), (1, 0))  # the edge class's, [B, P, 2]
        if self.community_head is None:
            return logits
        if x is None:
            raise ValueError(
                "generator.communities fits the communities to the node count: pass the "
                "sampled nodes x [B, N, 2] (forward samples them first)"
            )
        membership, weight = self.node_communities(h, x)  # [B, N, K], [B, 1]
        rise = community_rise(membership, weight)  # [B, P]
        return logits + F.pad(rise.unsqueeze(-1), (1, 0))

    def atom_logits(self, h: Tensor) -> Tensor:
        """``log [P(n <= i), P(n > i)]`` per node ``i``, ``[B, N, 2]`` (the same for every
        row of ``h``)."""
        # P(n > i) = sum of p(m) for m > i: the reversed cumulative sum, shifted by one
        present = self.node_probs.flip(0).cumsum(0).flip(0)[1:].clamp(0, 1)  # [N]
        law = torch.stack([1 - present, present], -1).log().to(h.dtype)  # [N, 2]
        return law.expand(h.shape[0], -1, -1)

    def sample_atoms(
        self,
        atom_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Nodes ``x [B, N, 2]``, one-hot: ``n`` drawn from the node-count law (``generator``),
        nodes ``i < n`` present. ``atom_logits`` gives the batch size and dtype only."""
        batch = atom_logits.shape[0]
        n = torch.multinomial(self.node_probs, batch, replacement=True, generator=generator)
        positions = torch.arange(self.num_nodes, device=n.device)
        present = (positions < n.unsqueeze(-1)).long()  # [B, N]
        return F.one_hot(present, 2).to(atom_logits.dtype)

    def extra_repr(self) -> str:
        layout = ", non_crossing=True" if self.position_head is not None else ""
        if self.node_spacing is not None:
            layout += f", node_spacing={self.node_spacing:g}"
        if self.community_head is not None:
            layout += f", communities={self.community_head.out_channels - 1}"
        if self.community_size is not None:
            layout += f", community_size={self.community_size}"
        return f"{super().extra_repr()}, max_degree={self.max_degree}{layout}"
