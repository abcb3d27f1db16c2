"""Errors a user can act on.

Every error raised for bad input is an :class:`ImagegenError` whose message is one line naming the
problem and the fix. The CLI prints it as ``error: <message>`` and exits with code 2.
"""

from __future__ import annotations


class ImagegenError(Exception):
    """Bad input or state the user can fix; the message names the problem and the fix."""


class DataError(ImagegenError):
    """A dataset name, path or file that cannot be used."""


class ConfigError(ImagegenError, ValueError):
    """An impossible or unknown configuration value."""


class RunError(ImagegenError):
    """A run folder that is missing, incomplete or not a run."""
