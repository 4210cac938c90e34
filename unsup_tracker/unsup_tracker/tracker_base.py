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
"""The one tracker interface: ``init(image_bgr, box_xywh)``, then ``track(image_bgr)``."""
from __future__ import annotations

import abc
import dataclasses
from typing import Optional

import numpy as np

from .geometry import validate_init_box
from .params import TrackerParams


class InvalidImageError(ValueError):
    """The image cannot be tracked on (wrong shape, dtype or empty)."""


@dataclasses.dataclass
class TrackResult:
    #: (x, y, w, h), 0-based pixel coordinates as OpenCV uses them.
    box: np.ndarray
    #: Confidence in [0, 1]-ish; comparable within a method, not across methods.
    score: float
    #: Optional uint8 mask of the image's size (255 = target).
    mask: Optional[np.ndarray] = None
    #: True when the target is considered lost (see :mod:`.long_term`; without the long-term
    #: layer: the score fell below the method's lost threshold).
    lost: bool = False


@dataclasses.dataclass
class Candidate:
    """A possible target location found by :meth:`Tracker.detect`."""

    #: (x, y, w, h) at the tracker's current target size.
    box: np.ndarray
    #: How well it matches the first-frame template (and the method's memory, if it has one):
    #: 1 = as well as the template matches itself on the first frame. Comparable across frames.
    score: float


@dataclasses.dataclass(frozen=True)
class ScanPart:
    """One frame's share of a dense full-frame scan (:meth:`Tracker.scan_parts`)."""

    #: Factor on the tracker's target size this scan assumes.
    scale: float
    #: Search window (w, h) in image pixels at that size.
    window: tuple[float, float]
    #: Rows and columns [start, stop) of the scan's score map this part evaluates.
    rows: tuple[int, int]
    cols: tuple[int, int]


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an HxWx3 uint8 BGR image (a HxW mono image is expanded to 3 channels)."""
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(f"image must be HxWx3 BGR, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InvalidImageError(f"image is empty or too small: {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image must be uint8, got {image.dtype}")
    return image


class Tracker(abc.ABC):
    """Single-object tracker. Subclasses implement ``_init`` and ``_track``.

    The base class validates inputs, so every method rejects the same bad images and boxes
    with the same errors (:class:`InvalidImageError`, :class:`~.geometry.InvalidBoxError`).
    A tracker with a network keeps it in ``self.model``; ``init`` then swaps in a per-target
    fine-tuned copy when asked (:mod:`unsup_tracker.finetune`) and the shared one otherwise.
    With ``params.mask``, a method that gives no mask of its own gets one from the shared mask
    stage (:mod:`unsup_tracker.masks`) run on its box; its time counts in ``track()``.
    """

    #: Registry name, set by :func:`unsup_tracker.registry.register_method`.
    method: str = ""

    def __init__(self, params: TrackerParams):
        self.params = params
        self.initialized = False

    #: First-frame fine-tuning support (:class:`unsup_tracker.finetune.FinetuneHook`), or None.
    finetune_hook = None

    #: While True, ``_track`` must not update the target model or template (the long-term
    #: layer sets it while the target is lost or its score is low).
    frozen: bool = False

    #: After ``track``: the frame's match with the template in :attr:`Candidate.score` units
    #: (1 = as on the first frame), which the long-term layer's lost decision uses.
    match_score: Optional[float] = None

    def init(self, image_bgr: np.ndarray, box_xywh, finetune: Optional[bool] = None) -> None:
        """Start tracking; ``finetune`` overrides ``params.finetune`` for this target only."""
        image = check_image(image_bgr)
        box = validate_init_box(box_xywh, (image.shape[1], image.shape[0]))
        finetune = self.params.finetune if finetune is None else bool(finetune)
        if finetune or hasattr(self, "model"):
            # Imported here: the fine-tuning machinery needs torch, this module does not.
            from .finetune import select_target_model
            select_target_model(self, image, box, finetune)
        self._init(image, box)
        self._mask_stage = None
        if self.params.mask:
            from .masks import MaskStage
            self._mask_stage = MaskStage(self.params.mask_stage_params())
            self._mask_stage.init(image, box)
        self.initialized = True

    def track(self, image_bgr: np.ndarray) -> TrackResult:
        if not self.initialized:
            raise RuntimeError("track() called before init()")
        image = check_image(image_bgr)
        return self._finish_result(self._track(image), image)

    def _finish_result(self, result: TrackResult, image: np.ndarray) -> TrackResult:
        """Mark ``result`` lost below the method's lost threshold; add the mask stage's mask."""
        result.lost = bool(result.lost or result.score < self.params.lost_score_threshold)
        if self._mask_stage is not None and result.mask is None:
            result.mask = self._mask_stage.update(image, result.box, result.lost)
        return result

    @abc.abstractmethod
    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        """Start on ``image`` with a validated, clipped box."""

    @abc.abstractmethod
    def _track(self, image: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""

    # -- re-detection hooks (used by :class:`unsup_tracker.long_term.LongTermTracker`) --------
    def search_window(self) -> tuple[float, float]:
        """Return ``(side, step)`` in image pixels of one :meth:`detect` window.

        ``side`` is the square region one window evaluates at the tracker's current target
        size; windows ``step`` apart cover every position a peak can be found at.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support re-detection")

    def detect(self, image: np.ndarray, centers: np.ndarray,
               scales: Optional[np.ndarray] = None) -> list[Candidate]:
        """Evaluate the method's network on windows centred at ``centers`` ``(N, 2)`` (x, y).

        ``scales`` ``(N,)`` (default 1) multiply the current target size (and so the window).
        Returns the best candidate of each window, scored against the first-frame template
        (and the memory), in the order of ``centers``. Changes no tracking state.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support re-detection")

    def reseat(self, box_xywh) -> None:
        """Move the tracking state to ``box_xywh`` without re-initialising template or model."""
        raise NotImplementedError(f"{type(self).__name__} does not support re-detection")

    @property
    def supports_redetection(self) -> bool:
        cls = type(self)
        return all(getattr(cls, name) is not getattr(Tracker, name)
                   for name in ("search_window", "detect", "reseat"))

    # Optional: a dense full-frame scan, cheaper than ``detect`` on a grid of windows.
    def scan_parts(self, image: np.ndarray, scale: float, anchor) -> list[ScanPart]:
        """Split a scan of the whole frame at ``scale`` x the target size into parts.

        Each part fits one frame's search budget; parts nearest the ``anchor`` (x, y) come first.
        """
        raise NotImplementedError(f"{type(self).__name__} has no dense scan")

    def scan(self, image: np.ndarray, part: ScanPart, count: int) -> list[Candidate]:
        """Return up to ``count`` candidates of ``part``, best first (local maxima, no state)."""
        raise NotImplementedError(f"{type(self).__name__} has no dense scan")

    @property
    def supports_dense_scan(self) -> bool:
        return type(self).scan is not Tracker.scan
