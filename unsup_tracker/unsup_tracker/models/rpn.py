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
"""Siamese RPN parts (SiamRPN / SiamMask style), shared by the methods that use anchors.

* :func:`anchor_shapes` / :func:`make_anchors`: SiamRPN's anchors. For ratio ``r`` (height /
  width) and base area ``stride ** 2``: ``ws = int(sqrt(stride ** 2 / r))``, ``hs = int(ws * r)``,
  the anchor is ``(ws * scale, hs * scale)`` (pysot's integer rounding kept: ratios 0.33, 0.5, 1,
  2, 3 at stride 8, scale 8 give 104x32, 88x40, 64x64, 40x80, 32x96 pixels), centred on every
  response location. Anchors are ``(k, R, R, 4)`` cx, cy, w, h in patch pixels, anchor-major
  as :func:`split_outputs` arranges the heads' channels.
* :func:`encode_boxes` / :func:`decode_boxes`: Eq. 3-4, ``t_x = (x - x_a) / w_a``,
  ``t_y = (y - y_a) / h_a``, ``t_w = log(w / w_a)``, ``t_h = log(h / h_a)``.
* :func:`size_penalty`: SiamRPN's penalty on changes of scale and aspect ratio.
* :func:`anchor_labels`: 1 where an anchor's IoU with the target exceeds ``positive_iou``
  (0.6), 0 below ``negative_iou`` (0.3), -1 (ignored) otherwise; at most ``max_positive`` (16)
  positives and ``total`` (64) labelled anchors, picked at random (SiamRPN's sampling).
* :class:`DepthCorr`: SiamMask's branch: 3x3 conv + BN + ReLU on the template and on the search
  (no padding), depth-wise cross-correlation, 1x1 conv + BN + ReLU (the branch's hidden
  features), 1x1 conv to the outputs.
* Losses: :func:`score_loss` (Eq. 6: the 2-way softmax cross entropy, half the mean over the
  positive and half over the negative anchors, as SiamRPN), :func:`box_loss` (Eq. 5: smooth L1
  over the four deltas, summed over them and averaged over the positive anchors),
  :func:`mask_loss` (Eq. 8, SiamMask: the logistic loss ``log(1 + exp(-c m))`` averaged over
  the ``w_m x h_m`` mask pixels of each positive position and then over the positive positions;
  the ``(1 + y_n) / 2`` weight of Eq. 8 keeps exactly the positives, which is all this function
  is given; Eq. 8 sums over them, the mean keeps the weight independent of their count).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .anchor_free import conv_bn_relu
from .correlation import xcorr_depthwise

#: SiamRPN / CycleSiam anchor ratios (height / width) and scale.
DEFAULT_RATIOS = (0.33, 0.5, 1.0, 2.0, 3.0)
DEFAULT_SCALES = (8.0,)


def anchor_shapes(stride: int, ratios: Sequence[float] = DEFAULT_RATIOS,
                  scales: Sequence[float] = DEFAULT_SCALES) -> np.ndarray:
    """Return ``(k, 2)`` anchor widths and heights in pixels (pysot's rounding)."""
    if stride < 1 or not ratios or not scales or min(ratios) <= 0 or min(scales) <= 0:
        raise ValueError("need stride >= 1 and positive ratios and scales")
    shapes = []
    for ratio in ratios:
        ws = int(math.sqrt(stride * stride / ratio))
        hs = int(ws * ratio)
        if ws < 1 or hs < 1:
            raise ValueError(f"ratio {ratio} gives an empty anchor at stride {stride}")
        for scale in scales:
            shapes.append((ws * scale, hs * scale))
    return np.asarray(shapes, dtype=np.float64)


def make_anchors(shapes: np.ndarray, locations: np.ndarray) -> torch.Tensor:
    """Anchors ``(k, R, R, 4)`` (cx, cy, w, h) at every ``locations`` ``(R,)`` row / column."""
    locations = np.asarray(locations, dtype=np.float64)
    side, count = len(locations), len(shapes)
    anchors = np.zeros((count, side, side, 4))
    anchors[..., 0] = locations[None, None, :]
    anchors[..., 1] = locations[None, :, None]
    anchors[..., 2] = shapes[:, 0, None, None]
    anchors[..., 3] = shapes[:, 1, None, None]
    return torch.from_numpy(anchors).float()


def split_outputs(cls: torch.Tensor, loc: torch.Tensor, anchors: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Heads' ``(N, 2k, R, R)`` / ``(N, 4k, R, R)`` outputs as ``(N, k, R, R, 2 | 4)``.

    pysot's channel layout: score channels ``[background x k, object x k]``, box channels
    ``[t_x x k, t_y x k, t_w x k, t_h x k]``.
    """
    batch, _, height, width = cls.shape
    if cls.shape[1] != 2 * anchors or loc.shape[1] != 4 * anchors:
        raise ValueError(f"{cls.shape[1]} score / {loc.shape[1]} box channels for {anchors} "
                         f"anchors")
    scores = cls.view(batch, 2, anchors, height, width).permute(0, 2, 3, 4, 1)
    deltas = loc.view(batch, 4, anchors, height, width).permute(0, 2, 3, 4, 1)
    return scores, deltas


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Eq. 3-4 deltas of cx, cy, w, h ``boxes`` against ``anchors`` (broadcast; last dim 4)."""
    return torch.stack([(boxes[..., 0] - anchors[..., 0]) / anchors[..., 2],
                        (boxes[..., 1] - anchors[..., 1]) / anchors[..., 3],
                        torch.log(boxes[..., 2] / anchors[..., 2]),
                        torch.log(boxes[..., 3] / anchors[..., 3])], -1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Invert :func:`encode_boxes`: cx, cy, w, h boxes (last dim 4)."""
    return torch.stack([deltas[..., 0] * anchors[..., 2] + anchors[..., 0],
                        deltas[..., 1] * anchors[..., 3] + anchors[..., 1],
                        torch.exp(deltas[..., 2]) * anchors[..., 2],
                        torch.exp(deltas[..., 3]) * anchors[..., 3]], -1)


#: Bound of a first-frame size calibration, log units (a factor of 1.65 either way).
MAX_SIZE_ERROR_LOG = 0.5


def size_error(predicted: np.ndarray, true_size) -> np.ndarray:
    """Width and height factors by which a box regression misjudged a target of known size.

    ``predicted``: ``(N, 2)`` widths and heights regressed for a target of ``true_size`` (w, h,
    same pixels), e.g. on the first frame and its flip; the geometric mean of the N errors,
    bounded to ``exp(+-MAX_SIZE_ERROR_LOG)``. Trackers divide later regressed sizes by it: a
    steady error of the head on one target would otherwise compound through the size update.
    """
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1, 2)
    logs = np.log(np.maximum(predicted, 1e-6) / np.asarray(true_size, dtype=np.float64))
    return np.exp(np.clip(logs.mean(0), -MAX_SIZE_ERROR_LOG, MAX_SIZE_ERROR_LOG))


def size_penalty(widths: np.ndarray, heights: np.ndarray, target_size, penalty_k: float
                 ) -> np.ndarray:
    """Penalise candidate sizes as SiamRPN does: ``exp(-(r_c s_c - 1) penalty_k)``.

    ``s_c``: change of the padded size ``sqrt((w + p)(h + p))``, ``p = (w + h) / 2``, from
    ``target_size`` (w, h, same pixels); ``r_c``: change of the aspect ratio; each change is
    ``max(r, 1 / r)``.
    """
    def change(ratio):
        return np.maximum(ratio, 1.0 / ratio)

    def padded(w, h):
        pad = (w + h) / 2.0
        return np.sqrt((w + pad) * (h + pad))

    scale_change = change(padded(widths, heights) / padded(*target_size))
    ratio_change = change((target_size[0] / target_size[1]) / (widths / heights))
    return np.exp(-(ratio_change * scale_change - 1.0) * penalty_k)


def iou_cxcywh(anchors: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Return the IoU of every cx, cy, w, h anchor (``(..., 4)``) with one such ``box``."""
    a0 = anchors[..., :2] - anchors[..., 2:] / 2
    a1 = anchors[..., :2] + anchors[..., 2:] / 2
    b0, b1 = box[:2] - box[2:] / 2, box[:2] + box[2:] / 2
    wh = (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = anchors[..., 2] * anchors[..., 3] + box[2] * box[3] - inter
    return inter / union.clamp(min=1e-12)


def anchor_labels(anchors: torch.Tensor, box: torch.Tensor, positive_iou: float = 0.6,
                  negative_iou: float = 0.3, max_positive: int = 16, total: int = 64,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels (same shape as ``anchors[..., 0]``): 1 object, 0 background, -1 ignored.

    See the module docstring; the random picks draw from ``generator`` (torch's global RNG
    when None).
    """
    if not 0.0 <= negative_iou <= positive_iou <= 1.0 or max_positive < 0 \
            or total < max_positive:
        raise ValueError("need 0 <= negative_iou <= positive_iou <= 1 and "
                         "0 <= max_positive <= total")
    iou = iou_cxcywh(anchors, box.to(anchors.dtype)).flatten()
    labels = torch.full_like(iou, -1.0)
    positive = torch.nonzero(iou > positive_iou).flatten()
    negative = torch.nonzero(iou < negative_iou).flatten()
    if len(positive) > max_positive:
        positive = positive[torch.randperm(len(positive), generator=generator)[:max_positive]]
    keep_negative = total - len(positive)
    if len(negative) > keep_negative:
        negative = negative[torch.randperm(len(negative), generator=generator)[:keep_negative]]
    labels[negative] = 0.0
    labels[positive] = 1.0
    return labels.view(anchors.shape[:-1])


def score_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``logits`` ``(..., 2)`` (background, object), ``labels`` in {1, 0, -1}.

    ``0.5 * mean CE over positives + 0.5 * mean CE over negatives`` (a side with no anchor
    contributes 0).
    """
    log_p = F.log_softmax(logits, -1)
    total = logits.sum() * 0.0
    for value, column in ((1.0, 1), (0.0, 0)):
        chosen = labels == value
        if chosen.any():
            total = total - 0.5 * log_p[..., column][chosen].mean()
    return total


def box_loss(deltas: torch.Tensor, targets: torch.Tensor, positive: torch.Tensor
             ) -> torch.Tensor:
    """Eq. 5: smooth L1 (beta 1) summed over the 4 deltas, mean over ``positive`` anchors."""
    if not positive.any():
        return deltas.sum() * 0.0
    diff = F.smooth_l1_loss(deltas[positive], targets[positive], reduction="none", beta=1.0)
    return diff.sum(-1).mean()


def mask_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 8 on the positive positions: ``logits``, ``labels`` ``(P, m, m)``, labels in {-1, 1}.

    ``mean_n mean_ij log(1 + exp(-c_n^ij m_n^ij))``; no position gives 0 (kept in the graph).
    """
    if logits.shape != labels.shape:
        raise ValueError(f"mask logits {tuple(logits.shape)} vs labels {tuple(labels.shape)}")
    if not len(logits):
        return logits.sum() * 0.0
    return F.softplus(-labels * logits).flatten(1).mean(1).mean()


class DepthCorr(nn.Module):
    """SiamMask's depth-wise correlation branch (see the module docstring)."""

    def __init__(self, channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.template_conv = conv_bn_relu(channels, hidden)
        self.search_conv = conv_bn_relu(channels, hidden)
        self.hidden = nn.Sequential(nn.Conv2d(hidden, hidden, 1, bias=False),
                                    nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(hidden, out_channels, 1)

    def encode_template(self, template: torch.Tensor) -> torch.Tensor:
        return self.template_conv(template)

    def features(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Hidden features ``(N, hidden, R, R)`` of an encoded template over raw search maps."""
        return self.hidden(xcorr_depthwise(kernel, self.search_conv(search)))

    def forward(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(kernel, search))
