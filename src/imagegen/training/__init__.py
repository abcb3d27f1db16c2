"""The one trainer for every model family."""

from imagegen.training.config import TrainConfig
from imagegen.training.trainer import train

__all__ = ["TrainConfig", "train"]
