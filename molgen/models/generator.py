r"""MolGAN's generator: noise -> MLP -> atom and bond logits -> discrete graph samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear

from molgen.config import GeneratorConfig
from molgen.nn import BudgetedSymmetricGumbelSoftmax, GumbelSoftmax, SymmetricGumbelSoftmax
from molgen.nn.constrained import tree_attachable

__all__ = ["Generator", "PairwiseBondHead", "check_type_counts", "glorot_linear", "tanh_mlp"]


def glorot_linear(in_channels: int, out_channels: int) -> Linear:
    """PyG ``Linear`` with Glorot weights and zero bias, the initialisation of MolGAN's layers."""
    return Linear(in_channels, out_channels, weight_initializer="glorot", bias_initializer="zeros")


def tanh_mlp(in_channels: int, hidden: list[int], dropout: float = 0.0) -> nn.Sequential:
    """MolGAN's ``multi_dense_layers``: ``Linear -> tanh (-> dropout)`` per width in ``hidden``.

    Shapes: ``[..., in_channels] -> [..., hidden[-1]]`` (``in_channels`` when ``hidden`` is empty).
    """
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [glorot_linear(in_channels, width), nn.Tanh()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_channels = width
    return nn.Sequential(*layers)


def check_type_counts(num_atom_types: int, num_bond_types: int) -> None:
    """Both vocabularies need class 0 ("no atom" / "no bond") plus at least one real type."""
    for name, value in (("num_atom_types", num_atom_types), ("num_bond_types", num_bond_types)):
        if value < 2:
            raise ValueError(f"{name} must be >= 2 (class 0 plus at least one type), got {value}")


class PairwiseBondHead(nn.Module):
    r"""Bond logits of the unordered pairs from per-node embeddings and the sampled atom types.

    .. math::
        \mathbf{e}_i = (\mathbf{W}_E \mathbf{h} + \mathbf{b}_E)_i + \mathbf{M}^\top
        \mathbf{x}_i, \qquad
        \boldsymbol{\ell}_{ij} = \mathbf{W}_2 \tanh\left(\mathbf{W}_1
        [\mathbf{e}_i + \mathbf{e}_j \,\|\, \mathbf{e}_i \odot \mathbf{e}_j]
        + \mathbf{b}_1\right) + \mathbf{b}_2 \quad (i < j)

    :math:`(\cdot)_i` is the :math:`i`-th of :math:`N` blocks of width :math:`d`, and
    :math:`\mathbf{M} \in \mathbb{R}^{A \times d}` embeds atom classes, so with
    straight-through one-hot atoms :math:`\mathbf{x}` gradients reach the atom logits through
    the atom sample. Both readout inputs are symmetric in :math:`(i, j)`, so
    :math:`\boldsymbol{\ell}_{ij} = \boldsymbol{\ell}_{ji}` by construction. It has
    :math:`(H + 1) N d + A d + 2d^2 + d + (d + 1) R` parameters (:math:`H` the width of
    :math:`\mathbf{h}`), linear in :math:`N`, where one linear layer over all pairs has
    :math:`(H + 1) R N (N - 1) / 2`.

    Args:
        in_channels: width of :math:`\mathbf{h}`.
        num_nodes: :math:`N`.
        num_atom_types: :math:`A`, atom classes including class 0 ("no atom").
        num_bond_types: :math:`R`, bond classes including class 0 ("no bond").
        embedding_dim: :math:`d`, the width of the node embeddings and of the readout's
            hidden layer.

    Shapes:
        - **h:** :math:`(B, \text{in\_channels})`
        - **x:** :math:`(B, N, A)`, the sampled atoms (one-hot or relaxed)
        - **output:** :math:`(B, N(N-1)/2, R)` in ``torch.triu_indices(N, N, 1)`` order
    """

    def __init__(
        self,
        in_channels: int,
        num_nodes: int,
        num_atom_types: int,
        num_bond_types: int,
        embedding_dim: int,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.num_nodes = num_nodes
        self.num_atom_types = num_atom_types
        self.num_bond_types = num_bond_types
        self.embedding_dim = embedding_dim
        self.node_embedding = glorot_linear(in_channels, num_nodes * embedding_dim)
        self.atom_embedding = nn.Parameter(torch.empty(num_atom_types, embedding_dim))
        self.readout = nn.Sequential(
            glorot_linear(2 * embedding_dim, embedding_dim),
            nn.Tanh(),
            glorot_linear(embedding_dim, num_bond_types),
        )
        rows, cols = torch.triu_indices(num_nodes, num_nodes, offset=1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.node_embedding.reset_parameters()
        nn.init.xavier_uniform_(self.atom_embedding)
        for layer in self.readout:
            if isinstance(layer, Linear):
                layer.reset_parameters()

    def embed(self, h: Tensor, x: Tensor) -> Tensor:
        """The node embeddings ``e: [B, N, d]`` of ``h [B, H]`` and ``x [B, N, A]``."""
        embedding = self.node_embedding(h).view(h.shape[0], self.num_nodes, self.embedding_dim)
        return embedding + x @ self.atom_embedding  # [B, N, d]

    def forward(self, h: Tensor, x: Tensor) -> Tensor:
        return self.pair_logits(self.embed(h, x))

    def pair_logits(self, embedding: Tensor) -> Tensor:
        """Bond logits of the pairs ``[B, P, R]`` from node embeddings ``[B, N, d]``."""
        first, second = embedding[:, self.rows], embedding[:, self.cols]  # [B, P, d]
        pair = torch.cat([first + second, first * second], dim=-1)  # [B, P, 2d]
        return self.readout(pair)  # [B, P, R]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, num_nodes={self.num_nodes}, "
            f"num_atom_types={self.num_atom_types}, num_bond_types={self.num_bond_types}, "
            f"embedding_dim={self.embedding_dim}"
        )


class Generator(nn.Module):
    r"""MLP generator of dense molecular graphs (De Cao & Kipf, 2018).

    .. math::
        \mathbf{h} = \mathrm{MLP}(\mathbf{z}), \quad
        \mathbf{X} = \mathrm{GS}(\mathbf{W}_X \mathbf{h}, \tau), \quad
        \mathbf{A} = \mathrm{SymGS}(f_A(\mathbf{h}, \mathbf{X}), \tau, \text{mask} = [\mathbf{X}
        \text{ not padding}], \text{budget} = v(\mathbf{X}))

    The MLP has tanh activations (and dropout when configured). Atom logits are a linear head
    reshaped to ``[B, N, A]``. Bond logits are produced only for the :math:`N(N-1)/2` unordered
    pairs :math:`i < j` (``[B, P, R]`` in ``torch.triu_indices(N, N, 1)`` order) and stay pairs
    until the sampler mirrors its samples. The bond head :math:`f_A`, by ``cfg.bond_head``:

    - ``"linear"``: :math:`f_A(\mathbf{h}, \mathbf{X}) = \mathbf{W}_A \mathbf{h}`, one linear
      layer over all pairs (MolGAN's :math:`(L + L^\top)/2` spans the same functions with twice
      the outputs);
    - ``"pairwise"``: :class:`PairwiseBondHead`, per-node embeddings of :math:`\mathbf{h}` plus
      an embedding of each node's sampled atom type, read out per pair, so bond logits depend
      on the atoms drawn (``cfg.bond_embedding_dim`` wide).

    Atoms are sampled first, from :class:`molgen.nn.GumbelSoftmax`; then bond logits are
    computed and bonds drawn, by ``cfg.constraint``, from

    - ``"none"``: :class:`molgen.nn.SymmetricGumbelSoftmax`, each pair independently;
    - ``"valence"``: :class:`molgen.nn.BudgetedSymmetricGumbelSoftmax`: a bond class is drawn
      only if its order (``bond_orders[r]``) fits the remaining valence of both sampled atoms
      (``atom_valences[x_i]``);
    - ``"valence_connected"``: the same, and the atoms form one molecule where an allowed bond
      can join the pieces (``cfg.connect``: ``"join"`` or ``"tree"``, see
      :mod:`molgen.nn.constrained`). With ``"tree"`` the
      atoms are drawn so that such a molecule exists: an atom is drawn only where the earlier
      atoms, bonded in a tree of single bonds, have valence left to bond it, and is "no atom"
      otherwise (:func:`molgen.nn.constrained.tree_attachable`; the same law as drawing each
      atom in order with the other classes masked there, and the same zero gradient). Every
      sample is then one sanitizable molecule.

    With ``cfg.max_ring`` (either valence constraint) no ring has more atoms than that: a bond
    within one piece is drawn only between atoms at most ``max_ring - 1`` bonds apart in the
    molecule drawn so far (``max_cycle`` of the bond sampler).

    With ``cfg.aromatic_rule="rings"`` (``"valence_connected"`` with ``connect="tree"``) the
    aromatic bond class ``aromatic_class`` is drawn only in whole 5- and 6-membered aromatic
    rings that kekulize within the budgets (:class:`molgen.nn.constrained.AromaticRings`, with
    each sampled atom's ``aromatic_roles``): every sample is still one sanitizable molecule.

    With ``cfg.min_nodes`` :math:`m > 0` the first :math:`m` node slots never draw class 0:
    "no atom" is masked there (training and sampling alike), so no sample is the empty graph,
    which the data never holds but a critic reading out a sum over nodes scores like a constant.
    (With ``connect="tree"`` a later slot can still be left empty where the tree cannot attach
    its atom; the first slot never is.)

    The same sampler runs in training (the critic sees constrained samples) and in sampling.
    Samples are hard straight-through one-hot by default (``cfg.hard``, ``cfg.estimator``);
    pairs touching a sampled padding atom (class 0) get "no bond", like the data. In ``eval()``
    mode the samples stay random (GAN sampling) unless ``cfg.eval_mode="argmax"``, which makes
    them the per-entry modes (atoms first, then bonds among the chosen atoms).

    Args:
        cfg: :class:`molgen.config.GeneratorConfig` (z_dim, hidden, dropout, hard, estimator,
            gumbel_rao_samples, eval_mode, constraint, connect, max_ring, min_nodes,
            sample_temperature, bond_head, bond_embedding_dim).
        num_nodes: :math:`N`, maximum atoms per molecule.
        num_atom_types: :math:`A`, atom classes including class 0 ("no atom").
        num_bond_types: :math:`R`, bond classes including class 0 ("no bond").
        atom_valences: ``[A]``, the valence budget of each atom class (class 0: 0); needed
            unless ``cfg.constraint == "none"`` (``molgen.chem.atom_valences(vocab)``).
        bond_orders: ``[R]``, what each bond class spends of both ends' valence (class 0: 0)
            (``molgen.chem.bond_orders(vocab)``).
        aromatic_roles: ``[A]``, each atom class's role in an aromatic ring
            (``molgen.chem.aromatic_roles(vocab)``); needed with ``cfg.aromatic_rule="rings"``.
        aromatic_class: the aromatic bond class (``vocab.bond_class("AROMATIC")``); the same.

    Shapes:
        - **z:** :math:`(B, z_{dim})`
        - **output:** atoms :math:`(B, N, A)`, bonds :math:`(B, N, N, R)`, one-hot when hard
    """

    def __init__(
        self,
        cfg: GeneratorConfig,
        num_nodes: int,
        num_atom_types: int,
        num_bond_types: int,
        atom_valences: Sequence[float] | Tensor | None = None,
        bond_orders: Sequence[float] | Tensor | None = None,
        aromatic_roles: Sequence[int] | Tensor | None = None,
        aromatic_class: int | None = None,
    ):
        super().__init__()
        if num_nodes < 1:
            raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
        check_type_counts(num_atom_types, num_bond_types)
        self.z_dim = cfg.z_dim
        self.num_nodes = num_nodes
        self.num_atom_types = num_atom_types
        self.num_bond_types = num_bond_types
        self.constraint = cfg.constraint
        self.atoms_in_tree = False
        self.sample_temperature = (cfg.sample_temperature.atoms, cfg.sample_temperature.bonds)
        self.mlp = tanh_mlp(cfg.z_dim, cfg.hidden, cfg.dropout)
        num_pairs = num_nodes * (num_nodes - 1) // 2
        self.atom_head = glorot_linear(cfg.hidden[-1], num_nodes * num_atom_types)
        self.bond_head: nn.Module
        if cfg.bond_head == "pairwise":
            self.bond_head = PairwiseBondHead(
                cfg.hidden[-1], num_nodes, num_atom_types, num_bond_types, cfg.bond_embedding_dim
            )
        else:
            self.bond_head = glorot_linear(cfg.hidden[-1], num_pairs * num_bond_types)
        sampler_args = dict(
            hard=cfg.hard,
            estimator=cfg.estimator,
            gumbel_rao_samples=cfg.gumbel_rao_samples,
            eval_mode=cfg.eval_mode,
        )
        self.atom_sampler = GumbelSoftmax(**sampler_args)
        if cfg.min_nodes > num_nodes:
            raise ValueError(
                f"generator.min_nodes={cfg.min_nodes} is more than the {num_nodes} node slots"
            )
        self.min_nodes = cfg.min_nodes
        slots = torch.ones(num_nodes, num_atom_types, dtype=torch.bool)
        slots[: cfg.min_nodes, 0] = False  # True = the class may be drawn at the slot
        self.register_buffer("allowed_node_classes", slots, persistent=False)
        if cfg.constraint == "none":
            self.bond_sampler = SymmetricGumbelSoftmax(**sampler_args)
        else:
            if atom_valences is None or bond_orders is None:
                raise ValueError(
                    f"generator.constraint={cfg.constraint!r} needs atom_valences [A] and "
                    "bond_orders [R] (molgen.chem.atom_valences/bond_orders of the vocabulary)"
                )
            valences = torch.as_tensor(atom_valences, dtype=torch.float64)
            orders = torch.as_tensor(bond_orders, dtype=torch.float64)
            if valences.shape != (num_atom_types,) or orders.shape != (num_bond_types,):
                raise ValueError(
                    f"atom_valences must have shape [{num_atom_types}] and bond_orders "
                    f"[{num_bond_types}], got {tuple(valences.shape)} and {tuple(orders.shape)}"
                )
            # Derived from the vocabulary, which the checkpoint holds: not saved twice.
            self.register_buffer("atom_valences", valences, persistent=False)
            self.register_buffer("bond_orders", orders, persistent=False)
            connect = cfg.connect if cfg.constraint == "valence_connected" else False
            self.atoms_in_tree = connect == "tree"
            aromatic = self._aromatic_rule(cfg, aromatic_roles, aromatic_class)
            self.bond_sampler = self._budgeted_bond_sampler(
                sampler_args, connect, cfg.max_ring, aromatic
            )
        self.reset_parameters()

    def _budgeted_bond_sampler(
        self,
        sampler_args: dict[str, Any],
        connect: str | bool,
        max_cycle: int | None,
        aromatic: int | None,
    ) -> nn.Module | None:
        """The edge sampler :meth:`sample_bonds` draws with under the valence budgets (a
        subclass that draws its edges otherwise builds none)."""
        return BudgetedSymmetricGumbelSoftmax(
            **sampler_args, connect=connect, max_cycle=max_cycle, aromatic=aromatic
        )

    def _aromatic_rule(
        self,
        cfg: GeneratorConfig,
        roles: Sequence[int] | Tensor | None,
        aromatic_class: int | None,
    ) -> int | None:
        """The aromatic class the bond sampler draws in rings (None: no aromatic rule); keeps
        the atom classes' roles as a buffer."""
        if cfg.aromatic_rule == "none":
            return None
        if roles is None or aromatic_class is None:
            raise ValueError(
                "generator.aromatic_rule='rings' needs aromatic_roles [A] and aromatic_class "
                "(molgen.chem.aromatic_roles(vocab), an aromatic vocabulary: data.aromatic=true)"
            )
        roles = torch.as_tensor(roles, dtype=torch.long)
        if roles.shape != (self.num_atom_types,):
            raise ValueError(
                f"aromatic_roles must have shape [{self.num_atom_types}], got {tuple(roles.shape)}"
            )
        if not 1 <= aromatic_class < self.num_bond_types:
            raise ValueError(
                f"aromatic_class must be a bond class in [1, {self.num_bond_types}), "
                f"got {aromatic_class}"
            )
        # Derived from the vocabulary, like the valences: not saved.
        self.register_buffer("aromatic_roles", roles, persistent=False)
        return aromatic_class

    def reset_parameters(self) -> None:
        # In registration order: the linear head draws the weights it always has for a seed.
        for layer in self.mlp:
            if isinstance(layer, Linear):
                layer.reset_parameters()
        self.atom_head.reset_parameters()
        self.bond_head.reset_parameters()

    @property
    def bonds_need_atoms(self) -> bool:
        """Whether the bond logits depend on the sampled atoms (``bond_head="pairwise"``)."""
        return isinstance(self.bond_head, PairwiseBondHead)

    def sample_noise(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Standard normal noise ``z: [batch_size, z_dim]`` (on the model's device by default)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        weight = self.mlp[0].weight  # every generator has its MLP (a graph one no atom head)
        device = weight.device if device is None else device
        return torch.randn(
            batch_size, self.z_dim, generator=generator, device=device, dtype=weight.dtype
        )

    def features(self, z: Tensor) -> Tensor:
        """The MLP's output ``h: [B, hidden[-1]]`` for noise ``z [B, z_dim]``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        return self.mlp(z)

    def atom_logits(self, h: Tensor) -> Tensor:
        """Atom logits ``[B, N, A]`` from the features ``h [B, hidden[-1]]``."""
        return self.atom_head(h).view(h.shape[0], self.num_nodes, self.num_atom_types)

    def bond_logits(
        self, h: Tensor, x: Tensor | None = None, positions: Tensor | None = None
    ) -> Tensor:
        """Bond logits of the pairs ``[B, N(N-1)/2, R]`` from the features ``h`` and, for the
        pairwise head, the sampled atoms ``x [B, N, A]`` (the linear head ignores ``x``).
        ``positions`` is :meth:`node_positions`'s layout, passed by :meth:`forward` so that a
        generator whose logits read it computes it once (none here)."""
        # the head's kind, not bonds_need_atoms: a subclass may read the atoms in its own terms
        if not isinstance(self.bond_head, PairwiseBondHead):
            return self.bond_head(h).view(h.shape[0], -1, self.num_bond_types)
        if x is None:
            raise ValueError(
                "generator.bond_head='pairwise' conditions the bond logits on the sampled "
                "atoms: pass x [B, N, A] (forward samples them first)"
            )
        return self.bond_head(h, x)

    def logits(self, z: Tensor, x: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Atom logits ``[B, N, A]`` and bond logits of the pairs ``[B, N(N-1)/2, R]``; the
        pairwise bond head needs the atoms ``x [B, N, A]`` sampled from those atom logits."""
        h = self.features(z)
        return self.atom_logits(h), self.bond_logits(h, x)

    def sample_atoms(
        self,
        atom_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Atoms ``x [B, N, A]`` (straight-through one-hot when hard) from ``[B, N, A]``;
        with ``connect="tree"`` only atoms a tree can attach; with ``min_nodes`` an atom in
        each of the first ``min_nodes`` slots."""
        mask = self.allowed_node_classes if self.min_nodes else None  # [N, A]
        x = self.atom_sampler(atom_logits, tau, mask=mask, generator=generator)
        if not self.atoms_in_tree:
            return x
        atoms = x.detach().argmax(-1)  # [B, N]
        present = atoms != 0
        dropped = present & ~tree_attachable(self.atom_valences[atoms], self.bond_orders, present)
        no_atom = torch.zeros_like(x)
        no_atom[..., 0] = 1
        return torch.where(dropped.unsqueeze(-1), no_atom, x)

    def sample_bonds(
        self,
        x: Tensor,
        bond_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        positions: Tensor | None = None,
    ) -> Tensor:
        """Bonds ``adj [B, N, N, R]`` among the sampled atoms ``x [B, N, A]`` from the pair
        logits ``[B, N(N-1)/2, R]`` (``cfg.constraint``'s sampler); with ``positions``
        ``[B, N, 2]`` (:meth:`node_positions`) no two bonds cross there."""
        atoms = x.detach().argmax(-1)  # [B, N]
        node_mask = atoms != 0
        if self.constraint == "none":
            return self.bond_sampler(bond_logits, tau, node_mask=node_mask, generator=generator)
        budget = self.atom_valences[atoms]  # [B, N]
        roles = self.aromatic_roles[atoms] if self.bond_sampler.aromatic is not None else None
        return self.bond_sampler(
            bond_logits,
            budget,
            self.bond_orders,
            tau,
            node_mask,
            generator=generator,
            roles=roles,
            positions=positions,
        )

    def node_positions(self, h: Tensor) -> Tensor | None:
        """Each node's point in the plane, ``[B, N, 2]``, where the bond sampler draws a
        crossing-free graph (None: no such rule; see
        :class:`~molgen.models.GraphGenerator`'s ``non_crossing``)."""
        return None

    def sample_from_logits(
        self,
        atom_logits: Tensor,
        bond_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Sample atoms, then bonds among them (:meth:`sample_atoms`, :meth:`sample_bonds`).

        Only for bond logits that do not depend on the atoms (not :attr:`bonds_need_atoms`):
        the pairwise head's come after the atoms, so use :meth:`forward` (``return_logits=True``)
        or the steps :meth:`features`, :meth:`atom_logits`, :meth:`sample_atoms`,
        :meth:`bond_logits`, :meth:`sample_bonds`.
        """
        if self.bonds_need_atoms:
            raise ValueError(
                "this generator computes bond logits from the sampled atoms (bond_head "
                "'pairwise', or communities), so they cannot be given before sampling: use "
                "forward(..., return_logits=True)"
            )
        x = self.sample_atoms(atom_logits, tau, generator)
        adj = self.sample_bonds(x, bond_logits, tau, generator)
        return x, adj  # [B, N, A], [B, N, N, R]

    def forward(
        self,
        z: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        return_logits: bool = False,
        sample_temperature: tuple[float, float] | None = None,
    ) -> tuple[Tensor, Tensor] | tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
        """Graphs ``(x [B, N, A], adj [B, N, N, R])`` for noise ``z [B, z_dim]``: atoms are
        sampled, then bond logits computed (from the atoms too, for the pairwise head) and
        bonds sampled among them.

        ``tau`` only shapes relaxed samples (``cfg.hard=False``) and gradients: hard samples
        without gradient are the same at any ``tau``. ``sample_temperature`` ``(atoms, bonds)``
        divides the logits before sampling (for sampling after training; training passes
        none).

        With ``return_logits=True``: ``((x, adj), atom_logits, bond_logits)`` (bond logits of
        the pairs, ``[B, N(N-1)/2, R]``, those the bonds were drawn from), so callers that also
        need the logits (e.g. the diversity term on probabilities) go through ``forward``,
        which DistributedDataParallel requires.
        """
        h = self.features(z)  # [B, H]
        atom_logits = self.atom_logits(h)  # [B, N, A]
        if sample_temperature is not None:
            atom_logits = atom_logits / sample_temperature[0]
        x = self.sample_atoms(atom_logits, tau, generator)  # [B, N, A]
        positions = self.node_positions(h)  # [B, N, 2], or None without a layout
        bond_logits = self.bond_logits(h, x, positions)  # [B, P, R]
        if sample_temperature is not None:
            bond_logits = bond_logits / sample_temperature[1]
        adj = self.sample_bonds(x, bond_logits, tau, generator, positions)
        return ((x, adj), atom_logits, bond_logits) if return_logits else (x, adj)

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, num_nodes={self.num_nodes}, "
            f"num_atom_types={self.num_atom_types}, num_bond_types={self.num_bond_types}, "
            f"constraint={self.constraint!r}"
            + (f", min_nodes={self.min_nodes}" if self.min_nodes else "")
        )
