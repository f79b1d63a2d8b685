"""The ``generator`` and ``discriminator`` sections: the networks' architectures, how bonds
are sampled (constraints, rules, sampling temperatures) and what the critic reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictBool, StrictInt, model_validator

from molgen.choices import (
    AROMATIC_RULES,
    BOND_HEADS,
    CONNECT_ALIASES,
    CONNECT_DEFAULT,
    CONNECT_RULES,
    CONSTRAINTS,
    ESTIMATORS,
    EVAL_MODES,
)
from molgen.config.fields import Fraction, Real, Width, _Strict


def _canonical_connect(value: Any) -> Any:
    # Configs saved before the rule was named "tree" say "earlier": same rule, still loads.
    return CONNECT_ALIASES.get(value, value) if isinstance(value, str) else value


class SampleTemperature(_Strict):
    """Divisors of each head's logits when sampling from a trained generator (evaluation,
    ``molgen sample``, ``molgen evaluate``); training draws from the logits as they are.
    Unlike ``tau`` (the relaxation temperature, which shapes gradients only), these change
    which molecules are drawn: above 1 flattens a head's distribution, below 1 sharpens it.
    Chosen on the validation split (``scripts/bench_quality.py --tune-temperature``)."""

    atoms: Real = Field(
        1.0, gt=0.0, description="divisor of the atom logits (fragment graphs: node logits)"
    )
    bonds: Real = Field(
        1.0, gt=0.0, description="divisor of the bond logits (fragment graphs: and site logits)"
    )


class GeneratorConfig(_Strict):
    """MLP generator: z -> atom logits [B, N, A] and bond logits of the pairs [B, P, R]."""

    z_dim: StrictInt = Field(32, ge=1)
    hidden: list[Width] = Field(default_factory=lambda: [128, 256, 512], min_length=1)
    dropout: Fraction = 0.0
    hard: StrictBool = Field(True, description="one-hot straight-through samples (else relaxed)")
    estimator: Literal[ESTIMATORS] = "st"
    gumbel_rao_samples: StrictInt = Field(8, ge=1, description="K for estimator=gumbel_rao")
    eval_mode: Literal[EVAL_MODES] = Field(
        "sample", description="sampling after training: draw each atom/bond, or take the mode"
    )
    constraint: Literal[CONSTRAINTS] = Field(
        "none",
        description="bonds drawn freely (none), within each sampled atom's valence (valence), "
        "or within valences and connected (valence_connected); in training and sampling",
    )
    connect: Annotated[Literal[CONNECT_RULES], BeforeValidator(_canonical_connect)] = Field(
        CONNECT_DEFAULT,
        description="valence_connected's rule: join fragments by their most probable allowed "
        "bond (join), or draw a tree first, each atom bonded to an earlier one, with only the "
        "atoms such a tree can bond (tree: every sample one molecule; 'earlier' is read as "
        "tree)",
    )
    max_ring: StrictInt | None = Field(
        None,
        ge=3,
        description="constraint valence or valence_connected: no ring of more than this many "
        "atoms (a bond joining two atoms of one piece is drawn only if they are at most "
        "max_ring - 1 bonds apart in the graph drawn so far); null: rings of any size",
    )
    aromatic_rule: Literal[AROMATIC_RULES] = Field(
        "none",
        description="with data.aromatic: aromatic bonds drawn like the others within the "
        "valence budgets (none; a sample may then fail to kekulize), or only in whole 5- and "
        "6-membered aromatic rings that kekulize (rings: needs constraint valence_connected, "
        "connect tree and max_ring null or >= 5)",
    )
    min_nodes: StrictInt = Field(
        0,
        ge=0,
        description="the first min_nodes node slots always hold an atom (or ring system): "
        "'no node' is masked there, in training and sampling; 0: any slot may be empty, and a "
        "sample may be the empty graph",
    )
    sample_temperature: SampleTemperature = Field(default_factory=SampleTemperature)
    bond_head: Literal[BOND_HEADS] = Field(
        "linear",
        description="bond logits from one linear layer over all pairs (linear), or from "
        "per-node embeddings and the sampled atom types, read out per pair (pairwise)",
    )
    bond_embedding_dim: StrictInt = Field(
        64, ge=1, description="bond_head=pairwise: width d of the node embeddings"
    )
    max_degree: StrictInt | None = Field(
        None,
        ge=1,
        description="graph data: the most edges a node may have, each node's budget under "
        "constraint valence or valence_connected (valence_connected with connect: tree needs "
        "at least 2); null: no limit",
    )

    non_crossing: StrictBool = Field(
        False,
        description="graph data: the generator also places each node in the plane, the edge "
        "logits fall with the squared distance, and an edge is drawn only where its segment "
        "crosses no edge drawn before it (every sample planar; needs constraint valence or "
        "valence_connected)",
    )
    non_crossing_order: Literal["rounds", "score"] = Field(
        "rounds",
        description="non_crossing: of two crossing pairs, the one its round reaches first may "
        "get the edge (rounds), or a pair waits for each crossing pair among the graph's "
        "3N - 6 likeliest that scores higher (score: likely edges first, about 1.8x the "
        "sampling time)",
    )
    node_spacing: Real | None = Field(
        None,
        gt=0,
        description="non_crossing: before the edges are drawn, the nodes push each other apart "
        "until no two are much closer than node_spacing times the layout's typical spacing "
        "(the side of a square holding one node); null: the positions as the head gives them",
    )

    communities: StrictInt | None = Field(
        None,
        ge=2,
        description="graph data: the generator also splits each graph's nodes into at most "
        "this many communities, runs of the node order whose shares of the node count it "
        "chooses per graph, and the edge logits rise within a community and fall between two "
        "(block-model graphs); null: none",
    )
    community_size: Annotated[StrictInt, Field(ge=1)] | Literal["data"] | None = Field(
        None,
        description="communities: the most nodes a community holds; a graph of n nodes splits "
        "into ceil(n / community_size) communities (at most communities), so their number "
        "follows the graph's size; 'data': into the communities (their number and sizes) of "
        "a training graph of n nodes, found by Louvain; null: every graph into all of them",
    )

    @model_validator(mode="after")
    def _non_crossing_needs_constraint(self) -> GeneratorConfig:
        if self.non_crossing and self.constraint == "none":
            raise ValueError(
                "generator.non_crossing needs generator.constraint valence or valence_connected "
                "(the rule is part of the budgeted edge sampler)"
            )
        if self.non_crossing_order != "rounds" and not self.non_crossing:
            raise ValueError("generator.non_crossing_order needs generator.non_crossing=true")
        if self.node_spacing is not None and not self.non_crossing:
            raise ValueError("generator.node_spacing needs generator.non_crossing=true")
        return self

    @model_validator(mode="after")
    def _community_size_needs_communities(self) -> GeneratorConfig:
        if self.community_size is not None and self.communities is None:
            raise ValueError("generator.community_size needs generator.communities")
        return self

    @model_validator(mode="after")
    def _max_ring_needs_constraint(self) -> GeneratorConfig:
        if self.max_ring is not None and self.constraint == "none":
            raise ValueError(
                "generator.max_ring needs generator.constraint valence or valence_connected "
                "(the ring rule is part of the budgeted bond sampler)"
            )
        return self

    @model_validator(mode="after")
    def _aromatic_rings_need_tree(self) -> GeneratorConfig:
        if self.aromatic_rule == "rings" and (
            self.constraint != "valence_connected"
            or self.connect != "tree"
            or (self.max_ring is not None and self.max_ring < 5)
        ):
            raise ValueError(
                "generator.aromatic_rule='rings' needs generator.constraint=valence_connected, "
                "generator.connect=tree and generator.max_ring null or >= 5 (the rings are drawn "
                "along the spanning tree and closed after it)"
            )
        return self

    @model_validator(mode="after")
    def _estimator_needs_hard(self) -> GeneratorConfig:
        if not self.hard and self.estimator != "st":
            raise ValueError(
                f"generator.estimator={self.estimator!r} needs generator.hard=true "
                "(relaxed samples have their own exact gradient)"
            )
        return self


class DiscriminatorConfig(_Strict):
    """Relational GCN + gated aggregation + MLP (also the reward network's architecture)."""

    node_embedding_dim: StrictInt | None = Field(
        None,
        ge=1,
        description="data.representation=fragments: the critic reads each node's type and "
        "site usage through a linear embedding of this width (hundreds of node types make "
        "the R-GCN's one-hot inputs wide); null: the one-hots and site usage as they are",
    )

    conv_dims: list[Width] = Field(default_factory=lambda: [128, 64], min_length=1)
    aggregate_dim: StrictInt = Field(128, ge=1)
    mlp_dims: list[Width] = Field(default_factory=lambda: [128, 64])
    dropout: Fraction = 0.0
    structure_features: StrictBool = Field(
        False,
        description="concatenate to the graph readout what the R-GCN cannot count: 3- to "
        "6-cycle counts, the circuit rank, a valence histogram per atom type, and aromatic bond "
        "and cycle counts when the vocabulary has aromatic bonds (molgen.nn.graph_features); "
        "on graph data the valence histogram is the degree histogram",
    )
    spectral_features: StrictInt = Field(
        0,
        ge=0,
        le=64,
        description="concatenate to the graph readout the k smallest eigenvalues of each "
        "graph's normalised Laplacian (molgen.nn.graph_features.LaplacianSpectrum); 0: off",
    )
