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
"""Training-recipe interface: how a method turns unlabeled frames into a loss.

A recipe lives in its method's folder next to the model and tracker. It knows nothing about
files, bags or command lines: the training module (``unsup_tracker_training``) hands it a
:class:`FrameSource` and runs the optimisation loop, checkpoints and logging.

Discovery: a recipe that learns from moving objects found in its videos (USOT, CycleSiam)
sets ``needs_discovery``; the training module then runs its moving-object discovery on the
frames the recipe will sample and hands the usable clips (:class:`DiscoveredClip`) to
:meth:`TrainingRecipe.set_discovery` before ``prepare`` (or ``load_state_dict``). The core only
describes the result; discovery itself lives in the training package.

Resuming: everything a recipe builds in ``prepare`` or changes during the steps (mined pairs,
cluster banks, stage flags, its own generators) is returned by :meth:`TrainingRecipe.state_dict`
and put back by :meth:`TrainingRecipe.load_state_dict`, which a resumed run calls instead of
``prepare``; the loop saves the weights, optimizer and its RNG streams itself. Together they make
a resumed run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import abc
from typing import Any, Optional, Protocol, Sequence

import numpy as np
import torch

from .params import Params


class FrameSource(Protocol):
    """Unlabeled frames, as the training module's sampler provides them (BGR uint8 arrays)."""

    def sample_window(self, length: int, rng: np.random.Generator) -> list[np.ndarray]:
        """``length`` consecutive frames of one video (shorter videos give fewer)."""

    def sample_image(self, rng: np.random.Generator) -> np.ndarray:
        """One still image or video frame."""

    def frame_index(self, frame: np.ndarray) -> int:
        """Position of a frame this source handed out (ValueError for any other array)."""

    def frame_at(self, index: int) -> np.ndarray:
        """Return the frame at position ``index`` (as :meth:`frame_index` numbers them)."""


class DiscoveredClip(Protocol):
    """A clip's discovered moving object, as the training module hands it to a recipe."""

    #: Position of the clip's first frame in the FrameSource: frame j is
    #: ``source.frame_at(frame_offset + j)``.
    frame_offset: int
    num_frames: int
    #: (L, 4) pseudo boxes B' in frame pixels, 0-based xywh, NaN where there is none.
    boxes: np.ndarray
    #: (L,) frame quality Q_f.
    quality: np.ndarray
    #: (L, 2) fragment [T_l, T_u] of each frame (clip frame numbers, Eq. 7).
    fragment: np.ndarray
    #: Video score (Q_v minus the corner-frequency penalty).
    video_score: float
    #: Clip frame numbers whose candidate box the DP kept (CycleSiam starts its cycles there).
    picked_frames: np.ndarray

    def region_mask(self, frame: int) -> Optional[np.ndarray]:
        """Bool (H, W) flow-distance region inside the box of a picked frame, else None."""


def random_clip_frame(clips: Sequence[DiscoveredClip], source: FrameSource,
                      rng: np.random.Generator) -> np.ndarray:
    """Return a random frame of a random clip (e.g. the new context of a context swap)."""
    clip = clips[int(rng.integers(len(clips)))]
    return source.frame_at(clip.frame_offset + int(rng.integers(clip.num_frames)))


class TrainingRecipe(abc.ABC):
    """Sampling, loss and schedule of one method."""

    #: Parameter dataclass of this recipe (batch size, learning rates, sampling, loss weights).
    params_cls: type[Params] = Params
    #: "video" when the recipe needs temporal windows, "images" when single stills suffice.
    data_kind: str = "video"
    #: True: the training module discovers moving objects and calls :meth:`set_discovery`.
    needs_discovery: bool = False

    def __init__(self, params: Params, model_config: dict[str, Any]):
        self.params = params
        self.model_config = model_config

    @abc.abstractmethod
    def sample_batch(
        self, source: FrameSource, rng: np.random.Generator
    ) -> dict[str, torch.Tensor]:
        """One mini-batch of inputs, built from unlabeled frames only."""

    @abc.abstractmethod
    def loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss and named figures to log."""

    @abc.abstractmethod
    def make_optimizer(
        self, model: torch.nn.Module, total_steps: int
    ) -> tuple[torch.optim.Optimizer, Any]:
        """Optimizer and a per-step LR scheduler (or None) for ``total_steps`` steps."""

    def set_discovery(self, clips: list[DiscoveredClip]) -> None:
        """Take the usable discovered clips (called before ``prepare`` / ``load_state_dict``)."""
        raise NotImplementedError(f"{type(self).__name__} does not use discovery")

    def prepare(
        self, model: torch.nn.Module, source: FrameSource, rng: np.random.Generator
    ) -> None:
        """Run an optional stage before the main loop (e.g. PUL's background model and mining)."""

    def state_dict(self, source: FrameSource) -> dict[str, Any]:
        """Return what ``prepare`` built and the steps changed, for a bit-identical resume.

        Everything later batches and losses depend on besides the weights, the optimizer and the
        loop's RNG streams (the loop saves those). Tensors and plain dicts, lists, ints, floats,
        strs, bools and None only, so a checkpoint loads with ``torch.load(weights_only=True)``;
        frames of ``source`` are referred to by ``source.frame_index``, not copied. Must neither
        draw random numbers nor change the recipe. A stateless recipe keeps the default ``{}``.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module,
                        source: FrameSource) -> None:
        """Restore :meth:`state_dict`'s output; a resumed run calls this instead of ``prepare``.

        ``model`` already holds the resumed weights and ``source`` the same data as the saved
        run. Raises ValueError when ``state`` does not fit this recipe. The default (stateless
        recipe) accepts only ``{}``.
        """
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but the checkpoint holds "
                             f"{sorted(state)}")
