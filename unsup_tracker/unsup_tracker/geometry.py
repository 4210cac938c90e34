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
"""Box geometry shared by every tracker, the evaluation and the ROS adapters.

Conventions: an ``xywh`` box is ``(x, y, w, h)`` with ``(x, y)`` the top-left corner in 0-based
pixel coordinates, as OpenCV uses them; a ``cxcywh`` box is ``(cx, cy, w, h)`` with the centre at
``x + w / 2`` (continuous coordinates: pixel ``i`` covers ``[i, i + 1)``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class InvalidBoxError(ValueError):
    """A box that cannot be tracked (non-finite, non-positive size, or outside the image)."""


def xywh_to_cxcywh(box: Sequence[float]) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2.0, y + h / 2.0, w, h])


def cxcywh_to_xywh(box: Sequence[float]) -> np.ndarray:
    cx, cy, w, h = (float(v) for v in box)
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h])


def xywh_to_xyxy(box: Sequence[float]) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y + h])


def xyxy_to_xywh(box: Sequence[float]) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([x1, y1, x2 - x1, y2 - y1])


def iou_xywh(a, b) -> np.ndarray:
    """Compute the IoU of boxes (N, 4) vs (N, 4) (or single boxes) in xywh; zero area gives 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, 0], b[:, 0])
    iy1 = np.maximum(a[:, 1], b[:, 1])
    ix2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    iy2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def clip_box_xywh(
    box: Sequence[float], image_size: tuple[int, int], min_size: float = 1.0
) -> np.ndarray:
    """Clip an xywh box to a ``(width, height)`` image, keeping at least ``min_size`` pixels."""
    width, height = image_size
    x1, y1, x2, y2 = xywh_to_xyxy(box)
    x1 = min(max(x1, 0.0), width - min_size)
    y1 = min(max(y1, 0.0), height - min_size)
    x2 = min(max(x2, x1 + min_size), float(width))
    y2 = min(max(y2, y1 + min_size), float(height))
    return np.array([x1, y1, x2 - x1, y2 - y1])


def validate_init_box(
    box: Sequence[float], image_size: tuple[int, int], min_size: float = 2.0
) -> np.ndarray:
    """Check an initial box and return it clipped to the image.

    Raises :class:`InvalidBoxError` with a reason a user can act on: wrong length, NaN/inf,
    width or height below ``min_size`` pixels, or no overlap with the image.
    """
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError) as exc:
        raise InvalidBoxError(f"box must be 4 numbers (x, y, w, h), got {box!r}") from exc
    if len(values) != 4:
        raise InvalidBoxError(f"box must be 4 numbers (x, y, w, h), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise InvalidBoxError(f"box has a non-finite value: {values}")
    x, y, w, h = values
    if w < min_size or h < min_size:
        raise InvalidBoxError(
            f"box is {w:g}x{h:g} px; width and height must be at least {min_size:g} px"
        )
    width, height = image_size
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise InvalidBoxError(f"box {values} lies outside the {width}x{height} image")
    clipped = clip_box_xywh(values, image_size)
    # Clipping goes through corners, so a box of exactly min_size inside the image can come back
    # a rounding error smaller (y=126.158..., h=2 gave 1.99999999999998): allow for that.
    tolerance = 1e-6 * min_size
    if clipped[2] < min_size - tolerance or clipped[3] < min_size - tolerance:
        raise InvalidBoxError(
            f"box {values} overlaps the {width}x{height} image by less than {min_size:g} px"
        )
    return clipped


def center_distance(a, b) -> np.ndarray:
    """Euclidean distance between the centres of xywh boxes (N, 4) vs (N, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = a[:, :2] + a[:, 2:] / 2.0
    cb = b[:, :2] + b[:, 2:] / 2.0
    return np.linalg.norm(ca - cb, axis=1)


def box_pixel_ranges(box: Sequence[float], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Return ``(row0, row1, col0, col1)``: the pixels whose centres lie inside an xywh box.

    Pixel ``i`` covers ``[i, i + 1)``, so it belongs to the box when ``i + 0.5`` lies in
    ``[x, x + w)``; an integer box ``(x, y, w, h)`` thus covers columns ``x .. x + w - 1``. The
    ranges are clipped to an image of ``shape = (height, width)``; a non-finite box or one outside
    the image gives an empty range (``row0 == row1`` or ``col0 == col1``).
    """
    height, width = int(shape[0]), int(shape[1])
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size != 4 or not np.all(np.isfinite(values)):
        return 0, 0, 0, 0
    x, y, w, h = values

    def span(start: float, size: float, limit: int) -> tuple[int, int]:
        first = min(max(math.ceil(start - 0.5), 0), limit)
        last = min(max(math.ceil(start + max(size, 0.0) - 0.5), first), limit)
        return first, last

    row0, row1 = span(y, h, height)
    col0, col1 = span(x, w, width)
    return row0, row1, col0, col1


def box_to_mask(box: Sequence[float], shape: tuple[int, int]) -> np.ndarray:
    """Fill an xywh box as a boolean mask of ``shape = (height, width)`` (see box_pixel_ranges)."""
    mask = np.zeros((int(shape[0]), int(shape[1])), dtype=bool)
    row0, row1, col0, col1 = box_pixel_ranges(box, shape)
    mask[row0:row1, col0:col1] = True
    return mask
