"""What the command line reports in one line, and with which exit code.

:class:`MolgenError`: a mistake in what the user gave molgen (exit code 2). :class:`MolgenFault`:
the machine failed molgen (a full disk, no network; exit code 1). :class:`Interrupted`: SIGINT or
SIGTERM stopped a command (exit code 128 + the signal's number). Everything else (a shape check
inside a layer, a broken invariant) is a bug in molgen: one line and exit code 1, its traceback
with ``molgen --debug`` or ``MOLGEN_DEBUG=1``. Each class also derives from the built-in
exception it refines, so code catching ``ValueError`` or ``OSError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "Interrupted",
    "MissingExtraError",
    "MissingFileError",
    "MolgenError",
    "MolgenFault",
    "OutputFault",
]


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


class MolgenFault(Exception):
    """A failure of the machine rather than of the input (a full disk, a network that does not
    answer); the message names the file, folder or host."""


class OutputFault(MolgenFault, OSError):
    """Writing an output failed in the operating system (no space, read-only file system);
    built as ``OutputFault(errno, message)``, it reads as its message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


class Interrupted(KeyboardInterrupt):
    """A command stopped by ``signum`` (SIGINT or SIGTERM) after saving what it could; the
    command line exits with ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
