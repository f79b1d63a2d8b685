"""Errors in what a user gave molgen: the command line prints their message and exits with 2.

Everything else (a shape check inside a layer, a broken invariant) is a bug and keeps its
traceback. Each class also derives from the built-in exception it refines, so code catching
``ValueError`` or ``FileNotFoundError`` keeps working.
"""

from __future__ import annotations

__all__ = ["InputError", "MissingExtraError", "MissingFileError", "MolgenError"]


class MolgenError(Exception):
    """Base of the errors caused by input (a config, a data file, a command-line argument, a
    checkpoint), whose message alone tells the user what to fix."""


class InputError(MolgenError, ValueError):
    """A value or a file's contents that molgen cannot use; the message names the file, line or
    key."""


class MissingFileError(MolgenError, FileNotFoundError):
    """A file or folder named by the user does not exist."""


class MissingExtraError(MolgenError, ModuleNotFoundError):
    """An optional dependency (a ``pip install 'molgen[...]'`` extra) is needed but absent."""
