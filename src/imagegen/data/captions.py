"""Template captions for labelled datasets that have none, so text-to-image models train on MNIST
and CIFAR-10 too: "a handwritten seven", "a photo of a cat", "a photo of an airplane"."""

from __future__ import annotations

from collections.abc import Sequence

from imagegen.data.base import DataSpec
from imagegen.errors import DataError

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def class_caption(name: str) -> str:
    """The caption of one class name: digits are handwritten numbers, anything else a photo."""
    if name.isdigit() and int(name) < len(NUMBER_WORDS):
        return f"a handwritten {NUMBER_WORDS[int(name)]}"
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"a photo of {article} {name.replace('_', ' ')}"


def template_captions(spec: DataSpec, labels: Sequence[int]) -> list[str]:
    """One caption per label from the spec's class names."""
    if not spec.num_classes:
        raise DataError(
            f"{spec.name} has neither captions nor class labels: text-to-image needs one of them"
        )
    names = spec.class_names or tuple(str(k) for k in range(spec.num_classes))
    captions = [class_caption(n) for n in names]
    return [captions[int(k)] for k in labels]
