"""Images as vectors (the stream starts as the image, along depth) or pixel by pixel (along time)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from ..config import Config, ConfigError
from ..models.build import depth_model
from ..runs import derive_seed
from .base import Task, _share, on_model


class ImageTask(Task):
    """Images classified along time or along depth: the rotation, on data.

    data.task: digits (scikit-learn's 8x8, 64 pixels) | fashion (Debian's Fashion-MNIST, 28x28, 784);
    data.image_size resizes them (fashion at 10: 100 pixels).
    model.axis: time (pixel by pixel, the class predicted at the last step) | depth (the image as a
    vector that starts the stream, model.layers blocks of model.rule update it; with model.inject, block
    k reads pixel k instead, as along time).
    """

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        from ..data.images import as_sequence, as_vectors, digits, fashion_mnist, resized

        d = digits(seed=cfg.train.seed) if cfg.data.task == "digits" else fashion_mnist()
        if cfg.data.image_size:
            d = resized(d, cfg.data.image_size)
        view = as_sequence if cfg.model.axis == "time" or cfg.model.inject else as_vectors
        self.x, self.y = view(d.train_x), d.train_y
        self.test_x, self.test_y = view(d.test_x), d.test_y
        if cfg.model.inject and cfg.model.layers != self.x.shape[1]:
            raise ConfigError(f"model.inject: block k reads pixel k, so model.layers must be the {self.x.shape[1]} "
                              f"pixels of an image (got {cfg.model.layers})")

    def build_model(self):
        m = self.cfg.model
        if m.axis == "depth":
            return depth_model(m, inputs=self.x.shape[-1], out=10)
        return self._model(out=10, input_dim=1)

    def plan(self, epoch: int) -> list[Tensor]:
        g = torch.Generator().manual_seed(derive_seed(self.cfg.train.seed, epoch))
        perm = torch.randperm(len(self.y), generator=g)
        b = self.cfg.data.batch_size
        return [perm[i:i + b] for i in range(0, len(perm) - b + 1, b)]

    def make_batch(self, spec, rank=0, world=1):
        idx = _share(spec, rank, world)
        return {"x": self.x[idx], "y": self.y[idx]}

    def _logits(self, model, x):
        out = model(x)
        return out[:, -1] if self.cfg.model.axis == "time" else out  # (B, 10)

    def loss(self, model, batch):
        return F.cross_entropy(self._logits(model, batch["x"]), batch["y"], reduction="sum"), \
            torch.tensor(len(batch["y"]))

    @torch.no_grad()
    def evaluate(self, model, batches: int):
        """The first batches * batch_size test images (all of digits' 360 by default), in batches."""
        n = min(len(self.test_y), batches * self.cfg.data.batch_size)
        logits = torch.cat([self._logits(model, on_model(model, {"x": x})["x"])
                            for x in self.test_x[:n].split(self.cfg.data.batch_size)])
        y = self.test_y[:n].to(logits.device)
        return {"loss": F.cross_entropy(logits, y).item(), "accuracy": (logits.argmax(-1) == y).float().mean().item()}
