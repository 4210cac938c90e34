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
"""Self-supervised first-frame fine-tuning, shared by every tracker.

On ``Tracker.init(image, box, finetune=True)`` (or ``build_tracker(method, finetune=True)``) the
tracker's network is deep-copied for this target, a few gradient steps adapt the copy's last
layers on template/search pairs cut from the first frame around the init box
(:mod:`unsup_tracker.pairs`, the S2SiamFC single-image sampling), and the tracker runs with the
copy. The weights the tracker was built with are never written to: a later ``init`` without
fine-tuning goes back to them, and several trackers may share one model object.

A method takes part by giving its tracker class a :class:`FinetuneHook` as ``finetune_hook``:
the crop geometry of its pairs, which parameters to adapt, and its own self-supervised loss on a
batch of first-frame pairs. The tracker keeps its network in ``self.model``.

Decisions:

* Budget: at most ``params.finetune_steps`` steps and ``params.finetune_seconds`` of wall time,
  pair sampling and copying included. A step is not started when the running mean step time
  says it would end past the budget; the first step is always taken when both limits are
  positive (a budget smaller than one step then costs one step).
* Optimiser: Adam at ``params.finetune_lr`` (S2SiamFC fine-tunes with Adam). Batch norm stays
  in eval mode: a handful of crops of one image would give meaningless batch statistics.
* Pairs: ``num_pairs`` pairs are drawn once per init (from a generator seeded per call, so the
  same init on the same image gives the same adapted weights) and every step uses all of them.
  Drawing them once lets a method run its frozen layers once in :meth:`FinetuneHook.precompute`
  and spend the steps on the layers it adapts: for SiamFC that turns ~0.25 s per step (the
  whole network on eight 255-pixel crops, one CPU core) into a few milliseconds.
"""
from __future__ import annotations

import abc
import copy
import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from .geometry import xywh_to_cxcywh
from .crops import mean_color
from .pairs import PairGeometry, PairJitter, sample_pair, stack_pairs

if TYPE_CHECKING:
    from .tracker_base import Tracker

#: Seed of the pair sampler; fixed so fine-tuning is reproducible.
FINETUNE_SEED = 20200727


class FinetuneNotSupportedError(NotImplementedError):
    """The tracker's method has no first-frame fine-tuning."""


@dataclasses.dataclass
class FinetuneReport:
    steps: int
    #: Wall time of the whole fine-tuning (copy, pairs, precompute, steps).
    seconds: float
    #: Loss before each step's update.
    losses: list[float]
    step_seconds: list[float]


class FinetuneHook(abc.ABC):
    """What a method contributes to first-frame fine-tuning."""

    #: First-frame pairs drawn per init; every step uses all of them.
    num_pairs: int = 8
    #: Augmentation of the first-frame pairs.
    jitter: PairJitter = PairJitter()

    @abc.abstractmethod
    def geometry(self, tracker: "Tracker") -> PairGeometry:
        """How this method crops template and search around a box."""

    @abc.abstractmethod
    def trainable_parameters(self, tracker: "Tracker",
                             model: torch.nn.Module) -> list[torch.nn.Parameter]:
        """Return the parameters of ``model`` (the per-target copy) to adapt."""

    def precompute(self, tracker: "Tracker", model: torch.nn.Module,
                   batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Once per init, before the steps: e.g. run the layers that are not adapted.

        ``batch`` is :func:`unsup_tracker.pairs.stack_pairs` output (template, search, offset in
        search-patch pixels, fill) plus ``target_size`` (the init box's ``(w, h)`` in patch
        pixels, exact when the hook's jitter does not scale) on the model's device; the result
        is what :meth:`loss` gets.
        """
        return batch

    @abc.abstractmethod
    def loss(self, tracker: "Tracker", model: torch.nn.Module,
             batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar self-supervised loss on the (precomputed) first-frame batch."""


def target_size_in_patch(geometry: PairGeometry, size) -> np.ndarray:
    """Return the target's ``(w, h)`` in template-patch pixels (the same in the search patch).

    The search region is the template region scaled like the patch, so one scale holds for both.
    """
    region = geometry.template_region(float(size[0]), float(size[1]))
    return np.asarray(size, np.float64) * geometry.template_size / np.asarray(region)


def pair_boxes(batch: dict[str, torch.Tensor], template_size: int, search_size: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the init box in each pair's template and search patch, ``(N, 4)`` x0 y0 x1 y1.

    Both patches have the same pixels per image pixel (:func:`target_size_in_patch`); the
    template box is centred, the search box sits at the pair's offset from the patch centre.
    """
    size = batch["target_size"].expand(len(batch["offset"]), 2)
    centre = torch.full_like(size, (template_size - 1) / 2.0)
    template_boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
    centre = (search_size - 1) / 2.0 + batch["offset"]
    return template_boxes, torch.cat([centre - size / 2, centre + size / 2], 1)


def finetune_copy(shared_model: torch.nn.Module, image: np.ndarray, box_xywh, hook: FinetuneHook,
                  tracker: "Tracker", seconds: float, max_steps: int, lr: float,
                  rng: np.random.Generator | None = None
                  ) -> tuple[torch.nn.Module, FinetuneReport]:
    """Return a fine-tuned deep copy of ``shared_model`` (left untouched) and what happened."""
    started = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(FINETUNE_SEED)
    model = copy.deepcopy(shared_model).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trainable = list(hook.trainable_parameters(tracker, model))
    if not trainable:
        raise ValueError(f"{type(hook).__name__} selected no parameters to fine-tune")
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(trainable, lr=lr)
    device = trainable[0].device
    losses: list[float] = []
    step_times: list[float] = []
    if max_steps > 0 and seconds > 0:
        geometry = hook.geometry(tracker)
        box = xywh_to_cxcywh(box_xywh)
        fill = mean_color(image)
        pairs = [sample_pair(image, box, geometry, hook.jitter, rng, fill)
                 for _ in range(hook.num_pairs)]
        batch = {key: torch.from_numpy(value).to(device)
                 for key, value in stack_pairs(pairs).items()}
        batch["target_size"] = torch.tensor(target_size_in_patch(geometry, box[2:]),
                                            dtype=torch.float32, device=device)
        batch = hook.precompute(tracker, model, batch)
    mean_step = 0.0
    while len(losses) < max_steps and seconds > 0:
        step_start = time.perf_counter()
        if step_start - started + mean_step > seconds and losses:
            break
        loss = hook.loss(tracker, model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        step_times.append(time.perf_counter() - step_start)
        mean_step = step_times[-1] if len(losses) == 1 else 0.5 * (mean_step + step_times[-1])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval(), FinetuneReport(steps=len(losses), seconds=time.perf_counter() - started,
                                        losses=losses, step_seconds=step_times)


def select_target_model(tracker: "Tracker", image: np.ndarray, box_xywh, finetune: bool) -> None:
    """Point ``tracker.model`` at the shared weights or at a fine-tuned copy for this target.

    Called by :meth:`Tracker.init` before the method's ``_init``.
    """
    if not hasattr(tracker, "model"):
        if finetune:
            raise FinetuneNotSupportedError(
                f"{type(tracker).__name__} has no network (self.model) to fine-tune")
        return
    shared = tracker.__dict__.setdefault("shared_model", tracker.model)
    tracker.finetune_report = None
    if not finetune:
        tracker.model = shared
        return
    hook = getattr(tracker, "finetune_hook", None)
    if hook is None:
        raise FinetuneNotSupportedError(
            f"method {tracker.method or type(tracker).__name__!r} has no first-frame fine-tuning")
    params = tracker.params
    tracker.model, tracker.finetune_report = finetune_copy(
        shared, image, box_xywh, hook, tracker, params.finetune_seconds, params.finetune_steps,
        params.finetune_lr)
