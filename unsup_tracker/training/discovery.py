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
"""Moving-object discovery without labels (USOT, Zheng et al. ICCV 2021, Sec. 3.1; DIGEST 2.2).

For every clip of a source: dense optical flow between frames ``T_f`` apart, the distance map
``D = ||F - mean(F)||``, the mask ``D >= alpha * max(D) + (1 - alpha) * mean(D)``, connected
regions, the best region per threshold by the box score of Eq. 2 (with the official code's
refinements), a dynamic programme over the candidate boxes (Eq. 3) that keeps the smoothest
sequence, linear interpolation of the frames in between, the video and frame quality scores
(Eq. 4-5) and, per frame, the fragment ``[T_l, T_u]`` its memory frames may come from (Eq. 7).

Two methods use it: USOT (boxes, qualities, fragments) and CycleSiam (initial boxes and initial
masks: :meth:`ClipDiscovery.region_mask` is the thresholded flow-distance region inside the box
of a DP-picked frame). It lives in the training package: only training needs it, nothing on the
tracker side does. A recipe never reads files: the training module runs
:func:`discover_sampler` on the frames its sampler holds (frame numbers and boxes then refer to
those frames) and hands the result over; :func:`discover_source` does the same on a source's
full-size frames (the ``discover`` command). Both cache per source on disk
(:class:`DiscoveryCache`).

Decisions, where the paper or this machine leave a choice (measured figures:
``bench/bench_usot_discovery.py`` on the 12 devbench sequences; see its docstring):

* Flow: OpenCV's DIS (Kroeger et al. 2016), classical, label-free, nothing to download. The
  paper's ARFlow is itself unsupervised but its weights cannot be had here, and training it is
  out of scope. Farneback is available (``flow_method="farneback"``) and was measured too.
  Flow is computed on grey frames downscaled so the longest side is ``flow_side`` (default 320,
  DIS preset ``medium``), chosen by the bench (quality vs. ms per frame).
  Measured on devbench (12 sequences x 150 frames, 640x480, camera pan-and-zoom; IoU > 0.3 /
  > 0.5 in %; "all" = B' on every frame with the target present, "tmpl" / "mem" = USOT's Table 5
  instances, 200 per usable sequence; CPU ms per frame, one OpenCV thread, loaded machine):

  ==================  ===========  ===========  ===========  ======  =====
  flow, side          all          tmpl         mem          usable  ms/f
  ==================  ===========  ===========  ===========  ======  =====
  DIS medium, 320     59.3 / 48.8  73.4 / 62.3  70.7 / 60.0  11/12   6.0
  DIS medium, 480     59.8 / 49.2  73.3 / 62.6  67.4 / 59.9  10/12   13.7
  DIS medium, 240     54.0 / 44.1  70.6 / 57.0  65.6 / 55.4  10/12   4.3
  DIS medium, 160     46.2 / 32.4  50.3 / 35.8  48.0 / 35.5  8/12    2.0
  DIS fast, 320       41.7 / 28.2  48.9 / 36.5  45.7 / 34.4  8/12    3.0
  DIS ultrafast, 320  41.0 / 25.6  50.3 / 31.9  48.5 / 25.3  11/12   3.0
  Farneback, 320      48.9 / 30.0  67.6 / 44.8  64.4 / 44.0  10/12   9.1
  Farneback, 160      34.2 / 18.2  49.1 / 25.4  43.7 / 26.6  10/12   2.9
  ==================  ===========  ===========  ===========  ======  =====

  DIS medium at 320 px is as good as at 480 px for less than half the time; cheaper presets or
  sizes lose 5-25 points. (USOT reports 63-64 / 42-46 for its template boxes on GOT-10k and
  VID with ARFlow; devbench's pasted targets are easier to separate, its occluders and
  distractors also move.) Subtracting a robust global affine motion instead of the mean flow
  (for the zooming camera) was tried and measured worse (tmpl 68.3 / 56.8): the moving
  occluders then win more often; the paper's mean is kept.
* ``T_f`` as the official code: flow and boxes on every ``node_step`` = 3rd frame (the code's
  "gap"), ``T_f`` starts at 4 (then carries over from node to node) and moves within [1, 7],
  down while the largest flow component exceeds 16 px, up while it stays below 8 px, recomputing
  the flow each time and never reversing on the same node. The code's pixel constants (these
  two, the 15 px border, the 80 px small-object/hole size, the 50 px^2 minimum box, the 0.05
  still-scene distance, the 10 px corner margin) are in pixels of the flow resized back to its
  source frames (VID/GOT-10k frames, mostly 500 to 1280 px wide; ARFlow ran at 640x384). The
  paper gives none of them; we take them at a 640 px wide frame and scale them to the frame
  (flow thresholds, corner margin) or to the flow map (region sizes).
* Thresholds: two per frame as in the code, ``alpha`` = 0.3 (the paper's) and 0.16, each giving
  its best box (two candidates per node). Frames whose motion is not salient (mean distance not
  below the still threshold and max/mean <= 2.5) give none. A 1/32 margin of the flow is cut.
* Box score (Eq. 2) ``area + beta * min(x0, W - x1) * min(y0, H - y1)`` with beta = 0.5, and the
  code's refinements: doubled when the region holds the maximum-distance pixel, halved per axis
  within 15 px of the (cut) border, boxes wider/taller than 0.7 of the map lying on that border
  dropped, aspect ratio above 6 dropped, regions smaller than 2% of the map's height or width or
  50 px^2 skipped; small objects and holes (80 px) removed first.
* DP (Eq. 3): maximise the sum of ``K + R_dp`` over a chain of candidates, ``R_dp = IoU -
  gamma * d^2/c^2`` with gamma = 4.1, negative rewards tripled (code), ``K`` = 0.091 per added
  box (code's -0.091 cost), links up to 100 nodes back (code). Frames between two picked nodes
  are linearly interpolated the intended way: the code's comments admit its ratio is reversed
  (all its results used that); we do not copy the bug. Frames before the first / after the last
  picked node repeat that box (the code also adds +-3 px noise there; not copied).
* Quality: ``Q_v`` = picked nodes / all nodes (Eq. 4, the code's ``bbox_picked_freq``);
  ``Q_f(t)`` = picked nodes / nodes within ``T_s`` = 3 nodes of t (Eq. 5, the code's
  short-term frequency). Code refinements kept for sampling: the corner frequency (share of
  boxes touching the cut border, 1 for corners, 0.3 for edges) gives ``video_score = Q_v -
  corner/3``; a clip is usable when ``video_score >= theta1`` (0.4) and corner frequency < 0.25;
  the per-frame corner score (distance to the border, capped) refines frame scores: template
  frames maximise ``Q_f + 2/3 corner`` among ``int(3 / Q_v)`` uniform draws, cycle-memory
  template frames ``Q_f + corner/2 + (T_u - T_l) / 2L``.
* Fragments (Eq. 7) follow the paper frame by frame: ``T_u(t)`` is the largest k with
  ``R_dp(B'_{t'-1}, B'_{t'}) >= theta2`` (0.45, gamma 2.5, no tripling) and ``Q_f(t') >=
  theta3`` (0.40) for all t < t' <= k, ``T_l`` the mirror image, both within 320 frames (code).
  The code walks in steps of 2 frames and lets later frames reuse an earlier frame's fragment;
  neither is copied. Memory frames: ``N_mem + 3`` uniform draws from the fragment, the ``N_mem``
  farthest from the template kept (code).
* Frames are numbered per clip in the order they are given (:func:`discover_source`: as the
  source decodes them, undecodable frames skipped and not counted; :func:`discover_sampler`: as
  the sampler stores them); boxes are 0-based xywh in the pixels of those frames.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import cv2
import numpy as np

from unsup_tracker.atomic_file import atomic_write, describe_os_error
from unsup_tracker.geometry import iou_xywh
from unsup_tracker.params import Params
from unsup_tracker.sample_data import cache_dir as sample_cache_dir

LOG = logging.getLogger("unsup_tracker_training.discovery")

#: Bump when results of the same settings would change (invalidates cached discoveries).
DISCOVERY_VERSION = 1
FLOW_METHODS = ("dis", "farneback")
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
#: The official code's pixel constants refer to frames of this width (its ARFlow input).
REFERENCE_SIDE = 640.0


@dataclasses.dataclass
class DiscoveryParams(Params):
    """Settings of moving-object discovery (defaults: see the module docstring)."""

    flow_method: str = "dis"
    dis_preset: str = "medium"
    #: Flow is computed on grey frames downscaled so their longest side is at most this.
    flow_side: int = 320
    #: Flow and candidate boxes on every n-th frame (the code's sub-sampling "gap").
    node_step: int = 3
    #: T_f: initial frame interval of the flow, and its range.
    flow_interval: int = 4
    min_flow_interval: int = 1
    max_flow_interval: int = 7
    #: T_f shrinks above / grows below this largest flow component (px at 640 px width).
    fast_flow: float = 16.0
    slow_flow: float = 8.0
    #: Share of the flow map cut at each border.
    margin: float = 1.0 / 32.0
    #: Binarisation thresholds alpha (one candidate box per value).
    alphas: tuple = (0.3, 0.16)
    #: Weight of the centre term of the box score (Eq. 2).
    beta: float = 0.5
    #: Frames with max/mean distance <= this (and mean above still_distance) give no box.
    saliency_ratio: float = 2.5
    #: Mean distance (px at 640 px width) below which a frame counts as still.
    still_distance: float = 0.05
    #: Small objects / holes removed from the mask (px^2 at 640 px width).
    min_region_pixels: float = 80.0
    #: Minimum box area (px^2 at 640 px width) and side (share of the map).
    min_box_area: float = 50.0
    min_box_fraction: float = 0.02
    #: Boxes within this many px (640 px width) of the cut border have their score halved.
    border_px: float = 15.0
    #: A box on a border and longer than this share of the map along it is dropped.
    border_length: float = 0.7
    max_aspect: float = 6.0
    #: DP: distance-penalty weight gamma, reward per added box K, reach in nodes.
    gamma: float = 4.1
    negative_factor: float = 3.0
    box_reward: float = 0.091
    max_link_nodes: int = 100
    #: T_s: frame-quality window radius, in nodes.
    quality_radius: int = 3
    #: Fragments (Eq. 7): gamma inside R_dp, theta2, theta3, maximum reach in frames.
    fragment_gamma: float = 2.5
    fragment_min_reward: float = 0.45
    fragment_min_quality: float = 0.40
    max_fragment_frames: int = 320
    #: theta1 on the video score, and the largest corner frequency of a usable clip.
    min_video_score: float = 0.4
    max_corner_frequency: float = 0.25
    #: Corner margin (px at 640 px width) for the corner frequency.
    corner_px: float = 10.0

    def validate(self) -> None:
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"flow_method must be one of {FLOW_METHODS}, "
                             f"got {self.flow_method!r}")
        if self.dis_preset not in DIS_PRESETS:
            raise ValueError(f"dis_preset must be one of {sorted(DIS_PRESETS)}, "
                             f"got {self.dis_preset!r}")
        if self.flow_side < 32:
            raise ValueError("flow_side must be >= 32")
        if self.node_step < 1 or self.quality_radius < 0 or self.max_link_nodes < 1:
            raise ValueError("need node_step >= 1, quality_radius >= 0, max_link_nodes >= 1")
        if not 1 <= self.min_flow_interval <= self.flow_interval <= self.max_flow_interval:
            raise ValueError("need 1 <= min_flow_interval <= flow_interval <= max_flow_interval")
        if not 0.0 < self.slow_flow < self.fast_flow:
            raise ValueError("need 0 < slow_flow < fast_flow")
        if not 0.0 <= self.margin < 0.25:
            raise ValueError("margin must be in [0, 0.25)")
        if not self.alphas or any(not 0.0 < float(a) < 1.0 for a in self.alphas):
            raise ValueError(f"alphas must be a non-empty list of values in (0, 1), "
                             f"got {self.alphas!r}")
        nonnegative = ("beta", "still_distance", "min_region_pixels", "min_box_area",
                       "border_px", "box_reward", "corner_px")
        for name in nonnegative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.saliency_ratio < 1.0 or self.max_aspect < 1.0:
            raise ValueError("saliency_ratio and max_aspect must be >= 1")
        if not 0.0 <= self.min_box_fraction < 1.0 or not 0.0 < self.border_length <= 1.0:
            raise ValueError("min_box_fraction must be in [0, 1), border_length in (0, 1]")
        if self.gamma < 0 or self.fragment_gamma < 0 or self.negative_factor < 1.0:
            raise ValueError("gamma, fragment_gamma must be >= 0, negative_factor >= 1")
        if self.max_fragment_frames < 0:
            raise ValueError("max_fragment_frames must be >= 0")
        self.alphas = tuple(float(a) for a in self.alphas)


# ---------------------------------------------------------------------------------------------
# Boxes (x0, y0, x1, y1), exclusive right/bottom edges
# ---------------------------------------------------------------------------------------------

def transition_reward(a: np.ndarray, b: np.ndarray, gamma: float,
                      negative_factor: float = 1.0) -> np.ndarray:
    """``R_dp`` of Eq. 3 between xyxy boxes (broadcast): IoU - gamma * d^2 / c^2.

    ``d`` is the distance of the centres, ``c`` the diagonal of the smallest enclosing box
    (DIoU's penalty). Negative values are multiplied by ``negative_factor`` (the code's 3 in the
    DP; 1 in Eq. 7).
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    iou = iou_xywh(_xyxy_to_xywh(a), _xyxy_to_xywh(b)).reshape(a.shape[:-1])
    cw = np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0])
    ch = np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])
    diagonal = cw ** 2 + ch ** 2
    distance = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2
                + (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4.0
    with np.errstate(divide="ignore", invalid="ignore"):
        penalty = np.where(diagonal > 0, distance / np.where(diagonal > 0, diagonal, 1.0), 0.0)
    reward = iou - gamma * penalty
    return np.where(reward < 0, reward * negative_factor, reward)


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0],
                     boxes[:, 3] - boxes[:, 1]], axis=1)


# ---------------------------------------------------------------------------------------------
# Flow -> candidate boxes
# ---------------------------------------------------------------------------------------------

class FlowEstimator:
    """Dense flow between two grey frames at the working resolution (DIS or Farneback)."""

    def __init__(self, params: DiscoveryParams):
        self.params = params
        self._dis = None
        if params.flow_method == "dis":
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[params.dis_preset])

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Return the (H, W, 2) float32 flow from ``first`` to ``second`` (pixels of the map)."""
        if self._dis is not None:
            return self._dis.calc(first, second, None)
        return cv2.calcOpticalFlowFarneback(first, second, None, pyr_scale=0.5, levels=3,
                                            winsize=15, iterations=3, poly_n=5, poly_sigma=1.2,
                                            flags=0)


def distance_map(flow: np.ndarray, margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``D = ||F - mean(F)||`` on the flow without its margin; returns (D, (top, left) cut)."""
    height, width = flow.shape[:2]
    top, left = int(height * margin), int(width * margin)
    inner = flow[top:height - top if top else height, left:width - left if left else width]
    inner = inner.astype(np.float64)
    mean = inner.reshape(-1, 2).mean(axis=0)
    return np.sqrt(((inner - mean) ** 2).sum(axis=2)), (top, left)


def _remove_small(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    """Drop 4-connected components of ``mask`` smaller than ``min_pixels``, then fill holes."""
    if min_pixels <= 0:
        return mask
    for value in (True, False):  # objects first, then holes (components of the background)
        target = (mask == value).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(target, connectivity=4)
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_pixels)
        small = small[small > 0]
        if len(small):
            mask = mask.copy()
            mask[np.isin(labels, small)] = not value
    return mask


@dataclasses.dataclass
class Candidate:
    """One candidate box of a node, in the cut distance map's pixels."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    score: float
    alpha: float
    #: The thresholded (cleaned) mask inside ``box``, bool (y1 - y0, x1 - x0).
    region: np.ndarray


def candidate_boxes(distance: np.ndarray, params: DiscoveryParams,
                    pixel_scale: float = 1.0) -> list[Candidate]:
    """Best region per ``alpha`` of a distance map (Eq. 1-2 with the code's refinements).

    ``pixel_scale`` converts the code's 640-px constants to the map's pixels (map width / 640
    for a map of the frame; 1 for a map drawn at that scale, as in the tests).
    """
    height, width = distance.shape
    mean, peak = float(distance.mean()), float(distance.max())
    if not (mean < params.still_distance * pixel_scale or peak > params.saliency_ratio * mean):
        return []
    peak_y, peak_x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    border = params.border_px * pixel_scale
    min_area = params.min_box_area * pixel_scale ** 2
    found = []
    for alpha in params.alphas:
        threshold = alpha * peak + (1.0 - alpha) * mean
        mask = _remove_small(distance >= threshold, params.min_region_pixels * pixel_scale ** 2)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                                   connectivity=8)
        best = None
        for label in range(1, count):
            x0, y0, w, h = (int(v) for v in stats[label, :4])
            x1, y1 = x0 + w, y0 + h
            if h < height * params.min_box_fraction or w < width * params.min_box_fraction:
                continue
            if w * h < min_area:
                continue
            score = w * h + params.beta * min(x0, width - x1) * min(y0, height - y1)
            if x0 <= peak_x <= x1 and y0 <= peak_y <= y1:
                score *= 2.0
            if min(y0, height - y1) <= border:
                score /= 2.0
                if w > width * params.border_length:
                    continue
            if min(x0, width - x1) <= border:
                score /= 2.0
                if h > height * params.border_length:
                    continue
            if max(w / h, h / w) > params.max_aspect:
                continue
            if best is None or score > best.score:
                best = Candidate((x0, y0, x1, y1), float(score), float(alpha),
                                 mask[y0:y1, x0:x1].copy())
        if best is not None:
            found.append(best)
    return found


# ---------------------------------------------------------------------------------------------
# DP, interpolation, quality, fragments
# ---------------------------------------------------------------------------------------------

def best_path(candidates: list[np.ndarray], params: DiscoveryParams) -> list[tuple[int, int]]:
    """Maximum-reward chain over per-node candidate boxes (Eq. 3); ``[(node, candidate)]``.

    ``candidates[n]`` is a (C_n, 4) xyxy array (C_n may be 0). A chain earns ``K`` per box plus
    ``R_dp`` per link; links reach back at most ``max_link_nodes`` nodes that have candidates.
    Ties: the nearest predecessor, and among equal ends the earliest (as the code).
    """
    nodes = [n for n, boxes in enumerate(candidates) if len(boxes)]
    if not nodes:
        return []
    value: list[np.ndarray] = []
    back: list[list[tuple[int, int]]] = []
    for position, node in enumerate(nodes):
        boxes = np.asarray(candidates[node], dtype=np.float64).reshape(-1, 4)
        best = np.full(len(boxes), params.box_reward)
        links = [(-1, -1)] * len(boxes)
        for previous in range(max(0, position - params.max_link_nodes), position):
            prev_boxes = np.asarray(candidates[nodes[previous]], dtype=np.float64).reshape(-1, 4)
            reward = transition_reward(boxes[:, None, :], prev_boxes[None, :, :], params.gamma,
                                       params.negative_factor)
            total = value[previous][None, :] + reward + params.box_reward
            for c in range(len(boxes)):
                for p in range(len(prev_boxes)):
                    if total[c, p] >= best[c]:
                        best[c] = total[c, p]
                        links[c] = (previous, p)
        value.append(best)
        back.append(links)
    end, end_value = (len(nodes) - 1, 0), value[-1][0]
    for position in range(len(nodes) - 1, -1, -1):
        for c in range(len(value[position])):
            if value[position][c] >= end_value:
                end, end_value = (position, c), value[position][c]
    path = []
    while end[1] != -1:
        path.append((nodes[end[0]], end[1]))
        end = back[end[0]][end[1]]
    return path[::-1]


def interpolate_boxes(frames: np.ndarray, boxes: np.ndarray, length: int) -> np.ndarray:
    """Boxes (xyxy) of all ``length`` frames from boxes at sorted ``frames`` (held at the ends)."""
    out = np.full((length, 4), np.nan)
    if len(frames) == 0:
        return out
    everywhere = np.arange(length)
    for k in range(4):
        out[:, k] = np.interp(everywhere, frames, boxes[:, k])
    return out


def frame_quality(node_frames: np.ndarray, picked: np.ndarray, length: int,
                  radius_frames: int) -> np.ndarray:
    """``Q_f`` (Eq. 5) per frame: picked nodes / nodes within ``radius_frames`` of it (0: none)."""
    node_frames = np.asarray(node_frames, dtype=np.int64)
    picked = np.asarray(picked, dtype=bool)
    everywhere = np.arange(length)[:, None]
    near = np.abs(everywhere - node_frames[None, :]) <= radius_frames
    total = near.sum(axis=1)
    chosen = (near & picked[None, :]).sum(axis=1)
    return np.where(total > 0, chosen / np.maximum(total, 1), 0.0)


def fragments(boxes: np.ndarray, quality: np.ndarray, gamma: float, min_reward: float,
              min_quality: float, max_frames: int) -> np.ndarray:
    """``[T_l, T_u]`` per frame (Eq. 7), (L, 2) int; frames without a box get ``[t, t]``.

    ``T_u(t)`` is the largest ``k <= t + max_frames`` with, for all ``t < t' <= k``,
    ``R_dp(B_{t'-1}, B_{t'}) >= min_reward`` and ``Q_f(t') >= min_quality``; ``T_l`` mirrors it.
    """
    length = len(boxes)
    out = np.repeat(np.arange(length)[:, None], 2, axis=1)
    if length == 0:
        return out
    valid = np.all(np.isfinite(boxes), axis=1)
    link = np.zeros(length, dtype=bool)  # link[t']: B_{t'-1} -> B_{t'} is smooth
    if length > 1:
        reward = transition_reward(boxes[:-1], boxes[1:], gamma)
        link[1:] = (reward >= min_reward) & valid[:-1] & valid[1:]
    good = np.asarray(quality) >= min_quality
    forward = link & good           # t' may extend a fragment to the right
    backward = np.zeros(length, dtype=bool)
    backward[:-1] = link[1:] & good[:-1]  # t' may extend a fragment to the left
    reach_up = np.arange(length)
    for t in range(length - 2, -1, -1):
        if forward[t + 1]:
            reach_up[t] = reach_up[t + 1]
    reach_down = np.arange(length)
    for t in range(1, length):
        if backward[t - 1]:
            reach_down[t] = reach_down[t - 1]
    everywhere = np.arange(length)
    out[:, 0] = np.maximum(reach_down, everywhere - max_frames)
    out[:, 1] = np.minimum(reach_up, everywhere + max_frames)
    out[~valid] = everywhere[~valid, None]
    return out


def corner_scores(boxes: np.ndarray, frame_size: tuple[int, int], margin: float) -> np.ndarray:
    """Per-frame centre preference (code): capped distances to the cut border, in [0, 0.2]."""
    width, height = frame_size
    left, top = int(margin * width), int(margin * height)
    right, bottom = int((1 - margin) * width), int((1 - margin) * height)
    x_border = np.minimum(np.abs(boxes[:, 0] - left), np.abs(right - boxes[:, 2]))
    y_border = np.minimum(np.abs(boxes[:, 1] - top), np.abs(bottom - boxes[:, 3]))
    score = (np.minimum(x_border / max(right - left, 1), 0.1)
             + np.minimum(y_border / max(bottom - top, 1), 0.1))
    return np.where(np.isfinite(score), score, 0.0)


def corner_frequency(boxes: np.ndarray, frame_size: tuple[int, int], margin: float,
                     corner_px: float) -> float:
    """Share of boxes at the cut border: 1 per corner box, 0.3 per edge box (code)."""
    valid = np.all(np.isfinite(boxes), axis=1)
    if not valid.any():
        return 0.0
    width, height = frame_size
    boxes = boxes[valid]
    left, top = int(margin * width), int(margin * height)
    right, bottom = int((1 - margin) * width), int((1 - margin) * height)
    at_x = (boxes[:, 0] < left + corner_px) | (boxes[:, 2] > right - corner_px)
    at_y = (boxes[:, 1] < top + corner_px) | (boxes[:, 3] > bottom - corner_px)
    return float(np.where(at_x & at_y, 1.0, np.where(at_x | at_y, 0.3, 0.0)).mean())


# ---------------------------------------------------------------------------------------------
# Per-clip result
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class ClipDiscovery:
    """Discovered moving object of one clip (frame indices count the clip's decoded frames)."""

    clip_id: int
    num_frames: int
    frame_size: tuple[int, int]  # (width, height) of the source frames
    #: Flow map size (width, height) and the cut (left, top) in map pixels.
    map_size: tuple[int, int]
    map_cut: tuple[int, int]
    node_frames: np.ndarray       # (N,) frames where flow and candidates were computed
    flow_intervals: np.ndarray    # (N,) T_f used at each node
    candidates: np.ndarray        # (N, C, 4) xyxy in source pixels, NaN where none
    candidate_scores: np.ndarray  # (N, C) Eq. 2 scores, NaN where none
    picked: np.ndarray            # (N,) candidate chosen by the DP, -1 where none
    boxes: np.ndarray             # (L, 4) pseudo boxes B', 0-based xywh, NaN when no path
    quality: np.ndarray           # (L,) Q_f
    corner: np.ndarray            # (L,) corner score
    fragment: np.ndarray          # (L, 2) [T_l, T_u]
    video_quality: float          # Q_v
    corner_freq: float
    #: Per picked node (same order as ``picked_nodes``): region bits inside its map box.
    region_boxes: np.ndarray      # (P, 4) int xyxy in map pixels (uncut map)
    region_bits: list             # P bool arrays
    #: Flat position of the clip's first frame in the FrameSource it came from (see
    #: :func:`discover_sampler`; 0 for a clip discovered on its own). Not cached.
    frame_offset: int = 0

    @property
    def picked_nodes(self) -> np.ndarray:
        return np.flatnonzero(self.picked >= 0)

    @property
    def picked_frames(self) -> np.ndarray:
        """Frames whose candidate box the DP kept."""
        return self.node_frames[self.picked >= 0]

    @property
    def video_score(self) -> float:
        """``Q_v - corner_frequency / 3`` (the code's video quality)."""
        return self.video_quality - self.corner_freq / 3.0

    def usable(self, params: DiscoveryParams) -> bool:
        """Whether training may sample this clip (theta1 and the corner limit)."""
        return (bool(self.picked_nodes.size) and self.video_score >= params.min_video_score
                and self.corner_freq < params.max_corner_frequency)

    def frame_scores(self, long_term: bool = False) -> np.ndarray:
        """Template-frame preference: short-term (naive Siamese) or long-term (cycle memory)."""
        if not long_term:
            return self.quality + 2.0 / 3.0 * self.corner
        span = (self.fragment[:, 1] - self.fragment[:, 0]) / (2.0 * max(self.num_frames, 1))
        return self.quality + 0.5 * self.corner + span

    def pick_template_frame(self, rng: np.random.Generator, long_term: bool = False) -> int:
        """Best of ``int(3 / Q_v)`` uniformly drawn frames by :meth:`frame_scores` (code)."""
        if not self.picked_nodes.size:
            raise ValueError(f"clip {self.clip_id}: no discovered object")
        draws = rng.integers(0, self.num_frames, int(3.0 / max(self.video_quality, 1e-3)))
        return int(draws[np.argmax(self.frame_scores(long_term)[draws])])

    def pick_memory_frames(self, frame: int, rng: np.random.Generator, count: int = 4,
                           extra: int = 3) -> np.ndarray:
        """``count`` frames of ``frame``'s fragment: farthest of ``count + extra`` draws (code)."""
        low, high = self.fragment[frame]
        draws = rng.integers(low, high + 1, count + extra)
        order = np.argsort(-np.abs(draws - frame), kind="stable")
        return draws[order[:count]]

    def region_mask(self, frame: int) -> Optional[np.ndarray]:
        """Bool (H, W) flow-distance region inside the box of a DP-picked frame, else None.

        The region is the thresholded distance map (at the picked candidate's alpha, small
        objects and holes removed) inside its box, scaled to the source frame (nearest).
        """
        hits = np.flatnonzero(self.picked_frames == frame)
        if not hits.size:
            return None
        x0, y0, x1, y1 = (int(v) for v in self.region_boxes[hits[0]])
        width, height = self.frame_size
        map_w, map_h = self.map_size
        full = np.zeros((map_h, map_w), dtype=np.uint8)
        full[y0:y1, x0:x1] = self.region_bits[hits[0]]
        return cv2.resize(full, (width, height), interpolation=cv2.INTER_NEAREST) > 0

    def summary(self, params: DiscoveryParams) -> dict:
        return {"clip_id": self.clip_id, "frames": self.num_frames,
                "nodes": int(len(self.node_frames)),
                "nodes_with_candidates": int(np.isfinite(self.candidate_scores).any(axis=1).sum()),
                "picked_nodes": int(self.picked_nodes.size),
                "video_quality": round(self.video_quality, 4),
                "corner_frequency": round(self.corner_freq, 4),
                "video_score": round(self.video_score, 4), "usable": self.usable(params),
                "mean_fragment_frames": round(float(np.mean(
                    self.fragment[:, 1] - self.fragment[:, 0])) if self.num_frames else 0.0, 2)}

    # -- serialisation (plain arrays: np.load(allow_pickle=False)) --

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        bits = [np.asarray(b, dtype=bool).ravel() for b in self.region_bits]
        sizes = np.asarray([b.size for b in bits], dtype=np.int64)
        flat = np.concatenate(bits) if bits else np.zeros(0, dtype=bool)
        scalars = np.asarray([self.clip_id, self.num_frames, *self.frame_size, *self.map_size,
                              *self.map_cut], dtype=np.int64)
        return {f"{prefix}scalars": scalars,
                f"{prefix}floats": np.asarray([self.video_quality, self.corner_freq]),
                f"{prefix}node_frames": self.node_frames, f"{prefix}flow_intervals":
                self.flow_intervals, f"{prefix}candidates": self.candidates,
                f"{prefix}candidate_scores": self.candidate_scores,
                f"{prefix}picked": self.picked, f"{prefix}boxes": self.boxes,
                f"{prefix}quality": self.quality, f"{prefix}corner": self.corner,
                f"{prefix}fragment": self.fragment, f"{prefix}region_boxes": self.region_boxes,
                f"{prefix}region_sizes": sizes, f"{prefix}region_bits": np.packbits(flat)}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> "ClipDiscovery":
        s = data[f"{prefix}scalars"]
        boxes = data[f"{prefix}region_boxes"].astype(np.int64).reshape(-1, 4)
        sizes = data[f"{prefix}region_sizes"]
        flat = np.unpackbits(data[f"{prefix}region_bits"], count=int(sizes.sum())).astype(bool)
        bits, offset = [], 0
        for box, size in zip(boxes, sizes):
            shape = (int(box[3] - box[1]), int(box[2] - box[0]))
            if shape[0] * shape[1] != size:
                raise ValueError("region mask size does not match its box")
            bits.append(flat[offset:offset + size].reshape(shape))
            offset += size
        floats = data[f"{prefix}floats"]
        return cls(clip_id=int(s[0]), num_frames=int(s[1]), frame_size=(int(s[2]), int(s[3])),
                   map_size=(int(s[4]), int(s[5])), map_cut=(int(s[6]), int(s[7])),
                   node_frames=data[f"{prefix}node_frames"],
                   flow_intervals=data[f"{prefix}flow_intervals"],
                   candidates=data[f"{prefix}candidates"],
                   candidate_scores=data[f"{prefix}candidate_scores"],
                   picked=data[f"{prefix}picked"], boxes=data[f"{prefix}boxes"],
                   quality=data[f"{prefix}quality"], corner=data[f"{prefix}corner"],
                   fragment=data[f"{prefix}fragment"], video_quality=float(floats[0]),
                   corner_freq=float(floats[1]), region_boxes=boxes, region_bits=bits)


# ---------------------------------------------------------------------------------------------
# Running discovery over a stream of frames
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Node:
    frame: int
    interval: int
    candidates: list[Candidate]


class ClipDiscoverer:
    """Feed a clip's frames one by one (:meth:`add`), then :meth:`finish` it.

    Only the last ``max_flow_interval + 1`` grey working frames are kept, so memory does not
    grow with the clip's length.
    """

    def __init__(self, params: DiscoveryParams, clip_id: int = 0,
                 flow: Optional[FlowEstimator] = None):
        self.params = params
        self.clip_id = clip_id
        self.flow = flow or FlowEstimator(params)
        self._frames: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self._count = 0
        self._frame_size: Optional[tuple[int, int]] = None
        self._map_size: Optional[tuple[int, int]] = None
        self._nodes: list[_Node] = []
        self._next_node = params.node_step
        self._interval = params.flow_interval
        self.flow_calls = 0
        self.flow_seconds = 0.0

    def add(self, frame: np.ndarray) -> None:
        """Append the next frame (BGR or grey uint8, all of one size)."""
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or frame.size == 0:
            raise ValueError(f"expected a uint8 image, got {frame.dtype} {frame.shape}")
        height, width = frame.shape[:2]
        if self._frame_size is None:
            self._frame_size = (width, height)
            scale = min(1.0, self.params.flow_side / max(width, height))
            self._map_size = (max(8, round(width * scale)), max(8, round(height * scale)))
        elif self._frame_size != (width, height):
            raise ValueError(f"clip {self.clip_id}: frame {self._count} is {width}x{height}, "
                             f"earlier frames {self._frame_size[0]}x{self._frame_size[1]}")
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if grey.shape[::-1] != self._map_size:
            grey = cv2.resize(grey, self._map_size, interpolation=cv2.INTER_AREA)
        self._frames[self._count] = grey
        self._count += 1
        # A node n needs frames up to n + max interval; process as soon as they are here.
        while self._next_node + self.params.max_flow_interval < self._count:
            self._process(self._next_node, self._count)
        while self._frames and next(iter(self._frames)) < self._next_node:
            self._frames.popitem(last=False)

    def _process(self, node: int, available: int) -> None:
        params = self.params
        # Flow in the code's units: px of the frame, taken at 640 px width.
        to_reference = REFERENCE_SIDE / self._map_size[0]
        direction = 0
        while True:
            other = min(node + self._interval, available - 1)
            started = time.perf_counter()
            flow = self.flow(self._frames[node], self._frames[other])
            self.flow_seconds += time.perf_counter() - started
            self.flow_calls += 1
            largest = float(np.abs(flow).max()) * to_reference if flow.size else 0.0
            if (largest > params.fast_flow and self._interval > params.min_flow_interval
                    and direction <= 0):
                self._interval -= 1
                direction = -1
            elif (largest < params.slow_flow and self._interval < params.max_flow_interval
                  and direction >= 0):
                self._interval += 1
                direction = 1
            else:
                break
        distance, _ = distance_map(flow, params.margin)
        found = candidate_boxes(distance, params, pixel_scale=1.0 / to_reference)
        self._nodes.append(_Node(node, self._interval, found))
        self._next_node += params.node_step

    def finish(self) -> ClipDiscovery:
        """Run the remaining nodes, the DP, interpolation, qualities and fragments."""
        params = self.params
        length = self._count
        while self._next_node < length - params.node_step:
            self._process(self._next_node, length)
        # The code's node range is [step, L - step): drop nodes a short clip cannot have.
        nodes = [n for n in self._nodes if n.frame < length - params.node_step]
        frame_size = self._frame_size or (0, 0)
        map_size = self._map_size or (0, 0)
        cut = (int(map_size[0] * params.margin), int(map_size[1] * params.margin))
        to_source = (frame_size[0] / map_size[0] if map_size[0] else 1.0,
                     frame_size[1] / map_size[1] if map_size[1] else 1.0)
        count = len(params.alphas)
        candidates = np.full((len(nodes), count, 4), np.nan)
        scores = np.full((len(nodes), count), np.nan)
        for n, node in enumerate(nodes):
            for c, cand in enumerate(node.candidates):
                x0, y0, x1, y1 = cand.box
                candidates[n, c] = ((x0 + cut[0]) * to_source[0], (y0 + cut[1]) * to_source[1],
                                    (x1 + cut[0]) * to_source[0], (y1 + cut[1]) * to_source[1])
                scores[n, c] = cand.score
        path = best_path([candidates[n][np.isfinite(scores[n])] for n in range(len(nodes))],
                         params)
        picked = np.full(len(nodes), -1, dtype=np.int64)
        for n, c in path:
            picked[n] = c
        node_frames = np.asarray([n.frame for n in nodes], dtype=np.int64)
        chosen = picked >= 0
        xyxy = interpolate_boxes(node_frames[chosen],
                                 candidates[np.flatnonzero(chosen), picked[chosen]], length)
        quality = frame_quality(node_frames, chosen, length,
                                params.quality_radius * params.node_step)
        frag = fragments(xyxy, quality, params.fragment_gamma, params.fragment_min_reward,
                         params.fragment_min_quality, params.max_fragment_frames)
        corner_px = params.corner_px * frame_size[0] / REFERENCE_SIDE
        region_boxes, region_bits = [], []
        for n in np.flatnonzero(chosen):
            cand = nodes[n].candidates[picked[n]]
            x0, y0, x1, y1 = cand.box
            region_boxes.append((x0 + cut[0], y0 + cut[1], x1 + cut[0], y1 + cut[1]))
            region_bits.append(cand.region)
        return ClipDiscovery(
            clip_id=self.clip_id, num_frames=length, frame_size=frame_size, map_size=map_size,
            map_cut=cut, node_frames=node_frames,
            flow_intervals=np.asarray([n.interval for n in nodes], dtype=np.int64),
            candidates=candidates, candidate_scores=scores, picked=picked,
            boxes=_xyxy_to_xywh(xyxy), quality=quality,
            corner=corner_scores(xyxy, frame_size, params.margin), fragment=frag,
            video_quality=float(chosen.sum() / len(nodes)) if len(nodes) else 0.0,
            corner_freq=corner_frequency(xyxy, frame_size, params.margin, corner_px),
            region_boxes=np.asarray(region_boxes, dtype=np.int64).reshape(-1, 4),
            region_bits=region_bits)


def discover_frames(frames: Iterable[np.ndarray], params: Optional[DiscoveryParams] = None,
                    clip_id: int = 0) -> ClipDiscovery:
    """Discover the moving object of one clip given as consecutive frames."""
    discoverer = ClipDiscoverer(params or DiscoveryParams(), clip_id)
    for frame in frames:
        discoverer.add(frame)
    return discoverer.finish()


def discover_clips(frames: Iterable[tuple[int, np.ndarray]],
                   params: Optional[DiscoveryParams] = None) -> Iterator[ClipDiscovery]:
    """Discovery per clip of a ``(clip_id, frame)`` stream (a source's ``iter_frames``)."""
    params = params or DiscoveryParams()
    flow = FlowEstimator(params)
    current: Optional[ClipDiscoverer] = None
    for clip_id, frame in frames:
        if current is not None and clip_id != current.clip_id:
            yield current.finish()
            current = None
        if current is None:
            current = ClipDiscoverer(params, clip_id, flow)
        current.add(frame)
    if current is not None:
        yield current.finish()


# ---------------------------------------------------------------------------------------------
# Per-source cache
# ---------------------------------------------------------------------------------------------

class DiscoveryCache:
    """Discoveries of whole sources on disk, one ``.npz`` per (source content, settings).

    Key: sha256 of the source's manifest (its files' sha256, and the topic of a bag), the
    settings and :data:`DISCOVERY_VERSION`; files are written with
    :func:`unsup_tracker.atomic_file.atomic_write` and read with ``allow_pickle=False``. A file
    that does not load or does not carry its key is recomputed (with a warning). Default
    folder: ``<cache>/discovery`` (``$UNSUP_TRACKER_CACHE`` or ``~/.cache/unsup_tracker``).
    """

    def __init__(self, folder: Optional[str | os.PathLike] = None):
        self.folder = Path(folder) if folder is not None else sample_cache_dir() / "discovery"

    @staticmethod
    def key(source, params: DiscoveryParams, frames: Optional[dict] = None) -> str:
        """Cache key; ``frames`` describes how frames were prepared (sampler's size, stride)."""
        entry = source.manifest_entry()
        identity = {"sha256": entry["sha256"], "size": entry["size"], "kind": entry["kind"],
                    "topic": entry.get("topic"), "params": params.to_dict(),
                    "frames": frames or {}, "version": DISCOVERY_VERSION}
        return hashlib.sha256(json.dumps(identity, sort_keys=True,
                                         default=list).encode()).hexdigest()

    def path(self, source, params: DiscoveryParams, frames: Optional[dict] = None) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in source.name)[:60]
        return self.folder / f"{safe}-{self.key(source, params, frames)[:20]}.npz"

    def load(self, source, params: DiscoveryParams,
             frames: Optional[dict] = None) -> Optional[list[ClipDiscovery]]:
        path = self.path(source, params, frames)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != self.key(source, params, frames):
                    raise ValueError("key mismatch")
                return [ClipDiscovery.from_arrays(data, f"c{k}_")
                        for k in range(int(data["num_clips"]))]
        except Exception as exc:  # a damaged or foreign file: recompute rather than fail
            LOG.warning("%s: cached discovery not usable (%s); recomputing", path, exc)
            return None

    def save(self, source, params: DiscoveryParams, clips: list[ClipDiscovery],
             frames: Optional[dict] = None) -> Path:
        path = self.path(source, params, frames)
        arrays: dict[str, np.ndarray] = {"key": np.asarray(self.key(source, params, frames)),
                                         "num_clips": np.asarray(len(clips))}
        for k, clip in enumerate(clips):
            arrays.update(clip.to_arrays(f"c{k}_"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as handle:
                np.savez_compressed(handle, **arrays)
        except OSError as exc:
            LOG.warning("could not cache the discovery of %s in %s: %s", source.path, path,
                        describe_os_error(exc, path))
        return path


def discover_source(source, params: Optional[DiscoveryParams] = None,
                    cache: Optional[DiscoveryCache] = None,
                    progress: Optional[Callable[[ClipDiscovery], None]] = None
                    ) -> list[ClipDiscovery]:
    """Discovery of every clip of a training source (cached when ``cache`` is given).

    ``source`` is a :class:`unsup_tracker_training.sources.Source` (open it with
    :func:`~unsup_tracker_training.sources.open_sources`, which refuses benchmark footage).
    Folders of unrelated stills have no motion to discover: ValueError.
    """
    params = params or DiscoveryParams()
    if source.kind == "stills":
        raise ValueError(f"{source.path}: a folder of unrelated stills has no motion to discover "
                         "(use --images-as sequence if it is one video's frames)")
    if cache is not None:
        cached = cache.load(source, params)
        if cached is not None:
            LOG.info("%s: discovery from the cache (%d clips)", source.path, len(cached))
            return cached
    clips = []
    for clip in discover_clips(source.iter_frames(1), params):
        clips.append(clip)
        if progress is not None:
            progress(clip)
    if cache is not None:
        cache.save(source, params, clips)
    return clips


def discover_sampler(sampler, params: Optional[DiscoveryParams] = None,
                     cache: Optional[DiscoveryCache] = None) -> list[ClipDiscovery]:
    """Discovery of every stored clip of a :class:`~unsup_tracker_training.sampler.FrameSampler`.

    This is how a recipe's data gets its moving objects: discovery runs on the frames the
    sampler keeps (downscaled to its ``max_side``, strided by its effective stride), so frame
    numbers and boxes are those of the frames the recipe samples: clip ``k`` of the result is
    ``sampler.clips[k]``, its frame ``j`` is ``sampler.frame_at(frame_offset + j)``, boxes are
    in that frame's pixels. Cached per source (key: the source's content, the settings, the
    sampler's ``max_side`` and stride). Single-frame clips (stills) get an empty discovery.
    """
    params = params or DiscoveryParams()
    frames_key = {"max_side": sampler.max_side or 0, "stride": sampler.effective_stride}
    starts = np.concatenate([[0], np.cumsum([len(c) for c in sampler.clips])])
    result: list[Optional[ClipDiscovery]] = [None] * len(sampler.clips)
    for source_index, source in enumerate(sampler.sources):
        indices = [k for k, s in enumerate(sampler.clip_source) if s == source_index]
        if not indices:
            continue
        clips = cache.load(source, params, frames_key) if cache is not None else None
        if clips is not None and [c.num_frames for c in clips] != [
                len(sampler.clips[k]) for k in indices]:
            LOG.warning("%s: cached discovery does not fit the loaded frames; recomputing",
                        source.path)
            clips = None
        if clips is None:
            flow = FlowEstimator(params)
            clips = []
            for k in indices:
                discoverer = ClipDiscoverer(params, k, flow)
                for frame in sampler.clips[k]:
                    discoverer.add(frame)
                clips.append(discoverer.finish())
            if cache is not None:
                cache.save(source, params, clips, frames_key)
        for k, clip in zip(indices, clips):
            clip.clip_id = k
            clip.frame_offset = int(starts[k])
            result[k] = clip
    return [clip for clip in result if clip is not None]
