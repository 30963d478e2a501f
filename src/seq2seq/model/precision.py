"""What the model does differently under bfloat16 autocast (`train.precision: bf16`), and why.

On the CPU, bfloat16 matrix products are oneDNN calls, and oneDNN builds a kernel for each new
shape, so a product's first call at a new shape takes several times as long as the next; float32
products (MKL) have no such cost. Training's products change shape batch by batch, so in bfloat16
the model arranges them into few shapes:

- a decoder step's attention runs as elementwise products and sums, not two tiny `bmm`s (one per
  sentence count and source length);
- while training, the products over all of a batch's target tokens (the output layer and the
  embedding's share of the decoder's input) run on rows padded with zeros to a multiple of `ROWS`,
  their extra rows dropped after (decoding keeps one row count per batch, so there the padding
  would only add work);
- matrices the decoder builds from its weights are cast once per batch, not at every step (autocast
  caches the casts of leaf weights only).

Each is float32's arithmetic up to rounding (tests/test_precision.py, tests/test_model.py). None of
it runs in float32, whose results stay byte for byte what they were. Measurements: docs/precision.md."""

from __future__ import annotations

from collections.abc import Callable

import torch

ROWS = 64  # row counts of whole-batch products are padded to a multiple of this in bfloat16


def low_precision(x: torch.Tensor) -> bool:
    """Whether autocast to a lower precision is on for `x`'s device."""
    return torch.is_autocast_enabled(x.device.type)


def cast_once(matrices: list[torch.Tensor]) -> list[torch.Tensor]:
    """`matrices` in autocast's precision when it is on (else as they are): for matrices that are
    not leaf weights and are used at every step."""
    if not matrices or not low_precision(matrices[0]):
        return matrices
    dtype = torch.get_autocast_dtype(matrices[0].device.type)
    return [m.to(dtype) for m in matrices]


def attends_elementwise(query: torch.Tensor) -> bool:
    """Whether attention's two products should run as elementwise products and sums: one query
    per sentence (a decoder step) under autocast."""
    return query.size(1) == 1 and low_precision(query)


def in_padded_rows(product: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """`product(x)` for `x` (n, features); while training under autocast, computed on `x`
    padded with zero rows to a multiple of `ROWS` and cut back to n rows, so that n's many
    values share few kernels."""
    n = x.size(0)
    if not (low_precision(x) and torch.is_grad_enabled()) or n % ROWS == 0:
        return product(x)
    return product(torch.cat([x, x.new_zeros(ROWS - n % ROWS, *x.shape[1:])]))[:n]
