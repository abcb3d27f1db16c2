"""Building blocks shared by several models."""

from imagegen.models.layers.pyramid import pyramid

__all__ = ["pyramid"]
