"""A run folder and its checkpoint: what a training run is on disk, written and read here only.

``molgen train`` fills a run folder (:func:`is_run`) with:

- ``checkpoint.pt``: everything the run needs to continue exactly (:data:`CHECKPOINT_ENTRIES`);
- ``config.yaml`` (the resolved config) and ``data.json`` (what the data source reported);
- ``train.smi``, ``val.smi`` and ``test.smi``: the splits, one SMILES a line (a run on graphs
  without chemistry: ``train.g6``, ``val.g6`` and ``test.g6``, one graph6 line a graph); the
  checkpoint records the training split's count and checksum (:func:`training_set_record`),
  not the molecules;
- the trainer's logs: ``metrics.jsonl``, ``curves.png``, ``samples/`` and the offline W&B run.

A checkpoint is a dict of plain types and tensors, written atomically and read with
``torch.load(..., weights_only=True)``: molgen never unpickles, so a file that needs Python
objects built is refused. It records the molgen version that wrote it, named in every error
about its contents, and it never holds a NaN or an infinite value (refused on writing and on
reading). An exported generator (:data:`GENERATOR_FORMAT`, ``molgen export``) is the same kind of
file holding only what sampling needs: it can be sampled and evaluated, never resumed. The
generators shipped with molgen are exported generators, named by their file's stem (``qm9``).

Every refusal here is a :class:`CheckpointError`, or an :class:`~molgen.errors.InputError` where
the config or data given to continue a run differ from the run's: the command line exits 2.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import math
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch

import molgen
from molgen.config import Config, GeneratorConfig, to_yaml
from molgen.data.graphs import DenseGraphs, GraphDataset, GraphVocabulary, graph6_line
from molgen.errors import InputError, MolgenError
from molgen.io import atomic_write, check_output_path
from molgen.models import Generator, GraphGenerator
from molgen.models.fragments import FragmentGenerator

if TYPE_CHECKING:  # RDKit: imported where a molecule run needs it, never on graphs
    from molgen.chem import FragmentVocabulary, Vocabulary
    from molgen.data import GraphSplit, MolDataset

__all__ = [
    "BEST_CHECKPOINT_NAME",
    "CHECKPOINT_ENTRIES",
    "CHECKPOINT_NAME",
    "FORMAT",
    "GENERATOR_ENTRIES",
    "GRAPH_SPLIT_SUFFIX",
    "GENERATOR_FORMAT",
    "OPTIONAL_ENTRIES",
    "TRAIN_SMILES_NAME",
    "CheckpointError",
    "Run",
    "build_generator",
    "check_entries",
    "check_resume",
    "check_resume_data",
    "export_generator",
    "find_checkpoint",
    "is_checkpoint",
    "is_run",
    "load_checkpoint",
    "load_part",
    "load_run",
    "resolve_checkpoint",
    "run_files",
    "save_checkpoint",
    "shipped_generators",
    "smiles_file_bytes",
    "split_lines",
    "training_set_record",
    "write_run_files",
    "written_by",
]

CHECKPOINT_NAME = "checkpoint.pt"
#: The checkpoint of the best evaluation so far (``train.keep_best``), beside the latest.
BEST_CHECKPOINT_NAME = "best.pt"
CONFIG_NAME = "config.yaml"
DATA_INFO_NAME = "data.json"
#: The training molecules of a run, one SMILES a line, beside its checkpoint.
TRAIN_SMILES_NAME = "train.smi"
#: The splits a run folder holds, each as ``SPLIT.smi`` (``SPLIT.g6`` for graphs).
SPLITS = ("train", "val", "test")
#: The ending of a graph run's split files (graph6, one graph a line).
GRAPH_SPLIT_SUFFIX = ".g6"

#: The format of a training checkpoint, one to continue from.
FORMAT = "molgen.checkpoint/1"
#: The format of an exported generator: weights, vocabulary, config and tau, for sampling only.
GENERATOR_FORMAT = "molgen.generator/1"
#: The files sampling reads: training checkpoints and exported generators.
SAMPLING_FORMATS = (FORMAT, GENERATOR_FORMAT)

#: The generators shipped with molgen, ``NAME.pt`` (exported, :func:`export_generator`).
PRETRAINED_DIR = importlib.resources.files("molgen") / "pretrained"

Schema = Mapping[str, type | tuple[type, ...]]
_Off = type(None)  # a part switched off in the run (the reward network without RL)

#: The entries of a training checkpoint (besides ``format`` and ``molgen_version``) and the
#: types each may hold: the state of each part the trainer saves (``TrainState.STATEFUL``), the
#: step, the temperature reached, the config and vocabulary, the data's record, and every RNG
#: state (one entry per process), and the best evaluation so far (``train.keep_best``: its
#: ``metric``, ``value`` and ``step``).
CHECKPOINT_ENTRIES: Schema = {
    "step": int,
    "tau": (float, int),
    "config": dict,
    "vocab": dict,
    "data_info": dict,
    "train_set": dict,
    "generator": dict,
    "discriminator": dict,
    "reward": (dict, _Off),
    "opt_generator": dict,
    "opt_discriminator": dict,
    "opt_reward": (dict, _Off),
    "schedule": dict,
    "generator_ema": (dict, _Off),
    "rng": list,
    "best": (dict, _Off),
}
#: Entries an older molgen did not write: a part switched off and the best evaluation (absent
#: means ``None``), and ``train_set`` (such a checkpoint holds its training molecules as
#: ``train_smiles``).
OPTIONAL_ENTRIES = ("reward", "opt_reward", "generator_ema", "train_set", "best")
#: What sampling reads, from a training checkpoint and an exported generator alike.
GENERATOR_ENTRIES: Schema = {
    key: CHECKPOINT_ENTRIES[key] for key in ("config", "vocab", "generator", "tau")
}
#: An exported generator: :data:`GENERATOR_ENTRIES` and where its weights came from.
EXPORT_ENTRIES: Schema = {**GENERATOR_ENTRIES, "provenance": dict}


class CheckpointError(MolgenError, RuntimeError):
    """A checkpoint that is missing, unreadable, damaged, or not a molgen checkpoint."""


# Where a run is


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run folder: a folder holding a ``checkpoint.pt``."""
    return (Path(path) / CHECKPOINT_NAME).is_file()


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint file of a run folder, or ``path`` itself when it is a file."""
    path = Path(path)
    if path.is_dir():
        if not is_run(path):
            raise CheckpointError(f"no checkpoint at {path}: a folder without {CHECKPOINT_NAME}")
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def shipped_generators() -> list[str]:
    """The names of the generators shipped with molgen (``molgen/pretrained/NAME.pt``)."""
    return sorted(
        entry.name.removesuffix(".pt")
        for entry in PRETRAINED_DIR.iterdir()
        if entry.name.endswith(".pt")
    )


def resolve_checkpoint(source: str | Path) -> Path:
    """The file or folder a checkpoint argument names: an existing path (a run directory, a
    checkpoint or an exported generator) wins; otherwise the name of a shipped generator
    (:func:`shipped_generators`, e.g. ``qm9``); otherwise :class:`CheckpointError` listing
    the shipped names."""
    if Path(source).exists():
        return Path(source)
    shipped = shipped_generators()
    if str(source) in shipped:
        return Path(str(PRETRAINED_DIR / f"{source}.pt"))
    raise CheckpointError(
        f"no checkpoint at {source}: no such file or folder, nor a generator shipped with "
        f"molgen (shipped: {', '.join(shipped) or 'none'})"
    )


def is_checkpoint(path: str | Path) -> bool:
    """A run directory holding a checkpoint, a ``.pt`` file, or (no such path existing) the
    name of a generator shipped with molgen."""
    path = Path(path)
    if not path.exists() and str(path) in shipped_generators():
        return True
    return is_run(path) or path.suffix == ".pt"


def run_files(source: str | Path) -> dict[str, Path]:
    """The files a run argument (a run directory, a checkpoint, an exported or shipped
    generator) is read from, by what they are: its checkpoint and, for a training checkpoint,
    the ``train.smi`` beside it; empty when ``source`` names nothing (loading it then fails
    with its own message). For :func:`~molgen.io.check_distinct_paths`."""
    try:
        path = resolve_checkpoint(source)
    except CheckpointError:
        return {}
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    files = {"the run's checkpoint": checkpoint}
    if checkpoint.name == CHECKPOINT_NAME:
        files["the run's training molecules"] = checkpoint.with_name(TRAIN_SMILES_NAME)
        graphs = checkpoint.with_name(f"train{GRAPH_SPLIT_SUFFIX}")
        if graphs.is_file():
            files["the run's training graphs"] = graphs
    return files


# The checkpoint file


def _tensors(value: Any, key: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _tensors(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _tensors(v, f"{key}[{i}]")


def _non_finite_entry(state: Mapping[str, Any]) -> str | None:
    """The first floating-point tensor of ``state`` holding a NaN or an infinite value."""
    for key, tensor in _tensors(state):
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return key
    return None


def save_checkpoint(state: dict[str, Any], path: Path, *, file_format: str = FORMAT) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact.
    ``file_format`` is :data:`FORMAT`, or :data:`GENERATOR_FORMAT` for an exported generator.

    Refuses (:class:`CheckpointError`, the old file kept) a state with a NaN or infinite value
    in any floating-point tensor: a checkpoint is always one to continue from."""
    if (key := _non_finite_entry(state)) is not None:
        raise CheckpointError(
            f"not writing {path}: {key} holds NaN or infinite values (the previous "
            "checkpoint, if any, is kept)"
        )
    content = {**state, "format": file_format, "molgen_version": molgen.__version__}
    return atomic_write(path, lambda f: torch.save(content, f))


def _summary(error: BaseException) -> str:
    # torch's messages run to several lines of advice; the first sentence says what happened
    text = " ".join(str(error).split())
    return text.split(". ")[0][:200] or type(error).__name__


def _failed_checksum(f: IO[bytes]) -> str | None:
    """The first part of a checkpoint (a zip archive, as torch writes them) whose bytes no
    longer match the CRC-32 recorded when it was written; torch itself does not check them."""
    try:
        if not zipfile.is_zipfile(f):
            return None
        with zipfile.ZipFile(f) as archive:
            return archive.testzip()
    except Exception:  # an archive too damaged to walk (zipfile raises several types)
        return None  # torch.load then says how
    finally:
        f.seek(0)


def _names_something(qualified: str) -> bool:
    """Whether ``module.name`` may name a Python object, judged without importing anything."""
    module, _, name = qualified.rpartition(".")
    if module in sys.modules:
        return hasattr(sys.modules[module], name)
    # find_spec imports a module's parents: ask it only where they are imported already
    parent = module.rpartition(".")[0]
    known = module if not parent or parent in sys.modules else module.partition(".")[0]
    try:
        return importlib.util.find_spec(known) is not None
    except (ImportError, ValueError):
        return False


def _unpickling_refused(path: Path, error: pickle.UnpicklingError) -> CheckpointError:
    # torch wraps the unpickler's own error (the line that says what it met) in advice
    inner = error.__context__ if isinstance(error.__context__, pickle.UnpicklingError) else error
    found = re.search(r"GLOBAL (\S+) was not an allowed global", str(inner))
    if found is not None and _names_something(found.group(1)):
        return CheckpointError(
            f"{path}: not a molgen checkpoint (it holds a Python object, {found.group(1)}, that "
            "only unpickling could build, and molgen never unpickles)"
        )
    if found is not None:
        return CheckpointError(
            f"{path}: not a readable checkpoint (damaged: it names {found.group(1)}, which "
            "does not exist)"
        )
    return CheckpointError(
        f"{path}: not a readable checkpoint (damaged, or not a file torch.save wrote: "
        f"{_summary(inner)})"
    )


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    formats: tuple[str, ...] = (FORMAT,),
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` in one of ``formats`` (a training
    checkpoint by default); errors name the file and what is wrong with it: empty, damaged
    (a part that fails its checksum, a truncated archive), holding Python objects (never
    unpickled), another format, or a NaN or infinite value in an entry."""
    path = find_checkpoint(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        with f, warnings.catch_warnings():  # e.g. torch's note on a pickle protocol
            if os.fstat(f.fileno()).st_size == 0:
                raise CheckpointError(f"{path}: not a readable checkpoint (the file is empty)")
            if (part := _failed_checksum(f)) is not None:
                raise CheckpointError(
                    f"{path}: a damaged checkpoint: its part {part} does not match the checksum "
                    "recorded when it was written (changed on disk or in a copy)"
                )
            warnings.simplefilter("ignore")
            state = torch.load(f, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        raise _unpickling_refused(path, exc) from exc
    except Exception as exc:  # torch raises several types for truncated/garbled files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {_summary(exc)})"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: not a molgen checkpoint (it holds a {type(state).__name__}, not a dict)"
        )
    _check_format(state, path, formats)
    if (key := _non_finite_entry(state)) is not None:
        raise CheckpointError(
            f"{path}: entry {key} holds NaN or infinite values ({written_by(state)}), which no "
            "run can sample or continue from (molgen never writes them: was the file changed?)"
        )
    return state


def _check_format(state: Mapping[str, Any], path: Path, formats: tuple[str, ...]) -> None:
    found = state.get("format")
    expected = " or ".join(map(repr, formats))
    if found in formats:
        return
    if found == GENERATOR_FORMAT:
        raise CheckpointError(
            f"{path}: a generator exported for sampling (molgen export), not a training "
            "checkpoint: it can be sampled and evaluated, not trained further"
        )
    if isinstance(found, str) and found.startswith(("molgen.checkpoint/", "molgen.generator/")):
        raise CheckpointError(
            f"{path}: format {found!r} ({written_by(state)}); this molgen "
            f"({molgen.__version__}) reads {expected}: use the molgen that wrote it"
        )
    raise CheckpointError(f"{path}: not a molgen checkpoint (expected format {expected})")


def written_by(state: Mapping[str, Any]) -> str:
    """Which molgen wrote a checkpoint, as far as it says."""
    version = state.get("molgen_version")
    if isinstance(version, str):
        return f"written by molgen {version}"
    return "written by a molgen older than 0.1.0, which did not record its version"


def check_entries(state: Mapping[str, Any], entries: Schema, path: Path) -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the first entry of ``entries``
    (key -> allowed types) that ``state`` lacks or holds with another type."""
    for key, types in entries.items():
        allowed = types if isinstance(types, tuple) else (types,)
        if key not in state:
            raise CheckpointError(f"{path}: no {key!r} entry ({written_by(state)})")
        value = state[key]
        # bool is an int to isinstance; a checkpoint never holds one where a number belongs
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join("None" if t is _Off else t.__name__ for t in allowed)
            raise CheckpointError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not {names} "
                f"({written_by(state)})"
            )


def load_part(
    part: torch.nn.Module | Any, state: Mapping[str, Any], key: str, path: Path | None = None
) -> None:
    """``part.load_state_dict(state[key])`` after checking what it holds: for a module, the
    same tensor names, shapes and dtypes as ``part``'s. Errors (:class:`CheckpointError`) name
    the file (when given), the tensor and what differs, and which molgen wrote the file."""
    where = f"{path}: " if path is not None else ""

    def fail(detail: str) -> CheckpointError:
        return CheckpointError(f"{where}{detail} ({written_by(state)})")

    saved = state.get(key)
    if not isinstance(saved, Mapping):
        raise fail(f"entry {key!r} is {'missing' if saved is None else type(saved).__name__}")
    if isinstance(part, torch.nn.Module):
        expected = part.state_dict()
        missing = [name for name in expected if name not in saved]
        unexpected = [name for name in saved if name not in expected]
        if missing or unexpected:
            detail = ", ".join(
                [f"lacks {key}.{n}" for n in missing[:3]]
                + [f"has {key}.{n}, which this model does not" for n in unexpected[:3]]
            )
            raise fail(f"{key} does not fit this molgen's model: {detail}")
        for name, tensor in expected.items():
            value = saved[name]
            if not isinstance(value, torch.Tensor):
                raise fail(f"{key}.{name} is a {type(value).__name__}, not a tensor")
            if value.shape != tensor.shape:
                raise fail(
                    f"{key}.{name} has shape {tuple(value.shape)} where this molgen's model has "
                    f"{tuple(tensor.shape)}"
                )
            if value.dtype != tensor.dtype:
                raise fail(f"{key}.{name} has dtype {value.dtype}, not {tensor.dtype}")
    try:
        part.load_state_dict(saved)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise fail(f"{key} cannot be loaded: {_summary(exc)}") from exc


def _saved_config(
    state: Mapping[str, Any], path: Path
) -> tuple[Config, Vocabulary | FragmentVocabulary | GraphVocabulary]:
    """The config and vocabulary (a fragment vocabulary for a fragment run, a graph vocabulary
    for graphs without chemistry) a checkpoint was written with."""
    try:
        cfg = Config.model_validate(state["config"])
        if cfg.data.graphs:
            return cfg, GraphVocabulary.from_dict(state["vocab"])
        from molgen.chem import FragmentVocabulary, Vocabulary

        fragments = cfg.data.representation == "fragments"
        vocab_type = FragmentVocabulary if fragments else Vocabulary
        return cfg, vocab_type.from_dict(state["vocab"])
    except (ValueError, TypeError, KeyError) as exc:  # pydantic's errors are ValueErrors
        detail = " ".join(str(exc).split())[:300]
        raise CheckpointError(
            f"{path}: its config or vocabulary does not fit this molgen ({written_by(state)}): "
            f"{detail}"
        ) from exc


# The run's other files


def smiles_file_bytes(smiles: Sequence[str]) -> bytes:
    """One SMILES a line, each line ended by a newline: the split files of a run
    (``train.smi``, ``val.smi``, ``test.smi``) as the trainer writes them."""
    return "".join(f"{s}\n" for s in smiles).encode()


def training_set_record(smiles: Sequence[str]) -> dict[str, Any]:
    """What a training checkpoint keeps of its training molecules (its ``"train_set"``): their
    ``count`` and the ``sha256`` of :func:`smiles_file_bytes`, i.e. of the run's ``train.smi``,
    which holds the molecules themselves (MOSES' 1.4M would add ~80 MB to every checkpoint)."""
    return {"count": len(smiles), "sha256": hashlib.sha256(smiles_file_bytes(smiles)).hexdigest()}


def split_lines(split: GraphSplit | DenseGraphs) -> list[str]:
    """A split as the lines of its run file: the SMILES of molecules, the graph6 lines of
    graphs without chemistry (:func:`~molgen.data.graphs.graph6_line`)."""
    if isinstance(split, DenseGraphs):
        return [graph6_line(graph) for graph in split.graphs]
    return split.smiles


def write_run_files(run_dir: Path, cfg: Config, dataset: MolDataset | GraphDataset) -> None:
    """Start a run folder: ``config.yaml``, ``data.json`` and the splits beside the checkpoint
    (train for novelty, val for choosing sampling settings, test for the final scores)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_NAME).write_text(to_yaml(cfg))
    suffix = GRAPH_SPLIT_SUFFIX if isinstance(dataset, GraphDataset) else ".smi"
    for split in SPLITS:
        lines = split_lines(getattr(dataset, split))
        (run_dir / f"{split}{suffix}").write_bytes(smiles_file_bytes(lines))
    (run_dir / DATA_INFO_NAME).write_text(json.dumps(dataset.info, indent=2))


def _training_smiles(
    state: dict[str, Any], checkpoint: Path, name: str = TRAIN_SMILES_NAME
) -> list[str]:
    """The training molecules of a training checkpoint: ``train.smi`` (``name``: the run's
    ``train.g6`` on graphs) beside it, checked against the checkpoint's ``"train_set"``
    record; a checkpoint written before that record holds its own list (``"train_smiles"``),
    used when ``train.smi`` is absent."""
    train_file = checkpoint.parent / name
    if "train_set" not in state:  # the list itself, as molgen wrote it before the record
        if train_file.is_file():
            return train_file.read_text().splitlines()
        check_entries(state, {"train_smiles": list}, checkpoint)
        return list(state["train_smiles"])
    check_entries(state, {"train_set": dict}, checkpoint)
    record = state["train_set"]
    if not train_file.is_file():
        raise CheckpointError(
            f"{train_file} is missing: {checkpoint} records its {record.get('count')} training "
            f"molecules by checksum only; put the run's {name} beside it"
        )
    content = train_file.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != record.get("sha256"):
        n_lines = content.count(b"\n")
        raise CheckpointError(
            f"{train_file} does not hold the training molecules of {checkpoint}: "
            f"{n_lines} lines with SHA-256 {digest[:16]}, the checkpoint records "
            f"{record.get('count')} with {str(record.get('sha256'))[:16]} (replaced or edited?)"
        )
    return content.decode().splitlines()


# The generator of a run


def build_generator(
    cfg: GeneratorConfig, vocab: Vocabulary | FragmentVocabulary | GraphVocabulary
) -> Generator:
    """The generator of ``cfg`` for ``vocab``'s graphs, with the valence budgets and bond
    orders of its classes (used by ``generator.constraint``; the model itself has no RDKit):
    a :class:`~molgen.models.fragments.FragmentGenerator` for a fragment vocabulary, with the
    budgets of its node classes' sites; for a :class:`~molgen.data.graphs.GraphVocabulary`,
    the :class:`~molgen.models.GraphGenerator` of its node-count law, edge density and
    ``cfg.max_degree``."""
    if isinstance(vocab, GraphVocabulary):
        return GraphGenerator(
            cfg, vocab.max_nodes, vocab.node_counts, cfg.max_degree, vocab.edge_density
        )
    from molgen.chem import FragmentVocabulary, aromatic_roles, atom_valences, bond_orders
    from molgen.chem.fragments import node_site_budgets

    if isinstance(vocab, FragmentVocabulary):
        return FragmentGenerator(
            cfg,
            vocab.max_nodes,
            node_site_budgets(vocab),
            bond_orders(vocab),
            len(vocab.atom_types),
        )
    return Generator(
        cfg,
        vocab.max_atoms,
        vocab.num_atom_types,
        vocab.num_bond_types,
        atom_valences=atom_valences(vocab),
        bond_orders=bond_orders(vocab),
        aromatic_roles=aromatic_roles(vocab),
        aromatic_class=vocab.bond_class("AROMATIC") if vocab.aromatic else None,
    )


@dataclass(frozen=True)
class Run:
    """A finished or interrupted training run, read once by :func:`load_run`: its checkpoint's
    path, the generator (in eval use, on the device it was loaded to) with its vocabulary, the
    temperature reached in training and the run's config, and its training molecules (none for
    an exported generator, which does not carry them)."""

    checkpoint: Path
    generator: Generator
    vocab: Vocabulary | FragmentVocabulary | GraphVocabulary
    tau: float
    config: Config
    train_smiles: list[str]


def _generator_of(
    state: dict[str, Any], device: str, path: Path
) -> tuple[Generator, Vocabulary | FragmentVocabulary | GraphVocabulary, float, Config]:
    check_entries(state, GENERATOR_ENTRIES, path)
    cfg, vocab = _saved_config(state, path)
    generator = build_generator(cfg.generator, vocab).to(device)
    # The averaged weights (train.ema_decay) are the ones to sample, when the run has them.
    averaged = state.get("generator_ema") is not None
    load_part(generator, state, "generator_ema" if averaged else "generator", path)
    return generator, vocab, float(state["tau"]), cfg


def load_run(path: str | Path, device: str = "cpu", *, train_smiles: bool = True) -> Run:
    """Read a run directory, its checkpoint file, an exported generator
    (:func:`export_generator`) or a shipped generator's name (:func:`resolve_checkpoint`)
    once: the checkpoint for the generator, vocabulary, temperature and config; ``train.smi``
    beside a training checkpoint for the training molecules, which must match the checksum
    the checkpoint records (a checkpoint of an older molgen holds its own copy, used when that
    file is absent). An exported generator has no training molecules: its ``train_smiles`` is
    empty, as it is with ``train_smiles=False``, for sampling, which needs none.

    Raises :class:`CheckpointError` naming the path when there is no readable checkpoint, and
    naming ``train.smi`` when it is missing or is not the checkpoint's training set."""
    checkpoint = find_checkpoint(resolve_checkpoint(path))
    state = load_checkpoint(checkpoint, map_location=device, formats=SAMPLING_FORMATS)
    generator, vocab, tau, cfg = _generator_of(state, device, checkpoint)
    molecules = []
    if train_smiles and state["format"] != GENERATOR_FORMAT:
        name = f"train{GRAPH_SPLIT_SUFFIX}" if cfg.data.graphs else TRAIN_SMILES_NAME
        molecules = _training_smiles(state, checkpoint, name)
    return Run(checkpoint, generator, vocab, tau, cfg, molecules)


def export_generator(
    run_path: str | Path,
    output: str | Path,
    sample_temperature: tuple[float, float] | None = None,
) -> Path:
    """Write the generator of a run (a run directory or checkpoint, an exported generator, or
    a shipped generator's name: :func:`resolve_checkpoint`) to ``output`` for sampling only
    (:data:`GENERATOR_FORMAT`, written atomically): its weights, vocabulary, config, ``tau``,
    the molgen version and ``provenance`` (the source checkpoint, its step, and which weights
    were taken). The averaged weights (``generator_ema``) are stored as the generator's when
    the run has them, so only they can be sampled. No critic, optimisers, RNG states or
    training molecules.

    ``sample_temperature`` ``(atoms, bonds)`` replaces ``generator.sample_temperature`` in the
    exported config (the temperatures chosen on the validation split)."""
    output = check_output_path(output)
    checkpoint = find_checkpoint(resolve_checkpoint(run_path))
    state = load_checkpoint(checkpoint, formats=SAMPLING_FORMATS)
    generator, vocab, tau, cfg = _generator_of(state, "cpu", checkpoint)  # checks every entry
    config = cfg.model_dump(mode="json")
    if sample_temperature is not None:
        atoms, bonds = sample_temperature
        if not (math.isfinite(atoms) and math.isfinite(bonds) and atoms > 0 and bonds > 0):
            raise InputError(
                f"sample temperatures must be positive and finite, got atoms={atoms}, bonds={bonds}"
            )
        config["generator"]["sample_temperature"] = {"atoms": atoms, "bonds": bonds}
    if state["format"] == GENERATOR_FORMAT:
        check_entries(state, {"provenance": EXPORT_ENTRIES["provenance"]}, checkpoint)
        provenance = state["provenance"]
    else:
        check_entries(state, {"step": CHECKPOINT_ENTRIES["step"]}, checkpoint)
        weights = "generator_ema" if state.get("generator_ema") is not None else "generator"
        provenance = {"source": str(checkpoint), "step": state["step"], "weights": weights}
    exported = {
        "config": config,
        "vocab": vocab.to_dict(),
        "generator": generator.state_dict(),
        "tau": tau,
        "provenance": provenance,
    }
    return save_checkpoint(exported, output, file_format=GENERATOR_FORMAT)


# Continuing a run

#: Config parts that define the saved state; a resumed run must not change them.
_STATE_DEFINING = ("seed", "data", "generator", "discriminator", "reward", "gan", "temperature")
_STATE_DEFINING_TRAIN = ("batch_size", "lr_generator", "lr_discriminator", "betas", "ema_decay")


def check_resume(
    saved: Mapping[str, Any], checkpoint: Path, cfg: Config, *, world_size: int
) -> None:
    """Refuse to continue the checkpoint ``saved`` (read from ``checkpoint``) with ``cfg`` on
    ``world_size`` processes: an entry missing or of the wrong type (:class:`CheckpointError`;
    :data:`OPTIONAL_ENTRIES` are checked when present), or a config or process count other
    than the run's (:class:`~molgen.errors.InputError`). Only ``train.steps`` and the
    evaluation, checkpoint and logging settings may change. Needs no data:
    :func:`check_resume_data` checks that, once loaded."""
    required = {k: v for k, v in CHECKPOINT_ENTRIES.items() if k not in OPTIONAL_ENTRIES}
    check_entries(saved, required, checkpoint)
    present = {k: CHECKPOINT_ENTRIES[k] for k in OPTIONAL_ENTRIES if k in saved}
    check_entries(saved, present, checkpoint)
    run_cfg, _ = _saved_config(saved, checkpoint)
    changed = [key for key in _STATE_DEFINING if getattr(cfg, key) != getattr(run_cfg, key)]
    changed += [
        f"train.{key}"
        for key in _STATE_DEFINING_TRAIN
        if getattr(cfg.train, key) != getattr(run_cfg.train, key)
    ]
    if changed:
        raise InputError(
            f"cannot resume {checkpoint}: the config differs from the run's in "
            f"{', '.join(changed)} (resume with the run's config.yaml; only train.steps and the "
            "evaluation, checkpoint and logging settings may change)"
        )
    if len(saved["rng"]) != world_size:
        raise InputError(
            f"{checkpoint} was written by a run of {len(saved['rng'])} processes; "
            f"resume it with the same number (this run has {world_size})"
        )


def check_resume_data(
    saved: Mapping[str, Any],
    checkpoint: Path,
    vocab: Vocabulary | GraphVocabulary,
    train_set: Mapping[str, Any],
) -> None:
    """Refuse (:class:`~molgen.errors.InputError`) to continue ``saved`` on data whose
    vocabulary or training split (:func:`training_set_record`) differs from the run's: the
    config names the data, and this catches the data behind the name changing (an edited
    file, another package version), which would silently train on other molecules."""
    if saved["vocab"] != vocab.to_dict():
        raise InputError(
            f"{checkpoint}: the data's vocabulary differs from the checkpoint's "
            "(was the data changed?)"
        )
    if "train_set" in saved and saved["train_set"] != train_set:
        raise InputError(
            f"{checkpoint}: the data's training split ({train_set['count']} molecules) "
            f"differs from the one the run trained on ({saved['train_set'].get('count')} "
            "molecules, checksum recorded in the checkpoint): was the data changed?"
        )
