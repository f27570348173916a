"""Hypothesis profiles for the test suite: HYPOTHESIS_PROFILE=dev for 100 random examples per test.

The default, "ci", runs 25 derandomized examples per property (the same ones every run).
"""
import os

from hypothesis import settings

from autograd_mini.testing import register_profiles

register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
