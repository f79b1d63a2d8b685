"""The ``data`` section: where molecules (or graphs) come from, how they are split, and the
fragment vocabulary of ``data.representation: fragments``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from molgen.choices import (
    DATA_KINDS,
    DATASETS,
    GRAPH_DATASETS,
    MOLECULE_DATASETS,
    REPRESENTATIONS,
)
from molgen.config.fields import Fraction, Real, _Strict


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
