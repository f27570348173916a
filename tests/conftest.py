"""Hypothesis profiles for the test suite: HYPOTHESIS_PROFILE=dev for 100 random examples per test.

The default, "ci", runs 25 derandomized examples per property (the same ones every run).
"""
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from hypothesis import settings

from autograd_mini.testing import register_profiles

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath: str) -> ModuleType:
    """Import a script of the repository (benchmarks/, examples/) by its path."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
