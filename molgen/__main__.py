"""`python -m molgen ...` (also what `torchrun -m molgen` launches)."""

from molgen.cli import app

app()
