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
"""Object proposals for PUL's background-discrimination stage, with no downloaded model.

PUL takes 500 EdgeBoxes per frame, keeps 64 after non-maximum suppression at IoU 0.6 and uses
them as "candidate objects" (DIGEST 3.2). EdgeBoxes and BING need model files that cannot be
fetched here, so this module offers offline methods and the recipe picks one by name:

* ``selective_search``: OpenCV's selective search (fast mode: graph segmentation + hierarchical
  grouping), run on the frame downscaled so its longest side is ``work_side``. Its list order
  is its priority (earlier = higher), which stands in for EdgeBoxes' score in the NMS.
* ``saliency``: spectral-residual saliency, thresholded at several levels; the bounding boxes of
  the connected components, scored by their mean saliency.
* ``mser``: bounding boxes of MSER regions of the grey frame, larger first.
* ``random``: uniformly random boxes (S2SiamFC's sampling), the no-objectness baseline.

Decision, measured with ``bench/bench_pul_proposals.py`` (CPU time per frame, one OpenCV
thread; 69 annotated frames of the development benchmark at 480 px; recall = share of
ground-truth boxes matched at IoU >= 0.5 by one of the first 64 / 16 kept proposals):

==================  ======  =========  =========  =========
method              side    ms/frame   recall@64  recall@16
==================  ======  =========  =========  =========
selective search    320     336        0.74       0.41
selective search    160     66         0.75       0.42
selective search    112     35         0.64       0.41
saliency            160     2.5        0.35       0.32
MSER                320     4.7        0.26       0.26
random boxes        160     2.1        0.20       0.06
==================  ======  =========  =========  =========

Selective search at 320 px costs ~0.3 s per frame, too much for hundreds of frames on this CPU;
at 160 px it keeps its recall at a fifth of the cost and stays far above the cheap methods, so
it is the default (``work_side`` 160). The benchmark's targets are photo cut-outs pasted on real
footage, more salient than typical objects, so if anything this favours saliency. Saliency is
the fallback when time matters more than recall (``--set proposal_method=saliency``).

Every method filters candidates to plausible tracking targets before the NMS: sides at least
``min_side_fraction`` of the frame's shorter side, area at most ``max_area_fraction`` of the
frame, aspect ratio within ``max_aspect``, and at least ``min_edge_density`` of Canny edge
pixels inside (plain surfaces such as a table top are no objects, and they would make the
hardest "negatives" of the background model: see :mod:`.background_model`). The edge filter
raised recall@16 of selective search at 160 px from 0.38 to 0.42 and left recall@64 at 0.75.
"""
from __future__ import annotations

import ctypes
import dataclasses
import warnings
import zlib

import cv2
import numpy as np

from ...geometry import iou_xywh

PROPOSAL_METHODS = ("selective_search", "saliency", "mser", "random")


@dataclasses.dataclass(frozen=True)
class ProposalSettings:
    method: str = "selective_search"
    #: The frame is downscaled so its longest side is at most this before proposing.
    work_side: int = 160
    #: Candidates considered before NMS (PUL: 500).
    max_candidates: int = 500
    nms_iou: float = 0.6
    #: Proposals kept per frame after NMS (PUL: 64).
    max_proposals: int = 64
    min_side_fraction: float = 0.06
    max_area_fraction: float = 0.3
    max_aspect: float = 3.0
    #: Minimum share of edge pixels (Canny on the working image) inside a box.
    min_edge_density: float = 0.03

    def __post_init__(self):
        if self.method not in PROPOSAL_METHODS:
            raise ValueError(f"proposal method must be one of {PROPOSAL_METHODS}, "
                             f"got {self.method!r}")
        if self.work_side < 32 or self.max_candidates < 1 or self.max_proposals < 1:
            raise ValueError("need work_side >= 32, max_candidates >= 1, max_proposals >= 1")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError("nms_iou must be in (0, 1]")
        if not 0.0 < self.min_side_fraction < 1.0 or not 0.0 < self.max_area_fraction <= 1.0:
            raise ValueError("min_side_fraction must be in (0, 1), max_area_fraction in (0, 1]")
        if self.max_aspect < 1.0:
            raise ValueError("max_aspect must be >= 1")
        if not 0.0 <= self.min_edge_density < 1.0:
            raise ValueError("min_edge_density must be in [0, 1)")


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                            limit: int) -> np.ndarray:
    """Return the indices of kept boxes (xywh), best score first, at most ``limit``."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    kept: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for index in order:
        if suppressed[index]:
            continue
        kept.append(int(index))
        if len(kept) >= limit:
            break
        overlap = iou_xywh(np.broadcast_to(boxes[index], boxes.shape), boxes)
        suppressed |= overlap > iou_threshold
    return np.asarray(kept, dtype=np.int64)


def edge_density(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Share of Canny edge pixels inside each xywh box of ``image`` (integral image)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = (cv2.Canny(grey, 50, 150) > 0).astype(np.float64)
    integral = cv2.integral(edges)
    height, width = grey.shape
    x1 = np.clip(np.floor(boxes[:, 0]).astype(int), 0, width)
    y1 = np.clip(np.floor(boxes[:, 1]).astype(int), 0, height)
    x2 = np.clip(np.ceil(boxes[:, 0] + boxes[:, 2]).astype(int), 0, width)
    y2 = np.clip(np.ceil(boxes[:, 1] + boxes[:, 3]).astype(int), 0, height)
    inside = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    area = np.maximum((x2 - x1) * (y2 - y1), 1)
    return inside / area


def _seed_c_rand(image: np.ndarray) -> None:
    """Seed C's ``rand()`` from the image's bytes.

    OpenCV's selective search ranks regions by ``level * rand()`` (C's generator, which no
    OpenCV seed reaches): the same frame gave the same boxes in a different order on each call,
    so PUL's proposals, mined pairs and weights differed between identical runs. Seeding it from
    the frame's content makes the proposals a function of the frame (and consumes nothing from
    the training's own random streams).
    """
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(None)
            _LIBC.srand.argtypes = [ctypes.c_uint]
        except (OSError, AttributeError):
            _LIBC = False
            warnings.warn("cannot seed C's rand(): selective-search proposals will not be "
                          "reproducible between runs on this platform", RuntimeWarning)
    if _LIBC:
        _LIBC.srand(zlib.crc32(np.ascontiguousarray(image).tobytes()))


_LIBC = None


def _selective_search(small: np.ndarray, settings: ProposalSettings, rng) -> tuple:
    _seed_c_rand(small)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(small)
    search.switchToSelectiveSearchFast()
    boxes = np.asarray(search.process(), dtype=np.float64).reshape(-1, 4)
    scores = -np.arange(len(boxes), dtype=np.float64)
    return boxes, scores


def _saliency(small: np.ndarray, settings: ProposalSettings, rng) -> tuple:
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    ok, saliency = detector.computeSaliency(small)
    if not ok:
        return np.zeros((0, 4)), np.zeros(0)
    saliency = cv2.GaussianBlur(saliency.astype(np.float32), (0, 0), 2.0)
    mean, std = float(saliency.mean()), float(saliency.std())
    boxes, scores = [], []
    for level in (0.5, 1.0, 1.5, 2.0, 3.0):
        binary = (saliency > mean + level * std).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for label in range(1, count):
            x, y, w, h, _ = stats[label]
            boxes.append((x, y, w, h))
            scores.append(float(saliency[labels == label].mean()))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores)


def _mser(small: np.ndarray, settings: ProposalSettings, rng) -> tuple:
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    _, rects = cv2.MSER_create().detectRegions(gray)
    boxes = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    return boxes, boxes[:, 2] * boxes[:, 3]


def _random(small: np.ndarray, settings: ProposalSettings, rng) -> tuple:
    height, width = small.shape[:2]
    count = settings.max_candidates
    box_w = width / rng.uniform(3.0, 10.0, count)
    box_h = height / rng.uniform(3.0, 10.0, count)
    x = rng.uniform(0.0, 1.0, count) * (width - box_w)
    y = rng.uniform(0.0, 1.0, count) * (height - box_h)
    return np.stack([x, y, box_w, box_h], axis=1), rng.random(count)


_GENERATORS = {"selective_search": _selective_search, "saliency": _saliency, "mser": _mser,
               "random": _random}


def propose(image: np.ndarray, settings: ProposalSettings,
            rng: np.random.Generator) -> np.ndarray:
    """Up to ``settings.max_proposals`` boxes (K, 4) xywh in ``image`` pixels, best first."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    scale = min(1.0, settings.work_side / max(height, width))
    small = image if scale >= 1.0 else cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA)
    boxes, scores = _GENERATORS[settings.method](small, settings, rng)
    if len(boxes) == 0:
        return np.zeros((0, 4))
    boxes = boxes[:settings.max_candidates]
    scores = np.asarray(scores)[:settings.max_candidates]
    density = edge_density(small, boxes)
    boxes = boxes / scale
    min_side = settings.min_side_fraction * min(height, width)
    widths, heights = boxes[:, 2], boxes[:, 3]
    plausible = ((widths >= min_side) & (heights >= min_side)
                 & (widths * heights <= settings.max_area_fraction * width * height)
                 & (np.maximum(widths / heights, heights / widths) <= settings.max_aspect)
                 & (density >= settings.min_edge_density))
    boxes, scores = boxes[plausible], scores[plausible]
    if len(boxes) == 0:
        return np.zeros((0, 4))
    kept = non_maximum_suppression(boxes, scores, settings.nms_iou, settings.max_proposals)
    return boxes[kept]
