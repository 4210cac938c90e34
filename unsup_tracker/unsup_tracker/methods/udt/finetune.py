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
"""UDT's first-frame fine-tuning hook: forward-backward DCF tracking on first-frame pairs.

The shared machinery (:mod:`unsup_tracker.finetune`) cuts template/search pairs from the first
frame around the init box with the tracker's own crop geometry (window = target x (1 +
padding), resized to ``input_size``; the search is the same window shifted and jittered). For
each pair this hook runs UDT's cycle with one search hop, T -> S -> T:

1. fit a DCF on the template features with the centred Gaussian label, respond on the search;
2. move the Gaussian to that response's peak (the pseudo label; no gradient through argmax),
   fit a DCF on the search features with it and respond on the template;
3. the loss is ``||R_T - Y_T||^2`` weighted per pixel by ``exp(Y_T)`` (UDT's code), averaged
   over the pairs.

Decisions: the pseudo label comes from the forward track, not from the known shift, so the
hook is the same self-supervised signal UDT trains with (the shift is known here, but using it
would be a different, supervised loss). Only conv2 is adapted, the last layer of DCFNet's
two; conv1 runs once per init in :meth:`UDTFinetune.precompute`. Features are cosine-windowed
and convolved with the tracking padding, exactly as the tracker computes them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...finetune import FinetuneHook
from ...models.dcf import response, shifted_label_spectrum, solve_alpha, spectrum
from ...pairs import PairGeometry, PairJitter
from .recipe import UDTRecipe


class UDTFinetune(FinetuneHook):
    """Adapts conv2 of a :class:`~.model.DCFNetFeatures` copy with the T -> S -> T cycle."""

    num_pairs = 8
    # Shifts up to ~10 % of the window: the range a DCF of this padding tracks reliably.
    jitter = PairJitter(max_shift=6.0, scale=0.03, aspect=0.03, rotation_deg=5.0,
                        brightness=0.05, contrast=0.1, saturation=0.1, gray_probability=0.0)

    def geometry(self, tracker) -> PairGeometry:
        params = tracker.params
        return PairGeometry(params.input_size, params.input_size, padding=params.padding,
                            search_factor=1.0)

    def trainable_parameters(self, tracker, model):
        return list(model.conv2.parameters())

    def precompute(self, tracker, model, batch):
        padding = tracker.params.conv_padding
        with torch.no_grad():
            def first_layer(patches: torch.Tensor) -> torch.Tensor:
                patches = patches.contiguous(memory_format=torch.channels_last)
                return F.relu(F.conv2d(patches - model.pixel_mean, model.conv1.weight,
                                       model.conv1.bias, padding=padding))
            return {"template_conv1": first_layer(batch["template"]),
                    "search_conv1": first_layer(batch["search"])}

    @staticmethod
    def _features(tracker, model, conv1_out: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(conv1_out, model.conv2.weight, model.conv2.bias,
                       padding=tracker.params.conv_padding)
        return (model.lrn(out) * tracker._window).contiguous()

    def loss(self, tracker, model, batch):
        params = tracker.params
        label = tracker._label
        size = label.shape[-1]
        label_spec = spectrum(label)
        template_spec = spectrum(self._features(tracker, model, batch["template_conv1"]))
        search_spec = spectrum(self._features(tracker, model, batch["search_conv1"]))
        with torch.no_grad():
            fixed_t, fixed_s = template_spec.detach(), search_spec.detach()
            alpha_t = solve_alpha(fixed_t, label_spec, params.dcf_lambda, size, size)
            forward = response(alpha_t, fixed_t, fixed_s, size, size)
            pseudo_spec = shifted_label_spectrum(label_spec, UDTRecipe._peak_shifts(forward),
                                                 size, size)
        alpha_s = solve_alpha(search_spec, pseudo_spec, params.dcf_lambda, size, size)
        backward = response(alpha_s, search_spec, template_spec, size, size)
        per_pair = ((backward - label).square() * torch.exp(label)).sum(dim=(1, 2))
        return per_pair.mean()
