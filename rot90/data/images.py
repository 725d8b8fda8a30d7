"""Images read along depth or along time: scikit-learn's digits (8x8) and Fashion-MNIST (28x28).

The same image is a vector for a depth stack (the stream starts as the image) or a sequence
for a time layer: pixel by pixel (64 or 784 steps of 1 value) or row by row (8 or 28 steps of
a row). Fashion-MNIST comes from Debian's dataset-fashion-mnist (apt-get download; the idx
files inside are read with numpy); digits from the copy bundled with scikit-learn.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..extras import need
from .io import DataError
from .translation import download, iter_deb


@dataclass
class ImageSet:
    """Images in [0, 1], (N, H, W) float32, and integer labels (N,)."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: int = 10


def resized(d: ImageSet, size: int) -> ImageSet:
    """Every image area-averaged to size x size (28x28 -> 10x10: 100 pixels, a sequence of K = 100 steps)."""
    def pool(x: Tensor) -> Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x[:, None], size)[:, 0]

    return ImageSet(pool(d.train_x), d.train_y, pool(d.test_x), d.test_y, d.classes)


def as_vectors(x: Tensor) -> Tensor:
    """(N, H, W) -> (N, H*W): the input of a depth stack."""
    return x.flatten(1)


def as_sequence(x: Tensor, order: str = "pixel") -> Tensor:
    """(N, H, W) -> (N, H*W, 1) pixel by pixel, or (N, H, W) row by row: the input of a time layer."""
    if order == "pixel":
        return x.flatten(1).unsqueeze(-1)
    if order == "row":
        return x
    raise DataError(f"unknown sequence order {order!r}: choose pixel or row")


def digits(test_fraction: float = 0.2, seed: int = 0) -> ImageSet:
    """scikit-learn's 1,797 8x8 digits, split at random (seeded) into train and test."""
    load_digits = need("sklearn.datasets", "all").load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32) / 16.0  # pixel values are 0..16
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(y) * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    return ImageSet(x[train], y[train], x[test], y[test])


def _idx(data: bytes) -> np.ndarray:
    """An idx file (LeCun's format): magic (0, 0, type, ndim), ndim big-endian uint32 sizes, uint8 data."""
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataError("not an idx file of unsigned bytes")
    ndim = data[3]
    shape = np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape.tolist())


def fashion_mnist(cache: Path | None = None) -> ImageSet:
    """The 60,000 + 10,000 images of Fashion-MNIST with their official split."""
    cache = cache or Path.home() / ".cache" / "rot90" / "debs"
    debs = download(["dataset-fashion-mnist"], cache)
    if "dataset-fashion-mnist" not in debs:
        raise DataError("could not fetch Debian's dataset-fashion-mnist (apt-get update needed?)")
    files = {Path(path).name: _idx(gzip.decompress(f.read()))
             for path, f in iter_deb(debs["dataset-fashion-mnist"]) if path.endswith("-ubyte.gz")}
    try:
        get = lambda name: torch.from_numpy(files[name].copy())  # noqa: E731
        return ImageSet(get("train-images-idx3-ubyte.gz").float() / 255, get("train-labels-idx1-ubyte.gz").long(),
                        get("t10k-images-idx3-ubyte.gz").float() / 255, get("t10k-labels-idx1-ubyte.gz").long())
    except KeyError as e:
        raise DataError(f"dataset-fashion-mnist: {e.args[0]} missing from the package") from None
