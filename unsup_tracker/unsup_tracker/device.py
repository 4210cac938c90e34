"""Device choice: CUDA when present, the CPU otherwise."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks ``cuda`` when available; asking for CUDA without one is an error."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'"
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
