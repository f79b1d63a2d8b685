import sys
from pathlib import Path

import pytest

# The fragment tests share their molecules through fragment_cases.py beside them.
sys.path.insert(0, str(Path(__file__).parent))

from fragment_cases import HARD  # noqa: E402

from molgen.chem.fragment_vocabulary import FragmentVocabulary  # noqa: E402


@pytest.fixture(scope="module")
def hard_vocab() -> FragmentVocabulary:
    """A vocabulary holding every ring system of the hard cases."""
    return FragmentVocabulary.from_smiles(HARD, coverage=1.0)
