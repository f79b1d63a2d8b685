"""The allowed values of molgen's named options, in one module that imports nothing.

The config (:mod:`molgen.config`), the layers (:mod:`molgen.nn`) and the tests all read them
here, so a name is written once; importing this module costs nothing (no torch), so
``molgen --help`` and config validation stay fast.
"""

from __future__ import annotations

__all__ = [
    "AROMATIC_RULES",
    "BENCHMARK_NAMES",
    "BOND_HEADS",
    "CONNECT_ALIASES",
    "CONNECT_DEFAULT",
    "CONNECT_RULES",
    "CONSTRAINTS",
    "DATASETS",
    "DATA_KINDS",
    "GRAPH_DATASETS",
    "KEEP_BEST_GRAPHS",
    "KEEP_BEST_MOLECULES",
    "MOLECULE_DATASETS",
    "ESTIMATORS",
    "EVAL_MODES",
    "OBJECTIVES",
    "REPRESENTATIONS",
    "SCHEDULES",
]

#: Gradient estimators of the hard Gumbel-Softmax samplers (``molgen.nn.functional``).
ESTIMATORS = ("st", "gumbel_rao", "reinmax")
#: What the sampler modules do in ``eval()`` mode: keep sampling, or take the mode.
EVAL_MODES = ("sample", "argmax")
#: ``connect`` of the constrained edge sampler (``molgen.nn.constrained``): join the fragments
#: after sampling, or draw a spanning tree first.
CONNECT_RULES = ("join", "tree")
#: Older names of the connect rules, still accepted and read as the canonical name.
CONNECT_ALIASES = {"earlier": "tree"}
#: The rule ``connect=True`` and ``generator.connect``'s default select.
CONNECT_DEFAULT = "join"
#: Temperature schedules (``molgen.nn.schedules.SCHEDULES``).
SCHEDULES = ("constant", "exponential", "linear", "cosine", "step")
#: ``generator.constraint``: how bonds are sampled given the sampled atoms (molgen.models).
CONSTRAINTS = ("none", "valence", "valence_connected")
#: ``generator.aromatic_rule``: aromatic bonds drawn like the others within the budgets (none),
#: or only in whole 5- and 6-membered aromatic rings that kekulize (rings).
AROMATIC_RULES = ("none", "rings")
#: ``generator.bond_head``: how the generator turns its hidden state into bond logits.
BOND_HEADS = ("linear", "pairwise")
#: The molecule sets of ``data.name``: the bundled sample and the packaged sets
#: (``molgen.data.sources.DATASETS``).
MOLECULE_DATASETS = ("qm9_5k", "qm9", "moses")
#: The graph benchmarks of ``data.name``, regenerated from their recipes
#: (``molgen.data.graphs.GRAPH_DATASETS``).
GRAPH_DATASETS = ("planar", "sbm", "community_small")
#: ``data.name``: every named dataset, molecules first.
DATASETS = (*MOLECULE_DATASETS, *GRAPH_DATASETS)
#: ``data.kind``: what the data's graphs are (molecules through RDKit, or graphs without
#: chemistry).
DATA_KINDS = ("molecules", "graphs")
#: ``data.representation``: graph nodes are atoms, or atoms and ring systems of a fragment
#: vocabulary mined from the training split (``molgen.chem.fragments``).
REPRESENTATIONS = ("atoms", "fragments")
#: ``molgen evaluate --benchmark``: the names of ``molgen.metrics.BENCHMARKS``, in its order,
#: the default first.
BENCHMARK_NAMES = ("molgen", "moses", "gdss")
#: ``reward.objectives``: the scores of ``molgen.training.rewards.OBJECTIVES``.
OBJECTIVES = ("validity", "qed", "logp", "sa")
#: ``train.keep_best`` on molecules: the evaluation keys a run may keep its best checkpoint by,
#: each with the better direction (``fcd``: the samples' Frechet ChemNet Distance to the
#: validation split).
KEEP_BEST_MOLECULES = {
    "fcd": "min",
    "validity": "max",
    "uniqueness": "max",
    "novelty": "max",
    "qed": "max",
}
#: ``train.keep_best`` on graphs without chemistry: the graph metrics against the validation
#: graphs (``molgen.metrics.graphs.GRAPH_DEFINITIONS``), each with the better direction.
KEEP_BEST_GRAPHS = {
    "degree_mmd": "min",
    "clustering_mmd": "min",
    "orbit_mmd": "min",
    "spectral_mmd": "min",
    "validity": "max",
    "uniqueness": "max",
    "novelty": "max",
    "unique_novel": "max",
    "vun": "max",
}
