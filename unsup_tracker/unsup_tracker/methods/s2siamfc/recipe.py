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
"""S2SiamFC training (Sio et al., ACM MM 2020): SiamFC from single unlabeled images.

Every positive pair is a random box of one image: the template is the box (SiamFC context 0.5,
127 px), the search is the enlarged region around it (255 px) with geometric and photometric
jitter (:mod:`unsup_tracker.pairs`). The loss is SiamFC's balanced logistic loss, reweighted per
pair by the anti-clutter weight, plus the same loss on templates whose most salient region
(Grad-CAM on the model's own gradients) is masked out, plus hard negative pairs drawn from
k-means clusters of backbone features of other images.

Decisions where the paper is silent or ambiguous (DIGEST 5.8):

* Random boxes: width ``W / U(4, 8)``, height ``H / U(4, 8)``, centre uniform with the box
  inside the image (the third-party code's ranges).
* Labels: 1 within ``label_radius`` = 16 search pixels (2 cells) of the target, SiamFC's r_pos;
  the search crop is shifted by up to ``max_shift`` pixels and the label follows, so the network
  does not learn "the answer is always the centre".
* Balanced loss per pair (positives and negatives each weigh one half, see
  :func:`~unsup_tracker.models.siamfc.balanced_logistic_loss`); a negative pair averages all
  cells.
* Anti-clutter weight per pair (the paper's Eq. 3-5, not the third-party per-batch scalar):
  ``(1 - fraction of cells whose min-max normalised logit >= beta) ** gamma`` with beta = 0.5,
  gamma = 2 (the third-party fine-tuning values). It is detached (a weight, not a target), and
  only positive pairs get it: the clutter it detects is a property of a self-sampled template,
  while a negative pair's label is right whatever the template shows.
* Adversarial masking: S = mean logit over the positive-label cells, alpha_c = spatial mean of
  dS/dphi(z)_c, A = ReLU(alpha_c * phi(z)_c) per channel, bilinearly upsampled to the template,
  min-max normalised over the whole sample, thresholded at 0.5. A channel is a candidate when
  its mask covers more than nothing and less than half the template (third-party rule). Two
  masks (the paper's best, "Mask2"), chained as the paper's Eq. 11 (z2 masks z1 again with a
  different channel), filled with the image's mean colour. Eq. 12 is read as
  ``0.7 * L(z) + 0.3 / k * sum_k L(z_k)`` so the weights sum to one. The search features are
  shared by the three terms, so masking costs two template passes, not two pairs.
* Hard negatives: the paper clusters one frame per training video once, after stage 1, with
  K = 100 (about 40 videos per cluster). A frame source here has no notion of videos and may be
  a few hundred photos, so the recipe keeps a bank of ``cluster_bank_size`` search regions of
  random boxes in random images, embeds them with the CURRENT backbone (global average pooling,
  L2-normalised), and clusters them with k-means (k-means++ seeding, Lloyd iterations) into
  ``kmeans_clusters`` groups (16 for a 256 bank: 16 per cluster, so a cluster holds several
  images). Stage 1 (no negatives) lasts ``hard_negative_start`` of the steps; from then on the
  bank is rebuilt every ``cluster_refresh_steps`` steps with fresh images and the current
  features, warm-started from the previous centroids (a mini-batch flavour of k-means over a
  moving bank). A ``negative_fraction`` of each batch then pairs the template of one bank
  entry with the search region of another entry of the same cluster, labelled all-zero.
* Optimisation "as SiamFC", scaled to a CPU: SGD, momentum 0.9, weight decay 5e-4 (not on batch
  norm, biases or the head's gain/bias), batch 8, learning rate decayed exponentially from 1e-2
  to 1e-5 over the run instead of over 50 epochs.
* ImageNet backbone (``efficientnet_lite0``, :mod:`unsup_tracker.models.backbones`): stem and
  stages 1-2 frozen (ImageNet weights, batch-norm statistics kept), stage 3 (stride 8) and the
  head trained, with the learning rate starting at 1e-3 instead of 1e-2 (the trunk is already a
  good feature extractor: untrained, its correlation peaks at the centre of every opencv-doc
  photo pair we checked) and 300 steps instead of 600. Measured for that choice: ~3 s a step at
  the start of the run (batch 8, masking, one thread, load average ~13 on the 2 cores), so the
  run stays well under the hour; the frozen part runs without autograd.
* Resuming: :meth:`S2SiamFCRecipe.state_dict` saves the cluster bank as the positions of its
  images in the frame source, its boxes, centroids, assignment and build step (not its 50 MB of
  crops: they are cut again from the same frames by the same code), so a resumed run draws the
  same negatives as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...crops import crop_and_resize, image_to_tensor_layout, mean_color
from ...models.siamfc import (SiamFC, balanced_logistic_loss,
                              label_maps, pair_sizes)
from ...pairs import PairGeometry, PairJitter, photometric_jitter, sample_pair
from ...params import Params
from ...recipe import FrameSource, TrainingRecipe


@dataclasses.dataclass
class S2SiamFCRecipeParams(Params):
    batch_size: int = 8
    # -- pair sampling --
    box_divisor_min: float = 4.0
    box_divisor_max: float = 8.0
    context: float = 0.5
    max_shift: float = 16.0
    scale_jitter: float = 0.05
    aspect_jitter: float = 0.05
    rotation_deg: float = 10.0
    brightness: float = 0.1
    contrast: float = 0.2
    saturation: float = 0.2
    gray_probability: float = 0.1
    blur_probability: float = 0.1
    label_radius: float = 16.0
    # -- anti-clutter weighting --
    anti_clutter: bool = True
    ac_threshold: float = 0.5
    ac_power: float = 2.0
    # -- adversarial masking --
    adversarial_masking: bool = True
    mask_count: int = 2
    raw_weight: float = 0.7
    saliency_threshold: float = 0.5
    max_mask_coverage: float = 0.5
    # -- hard negatives --
    hard_negatives: bool = True
    negative_fraction: float = 0.2
    hard_negative_start: float = 0.3
    kmeans_clusters: int = 16
    kmeans_iterations: int = 20
    cluster_bank_size: int = 256
    cluster_refresh_steps: int = 500
    # -- optimisation --
    lr: float = 1e-2
    lr_end: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip_norm: float = 10.0

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 1.0 <= self.box_divisor_min <= self.box_divisor_max:
            raise ValueError("need 1 <= box_divisor_min <= box_divisor_max")
        if not 0.0 <= self.raw_weight <= 1.0 or self.mask_count < 1:
            raise ValueError("raw_weight must be in [0, 1] and mask_count >= 1")
        if not 0.0 <= self.negative_fraction < 1.0 or not 0.0 <= self.hard_negative_start <= 1.0:
            raise ValueError("negative_fraction must be in [0, 1), hard_negative_start in [0, 1]")
        if self.kmeans_clusters < 1 or self.cluster_bank_size < 2 * self.kmeans_clusters:
            raise ValueError("need kmeans_clusters >= 1 and cluster_bank_size >= 2 * clusters")
        if self.cluster_refresh_steps < 1 or self.kmeans_iterations < 1:
            raise ValueError("cluster_refresh_steps and kmeans_iterations must be >= 1")
        if self.lr <= 0 or self.lr_end <= 0 or self.label_radius <= 0:
            raise ValueError("lr, lr_end and label_radius must be > 0")


def random_box(image_shape: tuple[int, ...], params: S2SiamFCRecipeParams,
               rng: np.random.Generator) -> np.ndarray:
    """Draw a random (cx, cy, w, h) box inside an image of ``image_shape`` (H, W, ...)."""
    height, width = image_shape[:2]
    box_w = max(width / rng.uniform(params.box_divisor_min, params.box_divisor_max), 2.0)
    box_h = max(height / rng.uniform(params.box_divisor_min, params.box_divisor_max), 2.0)
    cx = rng.uniform(box_w / 2.0, max(width - box_w / 2.0, box_w / 2.0))
    cy = rng.uniform(box_h / 2.0, max(height - box_h / 2.0, box_h / 2.0))
    return np.array([cx, cy, box_w, box_h])


def anti_clutter_weights(logits: torch.Tensor, threshold: float, power: float) -> torch.Tensor:
    """``(1 - fraction of min-max normalised cells >= threshold) ** power`` per map, ``(N,)``."""
    flat = logits.detach().reshape(logits.shape[0], -1)
    low = flat.min(1, keepdim=True).values
    high = flat.max(1, keepdim=True).values
    normalised = (flat - low) / (high - low).clamp(min=1e-12)
    fraction = (normalised >= threshold).float().mean(1)
    return (1.0 - fraction) ** power


def saliency_masks(template_features: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
                   template_size: int, threshold: float, max_coverage: float, count: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Grad-CAM-style masks ``(count, N, 1, T, T)`` (1 = hide) of each template's salient parts.

    Needs ``logits`` to depend on ``template_features`` through a retained graph. A sample
    without a usable channel gets empty masks.
    """
    positives = labels.reshape(labels.shape[0], -1)
    mean_positive = (logits.reshape(logits.shape[0], -1) * positives).sum(1) \
        / positives.sum(1).clamp(min=1)
    gradient, = torch.autograd.grad(mean_positive.sum(), template_features, retain_graph=True)
    with torch.no_grad():
        alpha = gradient.mean((2, 3), keepdim=True)
        cam = F.relu(template_features.detach() * alpha)
        cam = F.interpolate(cam, size=(template_size, template_size), mode="bilinear",
                            align_corners=False)
        flat = cam.reshape(cam.shape[0], -1)
        low = flat.min(1).values.view(-1, 1, 1, 1)
        high = flat.max(1).values.view(-1, 1, 1, 1)
        binary = ((cam - low) / (high - low).clamp(min=1e-12)) > threshold
        coverage = binary.float().mean((2, 3))
        candidates = (coverage > 0) & (coverage < max_coverage)
        masks = torch.zeros(count, cam.shape[0], 1, template_size, template_size,
                            device=cam.device)
        for sample in range(cam.shape[0]):
            channels = torch.nonzero(candidates[sample]).flatten()
            if channels.numel() == 0 or positives[sample].sum() == 0:
                continue
            order = channels[torch.randperm(channels.numel(), generator=generator,
                                            device="cpu").to(channels.device)]
            for index in range(min(count, order.numel())):
                masks[index, sample, 0] = binary[sample, order[index]].float()
    return masks


def kmeans(features: torch.Tensor, clusters: int, iterations: int, generator: torch.Generator,
           initial: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on rows of ``features``; k-means++ seeding unless ``initial`` centroids.

    Returns (centroids (K, D), assignment (M,)). An emptied cluster is re-seeded at the point
    farthest from its centroid, so all K stay in use.
    """
    count = features.shape[0]
    if initial is not None and initial.shape == (clusters, features.shape[1]):
        centroids = initial.clone()
    else:
        first = int(torch.randint(count, (1,), generator=generator))
        centroids = features[first:first + 1].clone()
        for _ in range(1, clusters):
            distance = torch.cdist(features, centroids).min(1).values ** 2
            probabilities = distance / distance.sum().clamp(min=1e-12)
            if float(distance.sum()) <= 0:
                probabilities = torch.full_like(distance, 1.0 / count)
            pick = int(torch.multinomial(probabilities, 1, generator=generator))
            centroids = torch.cat([centroids, features[pick:pick + 1]])
    assignment = torch.zeros(count, dtype=torch.long)
    for _ in range(iterations):
        distance = torch.cdist(features, centroids)
        assignment = distance.argmin(1)
        for cluster in range(clusters):
            members = assignment == cluster
            if members.any():
                centroids[cluster] = features[members].mean(0)
            else:
                farthest = int(distance.min(1).values.argmax())
                centroids[cluster] = features[farthest]
    return centroids, torch.cdist(features, centroids).argmin(1)


class S2SiamFCRecipe(TrainingRecipe):
    params_cls = S2SiamFCRecipeParams
    data_kind = "images"
    default_steps = 6000

    def __init__(self, params: S2SiamFCRecipeParams, model_config: dict[str, Any]):
        super().__init__(params, model_config)
        self.template_size, self.search_size, self.response_size = pair_sizes(model_config)
        self.geometry = PairGeometry(self.template_size, self.search_size, params.context)
        self.jitter = PairJitter(
            max_shift=params.max_shift, scale=params.scale_jitter, aspect=params.aspect_jitter,
            rotation_deg=params.rotation_deg, brightness=params.brightness,
            contrast=params.contrast, saturation=params.saturation,
            gray_probability=params.gray_probability, blur_probability=params.blur_probability)
        self.total_steps = 0
        self._model: SiamFC | None = None
        self._scheduler = None
        self._own_step = 0
        self._bank: dict[str, Any] | None = None
        self._bank_built_at = -1

    # -- schedule ------------------------------------------------------------------------------
    def make_optimizer(self, model: torch.nn.Module, total_steps: int):
        params = self.params
        self.total_steps = max(int(total_steps), 1)
        decayed, plain = [], []
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            (decayed if parameter.dim() > 1 else plain).append(parameter)
        optimizer = torch.optim.SGD(
            [{"params": decayed, "weight_decay": params.weight_decay},
             {"params": plain, "weight_decay": 0.0}],
            lr=params.lr, momentum=params.momentum)
        ratio = params.lr_end / params.lr
        total = self.total_steps
        self._scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: ratio ** (min(step, total) / total))
        return optimizer, self._scheduler

    def prepare(self, model: torch.nn.Module, source: FrameSource,
                rng: np.random.Generator) -> None:
        self._attach(model)

    def _attach(self, model: torch.nn.Module) -> None:
        # The hard-negative bank is embedded with the model being trained; keep a handle.
        self._model = model
        # Channels-last convolutions train ~30% faster on this CPU (measured); same results.
        model.to(memory_format=torch.channels_last)

    # -- resuming ------------------------------------------------------------------------------
    def state_dict(self, source: FrameSource) -> dict[str, Any]:
        bank = None
        if self._bank is not None:
            bank = {"frames": [source.frame_index(image) for image in self._bank["images"]],
                    "boxes": torch.from_numpy(np.stack(self._bank["boxes"])),
                    "centroids": self._bank["centroids"].clone(),
                    "assignment": torch.from_numpy(self._bank["assignment"].copy()),
                    "built_at": self._bank_built_at}
        return {"own_step": self._own_step, "bank": bank}

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module,
                        source: FrameSource) -> None:
        if set(state) != {"own_step", "bank"}:
            raise ValueError(f"not an S2SiamFC recipe state: keys {sorted(state)}")
        self._attach(model)
        self._own_step = int(state["own_step"])
        bank = state["bank"]
        self._bank, self._bank_built_at = None, -1
        if bank is not None:
            images = [source.frame_at(int(index)) for index in bank["frames"]]
            boxes = list(bank["boxes"].numpy())
            crops, fills = self._bank_crops(images, boxes)
            self._bank = {"images": images, "boxes": boxes, "crops": crops, "fills": fills,
                          "centroids": bank["centroids"].clone(),
                          "assignment": bank["assignment"].numpy().copy()}
            self._bank_built_at = int(bank["built_at"])

    def _step(self) -> int:
        if self._scheduler is not None:
            return int(self._scheduler.last_epoch)
        return self._own_step

    # -- sampling ------------------------------------------------------------------------------
    def _negatives_active(self) -> bool:
        params = self.params
        return (params.hard_negatives and params.negative_fraction > 0
                and self._model is not None
                and self._step() >= params.hard_negative_start * self.total_steps)

    def sample_batch(self, source: FrameSource,
                     rng: np.random.Generator) -> dict[str, torch.Tensor]:
        params = self.params
        self._own_step += 1
        num_negative = 0
        if self._negatives_active():
            self._maybe_refresh_bank(source, rng)
            num_negative = int(rng.binomial(params.batch_size, params.negative_fraction))
        templates, searches, offsets, fills, positive = [], [], [], [], []
        for _ in range(params.batch_size - num_negative):
            image = source.sample_image(rng)
            pair = sample_pair(image, random_box(image.shape, params, rng), self.geometry,
                               self.jitter, rng)
            templates.append(pair.template)
            searches.append(pair.search)
            offsets.append(pair.offset)
            fills.append(pair.fill)
            positive.append(1.0)
        for _ in range(num_negative):
            template, search, fill = self._negative_pair(rng)
            templates.append(template)
            searches.append(search)
            offsets.append(np.zeros(2))
            fills.append(fill)
            positive.append(0.0)
        return {
            "template": torch.from_numpy(image_to_tensor_layout(np.stack(templates))),
            "search": torch.from_numpy(image_to_tensor_layout(np.stack(searches))),
            "offset": torch.from_numpy(np.stack(offsets).astype(np.float32)),
            "fill": torch.from_numpy(np.stack(fills).astype(np.float32)),
            "positive": torch.tensor(positive, dtype=torch.float32),
        }

    def _negative_pair(self, rng: np.random.Generator):
        bank = self._bank
        assignment = bank["assignment"]
        sizes = np.bincount(assignment, minlength=self.params.kmeans_clusters)
        usable = np.flatnonzero(sizes >= 2)
        if usable.size:
            members = np.flatnonzero(assignment == rng.choice(usable))
            first, second = rng.choice(members, size=2, replace=False)
        else:  # every cluster a singleton: any two different images
            first, second = rng.choice(len(assignment), size=2, replace=False)
        center = (self.search_size / 2.0, self.search_size / 2.0)
        # The template region is the centre of a bank search region (same geometry as a pair).
        template = crop_and_resize(bank["crops"][first], center, self.template_size,
                                   self.template_size, bank["fills"][first])
        template = photometric_jitter(template, self.jitter, rng)
        search = photometric_jitter(bank["crops"][second], self.jitter, rng)
        return template, search, bank["fills"][first]

    def _maybe_refresh_bank(self, source: FrameSource, rng: np.random.Generator) -> None:
        step = self._step()
        fresh = step - self._bank_built_at < self.params.cluster_refresh_steps
        if self._bank is not None and fresh:
            return
        params = self.params
        images, boxes = [], []
        for _ in range(params.cluster_bank_size):
            image = source.sample_image(rng)
            images.append(image)
            boxes.append(random_box(image.shape, params, rng))
        crops, fills = self._bank_crops(images, boxes)
        features = self._embed(crops)
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        previous = self._bank["centroids"] if self._bank is not None else None
        centroids, assignment = kmeans(features, params.kmeans_clusters,
                                       params.kmeans_iterations, generator, previous)
        # Images and boxes are kept (references, no pixels) so state_dict can save the bank.
        self._bank = {"images": images, "boxes": boxes, "crops": crops, "fills": fills,
                      "centroids": centroids, "assignment": assignment.numpy()}
        self._bank_built_at = step

    def _bank_crops(self, images: list[np.ndarray],
                    boxes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Search regions (M, S, S, 3) around (cx, cy, w, h) boxes and their fills (M, 3)."""
        crops, fills = [], []
        for image, (cx, cy, width, height) in zip(images, boxes):
            fill = mean_color(image)
            region = self.geometry.search_region(width, height)
            crops.append(crop_and_resize(image, (cx, cy), region, self.search_size, fill))
            fills.append(fill)
        return np.stack(crops), np.stack(fills)

    def _embed(self, crops: np.ndarray) -> torch.Tensor:
        """L2-normalised global-average-pooled backbone features of the bank crops (CPU)."""
        model = self._model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        chunks = []
        try:
            with torch.no_grad():
                for start in range(0, len(crops), 32):
                    batch = torch.from_numpy(image_to_tensor_layout(crops[start:start + 32]))
                    pooled = model.features(batch.to(device)).mean((2, 3))
                    chunks.append(F.normalize(pooled, dim=1).cpu())
        finally:
            model.train(was_training)
        return torch.cat(chunks)

    # -- loss ----------------------------------------------------------------------------------
    def _weighted(self, logits: torch.Tensor, labels: torch.Tensor,
                  positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pair loss times the anti-clutter weight (1 for negatives), and the weights."""
        per_pair = balanced_logistic_loss(logits, labels)
        weights = torch.ones_like(per_pair)
        if self.params.anti_clutter:
            clutter = anti_clutter_weights(logits, self.params.ac_threshold, self.params.ac_power)
            weights = torch.where(positive > 0.5, clutter, weights)
        return per_pair * weights, weights

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]):
        params = self.params
        template = batch["template"].contiguous(memory_format=torch.channels_last)
        search = batch["search"].contiguous(memory_format=torch.channels_last)
        positive = batch["positive"]
        labels = label_maps(model.response_size, batch["offset"] / model.total_stride,
                            params.label_radius / model.total_stride, positive)
        template_features = model.template_features(template)
        search_features = model.features(search)
        logits = model.head(template_features, search_features)
        raw_terms, weights = self._weighted(logits, labels, positive)
        raw_loss = raw_terms.mean()
        unweighted = balanced_logistic_loss(logits.detach(), labels).mean()
        masked_loss = torch.zeros((), device=raw_loss.device)
        masked_pairs = 0
        use_masks = params.adversarial_masking and bool((positive > 0.5).any())
        if use_masks:
            generator = torch.Generator().manual_seed(int(torch.randint(2 ** 31, (1,))))
            masks = saliency_masks(template_features, logits, labels, model.exemplar_size,
                                   params.saliency_threshold, params.max_mask_coverage,
                                   params.mask_count, generator)
            fill = batch["fill"].view(-1, 3, 1, 1)
            masked = template
            is_positive = positive > 0.5
            for mask in masks:
                masked = masked * (1.0 - mask) + fill * mask
                masked_logits = model.head(model.template_features(masked), search_features)
                terms, _ = self._weighted(masked_logits, labels, positive)
                masked_loss = masked_loss + terms[is_positive].mean()
            masked_loss = masked_loss / params.mask_count
            masked_pairs = int((masks[0].flatten(1).sum(1) > 0).sum())
            total = params.raw_weight * raw_loss + (1.0 - params.raw_weight) * masked_loss
        else:
            total = raw_loss
        with torch.no_grad():
            # The model's mean probability on the target cells: should rise as it learns.
            target_prob = (torch.sigmoid(logits) * labels).sum() / labels.sum().clamp(min=1)
        logs = {
            "loss_raw": float(raw_loss.detach()),
            "loss_masked": float(masked_loss.detach()),
            "loss_unweighted": float(unweighted),
            "ac_weight": float(weights[positive > 0.5].mean()) if bool((positive > 0.5).any())
            else math.nan,
            "negatives": float((positive < 0.5).sum()),
            "masked_pairs": float(masked_pairs),
            "target_prob": float(target_prob),
        }
        return total, logs
