"""Resolution pyramid shared by the convolutional generators, encoders and discriminators."""

from __future__ import annotations

from imagegen.errors import ConfigError


def pyramid(resolution: int, min_size: int = 4) -> tuple[int, int]:
    """Split ``resolution`` into a base size and a number of 2x up/down-sampling stages.

    Halve while the size stays even and at least ``min_size``: 32 -> (4, 3), 28 -> (7, 2),
    8 -> (4, 1). A convolutional decoder starts at ``base`` and doubles ``stages`` times.

    Returns:
        (base, stages) with ``base * 2**stages == resolution``.
    """
    if resolution < min_size:
        raise ConfigError(
            f"resolution {resolution} is too small: use images of at least {min_size}x{min_size}"
        )
    base, stages = resolution, 0
    while base % 2 == 0 and base // 2 >= min_size:
        base //= 2
        stages += 1
    if stages == 0:
        raise ConfigError(
            f"resolution {resolution} cannot be halved: resize the data (e.g. --set data.resolution=32)"
        )
    return base, stages
