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
"""USOT's network (Zheng et al., ICCV 2021; DIGEST 2.1) on the shared Lite0 backbone.

RoI-pooled template, multi-scale correlation, anchor-free cls / reg heads and the memory branch.

``model_config`` keys (:data:`DEFAULT_USOT_CONFIG`, unknown keys refused): ``backbone``,
``exemplar_size``, ``instance_size``, ``channels``, ``tower_layers``, ``roi_size``,
``roi_sampling``.

Decisions (the paper's ResNet-50 at 1024 channels cannot run at 30 Hz on this CPU,
/work/shared/measured_building_blocks.md):

* Backbone: EfficientNet-Lite0 cut after stage 3 (stride 8, 40 channels; ImageNet-initialised,
  i.e. the paper's USOT* variant, stem and stages 1-2 frozen), not stage 5: stage 3 already has
  USOT's total stride 8 without dilation or upsampling, and is the cheaper of the two on a 255
  crop (20.0 vs 30.9 ms dilated, measured figures in the costs file). Only Lite0 is accepted: the
  pixel position of a feature cell (``8 k + 6``, see :mod:`unsup_tracker.models.backbones`) is
  what maps boxes to cells and cells to boxes. The neck is a 1x1 conv + BN to ``channels``.
* Widths: ``channels`` = 32 for the neck, encoders, towers and memory generators (USOT: 256),
  4-layer towers as in the paper. Head cost grows with channels squared (figures below).
* Sizes: template 127 (16x16 map), search ``instance_size`` = 223 (28x28 map) by default, a
  smaller search than USOT's 255 to fit 30 Hz with the memory branch. The 7x7 pooled template
  gives 5x5 / 3x5 / 5x3 kernels after the three encoders, the search 26x26 / 24x26 / 26x24
  maps, so every branch's response is 22x22 (USOT: 25x25 at 255 / 31x31).
* Measured (``bench/bench_siamfc_speed.py --usot --frames 60 --threads 1``, opencv-doc box.mp4,
  640x480, fresh weights, on the shared machine at a load average of ~15, so read the process
  CPU time per ``track()``, and as relative figures): 223 search / 32 channels / memory on
  26.9 ms; memory off 18.8 ms; 255 search 33.8 ms; 64 channels 40.0 ms; s2siamfc in the same
  run 28.4 ms (18 ms wall on an idle machine). Hence 223 / 32 with the memory on by default;
  re-measure on an idle machine before quoting an FPS.
* Response cell ``j`` sits on search-patch pixel ``8 (j + 3) + 6`` (the encoders and the
  correlation shrink the map by 3 cells per side).
* Regression, relative to a reference size (our change; USOT predicts ``exp(0.1 conv(x) +
  bias)`` pixels): the ltrb distances are ``exp(adjust * conv(x) + bias) * (w, h, w, h) / 2``
  for a reference box ``w x h`` in search-patch pixels, adjust 0.1 (USOT's), bias 0, so an
  untrained head predicts the reference box around every location. The reference is the
  template's box in the template patch, in training and tracking alike (template and search
  patches have the same pixels per image pixel, so in training it is the target's size before
  the search crop's scale jitter; in tracking the search crop follows the current estimate, so
  a target that kept its share of the crop is predicted at the reference size and the image
  size follows the crop). A first version gave tracking the current estimate as reference:
  the head's small bias then compounded frame by frame (dev01, 100 naive steps: the box grew
  to 3x its height in 48 frames, mean IoU 0.43).
  Why: with USOT's absolute pixels the head must read the target's size and aspect ratio off
  the correlation, which our budget (hundreds of steps, not USOT's ~30,000) does not teach:
  150-step runs gave boxes that grew (bias 1.0) or shrank (bias ln 4) every frame, devbench AUC
  14.0 / 15.0 against 24.7 for a box that never moves; with ``size_lr`` 0 and no memory the
  same checkpoints followed dev01's first 60 frames at 52.8% / 57.5% mean IoU (20.5% / 16.0%
  with the defaults). Figures of the referenced head: the shipped model card.
* Cls output ``0.1 * conv(x)`` (USOT); the memory output likewise.
* Memory branch: memory kernels go through the cls branch's correlation (shared weights); the
  confidence and value generators are 3x3 conv + BN + ReLU each (same size as the correlation,
  so the Eq. 8 softmax is per element and channel); confidences are clamped to [-6, 4] before
  the softmax over the memories (USOT's code); then the branch's own tower and a 3x3 conv to
  one channel.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ...models.anchor_free import MultiScaleCorrelation, Tower, conv_bn_relu, roi_align
from ...models.backbones import backbone_config, build_backbone
from ...models.siamfc import inference_copy

DEFAULT_USOT_CONFIG: dict[str, Any] = {
    "backbone": {"name": "efficientnet_lite0", "stages": 3, "frozen_stages": 2,
                 "out_stride": 8},
    "exemplar_size": 127,
    "instance_size": 223,
    "channels": 32,
    "tower_layers": 4,
    "roi_size": 7,
    "roi_sampling": 2,
}

#: Pixel of a Lite0 stride-8 patch on which feature cell 0 is centred (cell k: 8 k + 6).
CELL_OFFSET = 6.0
#: Cells the encoders (1) and a 5-wide correlation kernel (2) remove on each side.
RESPONSE_MARGIN = 3
#: Clamp of the memory confidences before the softmax of Eq. 8 (USOT's code).
CONFIDENCE_CLAMP = (-6.0, 4.0)


def memory_fusion(confidence: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``sum_u softmax_u(clamp(conf_u)) * val_u`` for ``(N, U, C, H, W)`` maps."""
    if confidence.shape != value.shape or confidence.dim() != 5:
        raise ValueError(f"confidence {tuple(confidence.shape)} and value "
                         f"{tuple(value.shape)} must both be (N, U, C, H, W)")
    weights = torch.softmax(confidence.clamp(*CONFIDENCE_CLAMP), dim=1)
    return (weights * value).sum(1)


def box_sizes(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` widths and heights of ``(N, 4)`` x0, y0, x1, y1 boxes."""
    return boxes[:, 2:] - boxes[:, :2]


def usot_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """Fill a USOT model config's defaults; unknown keys and bad values are refused."""
    unknown = sorted(set(model_config) - set(DEFAULT_USOT_CONFIG))
    if unknown:
        raise ValueError(f"unknown USOT model_config key(s) {unknown}; "
                         f"valid: {sorted(DEFAULT_USOT_CONFIG)}")
    config = {**copy.deepcopy(DEFAULT_USOT_CONFIG), **copy.deepcopy(dict(model_config))}
    if not isinstance(config["backbone"], dict):
        raise ValueError(f"backbone must be a dict, got {config['backbone']!r}")
    config["backbone"] = backbone_config(config["backbone"])
    if config["backbone"]["name"] != "efficientnet_lite0" or \
            config["backbone"]["out_stride"] != 8:
        raise ValueError("USOT needs the efficientnet_lite0 backbone at out_stride 8 (its cell "
                         "geometry maps boxes to cells)")
    for key in ("exemplar_size", "instance_size", "channels", "tower_layers", "roi_size",
                "roi_sampling"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an int, got {value!r}")
    for key in ("exemplar_size", "instance_size"):
        if config[key] % 8 != 7 or config[key] < 63:
            raise ValueError(f"{key} must be 8 m + 7 and >= 63 (127, 223, 255, ...), "
                             f"got {config[key]}")
    if config["channels"] < 1 or config["tower_layers"] < 0 or config["roi_sampling"] < 1:
        raise ValueError("channels and roi_sampling must be >= 1, tower_layers >= 0")
    if config["roi_size"] < 5 or config["roi_size"] % 2 == 0:
        raise ValueError(f"roi_size must be odd and >= 5, got {config['roi_size']}")
    return config


class USOTNet(nn.Module):
    """See the module docstring. Boxes are ``(N, 4)`` x0, y0, x1, y1 in patch pixels."""

    def __init__(self, backbone: dict[str, Any] | None = None, exemplar_size: int = 127,
                 instance_size: int = 223, channels: int = 32, tower_layers: int = 4,
                 roi_size: int = 7, roi_sampling: int = 2):
        super().__init__()
        self.backbone = build_backbone(backbone or DEFAULT_USOT_CONFIG["backbone"])
        self.stride = int(self.backbone.out_stride)
        self.exemplar_size, self.instance_size = int(exemplar_size), int(instance_size)
        self.roi_size, self.roi_sampling = int(roi_size), int(roi_sampling)
        self.neck = nn.Sequential(nn.Conv2d(self.backbone.out_channels, channels, 1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.cls_corr = MultiScaleCorrelation(channels)
        self.reg_corr = MultiScaleCorrelation(channels)
        self.cls_tower = Tower(channels, tower_layers)
        self.reg_tower = Tower(channels, tower_layers)
        self.cls_out = nn.Conv2d(channels, 1, 3, padding=1)
        self.reg_out = nn.Conv2d(channels, 4, 3, padding=1)
        self.reg_adjust = nn.Parameter(torch.full((1,), 0.1))
        self.reg_bias = nn.Parameter(torch.zeros(1, 4, 1, 1))
        self.memory_confidence = conv_bn_relu(channels, channels, padding=1)
        self.memory_value = conv_bn_relu(channels, channels, padding=1)
        self.memory_tower = Tower(channels, tower_layers)
        self.memory_out = nn.Conv2d(channels, 1, 3, padding=1)
        if self.response_size(self.instance_size) < 1:
            raise ValueError(f"instance_size {instance_size} gives no response")

    # -- geometry -----------------------------------------------------------------------------
    def response_size(self, patch_side: int) -> int:
        """Side of the response for a search patch of ``patch_side`` pixels."""
        if patch_side % 8 != 7:
            raise ValueError(f"patch sides must be 8 m + 7 (127, 223, ...), got {patch_side}")
        return math.ceil(patch_side / self.stride) - self.roi_size + 1

    def locations(self, patch_side: int) -> torch.Tensor:
        """Patch pixel of each response row / column for a search patch of ``patch_side``."""
        cells = torch.arange(self.response_size(patch_side), dtype=torch.float32)
        return self.stride * (cells + (self.roi_size - 1) // 2) + CELL_OFFSET

    def to_cells(self, boxes: torch.Tensor) -> torch.Tensor:
        """Patch-pixel boxes to feature-cell coordinates."""
        return (boxes - CELL_OFFSET) / self.stride

    # -- pieces -------------------------------------------------------------------------------
    def features(self, patches: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(patches))

    def pool(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """RoI-pool ``(N, C, roi, roi)`` kernels from neck features at patch-pixel boxes."""
        return roi_align(features, self.to_cells(boxes), self.roi_size, self.roi_sampling)

    def encode_template(self, kernel: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        return {"cls": self.cls_corr.encode_template(kernel),
                "reg": self.reg_corr.encode_template(kernel)}

    def encode_search(self, features: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        return {"cls": self.cls_corr.encode_search(features),
                "reg": self.reg_corr.encode_search(features)}

    def offline_heads(self, template: dict[str, list[torch.Tensor]],
                      search: dict[str, list[torch.Tensor]], sizes: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cls logits ``(N, 1, R, R)`` and ltrb distances ``(N, 4, R, R)`` in patch pixels.

        ``sizes`` ``(N, 2)`` or ``(1, 2)``: the reference box ``w, h`` (search-patch pixels) the
        distances are relative to (module docstring).
        """
        if sizes.dim() != 2 or sizes.shape[1] != 2:
            raise ValueError(f"sizes must be (N, 2) w, h, got {tuple(sizes.shape)}")
        cls = self.cls_corr.correlate(template["cls"], search["cls"])
        cls = 0.1 * self.cls_out(self.cls_tower(cls))
        reg = self.reg_out(self.reg_tower(self.reg_corr.correlate(template["reg"], search["reg"])))
        half = (sizes.to(reg.dtype) / 2).repeat(1, 2)[:, :, None, None]
        return cls, half * torch.exp(self.reg_adjust * reg + self.reg_bias)

    def encode_memory(self, kernels: torch.Tensor) -> list[torch.Tensor]:
        """Encode ``(M, C, roi, roi)`` memory kernels with the cls branch's encoders."""
        return self.cls_corr.encode_template(kernels)

    def memory_head(self, memory: list[torch.Tensor], search_cls: list[torch.Tensor],
                    num_memories: int) -> torch.Tensor:
        """R_mem logits ``(N, 1, R, R)``: ``num_memories`` encoded memories per search, Eq. 8.

        ``memory``: :meth:`encode_memory` of ``N * num_memories`` kernels (search-major);
        ``search_cls``: the cls encodings of the N searches.
        """
        batch = search_cls[0].shape[0]
        if memory[0].shape[0] != batch * num_memories:
            raise ValueError(f"{memory[0].shape[0]} memory kernels for {batch} searches x "
                             f"{num_memories} memories")
        searches = [s.repeat_interleave(num_memories, 0) if num_memories > 1 else s
                    for s in search_cls]
        correlation = self.cls_corr.correlate(memory, searches)
        shape = (batch, num_memories) + tuple(correlation.shape[1:])
        confidence = self.memory_confidence(correlation).reshape(shape)
        value = self.memory_value(correlation).reshape(shape)
        return 0.1 * self.memory_out(self.memory_tower(memory_fusion(confidence, value)))

    def forward(self, template: torch.Tensor, template_boxes: torch.Tensor,
                search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Offline branch on template/search patches (training stage 1)."""
        kernel = self.pool(self.features(template), template_boxes)
        return self.offline_heads(self.encode_template(kernel),
                                  self.encode_search(self.features(search)),
                                  box_sizes(template_boxes))

    # -- tracking helpers ---------------------------------------------------------------------
    def last_layers(self) -> list[nn.Parameter]:
        """Parameters first-frame fine-tuning adapts: the backbone's last block and outputs."""
        params = list(self.backbone.tail().parameters())
        for module in (self.cls_out, self.reg_out, self.memory_out):
            params += list(module.parameters())
        return params + [self.reg_adjust, self.reg_bias]

    def weights_record(self) -> dict[str, str] | None:
        return self.backbone.weights_record()

    def inference_copy(self) -> "USOTNet":
        """Eval copy with a fused, channels-last backbone (outputs equal to rounding)."""
        return inference_copy(self)


def build_usot(model_config: dict[str, Any]) -> USOTNet:
    """Network from a checkpoint's ``model_config`` (unknown keys are refused)."""
    return USOTNet(**usot_config(model_config))
