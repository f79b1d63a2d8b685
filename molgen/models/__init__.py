"""MolGAN's networks: :class:`Generator`, :class:`Discriminator` (the critic), and
:class:`RewardNetwork`, and the :class:`NoiseEncoder` of the reconstruction term."""

from molgen.models.discriminator import (
    Discriminator,
    GraphEncoder,
    NoiseEncoder,
    RewardNetwork,
)
from molgen.models.generator import Generator

__all__ = ["Discriminator", "Generator", "GraphEncoder", "NoiseEncoder", "RewardNetwork"]
