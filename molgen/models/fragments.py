r"""MolGAN over fragment graphs: nodes are atoms or ring systems, edges carry a bond class and
the attachment site at each end (:mod:`molgen.chem.fragments` describes the graphs).

:class:`FragmentGenerator` draws node types over the :math:`T` node classes, then a tree of
edges with a site at each ring-system end, within per-site budgets
(:func:`molgen.nn.constrained.site_gumbel_softmax`): every sample decodes to one molecule.
:class:`FragmentDiscriminator` is the R-GCN critic on the fragment graph, each node's features
extended by its site usage, so the site logits get gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from molgen.config import DiscriminatorConfig, GeneratorConfig
from molgen.models.discriminator import Discriminator
from molgen.models.generator import Generator, PairwiseBondHead, glorot_linear
from molgen.nn.constrained import site_budget_of, site_gumbel_softmax, site_one_hot_argmax

__all__ = ["FragmentDiscriminator", "FragmentGenerator", "site_usage"]

FragmentGraph = tuple[
    Tensor, Tensor, Tensor
]  # nodes [B, N, T], adj [B, N, N, R], sites [B, N, N, S]


def site_usage(adj: Tensor, sites: Tensor) -> Tensor:
    r"""How often each site of each node is used by an edge, ``[B, N, S]``:
    :math:`u_{is} = \sum_j (1 - A_{ij0})\, S_{ijs}`, differentiable in both (straight-through
    one-hot samples pass gradients to the bond and site logits).

    Shapes: ``adj [B, N, N, R]`` (channel 0 = no bond), ``sites [B, N, N, S]``."""
    return torch.einsum("bij,bijs->bis", 1 - adj[..., 0], sites)


class FragmentGenerator(Generator):
    r"""MolGAN's generator over fragment graphs.

    .. math::
        \mathbf{h} = \mathrm{MLP}(\mathbf{z}), \quad
        \mathbf{X} = \mathrm{GS}(\mathbf{W}_X \mathbf{h}), \quad
        \mathbf{e} = \mathrm{embed}(\mathbf{h}, \mathbf{X}), \quad
        \boldsymbol{\sigma}_{ij,0} = \mathbf{W}_S [\mathbf{e}_i \| \mathbf{e}_j], \;
        \boldsymbol{\sigma}_{ij,1} = \mathbf{W}_S [\mathbf{e}_j \| \mathbf{e}_i] \quad (i < j)

    Node types are drawn as :class:`~molgen.models.Generator` draws atoms under
    ``connect="tree"``, a node's budget being its total (an atom's valence, a ring system's
    hydrogens): only nodes a tree can attach are kept. Bond logits come from the
    :class:`~molgen.models.generator.PairwiseBondHead` over the node embeddings
    :math:`\mathbf{e}`; site logits of each pair and end from the same embeddings, the end's
    own first (end 0 is the lower index). Edges and sites are drawn by
    :func:`~molgen.nn.constrained.site_gumbel_softmax` (its argmax twin with
    ``eval_mode="argmax"`` in eval mode).

    Args:
        cfg: :class:`~molgen.config.GeneratorConfig` with ``bond_head="pairwise"``,
            ``constraint="valence_connected"`` and ``connect="tree"``.
        num_nodes: :math:`N`.
        site_budgets: ``[T, S]``, the budget of each site of each node class (an atom type's
            valence at site 0; 0 for class 0 and for sites a ring system does not have).
        bond_orders: ``[R]``, what each bond class spends at both ends (class 0: 0).
        num_atom_types: :math:`A`, the atom types among the node classes (classes
            ``1 .. A``; ``A + 1 .. T - 1`` are ring systems). The node logits' biases start
            at the log of a prior giving "no node", the atom types and the ring systems a third
            of the mass each, spread evenly within each group.

    Shapes:
        - **z:** :math:`(B, z_{dim})`
        - **output:** nodes :math:`(B, N, T)`, bonds :math:`(B, N, N, R)`, sites
          :math:`(B, N, N, S)` (``sites[b, i, j]`` the site of node ``i`` used by the edge
          ``(i, j)``, zero where there is none), one-hot when hard
    """

    def __init__(
        self,
        cfg: GeneratorConfig,
        num_nodes: int,
        site_budgets: Sequence[Sequence[float]] | Tensor,
        bond_orders: Sequence[float] | Tensor,
        num_atom_types: int,
    ):
        if (cfg.bond_head, cfg.constraint, cfg.connect) != (
            "pairwise",
            "valence_connected",
            "tree",
        ):
            raise ValueError(
                "a fragment generator needs bond_head='pairwise', "
                "constraint='valence_connected' and connect='tree'"
            )
        table = torch.as_tensor(site_budgets, dtype=torch.float64)
        if table.dim() != 2:
            raise ValueError(f"site_budgets must be [T, S], got {tuple(table.shape)}")
        orders = torch.as_tensor(bond_orders, dtype=torch.float64)
        super().__init__(
            cfg,
            num_nodes,
            table.shape[0],
            len(orders),
            atom_valences=table.sum(1),
            bond_orders=orders,
        )
        if not 1 <= num_atom_types < table.shape[0] - 1:
            raise ValueError(
                f"num_atom_types must leave class 0 and a ring system of the {table.shape[0]} "
                f"node classes, got {num_atom_types}"
            )
        self.num_atom_types_ = num_atom_types
        self.num_sites = table.shape[1]
        self.eval_mode = cfg.eval_mode
        self.estimator = cfg.estimator
        self.hard = cfg.hard
        self.register_buffer("site_budgets", table, persistent=False)  # from the vocabulary
        self.site_head = glorot_linear(2 * cfg.bond_embedding_dim, self.num_sites)
        self._balance_node_groups()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "site_head"):  # the base class resets before the site head exists
            self.site_head.reset_parameters()
            self._balance_node_groups()

    def _budgeted_bond_sampler(self, *args: Any) -> None:
        # Edges are drawn with their sites, within the sites' budgets (sample_graph).
        return None

    def sample_bonds(self, *args: Any, **kwargs: Any) -> Tensor:
        """Not for fragment graphs: each edge is drawn with its sites (:meth:`sample_graph`)."""
        raise TypeError(
            "a fragment generator draws each edge with its sites: use sample_graph or forward"
        )

    @torch.no_grad()
    def _balance_node_groups(self) -> None:
        # With zero biases "no node" would start at 1/T (T in the hundreds): every sample all
        # N nodes, nearly all ring systems, molecules of a hundred atoms. The biases give "no
        # node", the atom types and the ring systems a third of the mass each instead.
        groups = torch.ones(self.num_atom_types)
        atoms = self.num_atom_types_
        groups[1 : atoms + 1] = atoms
        groups[atoms + 1 :] = self.num_atom_types - 1 - atoms
        prior = (1.0 / (3.0 * groups)).log()  # [T]
        self.atom_head.bias.view(self.num_nodes, self.num_atom_types).copy_(prior)

    def site_logits(self, embedding: Tensor) -> Tensor:
        """Site logits of each pair's two ends ``[B, P, 2, S]`` from node embeddings
        ``[B, N, d]`` (end 0 is the lower index)."""
        head: PairwiseBondHead = self.bond_head
        first, second = embedding[:, head.rows], embedding[:, head.cols]  # [B, P, d]
        ends = torch.stack(
            [torch.cat([first, second], -1), torch.cat([second, first], -1)], dim=2
        )  # [B, P, 2, 2d]
        return self.site_head(ends)

    def sample_graph(
        self,
        x: Tensor,
        bond_logits: Tensor,
        site_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Edges ``[B, N, N, R]`` and sites ``[B, N, N, S]`` among the sampled nodes
        ``x [B, N, T]``."""
        budget = site_budget_of(x.detach(), self.site_budgets)  # [B, N, S]
        node_mask = x.detach().argmax(-1) != 0
        if not self.training and self.eval_mode == "argmax":
            return site_one_hot_argmax(
                bond_logits, site_logits, budget, self.bond_orders, node_mask
            )
        return site_gumbel_softmax(
            bond_logits,
            site_logits,
            budget,
            self.bond_orders,
            tau,
            self.hard,
            node_mask,
            estimator=self.estimator,
            generator=generator,
        )

    def forward(
        self,
        z: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        return_logits: bool = False,
        sample_temperature: tuple[float, float] | None = None,
    ) -> FragmentGraph | tuple[FragmentGraph, Tensor, Tensor]:
        """Fragment graphs ``(x, adj, sites)`` for noise ``z [B, z_dim]``; with
        ``return_logits``, ``((x, adj, sites), node_logits, bond_logits)``.
        ``sample_temperature`` ``(nodes, bonds)`` divides the node logits and the bond and
        site logits."""
        h = self.features(z)  # [B, H]
        node_logits = self.atom_logits(h)  # [B, N, T]
        if sample_temperature is not None:
            node_logits = node_logits / sample_temperature[0]
        x = self.sample_atoms(node_logits, tau, generator)  # [B, N, T]
        embedding = self.bond_head.embed(h, x)  # [B, N, d]
        bond_logits = self.bond_head.pair_logits(embedding)  # [B, P, R]
        site_logits = self.site_logits(embedding)  # [B, P, 2, S]
        if sample_temperature is not None:
            bond_logits = bond_logits / sample_temperature[1]
            site_logits = site_logits / sample_temperature[1]
        adj, sites = self.sample_graph(x, bond_logits, site_logits, tau, generator)
        graph = (x, adj, sites)
        return (graph, node_logits, bond_logits) if return_logits else graph

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_sites={self.num_sites}"


class FragmentDiscriminator(Discriminator):
    r"""WGAN critic on fragment graphs: :class:`~molgen.models.Discriminator` over node
    features :math:`[\mathbf{X} \| \mathbf{U}]`, the node one-hots and their site usage
    :math:`\mathbf{U} = ` :func:`site_usage` ``(adj, sites)``, and the bond relations.

    With ``cfg.node_embedding_dim`` :math:`= k`, the features are
    :math:`[\mathbf{X}_{:,0} \| \mathbf{W}_E [\mathbf{X}_{:,1:} \| \mathbf{U}]]`: the
    "no node" channel (the encoder's node mask) and a linear embedding of width :math:`k`
    (:math:`T + S - 1` inputs instead of hundreds of one-hot channels in every R-GCN layer).

    Args:
        cfg, pack, minibatch_std: as :class:`~molgen.models.Discriminator` takes them
            (``cfg.structure_features`` off: they count atom valences).
        num_node_types: :math:`T`, including class 0 ("no node").
        num_bond_types: :math:`R`, including class 0 ("no bond").
        num_sites: :math:`S`.

    Shapes:
        - **input:** ``x`` :math:`(B, N, T)`, ``adj`` :math:`(B, N, N, R)`, ``sites``
          :math:`(B, N, N, S)`, float
        - **output:** :math:`(B / \text{pack},)`
    """

    def __init__(
        self,
        cfg: DiscriminatorConfig,
        num_node_types: int,
        num_bond_types: int,
        num_sites: int,
        *,
        pack: int = 1,
        minibatch_std: bool = False,
    ):
        if cfg.structure_features:
            raise ValueError("structure_features count atom valences: not for fragment graphs")
        features = num_node_types + num_sites
        embedded = features if cfg.node_embedding_dim is None else 1 + cfg.node_embedding_dim
        super().__init__(cfg, embedded, num_bond_types, pack=pack, minibatch_std=minibatch_std)
        self.num_node_types = num_node_types
        self.num_sites = num_sites
        self.node_embedding = None
        if cfg.node_embedding_dim is not None:
            self.node_embedding = glorot_linear(features - 1, cfg.node_embedding_dim)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.node_embedding is not None:
            self.node_embedding.reset_parameters()

    def forward(self, x: Tensor, adj: Tensor, sites: Tensor) -> Tensor:  # type: ignore[override]
        features = torch.cat([x, site_usage(adj, sites)], -1)  # [B, N, T + S]
        if self.node_embedding is not None:
            embedded = self.node_embedding(features[..., 1:])  # [B, N, k]
            features = torch.cat([features[..., :1], embedded], -1)
        return super().forward(features, adj)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_node_types={self.num_node_types}, "
            f"num_sites={self.num_sites}"
        )
