"""Experiment configuration: one small pydantic model per part, YAML loading, dotted overrides.

A run is described by one YAML file validated against :class:`Config`. Every model forbids
unknown keys and bounds its fields, so a typo or an out-of-range value fails at load time with
a message naming the key, the file, and (for typos) the closest valid key::

    cfg = load_config("configs/qm9_5k.yaml", ["train.batch_size=64", "temperature.schedule=cosine"])

Code receives only the part it needs (``Generator(cfg.generator, ...)``), never the whole tree.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "DiscriminatorConfig",
    "GANConfig",
    "GeneratorConfig",
    "LoggingConfig",
    "RewardConfig",
    "TemperatureConfig",
    "TrainConfig",
    "WandbConfig",
    "apply_overrides",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration file or override that does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DataConfig(_Strict):
    """Where molecules come from and how they become dense graphs."""

    name: Literal["qm9_5k", "qm9", "moses"] | None = Field(
        "qm9_5k", description="bundled dataset; set to null and give `path` for your own file"
    )
    path: Path | None = Field(None, description="a .smi/.txt (one SMILES per line) or .csv file")
    smiles_column: str | None = Field(None, description="CSV column holding SMILES")
    limit: int | None = Field(
        None, ge=1, description="read only the first `limit` SMILES of the source; null: all"
    )
    max_atoms: int | None = Field(
        9, ge=1, le=256, description="drop molecules with more heavy atoms"
    )
    atom_types: list[str] | None = Field(
        None, description="fixed atom vocabulary (e.g. [C, N, O, F, N+, O-]); inferred when null"
    )
    aromatic: bool = Field(False, description="keep an aromatic bond class instead of kekulizing")
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    split_seed: int = 0
    strict: bool = Field(
        False, description="raise on the first unparseable line instead of skipping"
    )
    cache_dir: Path = Field(Path(".cache/molgen"), description="processed-tensor cache")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of data.name and data.path")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("data.val_fraction + data.test_fraction must be < 1")
        return self


class TemperatureConfig(_Strict):
    """Gumbel-Softmax temperature as a function of the global step (see molgen.nn.schedules)."""

    schedule: Literal["constant", "exponential", "linear", "cosine", "step"] = "exponential"
    tau0: float = Field(1.0, gt=0.0, description="temperature at step 0")
    tau_min: float = Field(0.1, gt=0.0, description="floor")
    rate: float = Field(1e-4, ge=0.0, description="exponential: tau0 * exp(-rate * step)")
    every: int = Field(1, ge=1, description="update the temperature every this many steps")
    total_steps: int | None = Field(
        None, ge=1, description="linear/cosine horizon; defaults to train.steps"
    )
    milestones: list[int] = Field(
        default_factory=list, description="step: steps where tau *= gamma"
    )
    gamma: float = Field(0.5, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _floor_below_start(self) -> TemperatureConfig:
        if self.tau_min > self.tau0:
            raise ValueError("temperature.tau_min must be <= temperature.tau0")
        return self


class GeneratorConfig(_Strict):
    """MLP generator: z -> atom logits [B, N, A] and bond logits [B, N, N, R]."""

    z_dim: int = Field(32, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [128, 256, 512], min_length=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    hard: bool = Field(True, description="one-hot straight-through samples (else relaxed)")
    estimator: Literal["st", "gumbel_rao", "reinmax"] = "st"
    gumbel_rao_samples: int = Field(8, ge=1, description="K for estimator=gumbel_rao")
    eval_mode: Literal["sample", "argmax"] = Field(
        "sample", description="sampling after training: draw each atom/bond, or take the mode"
    )

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

    conv_dims: list[int] = Field(default_factory=lambda: [128, 64], min_length=1)
    aggregate_dim: int = Field(128, ge=1)
    mlp_dims: list[int] = Field(default_factory=lambda: [128, 64])
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class RewardConfig(_Strict):
    """Reward network for MolGAN's RL term; off when gan.rl_weight == 0."""

    objectives: list[Literal["validity", "qed", "logp", "sa"]] = Field(
        default_factory=lambda: ["validity", "qed"],
        min_length=1,
        description="reward = product of these scores in [0, 1]",
    )
    lr: float = Field(1e-3, gt=0.0)


class GANConfig(_Strict):
    """WGAN-GP objective, MolGAN's RL mixing, and remedies for mode collapse."""

    n_critic: int = Field(5, ge=1, description="critic steps per generator step")
    gp_weight: float = Field(10.0, ge=0.0)
    rl_weight: float = Field(0.0, ge=0.0, le=1.0, description="MolGAN lambda: 0 = pure WGAN")
    rl_start: int = Field(0, ge=0, description="step after which the RL term is switched on")
    pack: int = Field(1, ge=1, description="PacGAN: graphs per critic input")
    minibatch_std: bool = Field(False, description="append batch std of graph features in critic")
    diversity_weight: float = Field(0.0, ge=0.0, description="mode-seeking diversity term weight")


class TrainConfig(_Strict):
    steps: int = Field(5000, ge=1, description="generator steps")
    batch_size: int = Field(32, ge=1)
    lr_generator: float = Field(1e-4, gt=0.0)
    lr_discriminator: float = Field(1e-4, gt=0.0)
    betas: tuple[float, float] = (0.5, 0.999)
    grad_clip: float | None = Field(None, gt=0.0)
    eval_every: int = Field(500, ge=1)
    n_eval: int = Field(1000, ge=1, description="graphs sampled at each evaluation")
    checkpoint_every: int = Field(1000, ge=1)
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    amp: bool = Field(False, description="bf16 autocast (GPU only)")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default torch's")
    compile: bool = Field(
        False,
        description="torch.compile the critic step (CPU: needs a C++ compiler; first step "
        "compiles for about 30 s)",
    )
    max_minutes: float | None = Field(
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
    log_every: int = Field(50, ge=1)
    wandb: WandbConfig = Field(default_factory=WandbConfig)


class Config(_Strict):
    """A whole experiment; one YAML file under configs/ per experiment."""

    name: str = "molgen"
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    gan: GANConfig = Field(default_factory=GANConfig)
    temperature: TemperatureConfig = Field(default_factory=TemperatureConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


# --------------------------------------------------------------------------- loading


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
    match = difflib.get_close_matches(key, _valid_keys(Config), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'{_closest(key)}")
        else:
            got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
            lines.append(f"{source}: {key or '<root>'}: {e['msg']}{got}")
    return "\n".join(lines)


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML scalars/lists.

    Types are checked afterwards by pydantic, so ``train.batch_size=abc`` fails validation with
    the key named; a key that does not exist fails with the closest valid key suggested.
    """
    valid = set(_valid_keys(Config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        if key not in valid:
            raise ConfigError(f"override '{item}': unknown key '{key}'{_closest(key)}")
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = yaml.safe_load(raw) if raw.strip() else None
    return tree


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file (defaults when ``path`` is None), apply overrides, validate."""
    source = str(path) if path is not None else "<defaults>"
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: top level must be a mapping of config sections")
    if overrides:
        tree = apply_overrides(tree, list(overrides))
        source += " + overrides"
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def to_yaml(cfg: BaseModel) -> str:
    """The resolved config as YAML (paths as strings), readable back by :func:`load_config`."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
