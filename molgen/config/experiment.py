"""The whole experiment, :class:`Config`: its sections and the checks across them (what the
generator and critic may do with graph data, aromatic rings, fragment graphs)."""

from __future__ import annotations

from pydantic import Field, StrictInt, model_validator

from molgen.choices import KEEP_BEST_GRAPHS, KEEP_BEST_MOLECULES
from molgen.config.data import DataConfig
from molgen.config.fields import _Strict
from molgen.config.models import DiscriminatorConfig, GeneratorConfig
from molgen.config.training import (
    GANConfig,
    LoggingConfig,
    RewardConfig,
    TemperatureConfig,
    TrainConfig,
)


class Config(_Strict):
    """A whole experiment; one YAML file under configs/ per experiment."""

    name: str = "molgen"
    seed: StrictInt = Field(
        0, ge=-(2**63), lt=2**63, description="seeds derived from it stay in torch's range"
    )
    data: DataConfig = Field(default_factory=DataConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    gan: GANConfig = Field(default_factory=GANConfig)
    temperature: TemperatureConfig = Field(default_factory=TemperatureConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _parts_fit_the_data(self) -> Config:
        gen = self.generator
        if not self.data.graphs:
            if gen.max_degree is not None:
                raise ValueError(
                    "generator.max_degree is for graph data (data.kind=graphs); molecules "
                    "take their budgets from the atoms' valences"
                )
            if gen.non_crossing:
                raise ValueError(
                    "generator.non_crossing is for graph data (data.kind=graphs): molecules "
                    "need not be planar"
                )
            if gen.communities is not None:
                raise ValueError(
                    "generator.communities is for graph data (data.kind=graphs): molecules "
                    "have no block structure to draw"
                )
            return self
        if self.gan.rl_weight > 0:
            raise ValueError(
                "gan.rl_weight: the RL rewards score molecules (RDKit); graph data train with "
                "gan.rl_weight=0"
            )
        if gen.max_ring is not None:
            raise ValueError("generator.max_ring is for molecules, not graph data")
        if gen.bond_head == "pairwise":
            raise ValueError(
                "generator.bond_head=pairwise reads the sampled atom types; graph data have "
                "one node type: use bond_head=linear"
            )
        if gen.max_degree is not None and gen.constraint == "none":
            raise ValueError(
                "generator.max_degree needs generator.constraint valence or valence_connected "
                "(the degree budget is part of the budgeted edge sampler)"
            )
        tree = gen.constraint == "valence_connected" and gen.connect == "tree"
        if tree and gen.max_degree is not None and gen.max_degree < 2:
            raise ValueError(
                "generator.max_degree must be >= 2 with constraint valence_connected and "
                "connect tree (a tree of more than two nodes has a node of degree 2)"
            )
        return self

    @property
    def keep_best_keys(self) -> dict[str, str]:
        """The keys ``train.keep_best`` may name for this data, each with its better direction
        (``min`` or ``max``)."""
        return KEEP_BEST_GRAPHS if self.data.graphs else KEEP_BEST_MOLECULES

    @model_validator(mode="after")
    def _keep_best_is_evaluated(self) -> Config:
        keys = self.keep_best_keys
        if self.train.keep_best is not None and self.train.keep_best not in keys:
            kind = "graphs" if self.data.graphs else "molecules"
            raise ValueError(
                f"train.keep_best={self.train.keep_best!r} is not evaluated during training on "
                f"{kind}: pick one of {', '.join(keys)}"
            )
        return self

    @model_validator(mode="after")
    def _aromatic_rings_need_aromatic_data(self) -> Config:
        if self.generator.aromatic_rule == "rings" and not self.data.aromatic:
            raise ValueError(
                "generator.aromatic_rule='rings' draws aromatic bonds: it needs data.aromatic=true"
            )
        return self

    @model_validator(mode="after")
    def _fragments_need_tree_sampler(self) -> Config:
        # A fragment graph is a tree of nodes whose edges bond at ring-system sites: only the
        # tree sampler with per-site budgets draws one, and the parts below read atom graphs.
        if self.data.representation != "fragments":
            if self.discriminator.node_embedding_dim is not None:
                raise ValueError(
                    "discriminator.node_embedding_dim is for data.representation=fragments"
                )
            return self
        needs = {
            "generator.constraint": (self.generator.constraint, "valence_connected"),
            "generator.connect": (self.generator.connect, "tree"),
            "generator.bond_head": (self.generator.bond_head, "pairwise"),
            "generator.max_ring": (self.generator.max_ring, None),
            "generator.aromatic_rule": (self.generator.aromatic_rule, "none"),
            "discriminator.structure_features": (self.discriminator.structure_features, False),
            "gan.rl_weight": (self.gan.rl_weight, 0.0),
            "train.compile": (self.train.compile, False),
        }
        wrong = [
            f"{key}={want!r} (got {got!r})" for key, (got, want) in needs.items() if got != want
        ]
        if wrong:
            raise ValueError(
                "data.representation=fragments needs " + ", ".join(wrong) + ": fragment "
                "graphs are drawn as trees with per-site budgets, read by the fragment critic"
            )
        return self
