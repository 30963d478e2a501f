"""An exponential moving average of the weights (train.ema_decay), as Marian's exponential smoothing
and fairseq's and OpenNMT-py's EMA: validated and kept instead of the raw weights, which keep
training. Small data makes the last updates noisy; their average generalises better."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class WeightAverage:
    """Float32 shadows of `model`'s parameters. After update number n, each shadow moves towards its
    parameter by 1 - d, with d = min(`decay`, (1 + n) / (10 + n)): early on, when the weights move
    fast and the shadows hold little history, the average follows them closely (TensorFlow's
    ExponentialMovingAverage with num_updates)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadows = [p.detach().float().clone() for p in self.params]

    def rate(self) -> float:
        """The decay that the next update uses."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self) -> None:
        """Move every shadow towards its parameter, after an optimizer step."""
        weight = 1.0 - self.rate()
        torch._foreach_lerp_(self.shadows, [p.detach().float() for p in self.params], weight)
        self.updates += 1

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Within the block the model holds the averages (to validate, or to copy its state); its
        own weights come back afterwards, bit for bit."""
        with torch.no_grad():
            own = [p.detach().clone() for p in self.params]
            for p, shadow in zip(self.params, self.shadows):
                p.copy_(shadow)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, saved in zip(self.params, own):
                    p.copy_(saved)
