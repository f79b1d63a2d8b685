r"""MolGAN's generator: noise -> MLP -> atom and bond logits -> discrete graph samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear

from molgen.config import GeneratorConfig
from molgen.nn import BudgetedSymmetricGumbelSoftmax, GumbelSoftmax, SymmetricGumbelSoftmax

__all__ = ["Generator", "check_type_counts", "glorot_linear", "tanh_mlp"]


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


class Generator(nn.Module):
    r"""MLP generator of dense molecular graphs (De Cao & Kipf, 2018).

    .. math::
        \mathbf{h} = \mathrm{MLP}(\mathbf{z}), \quad
        \mathbf{X} = \mathrm{GS}(\mathbf{W}_X \mathbf{h}, \tau), \quad
        \mathbf{A} = \mathrm{SymGS}(\mathbf{W}_A \mathbf{h}, \tau, \text{mask} = [\mathbf{X}
        \text{ not padding}], \text{budget} = v(\mathbf{X}))

    The MLP has tanh activations (and dropout when configured). Atom logits are a linear head
    reshaped to ``[B, N, A]``. Bond logits are produced only for the :math:`N(N-1)/2` unordered
    pairs :math:`i < j` (``[B, P, R]`` in ``torch.triu_indices(N, N, 1)`` order, MolGAN's
    :math:`(L + L^\top)/2` spans the same functions with twice the outputs) and stay pairs
    until the sampler mirrors its samples. Atoms come from :class:`molgen.nn.GumbelSoftmax`,
    bonds, by ``cfg.constraint``, from

    - ``"none"``: :class:`molgen.nn.SymmetricGumbelSoftmax`, each pair independently;
    - ``"valence"``: :class:`molgen.nn.BudgetedSymmetricGumbelSoftmax`: a bond class is drawn
      only if its order (``bond_orders[r]``) fits the remaining valence of both sampled atoms
      (``atom_valences[x_i]``);
    - ``"valence_connected"``: the same, and the atoms form one molecule where an allowed bond
      can join the pieces (``cfg.connect``: ``"join"`` or ``"earlier"``, see
      :func:`molgen.nn.functional.budgeted_symmetric_gumbel_softmax`).

    The same sampler runs in training (the critic sees constrained samples) and in sampling.
    Samples are hard straight-through one-hot by default (``cfg.hard``, ``cfg.estimator``);
    pairs touching a sampled padding atom (class 0) get "no bond", like the data. In ``eval()``
    mode the samples stay random (GAN sampling) unless ``cfg.eval_mode="argmax"``, which makes
    them the per-entry modes (atoms first, then bonds among the chosen atoms).

    Args:
        cfg: :class:`molgen.config.GeneratorConfig` (z_dim, hidden, dropout, hard, estimator,
            gumbel_rao_samples, eval_mode, constraint, connect, sample_temperature).
        num_nodes: :math:`N`, maximum atoms per molecule.
        num_atom_types: :math:`A`, atom classes including class 0 ("no atom").
        num_bond_types: :math:`R`, bond classes including class 0 ("no bond").
        atom_valences: ``[A]``, the valence budget of each atom class (class 0: 0); needed
            unless ``cfg.constraint == "none"`` (``molgen.chem.atom_valences(vocab)``).
        bond_orders: ``[R]``, what each bond class spends of both ends' valence (class 0: 0)
            (``molgen.chem.bond_orders(vocab)``).

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
        self.sample_temperature = (cfg.sample_temperature.atoms, cfg.sample_temperature.bonds)
        self.mlp = tanh_mlp(cfg.z_dim, cfg.hidden, cfg.dropout)
        num_pairs = num_nodes * (num_nodes - 1) // 2
        self.atom_head = glorot_linear(cfg.hidden[-1], num_nodes * num_atom_types)
        self.bond_head = glorot_linear(cfg.hidden[-1], num_pairs * num_bond_types)
        sampler_args = dict(
            hard=cfg.hard,
            estimator=cfg.estimator,
            gumbel_rao_samples=cfg.gumbel_rao_samples,
            eval_mode=cfg.eval_mode,
        )
        self.atom_sampler = GumbelSoftmax(**sampler_args)
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
            self.bond_sampler = BudgetedSymmetricGumbelSoftmax(**sampler_args, connect=connect)
            # The same noise without budgets or connect rule: what the constraints changed.
            self.free_bond_sampler = BudgetedSymmetricGumbelSoftmax(**sampler_args)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, Linear):
                module.reset_parameters()

    def sample_noise(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Standard normal noise ``z: [batch_size, z_dim]`` (on the model's device by default)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        weight = self.atom_head.weight
        device = weight.device if device is None else device
        return torch.randn(
            batch_size, self.z_dim, generator=generator, device=device, dtype=weight.dtype
        )

    def logits(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Atom logits ``[B, N, A]`` and bond logits of the pairs ``[B, N(N-1)/2, R]``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (batch, {self.z_dim}), got {tuple(z.shape)}")
        batch = z.shape[0]
        h = self.mlp(z)
        atom_logits = self.atom_head(h).view(batch, self.num_nodes, self.num_atom_types)
        bond_logits = self.bond_head(h).view(batch, -1, self.num_bond_types)
        return atom_logits, bond_logits

    def sample_from_logits(
        self,
        atom_logits: Tensor,
        bond_logits: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        constrained: bool = True,
    ) -> tuple[Tensor, Tensor]:
        """Sample atoms, then bonds among them (``cfg.constraint``'s sampler).

        With ``constrained=False`` a constrained generator draws its bonds from the same noise
        without budgets or connect rule, so a sample equal to the constrained one is one in
        which no constraint changed a draw. Split from :meth:`forward` so callers that also
        need the logits (e.g. the diversity term on probabilities) run the MLP once.
        """
        x = self.atom_sampler(atom_logits, tau, generator=generator)  # [B, N, A]
        atoms = x.detach().argmax(-1)  # [B, N]
        node_mask = atoms != 0
        if self.constraint == "none":
            adj = self.bond_sampler(bond_logits, tau, node_mask=node_mask, generator=generator)
        elif constrained:
            budget = self.atom_valences[atoms]  # [B, N]
            adj = self.bond_sampler(
                bond_logits, budget, self.bond_orders, tau, node_mask, generator=generator
            )
        else:
            unlimited = torch.full(atoms.shape, math.inf, device=atoms.device)
            adj = self.free_bond_sampler(
                bond_logits, unlimited, self.bond_orders, tau, node_mask, generator=generator
            )
        return x, adj  # [B, N, A], [B, N, N, R]

    def forward(
        self,
        z: Tensor,
        tau: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        return_logits: bool = False,
        sample_temperature: tuple[float, float] | None = None,
        constrained: bool = True,
    ) -> tuple[Tensor, Tensor] | tuple[tuple[Tensor, Tensor], Tensor, Tensor]:
        """Graphs ``(x [B, N, A], adj [B, N, N, R])`` for noise ``z [B, z_dim]``.

        ``tau`` only shapes relaxed samples (``cfg.hard=False``) and gradients: hard samples
        without gradient are the same at any ``tau``. ``sample_temperature`` ``(atoms, bonds)``
        divides the logits before sampling (for sampling after training; training passes
        none). ``constrained`` as in :meth:`sample_from_logits`.

        With ``return_logits=True``: ``((x, adj), atom_logits, bond_logits)`` (bond logits of
        the pairs, ``[B, N(N-1)/2, R]``), so callers that also need the logits (e.g. the
        diversity term on probabilities) go through ``forward``, which DistributedDataParallel
        requires.
        """
        atom_logits, bond_logits = self.logits(z)
        if sample_temperature is not None:
            atom_logits = atom_logits / sample_temperature[0]
            bond_logits = bond_logits / sample_temperature[1]
        graph = self.sample_from_logits(
            atom_logits, bond_logits, tau, generator=generator, constrained=constrained
        )
        return (graph, atom_logits, bond_logits) if return_logits else graph

    def extra_repr(self) -> str:
        return (
            f"z_dim={self.z_dim}, num_nodes={self.num_nodes}, "
            f"num_atom_types={self.num_atom_types}, num_bond_types={self.num_bond_types}, "
            f"constraint={self.constraint!r}"
        )
