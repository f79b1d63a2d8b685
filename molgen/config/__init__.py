"""Experiment configuration: one small pydantic model per part, YAML loading, dotted overrides.

A run is described by one YAML file validated against :class:`Config`. Every model forbids
unknown keys and bounds its fields, so a typo or an out-of-range value fails at load time with
a one-line message naming the key, the file or override, and (for typos) the closest valid
key. Booleans are not numbers here (``batch_size: true`` is an error, not 1), floats must be
finite, a key given twice in one YAML mapping is an error, and ``data.path`` must be a file::

    cfg = load_config("configs/qm9_5k.yaml", ["train.batch_size=64", "temperature.schedule=cosine"])

Code receives only the part it needs (``Generator(cfg.generator, ...)``), never the whole tree.
"""

from __future__ import annotations

import difflib
import math
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from molgen.choices import (
    AROMATIC_RULES,
    BOND_HEADS,
    CONNECT_ALIASES,
    CONNECT_DEFAULT,
    CONNECT_RULES,
    CONSTRAINTS,
    DATA_KINDS,
    DATASETS,
    ESTIMATORS,
    EVAL_MODES,
    GRAPH_DATASETS,
    MOLECULE_DATASETS,
    OBJECTIVES,
    REPRESENTATIONS,
    SCHEDULES,
)
from molgen.errors import MolgenError

__all__ = [
    "BOND_HEADS",
    "CONSTRAINTS",
    "Config",
    "ConfigError",
    "DATASETS",
    "DataConfig",
    "DiscriminatorConfig",
    "FragmentsConfig",
    "GANConfig",
    "GeneratorConfig",
    "LoggingConfig",
    "OBJECTIVES",
    "RewardConfig",
    "SampleTemperature",
    "TemperatureConfig",
    "TrainConfig",
    "WandbConfig",
    "apply_overrides",
    "load_config",
]


def _canonical_connect(value: Any) -> Any:
    # Configs saved before the rule was named "tree" say "earlier": same rule, still loads.
    return CONNECT_ALIASES.get(value, value) if isinstance(value, str) else value


#: The molgen version that stops reading retired keys (``gan.latent_weight: 0``) in saved
#: configs: from then on they are unknown keys like any other.
RETIRED_KEYS_REMOVED_IN = "0.2.0"


class ConfigError(MolgenError, ValueError):
    """A configuration file or override that does not validate."""


def _finite_number(value: Any) -> Any:
    # YAML's true/yes would otherwise pass as the number 1; nan would fail a bound first,
    # with a message about the bound.
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return value  # not a number: pydantic says so
    if not math.isfinite(number):
        raise ValueError("Input should be a finite number")
    return value


def _device_form(name: str) -> str:
    # The forms resolve_device accepts; whether CUDA is present is checked when training starts.
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", name):
        raise ValueError("should be auto, cpu, cuda, cuda:N or mps")
    return name


#: A finite float; ints are accepted (``tau0: 1``), booleans are not.
Real = Annotated[float, BeforeValidator(_finite_number)]
#: A layer width.
Width = Annotated[StrictInt, Field(gt=0)]
#: A probability-like fraction in [0, 1).
Fraction = Annotated[Real, Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class FragmentsConfig(_Strict):
    """How the fragment vocabulary is mined from the training split (``data.representation:
    fragments``; :mod:`molgen.chem.fragments`): its K most frequent ring systems become node
    types beside the atom types."""

    max_ring_systems: StrictInt | None = Field(
        None,
        ge=0,
        description="K, the ring systems kept; null: as few as cover `coverage` of the "
        "training molecules entirely",
    )
    coverage: Annotated[Real, Field(gt=0.0, le=1.0)] | None = Field(
        None,
        description="share of training molecules whose ring systems must all be kept, used "
        "when max_ring_systems is null (null: 0.95)",
    )

    @model_validator(mode="after")
    def _one_rule(self) -> FragmentsConfig:
        if self.max_ring_systems is not None and self.coverage is not None:
            raise ValueError(
                "give data.fragments.max_ring_systems or data.fragments.coverage, not both"
            )
        return self


class DataConfig(_Strict):
    """Where molecules (or graphs without chemistry) come from and how they become dense
    graphs. The molecule keys (``smiles_column``, ``limit``, ``max_atoms``, ``atom_types``,
    ``aromatic``, the fractions and ``split_seed``) do not apply to graphs, which are split
    like SPECTRE's (``molgen.data.graphs.spectre_split``)."""

    name: Literal[DATASETS] | None = Field(
        "qm9_5k",
        description="bundled dataset, or a graph benchmark (planar, sbm, community_small); set "
        "to null and give `path` for your own file",
    )
    path: Path | None = Field(
        None,
        description="a .smi/.txt (one SMILES per line) or .csv file; with kind: graphs, a graph "
        "file or a folder of them (edge lists, GraphML, graph6)",
    )
    kind: Literal[DATA_KINDS] | None = Field(
        None,
        description="molecules or graphs (no chemistry, no RDKit); null: graphs for a graph "
        "benchmark's name, molecules otherwise",
    )
    smiles_column: str | None = Field(None, description="CSV column holding SMILES")
    limit: StrictInt | None = Field(
        None, ge=1, description="read only the first `limit` SMILES of the source; null: all"
    )
    max_atoms: StrictInt | None = Field(
        9, ge=1, le=256, description="drop molecules with more heavy atoms"
    )
    atom_types: list[str] | None = Field(
        None, description="fixed atom vocabulary (e.g. [C, N, O, F, N+, O-]); inferred when null"
    )
    aromatic: StrictBool = Field(
        False, description="keep an aromatic bond class instead of kekulizing"
    )
    val_fraction: Fraction = 0.05
    test_fraction: Fraction = 0.05
    split_seed: StrictInt = Field(0, ge=0, description="numpy seeds are non-negative")
    strict: StrictBool = Field(
        False, description="raise on the first unparseable line instead of skipping"
    )
    cache_dir: Path = Field(Path(".cache/molgen"), description="processed-tensor cache")
    representation: Literal[REPRESENTATIONS] = Field(
        "atoms",
        description="graph nodes: atoms, or atoms and the ring systems of a fragment vocabulary "
        "mined from the training split (fragments: a tree of nodes; training keeps the "
        "molecules whose ring systems are all in the vocabulary)",
    )
    fragments: FragmentsConfig = Field(default_factory=FragmentsConfig)
    max_nodes: StrictInt | None = Field(
        None,
        ge=1,
        le=256,
        description="representation fragments: nodes per graph (larger molecules are dropped); "
        "null: the largest fragment graph of the training molecules kept",
    )

    @property
    def graphs(self) -> bool:
        """Whether the data are graphs without chemistry (``kind``, or a graph benchmark)."""
        return self.kind == "graphs" or (self.kind is None and self.name in GRAPH_DATASETS)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of data.name and data.path")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("data.val_fraction + data.test_fraction must be < 1")
        if self.representation == "atoms" and self.max_nodes is not None:
            raise ValueError(
                "data.max_nodes is for data.representation=fragments (atom graphs have "
                "data.max_atoms nodes)"
            )
        return self

    @model_validator(mode="after")
    def _kind_fits_source(self) -> DataConfig:
        if self.kind == "molecules" and self.name in GRAPH_DATASETS:
            raise ValueError(f"data.kind=molecules, but data.name={self.name} is a graph set")
        if self.kind == "graphs" and self.name in MOLECULE_DATASETS:
            raise ValueError(f"data.kind=graphs, but data.name={self.name} is a molecule set")
        if self.graphs:
            chemistry = [
                key
                for key in ("smiles_column", "atom_types", "limit")
                if getattr(self, key) is not None
            ] + (["aromatic"] if self.aromatic else [])
            chemistry += ["representation"] if self.representation == "fragments" else []
            if chemistry:
                raise ValueError(
                    f"data.{chemistry[0]} is for molecules; graph data (data.kind=graphs) "
                    "have no SMILES, atom types, aromatic bonds or ring systems"
                )
        return self


class TemperatureConfig(_Strict):
    """Gumbel-Softmax temperature as a function of the global step (see molgen.nn.schedules)."""

    schedule: Literal[SCHEDULES] = "exponential"
    tau0: Real = Field(1.0, gt=0.0, description="temperature at step 0")
    tau_min: Real = Field(0.1, gt=0.0, description="floor")
    rate: Real = Field(1e-4, ge=0.0, description="exponential: tau0 * exp(-rate * step)")
    every: StrictInt = Field(1, ge=1, description="update the temperature every this many steps")
    total_steps: StrictInt | None = Field(
        None, ge=1, description="linear/cosine horizon; defaults to train.steps"
    )
    milestones: list[Annotated[StrictInt, Field(ge=0)]] = Field(
        default_factory=list, description="step: increasing steps where tau *= gamma"
    )
    gamma: Real = Field(0.5, gt=0.0, le=1.0)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if any(a >= b for a, b in zip(milestones, milestones[1:], strict=False)):
            raise ValueError("should be strictly increasing")
        return milestones

    @model_validator(mode="after")
    def _floor_below_start(self) -> TemperatureConfig:
        if self.tau_min > self.tau0:
            raise ValueError("temperature.tau_min must be <= temperature.tau0")
        return self


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


class RewardConfig(_Strict):
    """Reward network for MolGAN's RL term; off when gan.rl_weight == 0."""

    objectives: list[Literal[OBJECTIVES]] = Field(
        default_factory=lambda: ["validity", "qed"],
        min_length=1,
        description="reward = product of these scores in [0, 1]",
    )
    lr: Real = Field(1e-3, gt=0.0)


class GANConfig(_Strict):
    """WGAN-GP objective, MolGAN's RL mixing, and remedies for mode collapse."""

    n_critic: StrictInt = Field(5, ge=1, description="critic steps per generator step")
    gp_weight: Real = Field(10.0, ge=0.0)
    rl_weight: Real = Field(0.0, ge=0.0, le=1.0, description="MolGAN lambda: 0 = pure WGAN")
    rl_start: StrictInt = Field(0, ge=0, description="step after which the RL term is switched on")
    pack: StrictInt = Field(1, ge=1, description="PacGAN: graphs per critic input")
    minibatch_std: StrictBool = Field(
        False, description="append batch std of graph features in critic"
    )
    diversity_weight: Real = Field(0.0, ge=0.0, description="mode-seeking diversity term weight")

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_keys(cls, data: Any) -> Any:
        # gan.latent_weight (InfoGAN latent recovery) was measured at full length and removed
        # (README); every run folder and checkpoint saved while it existed has it at 0 (off),
        # and those still load until molgen RETIRED_KEYS_REMOVED_IN (a test holds the date).
        # Any other value fails as an unknown key.
        if isinstance(data, dict) and "latent_weight" in data and data["latent_weight"] == 0:
            data = {key: value for key, value in data.items() if key != "latent_weight"}
        return data


class TrainConfig(_Strict):
    steps: StrictInt = Field(5000, ge=1, description="generator steps")
    batch_size: StrictInt = Field(32, ge=1)
    lr_generator: Real = Field(1e-4, gt=0.0)
    lr_discriminator: Real = Field(1e-4, gt=0.0)
    betas: tuple[Fraction, Fraction] = Field((0.5, 0.999), description="Adam's, each in [0, 1)")
    grad_clip: Real | None = Field(None, gt=0.0)
    ema_decay: Fraction | None = Field(
        None,
        description="keep an exponential moving average of the generator's weights with this "
        "decay (e.g. 0.999; warmed up as min(decay, (1 + t) / (10 + t)), which reaches 0.999 at "
        "step 8,990) and evaluate and sample it; null: the weights as trained",
    )
    eval_every: StrictInt = Field(500, ge=1)
    n_eval: StrictInt = Field(1000, ge=1, description="graphs sampled at each evaluation")
    checkpoint_every: StrictInt = Field(1000, ge=1)
    device: Annotated[str, AfterValidator(_device_form)] = Field(
        "auto", description="auto | cpu | cuda | cuda:N | mps"
    )
    amp: StrictBool = Field(False, description="bf16 autocast (GPU only)")
    threads: StrictInt | None = Field(None, ge=1, description="torch CPU threads; default torch's")
    compile: StrictBool = Field(
        False,
        description="torch.compile the critic step (CPU: needs a C++ compiler; first step "
        "compiles for about 30 s)",
    )
    max_minutes: Real | None = Field(
        None, gt=0.0, description="stop (checkpointed, resumable) after this much training time"
    )


class WandbConfig(_Strict):
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="null: $WANDB_MODE if set, else offline"
    )
    project: str = "molgen"
    entity: str | None = None
    tags: list[str] = Field(default_factory=list)


class LoggingConfig(_Strict):
    log_every: StrictInt = Field(50, ge=1)
    wandb: WandbConfig = Field(default_factory=WandbConfig)


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


# --------------------------------------------------------------------------- loading


class _YAMLLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key given twice in one mapping (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` keys may be given again on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it below
            if seen is not key_node:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} (first on line {seen.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


#: The most values (mappings, lists and scalars, an alias counted as all it stands for) a
#: config's YAML may expand to; a full config holds about a hundred. Aliases can make a
#: kilobyte expand to billions ("billion laughs"), which no validation or printing survives.
MAX_YAML_VALUES = 100_000


def _parse_yaml(text: str) -> Any:
    """The YAML document in ``text``, safely (no arbitrary objects, a key given twice refused,
    at most :data:`MAX_YAML_VALUES` values once aliases are expanded, nesting shallow enough
    for the parser); any problem is a ``yaml.YAMLError``."""
    loader = _YAMLLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply (lists or mappings inside each other)") from None
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the values ``root`` expands to, each shared (aliased) node counted once per use,
    without expanding anything; raise a ``yaml.YAMLError`` beyond :data:`MAX_YAML_VALUES` or
    for an alias inside its own anchor."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if not children_done:
            if id(node) in open_nodes:
                raise yaml.constructor.ConstructorError(
                    problem="an alias inside its own anchor (a value that contains itself)",
                    problem_mark=node.start_mark,
                )
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children)
            continue
        open_nodes.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
        if sizes[id(node)] > MAX_YAML_VALUES:
            raise yaml.constructor.ConstructorError(
                problem=f"aliases expand to more than {MAX_YAML_VALUES:,} values; a config "
                "holds far fewer",
                problem_mark=node.start_mark,
            )


def _yaml_problem(exc: yaml.YAMLError, position: bool = True) -> str:
    """One line: what is wrong and, with ``position``, where (line, column)."""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    mark = getattr(exc, "problem_mark", None)
    if position and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """All dotted keys a model accepts, nested models included."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_valid_keys(annotation, dotted + "."))
    return keys


def _closest(key: str) -> str:
    if len(key) > QUOTED_CHARS:  # no key is this long; matching it would take long
        return ""
    match = difflib.get_close_matches(key, _valid_keys(Config), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    """``('generator', 'hidden', 0)`` -> ``generator.hidden[0]``."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _set_by(key: str, overrides: dict[str, str]) -> str | None:
    """The override that set ``key`` or a section above it, if any."""
    for prefix in sorted(overrides, key=len, reverse=True):
        if key == prefix or key.startswith((prefix + ".", prefix + "[")):
            return f"override {_quoted(overrides[prefix])}"
    return None


def _format_errors(err: ValidationError, source: str, overrides: dict[str, str]) -> str:
    """One line per error, naming the override that set the key, else the file."""
    lines = []
    for e in err.errors():
        key = _dotted(e["loc"])
        where = _set_by(key, overrides) or source
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'{_closest(key)}")
            continue
        # A ValueError of ours says it all, without pydantic's "Value error, " in front.
        message = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
        # A cross-field check's input is its whole section: the message names the fields.
        shown = e["type"] != "missing" and not isinstance(e["input"], dict)
        got = f" (got {e['input']!r})" if shown else ""
        # A check across sections names its keys in the message.
        lines.append(f"{where}: {key + ': ' if key else ''}{message}{got}")
    return "\n".join(lines)


#: Characters of an override quoted in a message; a longer one is cut, with its length.
QUOTED_CHARS = 100


def _quoted(text: str) -> str:
    """``'text'``, cut to :data:`QUOTED_CHARS` characters: a message stays one short line."""
    if len(text) <= QUOTED_CHARS:
        return f"'{text}'"
    return f"'{text[:QUOTED_CHARS]}...' ({len(text):,} characters)"


def _override_key(item: str) -> str:
    return item.partition("=")[0].strip()


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML scalars/lists.

    Types are checked afterwards by pydantic, so ``train.batch_size=abc`` fails validation with
    the key named; a key that does not exist fails with the closest valid key suggested, a value
    that is not YAML or a key below something that is not a section fails naming the override.
    """
    valid = set(_valid_keys(Config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = _override_key(item)
        if not sep or not key:
            raise ConfigError(f"override {_quoted(item)} is not of the form key=value")
        if key not in valid:
            raise ConfigError(
                f"override {_quoted(item)}: unknown key {_quoted(key)}{_closest(key)}"
            )
        *parents, leaf = key.split(".")
        node = tree
        for depth, part in enumerate(parents):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                section = ".".join(parents[: depth + 1])
                raise ConfigError(
                    f"override {_quoted(item)}: {section} is {child!r}, not a section of keys"
                )
            node = child
        try:
            node[leaf] = _parse_yaml(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = _yaml_problem(exc, position=False)
            raise ConfigError(
                f"override {_quoted(item)}: value is not valid YAML: {problem}"
            ) from None
    return tree


def _file_kind(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file (``"a directory"``, ``"a named pipe
    (FIFO), not a file"``, ``"a device, not a file"``, ...), None when nothing is there."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def _read_tree(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; any problem is a :class:`ConfigError` naming the file."""
    if not path.is_file():
        kind = _file_kind(path)
        raise ConfigError(
            f"config file not found: {path}" if kind is None else f"config file {path} is {kind}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    try:
        tree = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config sections")
    return tree


def _check_data_path(path: Path | None, where: str, *, folder: bool = False) -> None:
    # Checked here, where users set it, not in DataConfig: a checkpoint's saved config must
    # still validate on a machine without the training file. Graphs may be a folder of files.
    if path is None or path.is_file() or (folder and path.is_dir()):
        return
    problem = "is a directory, not a file" if path.is_dir() else "does not exist"
    relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
    raise ConfigError(f"{where}: data.path: {path} {problem}{relative}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file (defaults when ``path`` is None), apply overrides, validate.

    Every problem is a :class:`ConfigError` with one line per error naming the file or the
    override, and the key.
    """
    source = str(path) if path is not None else "<defaults>"
    tree = _read_tree(Path(path)) if path is not None else {}
    overrides = list(overrides or [])
    if overrides:
        tree = apply_overrides(tree, overrides)
        source += " + overrides"
    set_by = {_override_key(item): item for item in overrides}
    try:
        cfg = Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, set_by)) from None
    where = _set_by("data.path", set_by) or source
    _check_data_path(cfg.data.path, where, folder=cfg.data.graphs)
    return cfg


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML (paths as strings), readable back by :func:`load_config`."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
