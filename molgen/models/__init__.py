"""MolGAN's networks: :class:`Generator`, :class:`Discriminator` (the critic), and
:class:`RewardNetwork`."""

from molgen.models.discriminator import Discriminator, GraphEncoder, RewardNetwork
from molgen.models.generator import Generator

__all__ = ["Discriminator", "Generator", "GraphEncoder", "RewardNetwork"]
