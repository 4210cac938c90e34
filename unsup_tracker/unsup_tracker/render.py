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
"""Render frames from real photos: a camera panning and zooming over a still, moving sprites.

The one renderer of the project: the development benchmark (:mod:`.evaluation.devbench`) builds
its labelled sequences with it, and the training module's synthetic clips
(``unsup_tracker_training.synth``) build unlabeled ones. Everything here is deterministic given
the ``numpy`` generator passed in (and the OpenCV build).

* :func:`smooth_path`: a smooth random path (positions, scales, angles, zooms);
* :func:`camera_path` and :func:`camera_matrix`: a window panning and zooming over a photo, and
  the affine map that renders it at the output size; :func:`fit_background` shrinks a large
  photo first (warping does not low-pass);
* :class:`Sprite`, :func:`place`, :func:`composite`: a masked patch warped (scale, rotation,
  optional motion blur) and alpha-blended onto a float canvas; :func:`blob_mask` makes a smooth
  irregular mask for a patch.
"""
import dataclasses
import math
from typing import Optional

import cv2
import numpy as np


def fit_background(image: np.ndarray, frame_size: tuple[int, int], max_scale: float
                   ) -> np.ndarray:
    """Shrink ``image`` so a camera window over it spans at most ``max_scale`` output widths.

    The widest ``frame_size``-shaped window is scaled (area interpolation) to ``max_scale *``
    the output width of source pixels; a photo already that small is returned unchanged.
    """
    out_w, out_h = frame_size
    widest = min(image.shape[1], image.shape[0] * out_w / out_h)
    factor = max_scale * out_w / widest
    if factor < 1.0:
        size = (max(1, round(image.shape[1] * factor)),
                max(1, round(image.shape[0] * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def blob_mask(rng: np.random.Generator, height: int, width: int, irregularity: float
              ) -> np.ndarray:
    """Draw a smooth star-shaped blob filling a ``height`` x ``width`` box (uint8 0/255)."""
    angles = np.linspace(0.0, 2.0 * np.pi, 120, endpoint=False)
    radius = np.ones_like(angles)
    for k in range(2, 7):
        amplitude = rng.uniform(0.0, irregularity / k * 1.6)
        radius += amplitude * np.cos(k * angles + rng.uniform(0, 6.3))
    radius = np.clip(radius, 0.25, None)
    radius /= radius.max()
    supersample = 4
    points = np.stack([(0.5 + 0.5 * radius * np.cos(angles)) * width * supersample,
                       (0.5 + 0.5 * radius * np.sin(angles)) * height * supersample], axis=1)
    canvas = np.zeros((height * supersample, width * supersample), np.uint8)
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return np.where(small >= 128, 255, 0).astype(np.uint8)


def smooth_path(rng: np.random.Generator, n: int, low, high, knot_every: float,
                first=None) -> np.ndarray:
    """(n, d) random path: uniform knots in [low, high], linearly joined, Gaussian-smoothed.

    Smoothing keeps the values inside [low, high] (convex combinations) and gives a velocity
    without stops at the knots. ``first`` pins the first knot.
    """
    low = np.atleast_1d(np.asarray(low, dtype=np.float64))
    high = np.atleast_1d(np.asarray(high, dtype=np.float64))
    num_knots = max(2, int(math.ceil(n / knot_every)) + 1)
    knots = rng.uniform(low, high, size=(num_knots, len(low)))
    if first is not None:
        knots[0] = first
        knots[1] = first
    times = np.linspace(0, n - 1, num_knots)
    path = np.stack([np.interp(np.arange(n), times, knots[:, d]) for d in range(len(low))], 1)
    sigma = knot_every / 3.0
    radius = int(3 * sigma)
    if radius >= 1:
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        kernel /= kernel.sum()
        padded = np.pad(path, ((radius, radius), (0, 0)), mode="edge")
        path = np.stack([np.convolve(padded[:, d], kernel, mode="valid")
                         for d in range(path.shape[1])], 1)
    return path


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Ease ``x`` from 0 to 1 over [0, 1] (cubic, zero slope at both ends; clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclasses.dataclass
class Sprite:
    """A masked patch ready to warp: colour premultiplied by alpha, both float32."""

    premultiplied: np.ndarray  # float32 HxWx3: colour * alpha
    alpha: np.ndarray  # float32 HxW in [0, 1]

    @classmethod
    def from_cutout(cls, patch: np.ndarray, mask: np.ndarray, long_side: float) -> "Sprite":
        # Resize once to the largest size it is drawn at, so per-frame warps never minify much
        # (warpAffine does not low-pass and would alias).
        scale = min(1.0, long_side / max(patch.shape[:2]))
        size = (max(2, round(patch.shape[1] * scale)), max(2, round(patch.shape[0] * scale)))
        color = cv2.resize(patch, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.resize(mask, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return cls(color * alpha[..., None], alpha)

    @property
    def long_side(self) -> int:
        return max(self.alpha.shape)


@dataclasses.dataclass
class Placed:
    """A sprite warped onto a local canvas whose top-left corner is at (x0, y0) in the frame."""

    x0: int
    y0: int
    premultiplied: np.ndarray
    alpha: np.ndarray
    sharp_mask: np.ndarray  # bool, before blur: the object's extent

    def frame_slices(self, width: int, height: int):
        """(frame slices, local slices) of the part inside the frame, or None."""
        h, w = self.alpha.shape
        fx0, fy0 = max(self.x0, 0), max(self.y0, 0)
        fx1, fy1 = min(self.x0 + w, width), min(self.y0 + h, height)
        if fx0 >= fx1 or fy0 >= fy1:
            return None
        return ((slice(fy0, fy1), slice(fx0, fx1)),
                (slice(fy0 - self.y0, fy1 - self.y0), slice(fx0 - self.x0, fx1 - self.x0)))


def line_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised anti-aliased line of ``length`` px at ``angle`` (radians): linear motion blur."""
    size = int(math.ceil(length)) | 1
    canvas = np.zeros((size, size), np.uint8)
    c = size / 2.0
    dx, dy = 0.5 * length * math.cos(angle), 0.5 * length * math.sin(angle)
    subpixel = 16  # cv2.line's shift=4: coordinates in 1/16 px
    cv2.line(canvas, (round((c - dx) * subpixel), round((c - dy) * subpixel)),
             (round((c + dx) * subpixel), round((c + dy) * subpixel)), 255, 1, cv2.LINE_AA,
             shift=4)
    kernel = canvas.astype(np.float32)
    total = kernel.sum()
    if total <= 0:
        kernel[size // 2, size // 2] = 1.0
        total = 1.0
    return kernel / total


def place(sprite: Sprite, center, scale: float, angle_deg: float, gain: float = 1.0,
          blur: Optional[tuple[float, float]] = None) -> Placed:
    """Warp ``sprite`` to ``center`` (frame pixels) on a local canvas covering all of it."""
    h, w = sprite.alpha.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, scale)
    matrix[:, 2] += np.asarray(center, dtype=np.float64) - (w / 2.0, h / 2.0)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ matrix.T
    pad = 2 + (int(math.ceil(blur[0])) if blur else 0)
    x0 = int(math.floor(corners[:, 0].min())) - pad
    y0 = int(math.floor(corners[:, 1].min())) - pad
    x1 = int(math.ceil(corners[:, 0].max())) + pad
    y1 = int(math.ceil(corners[:, 1].max())) + pad
    matrix[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    alpha = cv2.warpAffine(sprite.alpha, matrix, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    color = cv2.warpAffine(sprite.premultiplied, matrix, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sharp = alpha > 0.5
    if gain != 1.0:
        color *= gain
    if blur is not None and blur[0] >= 2.0:
        kernel = line_kernel(*blur)
        alpha = cv2.filter2D(alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        color = cv2.filter2D(color, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return Placed(x0, y0, color, alpha, sharp)


def composite(canvas: np.ndarray, placed: Placed) -> None:
    """Alpha-blend ``placed`` over the float canvas (in place); parts outside are dropped."""
    slices = placed.frame_slices(canvas.shape[1], canvas.shape[0])
    if slices is None:
        return
    frame_sl, local_sl = slices
    alpha = placed.alpha[local_sl][..., None]
    canvas[frame_sl] = canvas[frame_sl] * (1.0 - alpha) + placed.premultiplied[local_sl]


def paste_mask(frame_mask: np.ndarray, placed: Placed, mask: np.ndarray) -> None:
    """OR ``mask`` (on ``placed``'s local canvas) into the boolean ``frame_mask`` (in place)."""
    slices = placed.frame_slices(frame_mask.shape[1], frame_mask.shape[0])
    if slices is not None:
        frame_sl, local_sl = slices
        frame_mask[frame_sl] |= mask[local_sl]


def camera_matrix(center, window_width: float, out_size) -> np.ndarray:
    """Return the 2x3 map from a window (centre, width; output aspect) to the output frame."""
    out_w, out_h = out_size
    window_height = window_width * out_h / out_w
    s = out_w / window_width
    return np.array([[s, 0.0, -s * (center[0] - window_width / 2.0)],
                     [0.0, s, -s * (center[1] - window_height / 2.0)]])


def camera_path(rng: np.random.Generator, background: np.ndarray, n: int,
                frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(window centres (n, 2), window widths (n,)) in source pixels: pan and zoom."""
    out_w, out_h = frame_size
    src_h, src_w = background.shape[:2]
    widest = min(src_w, src_h * out_w / out_h)
    # Strong zoom and fast pans: a photo has no motion of its own.
    zoom = smooth_path(rng, n, 0.5, 0.85, 30)[:, 0]
    window_w = zoom * widest
    window_h = window_w * out_h / out_w
    position = smooth_path(rng, n, (0, 0), (1, 1), 30)
    centers = np.stack([window_w / 2 + position[:, 0] * (src_w - window_w),
                        window_h / 2 + position[:, 1] * (src_h - window_h)], 1)
    return centers, window_w
