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
"""Method registry: ``build_tracker(name, checkpoint=None, device="auto", **overrides)``.

Each method is a folder under ``unsup_tracker/methods/`` whose ``__init__`` calls
:func:`register_method`; the folders are discovered, so adding a method adds no line here.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable

import torch

from .checkpoint import Checkpoint, CheckpointError, check_weights_record, load_checkpoint
from .device import resolve_device
from .params import TrackerParams
from .tracker_base import Tracker

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Pass as ``checkpoint`` to get freshly initialised weights (tests, training from scratch).
UNTRAINED = "untrained"


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    name: str
    params_cls: type[TrackerParams]
    #: Builds the network from a plain-dict model config (stored in checkpoints).
    build_model: Callable[[dict[str, Any]], torch.nn.Module]
    #: ``tracker_cls(model, params, device)``.
    tracker_cls: type[Tracker]
    default_model_config: dict[str, Any]
    #: The method's :class:`~unsup_tracker.recipe.TrainingRecipe` subclass (None: not trainable).
    recipe_cls: type | None = None
    description: str = ""

    @property
    def shipped_checkpoint(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"


_METHODS: dict[str, MethodSpec] = {}
_discovered = False


def register_method(spec: MethodSpec) -> MethodSpec:
    if spec.name in _METHODS and _METHODS[spec.name] is not spec:
        raise ValueError(f"method {spec.name!r} registered twice")
    spec.tracker_cls.method = spec.name
    _METHODS[spec.name] = spec
    return spec


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    from . import methods

    for info in pkgutil.iter_modules(methods.__path__):
        if info.ispkg:
            importlib.import_module(f"{methods.__name__}.{info.name}")
    _discovered = True


def list_methods() -> list[str]:
    _discover()
    return sorted(_METHODS)


def get_method(name: str) -> MethodSpec:
    _discover()
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def build_model(
    method: str,
    checkpoint: str | Path | Checkpoint | None = None,
    device: str | torch.device = "cpu",
    model_config: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, Checkpoint | None]:
    """Build the method's network with weights from ``checkpoint`` (None: shipped, UNTRAINED).

    ``model_config`` overrides the method's default network configuration of a fresh
    (UNTRAINED) network; a checkpoint's network is defined by its own configuration.
    """
    spec = get_method(method)
    dev = resolve_device(device)
    if isinstance(checkpoint, str) and checkpoint == UNTRAINED:
        model = spec.build_model({**spec.default_model_config, **(model_config or {})})
        return model.to(dev).eval(), None
    if model_config:
        raise ValueError("model_config (--model-set) configures a network trained from "
                         "scratch; with a checkpoint (--init, --resume) its own model_config "
                         "defines the network")
    if checkpoint is None:
        if not spec.shipped_checkpoint.is_file():
            raise CheckpointError(
                f"no shipped checkpoint for {method!r} ({spec.shipped_checkpoint}); "
                f"train one with `unsup-tracker-train --method {method}` and pass checkpoint=PATH"
            )
        checkpoint = spec.shipped_checkpoint
    ckpt = (
        checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint, method)
    )
    if ckpt.method != method:
        raise CheckpointError(f"checkpoint holds a {ckpt.method!r} model, not {method!r}")
    config = {**spec.default_model_config, **ckpt.model_config}
    model = spec.build_model(config)
    check_weights_record(model, ckpt.meta.get("backbone"), str(ckpt.path))
    try:
        model.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {ckpt.path} does not fit the {method!r} model: {exc}"
        ) from exc
    return model.to(dev).eval(), ckpt


def build_tracker(
    method: str,
    checkpoint: str | Path | Checkpoint | None = None,
    device: str | torch.device = "auto",
    **overrides,
) -> Tracker:
    """Build a ready tracker; ``overrides``: the method's hyper-parameters (unknown refused).

    The method's tracker comes wrapped in the long-term layer (:mod:`.long_term`) unless
    ``long_term=False`` (or the method lacks the re-detection hooks).
    """
    from .long_term import wrap

    spec = get_method(method)
    params = spec.params_cls.from_overrides(overrides)
    model, _ = build_model(method, checkpoint, device)
    return wrap(spec.tracker_cls(model, params, resolve_device(device)))
