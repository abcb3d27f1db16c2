"""Sampling from trained models and saved runs."""

from imagegen.sampling.generate import generate, to_uint8
from imagegen.sampling.run import Run, create_ldm, load_run

__all__ = ["Run", "create_ldm", "generate", "load_run", "to_uint8"]
