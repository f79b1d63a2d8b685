"""MolGAN's networks: :class:`Generator`, :class:`Discriminator` (the critic), and
:class:`RewardNetwork`; :class:`GraphGenerator`, the generator on graphs without chemistry."""

from molgen.models.discriminator import Discriminator, GraphEncoder, RewardNetwork
from molgen.models.generator import Generator
from molgen.models.graph_generator import GraphGenerator

__all__ = ["Discriminator", "Generator", "GraphEncoder", "GraphGenerator", "RewardNetwork"]
