"""Generative models: one file per model, one base contract for the trainer."""

from imagegen.models.base import GenerativeModel, ModelConfig, Phase, StepOutput
from imagegen.models.registry import MODELS, create_model, get_model_class, make_config

__all__ = [
    "MODELS",
    "GenerativeModel",
    "ModelConfig",
    "Phase",
    "StepOutput",
    "create_model",
    "get_model_class",
    "make_config",
]
