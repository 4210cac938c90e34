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
"""DCFNet feature extractor used by UDT: conv3x3 3->32, ReLU, conv3x3 32->32, LRN.

Decisions (paper silent, DIGEST section 1.1 [code]):

* stride 1, ReLU after conv1 only, LRN(5, alpha=1e-4, beta=0.75, k=1) in PyTorch's convention
  (MatConvNet's ``[5 1 0.0001/5 0.75]``);
* the convolutions' zero padding is a forward argument, not part of the weights: the recipe
  trains with padding 0 (a 125 crop gives a 121 map, no zero-padding artefacts in the loss) and
  the tracker runs with padding 1, so the response has the crop's size, as UDT's deploy code does;
* input is a BGR float image in 0..255; the network subtracts the ImageNet mean colour itself, so
  tracker and recipe feed raw patches. Channel order does not matter for a model trained from
  scratch, only consistency does.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...models.lrn import FastLocalResponseNorm

DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "channels": 32,
    "lrn_size": 5,
    "lrn_alpha": 1e-4,
    "lrn_beta": 0.75,
    "lrn_k": 1.0,
}

#: ImageNet mean colour in BGR order, as UDT's [123, 117, 104] RGB.
PIXEL_MEAN_BGR = (104.0, 117.0, 123.0)


class DCFNetFeatures(nn.Module):
    """Two 3x3 convolutions and an LRN; ``forward(patches, padding)``."""

    def __init__(self, channels: int = 32, lrn_size: int = 5, lrn_alpha: float = 1e-4,
                 lrn_beta: float = 0.75, lrn_k: float = 1.0):
        super().__init__()
        self.channels = int(channels)
        self.conv1 = nn.Conv2d(3, self.channels, 3)
        self.conv2 = nn.Conv2d(self.channels, self.channels, 3)
        self.lrn = FastLocalResponseNorm(self.channels, lrn_size, lrn_alpha, lrn_beta, lrn_k)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN_BGR).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, patches: torch.Tensor, padding: int = 1) -> torch.Tensor:
        """Features ``(N, C, H - 4 + 4 * padding, ...)`` of BGR 0..255 patches ``(N, 3, H, W)``."""
        x = patches - self.pixel_mean
        x = F.relu(F.conv2d(x, self.conv1.weight, self.conv1.bias, padding=padding), inplace=True)
        x = F.conv2d(x, self.conv2.weight, self.conv2.bias, padding=padding)
        return self.lrn(x)


def build_udt_model(model_config: dict[str, Any]) -> DCFNetFeatures:
    """Network from a checkpoint's ``model_config`` (unknown keys are refused)."""
    unknown = sorted(set(model_config) - set(DEFAULT_MODEL_CONFIG))
    if unknown:
        raise ValueError(f"unknown UDT model_config key(s) {unknown}; "
                         f"valid: {sorted(DEFAULT_MODEL_CONFIG)}")
    return DCFNetFeatures(**{**DEFAULT_MODEL_CONFIG, **model_config})
