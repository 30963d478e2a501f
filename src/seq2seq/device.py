"""Pick the torch device: CUDA when present and asked for, else CPU."""

from __future__ import annotations

import torch

from seq2seq.errors import UserError


def resolve_device(name: str, key: str = "--device") -> torch.device:
    """`auto` -> cuda if available else cpu; `cuda` fails clearly (naming `key`) when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{key} is cuda but no CUDA GPU is visible: set {key} to auto or cpu.")
    return torch.device(name)
