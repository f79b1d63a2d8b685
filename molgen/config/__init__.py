"""Experiment configuration: one small pydantic model per part, YAML loading, dotted overrides.

A run is described by one YAML file validated against :class:`Config`. Every model forbids
unknown keys and bounds its fields, so a typo or an out-of-range value fails at load time with
a one-line message naming the key, the file or override, and (for typos) the closest valid
key. Booleans are not numbers here (``batch_size: true`` is an error, not 1), floats must be
finite, a key given twice in one YAML mapping is an error, and ``data.path`` must be a file::

    cfg = load_config("configs/qm9_5k.yaml", ["train.batch_size=64", "temperature.schedule=cosine"])

Code receives only the part it needs (``Generator(cfg.generator, ...)``), never the whole tree.

The sections are defined in :mod:`molgen.config.data`, :mod:`molgen.config.models` (generator,
discriminator), :mod:`molgen.config.training` (temperature, reward, gan, train, logging) and
:mod:`molgen.config.experiment` (:class:`Config` and the checks across sections); reading and
writing files and overrides is :mod:`molgen.config.loading`, on the safe YAML parser of
:mod:`molgen.config.safe_yaml`. Every public name is importable from ``molgen.config`` itself.
"""

from __future__ import annotations

from molgen.choices import BOND_HEADS, CONSTRAINTS, DATASETS, OBJECTIVES
from molgen.config.data import DataConfig, FragmentsConfig
from molgen.config.experiment import Config
from molgen.config.fields import Fraction as Fraction
from molgen.config.fields import Real as Real
from molgen.config.fields import Width as Width
from molgen.config.loading import QUOTED_CHARS as QUOTED_CHARS
from molgen.config.loading import ConfigError, apply_overrides, load_config
from molgen.config.loading import to_yaml as to_yaml
from molgen.config.models import DiscriminatorConfig, GeneratorConfig, SampleTemperature
from molgen.config.safe_yaml import MAX_YAML_VALUES as MAX_YAML_VALUES
from molgen.config.training import RETIRED_KEYS_REMOVED_IN as RETIRED_KEYS_REMOVED_IN
from molgen.config.training import (
    GANConfig,
    LoggingConfig,
    RewardConfig,
    TemperatureConfig,
    TrainConfig,
    WandbConfig,
)

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
