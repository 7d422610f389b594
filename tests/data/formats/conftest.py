"""The format fixtures (robot_fixtures.py) are importable from every test in this folder."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's banner stays out of the test output
