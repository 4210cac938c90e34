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
"""Parts of anchor-free Siamese heads (Ocean / USOT style), shared by the methods that use them.

* :func:`roi_align`: bilinear RoI pooling of one box per feature map, plain torch
  (``grid_sample``), CPU and GPU alike. PrPool (USOT's choice) integrates the bilinear
  interpolant over each bin exactly; here each bin averages ``sampling`` x ``sampling``
  bilinear samples at the bin's sub-cell centres (roi_align with ``aligned=True``
  semantics, coordinates in feature cells with cell ``k`` centred at ``k``), which converges to
  PrPool's value as ``sampling`` grows. Samples outside the map read zeros beyond the border
  cells (``grid_sample`` zero padding), so a box hanging over the edge pools less energy.
* :class:`MultiScaleCorrelation`: Ocean's three-branch correlation: per branch a 3x3
  conv + BN + ReLU encoder for the template and one for the search, dilations (1, 1), (2, 1)
  and (1, 2), no padding, a depth-wise cross-correlation, and the three results fused with
  softmax weights over three learnable scalars. With a 7x7 template kernel every branch gives
  the same response side (search side - 6).
* :class:`Tower`: ``layers`` x (3x3 conv + BN + ReLU), padded, width kept.
* :func:`iou_loss`: UnitBox ``-ln((I + 1) / (U + 1))`` on (left, top, right, bottom) distances,
  averaged over the positive locations.
* :func:`ltrb_targets`: those distances from response locations to a box.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .correlation import xcorr_depthwise

#: Dilations (height, width) of the three correlation branches (Ocean).
BRANCH_DILATIONS = ((1, 1), (2, 1), (1, 2))


def roi_align(features: torch.Tensor, boxes: torch.Tensor, output_size: int = 7,
              sampling: int = 2) -> torch.Tensor:
    """Pool ``(N, C, H, W)`` maps at one box each, ``boxes`` ``(N, 4)`` x0, y0, x1, y1 in cells.

    Returns ``(N, C, output_size, output_size)``; see the module docstring for the sampling.
    """
    if features.dim() != 4 or boxes.shape != (features.shape[0], 4):
        raise ValueError(f"expected (N, C, H, W) features and (N, 4) boxes, got "
                         f"{tuple(features.shape)} and {tuple(boxes.shape)}")
    if features.shape[2] < 2 or features.shape[3] < 2:
        raise ValueError(f"feature maps must be at least 2x2, got {tuple(features.shape[2:])}")
    if output_size < 1 or sampling < 1:
        raise ValueError("output_size and sampling must be >= 1")
    height, width = features.shape[2], features.shape[3]
    boxes = boxes.to(features.dtype)
    steps = output_size * sampling
    # Fraction of the box at each sample: bin i, sub-sample s -> (i + (s + 0.5) / S) / out.
    fractions = (torch.arange(steps, dtype=features.dtype, device=features.device) + 0.5) / steps
    xs = boxes[:, 0:1] + fractions * (boxes[:, 2:3] - boxes[:, 0:1])       # (N, steps)
    ys = boxes[:, 1:2] + fractions * (boxes[:, 3:4] - boxes[:, 1:2])
    grid_x = (2.0 * xs / (width - 1) - 1.0)[:, None, :].expand(-1, steps, -1)
    grid_y = (2.0 * ys / (height - 1) - 1.0)[:, :, None].expand(-1, -1, steps)
    grid = torch.stack([grid_x, grid_y], dim=-1)
    samples = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True)
    return F.avg_pool2d(samples, sampling) if sampling > 1 else samples


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, dilation: Sequence[int] | int = 1,
                 padding: Sequence[int] | int = 0) -> nn.Sequential:
    """3x3 (or ``kernel``) conv without bias, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Tower(nn.Sequential):
    """``layers`` x (padded 3x3 conv + BN + ReLU) at constant width."""

    def __init__(self, channels: int, layers: int = 4):
        if layers < 0:
            raise ValueError(f"tower layers must be >= 0, got {layers}")
        super().__init__(*[conv_bn_relu(channels, channels, padding=1) for _ in range(layers)])


class MultiScaleCorrelation(nn.Module):
    """Ocean's three-branch depth-wise correlation (see the module docstring).

    Split into :meth:`encode_template`, :meth:`encode_search` and :meth:`correlate` so a
    tracker encodes a template once and a search once for several templates.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.template_encoders = nn.ModuleList(
            conv_bn_relu(channels, channels, dilation=d) for d in BRANCH_DILATIONS)
        self.search_encoders = nn.ModuleList(
            conv_bn_relu(channels, channels, dilation=d) for d in BRANCH_DILATIONS)
        self.branch_logits = nn.Parameter(torch.zeros(len(BRANCH_DILATIONS)))

    def encode_template(self, template: torch.Tensor) -> list[torch.Tensor]:
        return [encoder(template) for encoder in self.template_encoders]

    def encode_search(self, search: torch.Tensor) -> list[torch.Tensor]:
        return [encoder(search) for encoder in self.search_encoders]

    def correlate(self, kernels: list[torch.Tensor], searches: list[torch.Tensor]
                  ) -> torch.Tensor:
        """Fuse the branches' depth-wise correlations (kernels: one per search, or one)."""
        weights = torch.softmax(self.branch_logits, 0)
        out = None
        for weight, kernel, search in zip(weights, kernels, searches):
            response = weight * xcorr_depthwise(kernel, search)
            if out is not None and response.shape != out.shape:
                raise ValueError(f"branch responses differ in size: {tuple(out.shape)} vs "
                                 f"{tuple(response.shape)}; templates must be 7x7-like "
                                 f"(odd, >= 5)")
            out = response if out is None else out + response
        return out

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.correlate(self.encode_template(template), self.encode_search(search))


def ltrb_targets(locations: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Distances ``(N, 4, R, R)`` from locations to box sides (left, top, right, bottom).

    ``locations`` ``(R,)``: pixel coordinate of each response row / column (same on both axes);
    ``boxes`` ``(N, 4)``: x0, y0, x1, y1 in the same pixels.
    """
    xs = locations.view(1, 1, -1)
    ys = locations.view(1, -1, 1)
    left = xs - boxes[:, 0].view(-1, 1, 1)
    top = ys - boxes[:, 1].view(-1, 1, 1)
    right = boxes[:, 2].view(-1, 1, 1) - xs
    bottom = boxes[:, 3].view(-1, 1, 1) - ys
    size = (boxes.shape[0], locations.numel(), locations.numel())
    return torch.stack([left.expand(size), top.expand(size), right.expand(size),
                        bottom.expand(size)], 1)


def iou_loss(predicted: torch.Tensor, target: torch.Tensor,
             positive: torch.Tensor) -> torch.Tensor:
    """Average the UnitBox IoU loss ``-ln((I + 1) / (U + 1))`` over ``positive`` locations.

    ``predicted`` and ``target``: ``(N, 4, R, R)`` ltrb distances (predictions > 0);
    ``positive``: ``(N, R, R)`` bool. No positive location gives a zero loss (kept in the graph).
    """
    if predicted.shape != target.shape or predicted.shape[1] != 4:
        raise ValueError(f"predicted {tuple(predicted.shape)} vs target {tuple(target.shape)}")
    # Only positive locations enter (elsewhere the target distances may be negative).
    predicted = predicted.permute(0, 2, 3, 1)[positive]
    target = target.permute(0, 2, 3, 1)[positive]
    if not len(predicted):
        return predicted.sum() * 0.0
    pl, pt, pr, pb = predicted.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    predicted_area = (pl + pr) * (pt + pb)
    target_area = (tl + tr) * (tt + tb)
    intersection = (torch.minimum(pl, tl) + torch.minimum(pr, tr)) \
        * (torch.minimum(pt, tt) + torch.minimum(pb, tb))
    union = predicted_area + target_area - intersection
    return -torch.log((intersection + 1.0) / (union + 1.0)).mean()
