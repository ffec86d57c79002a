"""Puts this checkout's package first on sys.path, so the tests run the code beside them
from any working directory (`python3 -m unittest discover -s clients/python/tests`)."""

import os
import sys

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)
