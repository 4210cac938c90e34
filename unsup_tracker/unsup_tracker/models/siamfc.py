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
"""SiamFC: a backbone from :mod:`.backbones` and a cross-correlation head.

The one SiamFC network of the package (S2SiamFC and PUL train it differently; the tracker is
:mod:`.siamfc_tracker`). ``f(z, x) = out_scale * gain * (phi(z) * phi(x)) + bias``. The model
config's ``"backbone"`` picks the trunk: ``{"name": "scratch", ...}`` (the slim AlexNet below,
the default) or ``{"name": "efficientnet_lite0", ...}`` (ImageNet-initialised, padded; then
``template_cells`` = 8 keeps the central 8x8 of the 16x16 template map, which covers the target
with SiamFC's context, and ``out_scale`` = 1e-4: the ImageNet features' raw correlations on
opencv-doc photos have a spread of ~1e4, so that puts the first logits at a spread of ~1.5).
Before the backbone module the scratch keys ``channels`` and ``conv1_kernel`` were top-level
model-config keys; they are still accepted there and moved into ``"backbone"``.

Decisions for the scratch trunk:

Decisions (see ``bench/bench_siamfc_speed.py`` for the measurements behind them):

* Width. A full three-scale ``track()`` on 640x480 frames with one CPU thread
  (``bench/bench_siamfc_speed.py --variants``, opencv-doc box.mp4) takes 97 ms (10 FPS) with
  SiamFC's AlexNet (96-256-384-384-256 channels, 11x11 conv1), 30 ms (34 FPS) at half width and
  18 ms (55 FPS) with the default 32-96-128-128-96 and a 7x7 conv1; those figures already
  include folding batch norm into the convolutions and channels-last memory. Half width would
  leave no margin for a second process on a shared core, so the default is the slimmer one. A
  7x7 stride-2 conv1 keeps every feature size of the 11x11 layout (127 -> 6x6, 255 -> 22x22,
  17x17 responses, total stride 8) at 40% of its cost; conv1 dominates a slim network's time.
  ``channels`` and ``conv1_kernel`` are model-config keys, so the paper's layout is
  ``{"channels": [96, 256, 384, 384, 256], "conv1_kernel": 11}``.
* Layout otherwise as SiamFC v1: conv-BN-ReLU blocks, max-pool 3/2 after conv1 and conv2,
  two groups in conv2, conv4 and conv5, no padding (so the network is exactly translation
  equivariant on the stride-8 grid), conv5 without BN and ReLU.
* Input: BGR float patches in 0..255, normalised inside the network by fixed per-channel
  constants, so trackers and recipes feed raw crops.
* Output adjustment: a constant ``out_scale`` times a learned gain (initialised at 1) plus a
  learned bias. A directly learned scale would receive gradients of the order of the
  correlation itself (hundreds) and jump by orders of magnitude in one SGD step; the gain is
  the same degree of freedom at a sane scale. SiamFC's constant is 0.001, tuned for its 256
  wide channels; with the slim default network it leaves the initial logits near 0 and the
  first steps learn mostly the scale. Measured on 60 S2SiamFC steps (batch 8, opencv-doc
  photos, seed 0, no masking or negatives; unweighted loss, mean of the first vs the last 15
  steps): 0.001 -> 0.683 to 0.650, 0.005 -> 0.702 to 0.543, 0.01 -> 0.808 to 0.514,
  0.02 -> 1.103 to 0.535, 0.05 -> 1.968 to 0.636. The default is 0.01; ``out_scale`` is a
  model-config key.
* Inference: :meth:`SiamFC.inference_copy` folds the input normalisation and the batch norms into
  the convolutions and uses channels-last memory (about 2x faster on this CPU, same outputs to
  float rounding). Trackers make that copy once per target, after optional fine-tuning.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import AlexNetBackbone, backbone_config, build_backbone  # noqa: F401
from .correlation import xcorr

DEFAULT_SIAMFC_CONFIG: dict[str, Any] = {
    "backbone": {"name": "scratch"},
    "exemplar_size": 127,
    "instance_size": 255,
    "out_scale": 0.01,
    "template_cells": 0,
}

#: Keys of the scratch backbone that model configs before :mod:`.backbones` held at top level;
#: still accepted (moved into ``"backbone"``) so old checkpoints and commands keep working.
LEGACY_BACKBONE_KEYS = ("channels", "conv1_kernel")


class XCorrHead(nn.Module):
    """``out_scale * gain * xcorr(z, x) + bias`` (see the module docstring for the gain)."""

    def __init__(self, out_scale: float = 0.01):
        super().__init__()
        self.out_scale = float(out_scale)
        self.gain = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, template_features: torch.Tensor,
                search_features: torch.Tensor) -> torch.Tensor:
        return xcorr(template_features, search_features) * (self.out_scale * self.gain) + self.bias


def siamfc_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """Fill a SiamFC model config's defaults (backbone's too); unknown keys are refused.

    Legacy top-level ``channels`` / ``conv1_kernel`` move into a scratch backbone's config.
    """
    unknown = sorted(set(model_config) - set(DEFAULT_SIAMFC_CONFIG) - set(LEGACY_BACKBONE_KEYS))
    if unknown:
        raise ValueError(f"unknown SiamFC model_config key(s) {unknown}; "
                         f"valid: {sorted(DEFAULT_SIAMFC_CONFIG)}")
    config = {**copy.deepcopy(DEFAULT_SIAMFC_CONFIG), **copy.deepcopy(dict(model_config))}
    if not isinstance(config["backbone"], dict):
        raise ValueError(f"backbone must be a dict like {{'name': 'scratch'}}, "
                         f"got {config['backbone']!r}")
    legacy = {key: config.pop(key) for key in LEGACY_BACKBONE_KEYS if key in config}
    if legacy:
        if config["backbone"].get("name", "scratch") != "scratch":
            raise ValueError(f"{sorted(legacy)} configure the scratch backbone, not "
                             f"{config['backbone']['name']!r}")
        config["backbone"] = {**config["backbone"], **legacy}
    config["backbone"] = backbone_config(config["backbone"])
    return config


def pair_sizes(model_config: dict[str, Any]) -> tuple[int, int, int]:
    """(template side, search side, response side) of a SiamFC model config (defaults filled)."""
    config = siamfc_config(model_config)
    template, search = int(config["exemplar_size"]), int(config["instance_size"])
    backbone = config["backbone"]
    if backbone["name"] == "scratch":
        cells = feature_size(template, int(backbone["conv1_kernel"]))
        search_cells = feature_size(search, int(backbone["conv1_kernel"]))
    else:
        cells, search_cells = math.ceil(template / 8), math.ceil(search / 8)
    cells = int(config["template_cells"]) or cells
    return template, search, search_cells - cells + 1


def feature_size(input_size: int, conv1_kernel: int = 7) -> int:
    """Side of the scratch backbone's output for a square input (no padding anywhere)."""
    size = (input_size - conv1_kernel) // 2 + 1     # conv1, stride 2
    size = (size - 3) // 2 + 1                      # pool1
    size = size - 4                                 # conv2 5x5
    size = (size - 3) // 2 + 1                      # pool2
    return size - 6                                 # conv3, conv4, conv5 (3x3 each)


class SiamFC(nn.Module):
    """Backbone + cross-correlation head; ``forward(template, search) -> logits (N, 1, R, R)``.

    ``template_cells`` > 0 keeps only the central ``template_cells`` x ``template_cells`` window
    of the template's feature map (needed with a padded backbone, whose 127 px template map is
    16x16; 0 keeps it whole, SiamFC's unpadded layout).
    """

    def __init__(self, backbone: dict[str, Any] | None = None, exemplar_size: int = 127,
                 instance_size: int = 255, out_scale: float = 0.01, template_cells: int = 0):
        super().__init__()
        self.backbone: nn.Module = build_backbone(backbone)
        self.head = XCorrHead(out_scale)
        self.exemplar_size = int(exemplar_size)
        self.instance_size = int(instance_size)
        self.total_stride = self.backbone.out_stride
        full_template = self.backbone.feature_size(self.exemplar_size)
        self.search_feature_size = self.backbone.feature_size(self.instance_size)
        self.template_cells = int(template_cells)
        if self.template_cells < 0 or self.template_cells > full_template \
                or (self.template_cells and (full_template - self.template_cells) % 2):
            raise ValueError(f"template_cells must be 0 or a window of the {full_template}-cell "
                             f"template map with an even margin, got {template_cells}")
        self.template_feature_size = self.template_cells or full_template
        if self.template_feature_size < 1 or self.search_feature_size < self.template_feature_size:
            raise ValueError(f"exemplar_size {exemplar_size} / instance_size {instance_size} "
                             f"give feature maps {self.template_feature_size} / "
                             f"{self.search_feature_size}; the search must be the larger")
        self._template_margin = (full_template - self.template_feature_size) // 2
        #: Side of the response map (17 for 127/255 scratch).
        self.response_size = self.search_feature_size - self.template_feature_size + 1

    def response_size_for(self, instance_size: int) -> int:
        """Return the response side for search patches of ``instance_size`` (ValueError: none)."""
        cells = self.backbone.feature_size(int(instance_size))
        if cells < self.template_feature_size:
            raise ValueError(f"instance_size {instance_size} gives a {cells}-cell search map, "
                             f"smaller than the {self.template_feature_size}-cell template")
        return cells - self.template_feature_size + 1

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        return self.backbone(patches)

    def crop_template(self, features: torch.Tensor) -> torch.Tensor:
        """Return the central ``template_cells`` window of template features (all for 0)."""
        margin = self._template_margin
        if not margin:
            return features
        return features[:, :, margin:features.shape[2] - margin,
                        margin:features.shape[3] - margin]

    def template_features(self, patches: torch.Tensor) -> torch.Tensor:
        """Correlation kernel of template patches: their cropped features."""
        return self.crop_template(self.features(patches))

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.head(self.template_features(template), self.features(search))

    def last_layers(self) -> list[nn.Parameter]:
        """Parameters of the backbone's last layer and the head (first-frame fine-tuning)."""
        return list(self.backbone.tail().parameters()) + list(self.head.parameters())

    def weights_record(self) -> dict[str, str] | None:
        """Return the backbone's pre-trained weights file (name, sha256); None for scratch."""
        return self.backbone.weights_record()

    def inference_copy(self) -> "SiamFC":
        """Eval-mode copy with a fused, channels-last backbone (outputs equal to rounding)."""
        return inference_copy(self)


def inference_copy(model: nn.Module) -> nn.Module:
    """Eval copy of a network with a ``backbone`` (fused, channels-last) and frozen parameters.

    Shared by the Siamese networks (SiamFC here, USOT's): everything but the backbone is deep
    copied, the backbone is replaced by its :meth:`fused` copy.
    """
    device = next(model.parameters()).device
    backbone = model.backbone
    try:
        model.backbone = nn.Identity()
        clone = copy.deepcopy(model)
    finally:
        model.backbone = backbone
    clone.backbone = backbone.fused().to(device=device, memory_format=torch.channels_last)
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
    return clone.eval()


def build_siamfc(model_config: dict[str, Any]) -> SiamFC:
    """Network from a checkpoint's ``model_config`` (unknown keys are refused)."""
    return SiamFC(**siamfc_config(model_config))


def label_maps(response_size: int, offsets: torch.Tensor, radius: float,
               positive: torch.Tensor | None = None) -> torch.Tensor:
    """Make SiamFC labels ``(N, 1, R, R)``: 1 within ``radius`` cells of each target, else 0.

    ``offsets`` ``(N, 2)`` are the targets' (dx, dy) from the map centre in response cells;
    samples with ``positive`` False (negative pairs) get all-zero maps.
    """
    coords = torch.arange(response_size, dtype=torch.float32, device=offsets.device)
    coords = coords - (response_size - 1) / 2.0
    dx = coords.view(1, 1, -1) - offsets[:, 0].view(-1, 1, 1).float()
    dy = coords.view(1, -1, 1) - offsets[:, 1].view(-1, 1, 1).float()
    labels = ((dx * dx + dy * dy) <= radius * radius).float()
    if positive is not None:
        labels = labels * positive.view(-1, 1, 1).float()
    return labels.unsqueeze(1)


def balanced_logistic_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample SiamFC loss ``(N,)``: positives and negatives each weigh one half.

    ``sum_x w(x) * BCE(logit(x), label(x))`` with ``w = 0.5 / #pos`` on positives and
    ``0.5 / #neg`` on negatives; a map without positives (a negative pair) or without negatives
    averages its cells with weight ``1 / #cells``.
    """
    if logits.shape != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} vs labels {tuple(labels.shape)}")
    flat_logits = logits.reshape(logits.shape[0], -1)
    flat_labels = labels.reshape(labels.shape[0], -1).to(flat_logits.dtype)
    num_pos = flat_labels.sum(1, keepdim=True)
    num_neg = flat_labels.shape[1] - num_pos
    both = (num_pos > 0) & (num_neg > 0)
    pos_weight = torch.where(both, 0.5 / num_pos.clamp(min=1), 1.0 / flat_labels.shape[1])
    neg_weight = torch.where(both, 0.5 / num_neg.clamp(min=1), 1.0 / flat_labels.shape[1])
    weights = flat_labels * pos_weight + (1 - flat_labels) * neg_weight
    bce = F.binary_cross_entropy_with_logits(flat_logits, flat_labels, reduction="none")
    return (weights * bce).sum(1)
