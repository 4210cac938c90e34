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
"""Cross-correlation of template features over search features, batched as grouped convolutions.

Shared by the Siamese methods: SiamFC-style trackers use :func:`xcorr` (one response channel per
pair), RPN/anchor-free heads use :func:`xcorr_depthwise` (one response channel per feature
channel). Both accept one template for many searches (a scale pyramid) or one template per
search (a training batch).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(template: torch.Tensor, search: torch.Tensor) -> None:
    if template.dim() != 4 or search.dim() != 4:
        raise ValueError(f"expected 4-D feature maps, got {tuple(template.shape)} and "
                         f"{tuple(search.shape)}")
    if template.shape[1] != search.shape[1]:
        raise ValueError(f"channel mismatch: template {template.shape[1]}, "
                         f"search {search.shape[1]}")
    if template.shape[0] not in (1, search.shape[0]):
        raise ValueError(f"{template.shape[0]} templates for {search.shape[0]} searches; "
                         f"give one template or one per search")
    if template.shape[2] > search.shape[2] or template.shape[3] > search.shape[3]:
        raise ValueError(f"template {tuple(template.shape[2:])} larger than search "
                         f"{tuple(search.shape[2:])}")


def xcorr(template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
    """Full cross-correlation: ``(N|1, C, h, w)`` over ``(N, C, H, W)`` -> ``(N, 1, H-h+1, ...)``.

    Sums over channels, as SiamFC's ``phi(z) * phi(x)``.
    """
    _check(template, search)
    batch, channels, height, width = search.shape
    if template.shape[0] == 1:
        # One kernel for every search image: a plain convolution, no grouping needed.
        return F.conv2d(search, template)
    out = F.conv2d(search.reshape(1, batch * channels, height, width), template, groups=batch)
    return out.reshape(batch, 1, out.shape[2], out.shape[3])


def xcorr_depthwise(template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
    """Channel-wise cross-correlation: -> ``(N, C, H-h+1, W-w+1)`` (SiamRPN++/SiamMask style)."""
    _check(template, search)
    batch, channels, height, width = search.shape
    kernel = template.expand(batch, -1, -1, -1) if template.shape[0] == 1 else template
    kernel = kernel.reshape(batch * channels, 1, template.shape[2], template.shape[3])
    out = F.conv2d(search.reshape(1, batch * channels, height, width), kernel,
                   groups=batch * channels)
    return out.reshape(batch, channels, out.shape[2], out.shape[3])
