"""MolGAN's networks: :class:`Generator`, :class:`Discriminator` (the critic), and
:class:`RewardNetwork` and :class:`LatentHead`."""

from molgen.models.discriminator import Discriminator, GraphEncoder, LatentHead, RewardNetwork
from molgen.models.generator import Generator

__all__ = ["Discriminator", "Generator", "GraphEncoder", "LatentHead", "RewardNetwork"]
