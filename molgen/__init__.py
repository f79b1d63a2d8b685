"""molgen: generative modelling of discrete structures, molecules first."""

__version__ = "0.1.0"
