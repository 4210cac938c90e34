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
"""Template/search pairs cut from ONE image around a box, with geometric and photometric jitter.

S2SiamFC's observation, "an image and any cropped region of it can form a natural pair", is
used twice in this package: by the S2SiamFC training recipe (random boxes in unlabeled images)
and by first-frame fine-tuning of every tracker (the user's initial box), so the sampling lives
here once. A method describes its crops with a :class:`PairGeometry`; :func:`sample_pair` returns
the patches and where the target's centre lies in the search patch, which is all a loss needs.

Decisions (the papers list only "random rotation, color jitter, etc."):

* The search region is jittered, the template is not: the template is what the tracker would
  crop from the init box, and the response's target position follows the known shift exactly.
* Geometric jitter: a uniform shift in search-patch pixels, a log-uniform scale of the search
  region, an independent per-axis stretch, and a rotation of the search patch about the target
  (so the label position is unchanged).
* Photometric jitter, drawn independently for template and search: brightness, contrast,
  saturation, optional grey conversion and Gaussian blur.
* Padding outside the image uses the image's mean colour, as SiamFC does.
* Context swap (:func:`swap_context`, ours; USOT and CycleSiam pair stages): a pair cut from one
  frame shows the target's surroundings in both patches, so a network can find the target by
  its context; replacing the search patch's surroundings with another frame rules that out.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import cv2
import numpy as np

from .crops import crop_and_resize, image_to_tensor_layout, mean_color


@dataclasses.dataclass(frozen=True)
class PairGeometry:
    """How a method crops a target: output sizes and the image region each patch covers.

    SiamFC style (``padding`` None): the template region is a square of side
    ``sqrt((w + p)(h + p))`` with ``p = context * (w + h)``. DCFNet style (``padding`` set):
    the region is ``(w * (1 + padding), h * (1 + padding))``. The search region is the template
    region times ``search_factor`` (default ``search_size / template_size``, SiamFC's 255/127).
    """

    template_size: int
    search_size: int
    context: float = 0.5
    padding: float | None = None
    search_factor: float | None = None

    def template_region(self, width: float, height: float) -> tuple[float, float]:
        if self.padding is not None:
            return width * (1.0 + self.padding), height * (1.0 + self.padding)
        pad = self.context * (width + height)
        side = math.sqrt((width + pad) * (height + pad))
        return side, side

    def search_region(self, width: float, height: float) -> tuple[float, float]:
        factor = (self.search_factor if self.search_factor is not None
                  else self.search_size / self.template_size)
        region_w, region_h = self.template_region(width, height)
        return region_w * factor, region_h * factor


@dataclasses.dataclass(frozen=True)
class PairJitter:
    """Augmentation strengths (0 disables a component)."""

    #: Target shift in the search patch, pixels of the patch, uniform in [-max_shift, max_shift].
    max_shift: float = 16.0
    #: Search-region scale factor, log-uniform in [1 / (1 + scale), 1 + scale].
    scale: float = 0.05
    #: Extra independent per-axis stretch, log-uniform in [1 / (1 + aspect), 1 + aspect].
    aspect: float = 0.05
    #: Rotation of the search patch about the target, uniform in [-rotation_deg, rotation_deg].
    rotation_deg: float = 0.0
    #: Additive brightness, fraction of the 0..255 range.
    brightness: float = 0.1
    #: Contrast factor in [1 - contrast, 1 + contrast].
    contrast: float = 0.2
    #: Saturation factor in [1 - saturation, 1 + saturation].
    saturation: float = 0.2
    gray_probability: float = 0.05
    blur_probability: float = 0.0


@dataclasses.dataclass
class Pair:
    template: np.ndarray
    search: np.ndarray
    #: (dx, dy) of the target centre from the search patch centre, search-patch pixels.
    offset: np.ndarray
    #: Mean colour used for padding (BGR), also the fill for masking.
    fill: np.ndarray


def _log_uniform(rng: np.random.Generator, amount: float) -> float:
    if amount <= 0:
        return 1.0
    bound = math.log1p(amount)
    return math.exp(rng.uniform(-bound, bound))


def photometric_jitter(patch: np.ndarray, jitter: PairJitter,
                       rng: np.random.Generator) -> np.ndarray:
    """Colour-jittered copy of a BGR uint8 patch."""
    out = patch.astype(np.float32)
    if jitter.contrast > 0:
        factor = rng.uniform(1.0 - jitter.contrast, 1.0 + jitter.contrast)
        out = (out - out.mean()) * factor + out.mean()
    if jitter.saturation > 0 or jitter.gray_probability > 0:
        gray = out @ np.array([0.114, 0.587, 0.299], dtype=np.float32)
        if rng.random() < jitter.gray_probability:
            out = np.repeat(gray[..., None], 3, axis=2)
        elif jitter.saturation > 0:
            factor = rng.uniform(1.0 - jitter.saturation, 1.0 + jitter.saturation)
            out = gray[..., None] + (out - gray[..., None]) * factor
    if jitter.brightness > 0:
        out = out + rng.uniform(-jitter.brightness, jitter.brightness) * 255.0
    if jitter.blur_probability > 0 and rng.random() < jitter.blur_probability:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.5))
    return np.clip(out, 0, 255).astype(np.uint8)


def sample_pair(image: np.ndarray, box_cxcywh: Sequence[float], geometry: PairGeometry,
                jitter: PairJitter, rng: np.random.Generator, fill=None) -> Pair:
    """Template around the box and a jittered search patch of the same image."""
    cx, cy, width, height = (float(v) for v in box_cxcywh)
    if not (width > 0 and height > 0):
        raise ValueError(f"box must have a positive size, got {box_cxcywh}")
    fill = mean_color(image) if fill is None else np.asarray(fill, dtype=np.float64)
    template_region = geometry.template_region(width, height)
    template = crop_and_resize(image, (cx, cy), template_region, geometry.template_size, fill)

    region_w, region_h = geometry.search_region(width, height)
    scale = _log_uniform(rng, jitter.scale)
    region_w *= scale * _log_uniform(rng, jitter.aspect)
    region_h *= scale * _log_uniform(rng, jitter.aspect)
    offset = rng.uniform(-jitter.max_shift, jitter.max_shift, size=2) if jitter.max_shift > 0 \
        else np.zeros(2)
    # Shifting the crop centre by -offset patch pixels puts the target at +offset in the patch.
    crop_center = (cx - offset[0] * region_w / geometry.search_size,
                   cy - offset[1] * region_h / geometry.search_size)
    search = crop_and_resize(image, crop_center, (region_w, region_h), geometry.search_size, fill)
    if jitter.rotation_deg > 0:
        angle = rng.uniform(-jitter.rotation_deg, jitter.rotation_deg)
        pivot = ((geometry.search_size - 1) / 2.0 + offset[0],
                 (geometry.search_size - 1) / 2.0 + offset[1])
        matrix = cv2.getRotationMatrix2D(pivot, angle, 1.0)
        search = cv2.warpAffine(search, matrix, (geometry.search_size, geometry.search_size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=tuple(float(v) for v in fill))
    template = photometric_jitter(template, jitter, rng)
    search = photometric_jitter(search, jitter, rng)
    return Pair(template=template, search=search, offset=np.asarray(offset, dtype=np.float64),
                fill=fill)


def stack_pairs(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    """Arrays for a batch: template/search ``(N, 3, H, W)`` float32, offset ``(N, 2)``, fill."""
    return {
        "template": image_to_tensor_layout(np.stack([p.template for p in pairs])),
        "search": image_to_tensor_layout(np.stack([p.search for p in pairs])),
        "offset": np.stack([p.offset for p in pairs]).astype(np.float32),
        "fill": np.stack([p.fill for p in pairs]).astype(np.float32),
    }


def swap_context(patch: np.ndarray, box_xyxy: Sequence[float], other_image: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Return ``patch`` with its context replaced, the target kept inside ``box_xyxy``.

    Outside an ellipse inscribed in the box (patch pixels), feathered over a tenth of its
    smaller side, the patch shows a crop of ``other_image`` at a random place and scale.
    """
    height, width = other_image.shape[:2]
    side = min(height, width) * rng.uniform(0.4, 1.0)
    # Centres that keep the crop inside the frame where it fits (no fill-colour borders).
    centre = (rng.uniform(min(side / 2, width / 2), max(width - side / 2, width / 2)),
              rng.uniform(min(side / 2, height / 2), max(height - side / 2, height / 2)))
    size = patch.shape[0]
    background = crop_and_resize(other_image, centre, side, size, mean_color(other_image))
    alpha = np.zeros((size, size), np.float32)
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    axes = (max((x1 - x0) / 2, 1.0), max((y1 - y0) / 2, 1.0))
    cv2.ellipse(alpha, (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))),
                (int(round(axes[0])), int(round(axes[1]))), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.1 * min(axes) * 2, 1.0))[..., None]
    mixed = alpha * patch.astype(np.float32) + (1.0 - alpha) * background
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
