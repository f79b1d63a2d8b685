import sys
from pathlib import Path

# The sampler tests share their checks through sampling_checks.py beside them.
sys.path.insert(0, str(Path(__file__).parent))
