"""GDSS's molecule protocol (Jo et al. 2022, ``harryjo97/GDSS`` ``sampler.py`` ``Sampler_mol``)
as one more :class:`~molgen.metrics.suite.Benchmark`: validity without correction, NSPDK MMD
and FCD against the test set, uniqueness, and novelty against the training set, the five
columns of GDSS's Table 3 that DiGress, GruM and CDGS report too.

GDSS scores its generated graphs after its valency correction (bonds lowered until RDKit's
valence check passes, then the largest fragment kept); its "validity w/o correction" is the
fraction that passed the check before any correction. molgen corrects nothing: every metric
is of the samples as they are, the valid ones being those RDKit parses and sanitizes
(fragments allowed). SMILES are canonicalised as GDSS's ``canonicalize_smiles`` does
(``Chem.MolToSmiles(Chem.MolFromSmiles(s))``, stereo kept, as MOSES'), its test and
training SMILES too; uniqueness and novelty are MOSES' ``fraction_unique`` (over all valid
samples) and ``novelty``, and FCD MOSES' ``FCD/Test`` (``fcd_torch``), which GDSS calls. The
reference sets are the distinct valid molecules of the files given (GDSS keeps a test set's
duplicates).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from molgen.chem.files import read_smiles_file
from molgen.chem.moses import classify_smiles_moses
from molgen.metrics.features import CHEMNET_MOSES, NSPDK
from molgen.metrics.moses import _fcd_moses
from molgen.metrics.reference import Reference
from molgen.metrics.suite import (
    NSPDK_DEFINITION,
    Benchmark,
    Metric,
    ReferenceSource,
    _novelty,
    _nspdk,
    _uniqueness,
    _validity,
)

__all__ = ["GDSS", "GDSS_REFERENCES", "gdss_references"]

#: The reference sets GDSS compares with.
GDSS_REFERENCES = ("test", "train")

GDSS_DEFINITIONS = {
    "validity": "RDKit parses and sanitizes the sample (Chem.MolFromSmiles: valences checked; "
    "disconnected fragments allowed), as GDSS's check_valency before its valency correction; "
    "molgen corrects no sample",
    "canonical": "Chem.MolToSmiles(Chem.MolFromSmiles(s)), stereo kept (GDSS's "
    "canonicalize_smiles, MOSES' canonic_smiles); every metric but validity_wo_correction is "
    "over the valid samples, duplicates included unless a definition says otherwise",
    "reference": "test, train: the distinct valid canonical SMILES of each file",
    "missing_value": "null in JSON (NaN in Python) when a metric has no molecules to average",
}


def gdss_references(
    given: Mapping[str, ReferenceSource],
    *,
    cache_dir: Path | None = None,
    n_jobs: int | None = 1,
    max_atoms: int | None = None,
) -> dict[str, Reference]:
    """The test and training sets given (a SMILES file or SMILES each), canonicalised as GDSS
    canonicalises them; a set not given is absent (the metrics against it are left out)."""
    out = {}
    for name in GDSS_REFERENCES:
        source = given.get(name)
        if source is None:
            continue
        smiles = read_smiles_file(source) if isinstance(source, (str, Path)) else source
        out[name] = Reference.from_smiles(
            smiles, cache_dir, n_jobs=n_jobs, classify=classify_smiles_moses, max_atoms=max_atoms
        )
    return out


#: GDSS's Table 3 columns, in its order.
GDSS = Benchmark(
    "gdss",
    (
        Metric(
            "validity_wo_correction",
            "valid samples (RDKit sanitizes them; fragments allowed) / all samples: GDSS's "
            "validity w/o correction, for samples that were never corrected",
            _validity,
        ),
        Metric(
            "nspdk",
            NSPDK_DEFINITION.format(samples="valid samples", reference="the test set"),
            _nspdk,
            features=(NSPDK,),
            reference="test",
        ),
        Metric(
            "fcd",
            "MOSES FCD/Test as GDSS calls it (fcd_torch's ChemNet and encoding): Frechet "
            "distance of the ChemNet activations of the valid samples (duplicates included) "
            "and of the test set",
            _fcd_moses,
            features=(CHEMNET_MOSES,),
            reference="test",
        ),
        Metric(
            "uniqueness",
            "distinct canonical SMILES among the valid samples / valid samples (MOSES "
            "unique@k with k the number of valid samples, as GDSS calls it)",
            _uniqueness,
        ),
        Metric(
            "novelty",
            "distinct valid canonical SMILES not in the training set / distinct valid canonical "
            "SMILES (MOSES novelty against GDSS's canonicalised training SMILES)",
            _novelty,
            reference="train",
        ),
    ),
    classify=classify_smiles_moses,
    general_definitions=GDSS_DEFINITIONS,
    load_references=gdss_references,
    run_reference="train",
    plot_reference="test",
    report_title="molgen evaluation (GDSS protocol)",
    report_counts=(
        "{n_samples} samples, {n_valid} valid (sanitizable, fragments allowed), "
        "{n_distinct} distinct valid."
    ),
)
