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
"""PUL's losses: the contrastive InfoNCE loss (Eq. 4) and a bounded noise-robust loss (Eq. 16).

InfoNCE (NT-Xent). Two views of each of N instances give 2N embeddings; each one's positive is
the other view of its instance, every other embedding of the batch is a negative:
``L(i, j) = -log(exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau))``, averaged over all 2N anchors,
with ``s`` the dot product of L2-normalised embeddings (the paper does not say whether it
normalises; with tau = 0.5 on unnormalised features the loss would depend on the feature scale
only). tau = 0.5 as in the paper.

Noise-robust loss. The mined target centre ``y~`` is the true centre minus Gaussian noise
``eps ~ N(0, alpha I)`` (alpha in response-map cells squared; the paper gives no unit). With
label maps ``m_eps(x) = [|x - (y~ + eps)| <= R]`` (Euclidean distance, as SiamFC; the printed
L1 norm is read as a typo) and ``g(eps) = log p(m_eps | f)``, the paper approximates
``log E[exp g]`` by ``log(1 + E[g] + E[g^2] / 2)``, drops the log and minimises
``L = -E[g] - E[g^2] / 2`` (Eq. 16, with ``E[g]`` from the mean map and ``E[g^2]`` from the
second-moment matrix V).

As printed that loss is unbounded below: ``g`` sums log-probabilities over all 289 cells, so it
is around -200 for an untrained net, far outside the range where ``1 + g + g^2 / 2`` resembles
``exp g``; ``-g - g^2 / 2`` rises only on ``g`` in (-1, 0] and falls without bound below -1, so
gradient descent would push predictions towards the *wrong* labels. The bounded form used here:

1. Class-balanced, normalised log-likelihood: ``g = sum_x w_1(x) m(x) h_1(x) + w_0(x) (1 - m(x))
   h_0(x)`` with SiamFC's weights (each class weighs one half: ``w_1 = 0.5 / #positives`` and
   ``w_0 = 0.5 / #negatives`` of that noise sample's map), so the weights sum to one. ``g`` is
   then minus the balanced BCE that SiamFC trains with.
2. Floored probabilities: ``f = delta + (1 - 2 delta) sigmoid(logit)``, so ``h_b = log f_b >=
   log delta`` (smooth: unlike clamping it never zeroes a gradient) and hence ``g >= log delta``.
3. Scaling into the Taylor range: ``u = g / |log delta|`` lies in [-1, 0], where ``-u - u^2 / 2``
   is increasing in the loss direction (decreasing in ``u``) and within [0, 1/2].
4. ``L = |log delta| * E_eps[-u - u^2 / 2]``: the paper's ``-E[u] - E[u^2] / 2`` (Eq. 16 on the
   rescaled log-likelihoods ``h_b / |log delta|``, same mean map and second moments), multiplied
   back by ``|log delta|`` so that for small errors it matches the balanced BCE in scale.

Hence ``0 <= L <= |log delta| / 2`` for any logits (3.45 for the default delta = 1e-3), and its
gradient with respect to ``h_b(x)`` is ``-E_eps[(1 + u(eps)) w_b(x) m_b(x; eps)]``: a balanced BCE
against the noise-averaged label where each noise hypothesis counts by ``1 + u``, i.e. label
positions that the prediction explains badly count less. That reweighting is the second-order
term's effect and what makes the loss robust to a shifted pseudo label.

``E_eps`` is estimated with ``S`` noise samples drawn once per noise level (the paper computes
the mean map and V "by sampling, once per alpha"). Writing the expectation as an average of
``S`` label maps is exactly the quadratic form with the sampled mean map and V (``h^T V h =
mean_s (W_s^T h)^2``) but needs ``S x 289`` numbers per pair instead of V's 289^2 x 4, and it
allows any (sub-cell) observed centre, so search crops can be shifted at random.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def info_nce(first: torch.Tensor, second: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over ``first[i] <-> second[i]`` positives (N, D each), mean over the 2N anchors."""
    if first.shape != second.shape or first.dim() != 2:
        raise ValueError(f"expected two (N, D) tensors, got {tuple(first.shape)} and "
                         f"{tuple(second.shape)}")
    if first.shape[0] < 2:
        raise ValueError("InfoNCE needs at least two instances (one negative)")
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    count = first.shape[0]
    embeddings = F.normalize(torch.cat([first, second]), dim=1)
    similarity = embeddings @ embeddings.t() / temperature
    self_mask = torch.eye(2 * count, dtype=torch.bool, device=similarity.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    partner = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(
        similarity.device)
    return F.cross_entropy(similarity, partner)


def noise_samples(alpha: float, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` draws of the observation noise ``N(0, alpha I)`` in cells, (S, 2)."""
    if alpha < 0 or count < 1:
        raise ValueError("alpha must be >= 0 and count >= 1")
    return torch.randn(count, 2, generator=generator, dtype=torch.float64).float() \
        * math.sqrt(alpha)


def weighted_label_samples(offsets: torch.Tensor, noise: torch.Tensor, response_size: int,
                           radius: float) -> torch.Tensor:
    """Class-balanced label maps ``W (N, S, 2, X)`` for every pair and noise sample.

    ``offsets`` (N, 2): observed target (dx, dy) from the response-map centre, in cells;
    ``noise`` (S, 2) is added to them. ``W[:, :, 1]`` holds ``0.5 / #pos`` on the positive cells
    (within ``radius`` cells of the noisy centre), ``W[:, :, 0]`` ``0.5 / #neg`` on the others,
    so each map sums to one; a map without positives (centre pushed off the map) weighs every
    cell ``1 / X`` as a negative.
    """
    coords = torch.arange(response_size, dtype=torch.float32, device=offsets.device)
    coords = coords - (response_size - 1) / 2.0
    centers = offsets[:, None, :].float() + noise[None].to(offsets.device)    # (N, S, 2)
    dx = coords.view(1, 1, 1, -1) - centers[..., 0, None, None]
    dy = coords.view(1, 1, -1, 1) - centers[..., 1, None, None]
    positive = ((dx * dx + dy * dy) <= radius * radius).float().flatten(2)        # (N, S, X)
    cells = positive.shape[-1]
    num_pos = positive.sum(-1, keepdim=True)
    num_neg = cells - num_pos
    # Each class weighs one half; a class that is absent leaves the whole weight to the other.
    pos_weight = torch.where(num_neg > 0, 0.5 / num_pos.clamp(min=1), 1.0 / cells)
    neg_weight = torch.where(num_pos > 0, 0.5 / num_neg.clamp(min=1), 1.0 / cells)
    return torch.stack([(1.0 - positive) * neg_weight, positive * pos_weight], dim=2)


def floored_log_probabilities(logits: torch.Tensor,
                              floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h_0, h_1) = (log(1 - f), log f)`` with ``f = floor + (1 - 2 floor) sigmoid(logits)``."""
    if not 0.0 < floor < 0.5:
        raise ValueError("floor must be in (0, 0.5)")
    log_floor = math.log(floor)
    log_scale = math.log1p(-2.0 * floor)
    h1 = torch.logaddexp(torch.full_like(logits, log_floor), log_scale + F.logsigmoid(logits))
    h0 = torch.logaddexp(torch.full_like(logits, log_floor), log_scale + F.logsigmoid(-logits))
    return h0, h1


def bounded_nr_loss(logits: torch.Tensor, weighted_labels: torch.Tensor,
                    floor: float = 1e-3) -> torch.Tensor:
    """Per-pair bounded noise-robust loss ``(N,)``, in ``[0, |log floor| / 2]``.

    ``logits`` (N, 1, R, R) or (N, X); ``weighted_labels`` (N, S, 2, X) from
    :func:`weighted_label_samples` (each map summing to one). See the module docstring.
    """
    flat = logits.reshape(logits.shape[0], -1)
    if weighted_labels.dim() != 4 or weighted_labels.shape[0] != flat.shape[0] \
            or weighted_labels.shape[2] != 2 or weighted_labels.shape[3] != flat.shape[1]:
        raise ValueError(f"weighted_labels {tuple(weighted_labels.shape)} do not fit logits "
                         f"{tuple(logits.shape)}")
    h0, h1 = floored_log_probabilities(flat, floor)
    scale = -math.log(floor)
    log_likelihood = (weighted_labels[:, :, 0] * h0[:, None]).sum(-1) \
        + (weighted_labels[:, :, 1] * h1[:, None]).sum(-1)                        # (N, S)
    # Rounding can leave u a hair outside [-1, 0]; the bound argument needs it inside.
    u = (log_likelihood / scale).clamp(-1.0, 0.0)
    return scale * (-u - 0.5 * u * u).mean(1)
