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
"""The shared label-free mask stage: turn any tracker's box into a target mask.

Every method gets a mask the same way: with ``mask=true`` (a :class:`~.params.TrackerParams` key,
so declared once for all methods), :class:`~.tracker_base.Tracker` runs a :class:`MaskStage` on
the frame and the box the method reports, and puts the result in ``TrackResult.mask`` (uint8,
image size, 255 = target) unless the method gave a mask of its own. The stage's settings are
:class:`MaskStageParams` (``mask_settings``, unknown keys refused); it needs no labels, no network
and no download.

Two kinds (decision by measurement, ``bench/bench_mask_stage.py``; figures in the README):

* ``colour`` (default): a foreground/background colour model. At ``init`` the pixels inside the
  box are the foreground sample and a ring around it (``ring`` x the box's mean side) the
  background sample; each is a joint BGR histogram (``bins`` per channel). The per-bin posterior
  ``p_fg / (p_fg + p_bg)`` (equal priors) is back-projected onto the box (grown by ``margin``);
  the foreground model is then re-estimated once from the box pixels it accepts, so the box's
  background corners do not teach it the background's colours. The window is processed
  downscaled to ``work_size`` pixels on its long side, so the cost is bounded whatever the
  box's size, and the mask is upscaled (bilinear, 0.5 threshold). Each frame: back-project,
  threshold, open/close with a kernel ~3 % of the box, fill holes, keep the connected components
  of at least ``keep_fraction`` of the largest one, and blend the models towards the new
  mask / ring at ``learning_rate`` (not while the tracker reports the target lost).
* ``grabcut``: OpenCV's GrabCut initialised by the box each frame on a crop downscaled to
  ``grabcut_size`` pixels on its long side (``grabcut_iterations`` iterations), no memory.

Both fall back to the filled box when the segment covers less than ``min_fill`` of the box (a
colour model that cannot tell target from background should not report a sliver), and give an
all-zero mask for a box that is empty, non-finite or outside the image.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import cv2
import numpy as np

from .geometry import box_pixel_ranges, box_to_mask
from .params import Params

KINDS = ("colour", "grabcut")


@dataclasses.dataclass
class MaskStageParams(Params):
    """Settings of the label-free mask stage (``mask_settings`` of every tracker)."""

    #: ``colour`` (histogram model, fast) or ``grabcut`` (slower; see the module docstring).
    kind: str = "colour"
    #: Histogram bins per BGR channel: 8, 16 or 32.
    bins: int = 16
    #: Background ring width around the box, in units of the box's mean side.
    ring: float = 0.5
    #: Pixels beyond the box (fraction of its mean side) that may still be target.
    margin: float = 0.05
    #: Posterior above which a pixel is target.
    threshold: float = 0.5
    #: Per-frame blend of the colour models towards the current frame (0 = frozen).
    learning_rate: float = 0.05
    #: Keep connected components of at least this fraction of the largest one.
    keep_fraction: float = 0.2
    #: Below this fraction of the box's area the mask falls back to the filled box.
    min_fill: float = 0.15
    #: Colour: the window (box + ring) is processed downscaled to at most this long side, px.
    work_size: int = 128
    #: GrabCut: long side of the downscaled crop, pixels.
    grabcut_size: int = 64
    #: GrabCut: iterations per frame.
    grabcut_iterations: int = 2

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"mask stage kind must be one of {KINDS}, got {self.kind!r}")
        if self.bins not in (8, 16, 32):
            raise ValueError(f"bins must be 8, 16 or 32, got {self.bins}")
        if self.ring <= 0 or self.margin < 0:
            raise ValueError("ring must be > 0 and margin >= 0")
        for name in ("threshold", "learning_rate", "keep_fraction", "min_fill"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.work_size < 16 or self.grabcut_size < 16 or self.grabcut_iterations < 1:
            raise ValueError("work_size and grabcut_size must be >= 16 and grabcut_iterations "
                             ">= 1")


def _window(box, shape: tuple[int, int], grow: float) -> tuple[int, int, int, int]:
    """Pixel ranges of the box grown by ``grow`` x its mean side on every side, clipped."""
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    pad = grow * (max(w, 0.0) + max(h, 0.0)) / 2
    return box_pixel_ranges((x - pad, y - pad, w + 2 * pad, h + 2 * pad), shape)


def _is_empty(ranges: tuple[int, int, int, int]) -> bool:
    return ranges[0] >= ranges[1] or ranges[2] >= ranges[3]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the background regions not connected to the crop's border."""
    padded = np.pad(mask, 1).astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 1)
    return (padded | (1 - flood))[1:-1, 1:-1].astype(bool)


def _largest_components(mask: np.ndarray, keep_fraction: float) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= keep_fraction * areas.max()) + 1
    return np.isin(labels, keep)


class MaskStage:
    """Box -> mask for one target: ``init(image, box)``, then ``update(image, box)`` per frame."""

    def __init__(self, params: Optional[MaskStageParams] = None):
        self.params = params or MaskStageParams()
        self._fg: Optional[np.ndarray] = None
        self._bg: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ colour model

    def _quantise(self, crop: np.ndarray) -> np.ndarray:
        shift = 8 - int(np.log2(self.params.bins))
        q = (crop >> shift).astype(np.int32)
        bins = self.params.bins
        return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]

    def _histogram(self, indices: np.ndarray) -> np.ndarray:
        hist = np.bincount(indices.reshape(-1), minlength=self.params.bins ** 3).astype(np.float64)
        return hist / max(hist.sum(), 1.0)

    def _samples(self, image: np.ndarray, box) -> Optional[tuple]:
        """Return the window, its colours, the box in them and its pixels (None: empty box).

        The colours are quantised on the window downscaled to ``work_size``; the box is given
        in those coordinates.
        """
        if _is_empty(box_pixel_ranges(box, image.shape[:2])):
            return None
        outer = _window(box, image.shape[:2], self.params.ring)
        r0, r1, c0, c1 = outer
        crop = image[r0:r1, c0:c1]
        scale = min(1.0, self.params.work_size / max(crop.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        sy, sx = crop.shape[0] / (r1 - r0), crop.shape[1] / (c1 - c0)
        x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
        local = np.array([(x - c0) * sx, (y - r0) * sy, w * sx, h * sy])
        indices = self._quantise(crop)
        in_box = box_to_mask(local, indices.shape)
        return outer, indices, local, in_box

    def _posterior(self, indices: np.ndarray) -> np.ndarray:
        lut = self._fg / (self._fg + self._bg + 1e-12)
        lut[(self._fg + self._bg) == 0] = 0.5
        return lut[indices]

    def init(self, image: np.ndarray, box) -> None:
        """Learn the colour models from the box (target) and the ring around it."""
        self._fg = self._bg = None
        if self.params.kind != "colour":
            return
        samples = self._samples(image, box)
        if samples is None:
            raise ValueError(f"mask stage: the box {list(box)} does not overlap the image")
        _, indices, _, in_box = samples
        self._fg = self._histogram(indices[in_box])
        ring = indices[~in_box]
        # A box filling the whole image has no ring: a flat background model.
        self._bg = (self._histogram(ring) if ring.size
                    else np.full(self._fg.shape, 1.0 / self._fg.size))
        accepted = indices[in_box][self._posterior(indices[in_box]) > self.params.threshold]
        if accepted.size:
            self._fg = self._histogram(accepted)

    def update(self, image: np.ndarray, box, lost: bool = False) -> np.ndarray:
        """Return the uint8 mask (image size, 255 = target) for ``box`` in ``image``."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"mask stage needs an HxWx3 uint8 image, got {image.shape} "
                             f"{image.dtype}")
        out = np.zeros(image.shape[:2], np.uint8)
        box = np.asarray(box, dtype=np.float64).reshape(-1)
        if box.size != 4 or not np.all(np.isfinite(box)) or _is_empty(
                box_pixel_ranges(box, image.shape[:2])):
            return out
        if self.params.kind == "grabcut":
            segment, window = self._grabcut(image, box)
        else:
            if self._fg is None:
                raise RuntimeError("mask stage: update() before init()")
            segment, window = self._colour(image, box, lost)
        inner = box_pixel_ranges(box, image.shape[:2])
        r0, r1, c0, c1 = window
        if np.count_nonzero(segment) < self.params.min_fill * (
                (inner[1] - inner[0]) * (inner[3] - inner[2])):
            out[inner[0]:inner[1], inner[2]:inner[3]] = 255
        else:
            out[r0:r1, c0:c1][segment] = 255
        return out

    def _cleanup(self, candidate: np.ndarray, box) -> np.ndarray:
        side = max(1.0, (float(box[2]) + float(box[3])) / 2)
        size = max(3, int(round(0.03 * side)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        mask = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        return _largest_components(_fill_holes(mask > 0), self.params.keep_fraction)

    def _colour(self, image: np.ndarray, box, lost: bool) -> tuple[np.ndarray, tuple]:
        outer, indices, local, in_box = self._samples(image, box)
        r0, r1, c0, c1 = outer
        allowed = np.zeros(indices.shape, bool)
        m0, m1, n0, n1 = _window(local, indices.shape, self.params.margin)
        allowed[m0:m1, n0:n1] = True
        segment = self._cleanup((self._posterior(indices) > self.params.threshold) & allowed,
                                local)
        rate = self.params.learning_rate
        if rate > 0 and not lost and np.count_nonzero(segment):
            self._fg = (1 - rate) * self._fg + rate * self._histogram(indices[segment])
            ring = indices[~in_box]
            if ring.size:
                self._bg = (1 - rate) * self._bg + rate * self._histogram(ring)
        if segment.shape != (r1 - r0, c1 - c0):
            segment = cv2.resize(segment.astype(np.uint8) * 255, (c1 - c0, r1 - r0),
                                 interpolation=cv2.INTER_LINEAR) >= 128
        return segment, outer

    def _grabcut(self, image: np.ndarray, box) -> tuple[np.ndarray, tuple]:
        outer = _window(box, image.shape[:2], self.params.ring)
        r0, r1, c0, c1 = outer
        crop = image[r0:r1, c0:c1]
        scale = min(1.0, self.params.grabcut_size / max(crop.shape[:2]))
        small = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)),
                                  max(1, round(crop.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        inner = box_pixel_ranges(box, image.shape[:2])
        x0 = int((inner[2] - c0) * scale)
        y0 = int((inner[0] - r0) * scale)
        x1 = max(x0 + 1, min(small.shape[1], int(np.ceil((inner[3] - c0) * scale))))
        y1 = max(y0 + 1, min(small.shape[0], int(np.ceil((inner[1] - r0) * scale))))
        labels = np.zeros(small.shape[:2], np.uint8)
        if x1 - x0 >= small.shape[1] and y1 - y0 >= small.shape[0]:
            return np.ones(crop.shape[:2], bool), outer  # no background to learn from
        try:
            cv2.grabCut(small, labels, (x0, y0, x1 - x0, y1 - y0), np.zeros((1, 65)),
                        np.zeros((1, 65)), self.params.grabcut_iterations,
                        cv2.GC_INIT_WITH_RECT)
        except cv2.error:
            return np.zeros(crop.shape[:2], bool), outer  # degenerate crop: falls back to box
        foreground = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
        full = cv2.resize(foreground, (crop.shape[1], crop.shape[0]),
                          interpolation=cv2.INTER_NEAREST) > 0
        return _largest_components(_fill_holes(full), self.params.keep_fraction), outer
