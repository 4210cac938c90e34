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
"""PUL training (Wu, Wan, Chan, CVPR 2021): progressive unsupervised learning from video.

Stages (DIGEST 3):

1. ``prepare``: object proposals without a downloaded model (:mod:`.proposals`: selective search
   on frames downscaled to 160 px, chosen by measurement), then the background-discrimination
   model: the SiamFC backbone trained with InfoNCE (tau = 0.5) on augmented proposal crops with
   anchor-based hard-negative mining (:mod:`.background_model`).
2. ``prepare``: temporal mining round 1: the BD model run as a SiamFC tracker over gaps of 10
   sampled frames from random proposals gives (first patch, tracked last patch) pairs with a
   confidence (:mod:`.mining`); the least confident ``1 - keep_fraction`` are dropped.
3. Main loop: temporal-correspondence learning of the whole network (backbone and head) on the
   mined pairs with the noise-robust loss (:mod:`.losses`, bounded; see there) plus
   ``contrastive_weight`` times InfoNCE on two views of each template (the paper's Eq. 17,
   lambda = 1).
4. At ``round2_start`` of the main loop's steps: mining round 2 with gap 20, using the network as
   trained so far (the progressive reading of "we then set a larger mining length of 20 frames
   to repeat"); training continues on the pairs of both rounds (as ResPUL does, "to avoid
   overfitting on easy patch pairs", which matters even more with five short videos).

Training pairs: the template is SiamFC's crop (context 0.5, 127 px) around the proposal in the
first frame; the search is the 255 px crop around the tracked box in the last frame, shifted by
up to ``max_shift`` pixels and scaled by up to ``scale_jitter`` (:func:`unsup_tracker.pairs.
sample_pair` on the last frame), so the observed centre varies and the network cannot learn
"the answer is the middle". Label radius 16 px (2 cells), noise variance alpha = 0.5 cells^2
(the paper's alpha; its unit is not given), 64 noise samples drawn once from ``noise_seed``.

Decisions where the paper is silent or does not fit this machine (DIGEST 3.8):

* The network is the package's SiamFC (:mod:`unsup_tracker.models.siamfc`). With the scratch
  backbone it is trained from nothing: PUL starts from SiamFC's supervised weights, which would
  not be label-free. With the ``efficientnet_lite0`` backbone it starts from ImageNet
  classification weights (labels enter there only; stem and stages 1-2 frozen, stage 3 trained
  by every stage of this recipe), the closest label-free-tracking analogue of PUL's
  ImageNet-pre-trained AlexNet. That variant runs far shorter stages (tools/train_shipped.sh:
  150 steps, 50 background-model steps, 100 + 50 mined pairs): on the shared 2-core machine
  (load average 8-16 while it ran) a step of the Lite0 variant took several times the scratch
  one's wall time, and the whole run had to fit in well under an hour; the untrained ImageNet
  trunk already localises (SiamFC tracker, devbench AUC 77.2 before any tracking training).
* Optimisation of stage 3: Adam, learning rate decayed exponentially from ``lr`` = 1e-3 to
  ``lr_end`` = 1e-4 over the run (PUL: 1e-4 from a supervised start; far fewer steps here, and
  1e-4 measured worse, below),
  weight decay 5e-4 on convolution weights only, batch 8 (PUL: 196), gradient norm clipped at 10.
* Budgets: every stage has a step/pair count and a wall-clock cap (``bd_max_seconds``,
  ``mining_max_seconds``); a cap that bites makes the run depend on the machine's load (the
  counts alone are reproducible). With the defaults, on this 2-core machine shared by several
  jobs and with ``OMP_NUM_THREADS=1``: data 5 s, proposals 10 s, BD ~40 s, round-1 mining
  (300 pairs) ~100 s, round 2 (200 pairs, gap 20) ~180 s, 0.31 s per step, about 10 minutes
  in all. Thread count matters here: with torch's default two threads on the loaded machine a
  training step took 1.5 s instead of 0.2 s of CPU and a mined pair 2.8 s instead of 0.5 s
  (oversubscription), so run the training with ``OMP_NUM_THREADS=1`` on a shared CPU.
* Resuming: :meth:`PULRecipe.state_dict` saves the mined pairs of both rounds (frames as their
  positions in the frame source, boxes, gap, confidence), whether round 2 was mined and the
  mining summary; a resumed run restores them instead of running ``prepare`` again, so it
  neither redoes the background model nor re-mines, and continues bit-identically (round 2 is
  mined at the same step, with the same weights, whether or not the run was interrupted).
* ``tc_loss="bce"`` swaps the noise-robust loss for SiamFC's balanced BCE at the mined centre
  (the paper's Table 2 ablation).
* The search crop uses the tracked box's size. The mined tracks never changed scale (the
  last/first size ratio was 1.00 at the 5th and 95th percentile of 300 pairs: the scale penalty
  always won with these networks), so taking the template's size instead gave identical pairs.

Measured on the development benchmark (``unsup-tracker devbench``, seed 0, 12 sequences; AUC /
precision@20 in %), all from one prepare (seed 0, opencv-doc videos, 240 kept round-1 pairs)
and 300 TC steps unless noted, tracked with SiamFC's cosine window 0.176 (the tracker's default
since is 0.3, see tracker.py); untrained network 37.4 / 43.3, KCF 50.7, CSRT 69.5:

==============================================  ===========
variant                                         AUC / P@20
==============================================  ===========
BD model only (after prepare, no TC learning)   36.7 / 41.4
TC, defaults (NR loss, lambda 1, lr 1e-3)       44.1 / 49.7
TC, contrastive term off (lambda 0)             44.0 / 49.9
TC, lr 1e-4 -> 1e-5 (the paper's rate)          41.5 / 50.4
TC, balanced BCE instead of the NR loss         40.5 / 46.4
defaults at 150 / 300 / 450 / 600 / 900 steps   42.3 / 45.8 / 43.5 / 44.0 / 44.8 AUC
round 2 mined at step 450, at 600 / 900 steps   42.9 / 43.7 AUC (without: 44.0 / 44.8)
==============================================  ===========

So TC learning with the NR loss is what helps (+7 AUC over the BD model, +3.6 over BCE); on
five short videos the gains stop after about 300 steps, and the BD stage and round 2 showed
no measurable gain on this benchmark (a single run each: differences of 1-2 points are within
the spread of repeated runs). ``default_steps`` is 600.

The spread between whole runs is large: three 8-minute ``unsup-tracker-train --max-minutes 8``
runs on the same five videos scored AUC 49.9 (two torch threads, so mining hit its time cap
after 40 pairs; 171 steps), 39.3 (500 steps, round 2 with 150 pairs) and 37.3 (defaults,
stopped by the budget at step 389 just after round 2). The learned tracker follows the target
on some sequences and loses it on others; its gain over an untrained SiamFC (37.4) is not
reliable with this little footage.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import torch

from ...crops import crop_and_resize, image_to_tensor_layout, mean_color
from ...geometry import xywh_to_cxcywh
from ...models.siamfc import (SiamFC, balanced_logistic_loss,
                              label_maps, pair_sizes)
from ...pairs import PairGeometry, PairJitter, photometric_jitter, sample_pair
from ...params import Params
from ...recipe import FrameSource, TrainingRecipe
from .background_model import (BDSettings, collect_proposals, instance_view,
                               train_background_model)
from .losses import bounded_nr_loss, info_nce, noise_samples, weighted_label_samples
from .mining import MinedPair, MiningSettings, mine_pairs, summarize
from .proposals import PROPOSAL_METHODS, ProposalSettings
from .tracker import PULParams

LOG = logging.getLogger(__name__)

_TC_LOSSES = ("nr", "bce")


@dataclasses.dataclass
class PULRecipeParams(Params):
    # -- proposals --
    proposal_method: str = "selective_search"
    proposal_side: int = 160
    proposals_per_frame: int = 64
    proposal_nms_iou: float = 0.6
    # -- stage 1: background discrimination --
    bd_steps: int = 150
    bd_max_seconds: float = 300.0
    bd_batch_instances: int = 16
    temperature: float = 0.5
    bd_pool_frames: int = 96
    bd_per_frame: int = 12
    bd_min_patch_set: int = 64
    bd_round_steps: int = 10
    bd_random_fraction: float = 0.3333
    bd_anchor_scale: int = 5
    bd_lr: float = 1e-3
    # -- stage 2: temporal mining --
    mining_pairs: int = 300
    mining_gap: int = 10
    mining_frame_stride: int = 3
    mining_candidates: int = 16
    mining_max_seconds: float = 240.0
    round2_pairs: int = 200
    round2_gap: int = 20
    #: Share of the main loop's steps after which round 2 is mined (>= 1: never).
    round2_start: float = 0.5
    #: Share of each round's pairs kept, most confident first.
    keep_fraction: float = 0.8
    # -- stage 3: temporal-correspondence learning --
    batch_size: int = 8
    context: float = 0.5
    max_shift: float = 32.0
    scale_jitter: float = 0.05
    label_radius: float = 16.0
    tc_loss: str = "nr"
    noise_alpha: float = 0.5
    noise_samples: int = 64
    noise_seed: int = 0
    probability_floor: float = 1e-3
    contrastive_weight: float = 1.0
    lr: float = 1e-3
    lr_end: float = 1e-4
    weight_decay: float = 5e-4
    grad_clip_norm: float = 10.0

    def validate(self) -> None:
        if self.proposal_method not in PROPOSAL_METHODS:
            raise ValueError(f"proposal_method must be one of {PROPOSAL_METHODS}")
        if self.tc_loss not in _TC_LOSSES:
            raise ValueError(f"tc_loss must be one of {_TC_LOSSES}")
        if self.bd_steps < 0 or self.bd_batch_instances < 2 or self.bd_round_steps < 1:
            raise ValueError("need bd_steps >= 0, bd_batch_instances >= 2, bd_round_steps >= 1")
        if self.bd_pool_frames < 1 or self.bd_per_frame < 1 or self.bd_anchor_scale < 1:
            raise ValueError("bd_pool_frames, bd_per_frame and bd_anchor_scale must be >= 1")
        if self.bd_min_patch_set < self.bd_batch_instances:
            raise ValueError("bd_min_patch_set must be at least bd_batch_instances")
        if self.mining_pairs < 1 or self.round2_pairs < 0:
            raise ValueError("mining_pairs must be >= 1 and round2_pairs >= 0")
        if min(self.mining_gap, self.round2_gap, self.mining_frame_stride,
               self.mining_candidates) < 1:
            raise ValueError("gaps, mining_frame_stride and mining_candidates must be >= 1")
        if not 0.0 < self.keep_fraction <= 1.0 or self.round2_start < 0:
            raise ValueError("keep_fraction must be in (0, 1] and round2_start >= 0")
        if self.batch_size < 2 and self.contrastive_weight > 0:
            raise ValueError("the contrastive term needs batch_size >= 2")
        if self.batch_size < 1 or self.noise_samples < 1 or self.noise_alpha < 0:
            raise ValueError("need batch_size >= 1, noise_samples >= 1, noise_alpha >= 0")
        if not 0.0 < self.probability_floor < 0.5:
            raise ValueError("probability_floor must be in (0, 0.5)")
        if min(self.temperature, self.lr, self.lr_end, self.bd_lr, self.label_radius) <= 0:
            raise ValueError("temperature, learning rates and label_radius must be > 0")
        if self.contrastive_weight < 0 or self.max_shift < 0 or self.scale_jitter < 0:
            raise ValueError("contrastive_weight, max_shift and scale_jitter must be >= 0")
        if self.bd_max_seconds <= 0 or self.mining_max_seconds <= 0:
            raise ValueError("bd_max_seconds and mining_max_seconds must be > 0")


class PULRecipe(TrainingRecipe):
    params_cls = PULRecipeParams
    data_kind = "video"
    default_steps = 600

    def __init__(self, params: PULRecipeParams, model_config: dict[str, Any]):
        super().__init__(params, model_config)
        self.template_size, self.search_size, self.response_size = pair_sizes(model_config)
        self.geometry = PairGeometry(self.template_size, self.search_size, params.context)
        self.proposal_settings = ProposalSettings(
            method=params.proposal_method, work_side=params.proposal_side,
            max_proposals=params.proposals_per_frame, nms_iou=params.proposal_nms_iou)
        self.bd_settings = BDSettings(
            steps=params.bd_steps, batch_instances=params.bd_batch_instances,
            temperature=params.temperature, pool_frames=params.bd_pool_frames,
            per_frame=params.bd_per_frame, min_patch_set=params.bd_min_patch_set,
            round_steps=params.bd_round_steps, random_fraction=params.bd_random_fraction,
            anchor_scale=params.bd_anchor_scale, lr=params.bd_lr)
        self.search_jitter = PairJitter(
            max_shift=params.max_shift, scale=params.scale_jitter, aspect=0.0,
            brightness=0.1, contrast=0.2, saturation=0.2, gray_probability=0.05,
            blur_probability=0.1)
        generator = torch.Generator().manual_seed(params.noise_seed)
        #: Observation-noise samples (cells), drawn once per alpha as the paper does.
        self.noise = noise_samples(params.noise_alpha, params.noise_samples, generator)
        self.pairs: list[MinedPair] = []
        self.summary: dict[str, float] = {}
        self.total_steps = 0
        self._model: SiamFC | None = None
        self._scheduler = None
        self._own_step = 0
        self._round2_done = False

    # -- schedule ------------------------------------------------------------------------------
    def make_optimizer(self, model: torch.nn.Module, total_steps: int):
        params = self.params
        self.total_steps = max(int(total_steps), 1)
        decayed, plain = [], []
        for parameter in model.parameters():
            if parameter.requires_grad:
                (decayed if parameter.dim() > 1 else plain).append(parameter)
        optimizer = torch.optim.Adam([{"params": decayed, "weight_decay": params.weight_decay},
                                      {"params": plain, "weight_decay": 0.0}], lr=params.lr)
        ratio = params.lr_end / params.lr
        total = self.total_steps
        self._scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: ratio ** (min(step, total) / total))
        return optimizer, self._scheduler

    def _step(self) -> int:
        if self._scheduler is not None:
            return int(self._scheduler.last_epoch)
        return self._own_step

    # -- stages 1 and 2 ------------------------------------------------------------------------
    def prepare(self, model: torch.nn.Module, source: FrameSource,
                rng: np.random.Generator) -> None:
        params = self.params
        self._attach(model)
        started = time.monotonic()
        if params.bd_steps > 0:
            deadline = started + params.bd_max_seconds
            pool = collect_proposals(source, rng, params.bd_pool_frames, self.proposal_settings,
                                     deadline)
            LOG.info("PUL proposals: %d frames, %.1f proposals per frame, %.1f s",
                     len(pool.frames), np.mean([len(p) for p in pool.proposals]),
                     time.monotonic() - started)
            self.summary.update(train_background_model(model, pool, self.geometry,
                                                       self.bd_settings, rng, deadline))
        self.summary["bd_seconds"] = time.monotonic() - started
        self.pairs = self._mine(source, rng, params.mining_pairs, params.mining_gap, "round1")
        model.train()

    def _attach(self, model: torch.nn.Module) -> None:
        self._model = model
        # Channels-last convolutions train ~30% faster on this CPU (S2SiamFC's measurement).
        model.to(memory_format=torch.channels_last)

    # -- resuming ------------------------------------------------------------------------------
    def state_dict(self, source: FrameSource) -> dict[str, Any]:
        pairs = [{"first_frame": source.frame_index(pair.first_frame),
                  "first_box": torch.from_numpy(np.array(pair.first_box)),
                  "last_frame": source.frame_index(pair.last_frame),
                  "last_box": torch.from_numpy(np.array(pair.last_box)),
                  "gap": int(pair.gap), "confidence": float(pair.confidence)}
                 for pair in self.pairs]
        return {"pairs": pairs, "round2_done": self._round2_done, "own_step": self._own_step,
                "summary": {str(k): float(v) for k, v in self.summary.items()}}

    def load_state_dict(self, state: dict[str, Any], model: torch.nn.Module,
                        source: FrameSource) -> None:
        if set(state) != {"pairs", "round2_done", "own_step", "summary"}:
            raise ValueError(f"not a PUL recipe state: keys {sorted(state)}")
        if not state["pairs"]:
            raise ValueError("the PUL recipe state holds no mined pairs")
        self._attach(model)
        self.pairs = [MinedPair(source.frame_at(int(p["first_frame"])), p["first_box"].numpy(),
                                source.frame_at(int(p["last_frame"])), p["last_box"].numpy(),
                                int(p["gap"]), float(p["confidence"]))
                      for p in state["pairs"]]
        self._round2_done = bool(state["round2_done"])
        self._own_step = int(state["own_step"])
        self.summary = dict(state["summary"])

    def _mine(self, source: FrameSource, rng: np.random.Generator, count: int, gap: int,
              label: str) -> list[MinedPair]:
        params = self.params
        started = time.monotonic()
        settings = MiningSettings(pairs=count, gap=gap, frame_stride=params.mining_frame_stride,
                                  candidates=params.mining_candidates)
        pairs = mine_pairs(self._model, source, rng, settings, self.proposal_settings,
                           # Mining searches the network's full 255 px patches, whatever
                           # the tracker's default instance_size (a cheaper one for real time).
                           PULParams(context=params.context, instance_size=0),
                           started + params.mining_max_seconds)
        self.summary.update(summarize(pairs, label))
        self.summary[f"{label}_seconds"] = time.monotonic() - started
        keep = max(1, int(round(params.keep_fraction * len(pairs))))
        return sorted(pairs, key=lambda p: p.confidence, reverse=True)[:keep]

    # -- sampling ------------------------------------------------------------------------------
    def _maybe_mine_round2(self, source: FrameSource, rng: np.random.Generator) -> None:
        params = self.params
        if self._round2_done or params.round2_pairs == 0 or params.round2_start >= 1.0:
            return
        if self._model is None or self._step() < params.round2_start * self.total_steps:
            return
        self._round2_done = True
        self.pairs = self.pairs + self._mine(source, rng, params.round2_pairs,
                                             params.round2_gap, "round2")

    def sample_batch(self, source: FrameSource,
                     rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if not self.pairs:
            raise RuntimeError("PULRecipe.sample_batch before prepare(): no mined pairs")
        self._own_step += 1
        self._maybe_mine_round2(source, rng)
        templates, views, searches, offsets = [], [], [], []
        for index in rng.integers(len(self.pairs), size=self.params.batch_size):
            pair = self.pairs[int(index)]
            first = xywh_to_cxcywh(pair.first_box)
            fill = mean_color(pair.first_frame)
            template = crop_and_resize(pair.first_frame, first[:2],
                                       self.geometry.template_region(first[2], first[3]),
                                       self.template_size, fill)
            templates.append(photometric_jitter(template, self.search_jitter, rng))
            views.append(instance_view(pair.first_frame, first, self.geometry, self.bd_settings,
                                       rng, fill))
            cut = sample_pair(pair.last_frame, xywh_to_cxcywh(pair.last_box), self.geometry,
                              self.search_jitter, rng)
            searches.append(cut.search)
            offsets.append(cut.offset)
        return {
            "template": torch.from_numpy(image_to_tensor_layout(np.stack(templates))),
            "view": torch.from_numpy(image_to_tensor_layout(np.stack(views))),
            "search": torch.from_numpy(image_to_tensor_layout(np.stack(searches))),
            "offset": torch.from_numpy(np.stack(offsets).astype(np.float32)),
        }

    # -- loss ----------------------------------------------------------------------------------
    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]):
        params = self.params
        template = batch["template"].contiguous(memory_format=torch.channels_last)
        search = batch["search"].contiguous(memory_format=torch.channels_last)
        offsets = batch["offset"] / model.total_stride
        radius = params.label_radius / model.total_stride
        template_features = model.template_features(template)
        logits = model.head(template_features, model.features(search))
        labels = label_maps(model.response_size, offsets, radius)
        if params.tc_loss == "nr":
            weighted = weighted_label_samples(offsets, self.noise.to(offsets.device),
                                              model.response_size, radius)
            tc_loss = bounded_nr_loss(logits, weighted, params.probability_floor).mean()
        else:
            tc_loss = balanced_logistic_loss(logits, labels).mean()
        total = tc_loss
        contrastive = torch.zeros((), device=tc_loss.device)
        if params.contrastive_weight > 0:
            view = batch["view"].contiguous(memory_format=torch.channels_last)
            contrastive = info_nce(template_features.flatten(1),
                                   model.template_features(view).flatten(1), params.temperature)
            total = total + params.contrastive_weight * contrastive
        with torch.no_grad():
            # Comparable whatever tc_loss is: BCE at the mined centre and the target probability.
            bce = balanced_logistic_loss(logits, labels).mean()
            target_prob = (torch.sigmoid(logits) * labels).sum() / labels.sum().clamp(min=1)
        logs = {
            "loss_tc": float(tc_loss.detach()),
            "loss_contrastive": float(contrastive.detach()),
            "bce_at_mined_centre": float(bce),
            "target_prob": float(target_prob),
            "mined_pairs": float(len(self.pairs)),
        }
        return total, logs
