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
"""SiamFC tracking (three-scale search), shared by S2SiamFC and PUL.

Per frame: search crops at ``scale_step ** {-1, 0, 1}`` times the current search region, one
batched backbone pass, correlation with the template features, the 17x17 logits upsampled x16
(bicubic), the best scale chosen with a penalty on scale changes, a cosine window blended into
the normalised response, and the size updated with damping ``scale_lr``. Defaults are
SiamFC's (siamfc-pytorch: scale step 1.0375, penalty 0.9745, lr 0.59, window 0.176).

Decisions:

* Confidence (``TrackResult.score``): the peak-to-sidelobe ratio of the chosen scale's raw
  17x17 logits, ``(max - mean) / std`` (population std), divided by its largest possible value
  ``sqrt(cells - 1)`` (one spike on a flat map), so it lies in [0, 1]: 0 for a flat map, 1 for
  a single isolated peak. It does not depend on the logits' offset or scale, so it compares
  across frames, sequences and checkpoints. Measured on the development benchmark (its 12
  sequences of 150 frames, a 6-minute S2SiamFC checkpoint; pairwise ranking of frames): the
  PSR ranks a well-tracked frame (IoU > 0.5) above a target-absent frame in 90 % of pairs
  (87 % with untrained weights), against 66 % for ``sigmoid`` of the peak logit (34 %
  untrained) and 83 % for the peak relative to the first frame's. The default lost threshold,
  0.18 (PSR about 3), flagged 54 % of the target-absent frames and 5 % of the well-tracked ones
  there; it should be re-checked for each shipped checkpoint.
* Best scale: the maximum logit of each upsampled map, lowered for non-unit scales by
  ``(1 - scale_penalty)`` times its magnitude: SiamFC's multiplication of the raw responses for
  a positive peak, and still a penalty for a negative one (a plain product would reward it).
  An earlier revision applied the penalty to ``sigmoid`` of the peak: near saturation (shipped
  peaks ~2.2 logits, sigmoid ~0.9) a 2.55 % penalty then needed a ~0.25-logit advantage, and
  the box never changed size on a zooming clip (``test_siamfc.py``).
* Optional linear template update (S2SiamFC "Linear", CFNet): ``kernel <- (1 - lambda_u) *
  kernel + lambda_u * phi(z_t)``, the running average the paper's printed equation intends
  (DIGEST 5.5). ``phi(z_t)`` is read from the chosen scale's search features: the 6x6 window at
  the response cell nearest the peak is exactly the feature of a template crop centred on that
  cell (the backbone has no padding), so the update costs no extra network pass. The window is
  on the stride-8 grid, i.e. within 4 search pixels of the new centre. With a padded backbone
  (``efficientnet_lite0``) the window is the same feature cut from a larger context, a close
  approximation rather than the exact template feature.
* Scale search (``scale_mode``). SiamFC crops the search region at each scale every frame;
  with the ImageNet backbone three 255 px searches cost ~3.6x the slim scratch trunk's
  (``bench/bench_siamfc_speed.py``), too slow for 30 Hz on one thread. ``template`` mode
  crops ONE search region per frame and correlates it with templates cut from the first frame
  at ``template_side / s`` for each scale ``s`` (each shows the target ``s`` times larger, so it
  matches a target that grew by ``s`` relative to the current estimate); the kernels are made
  once at init. The linear template update then blends the same search window into every
  scale's kernel. Measured with the shipped ImageNet-backbone checkpoints (``unsup-tracker eval
  --threads 1``, AUC devbench / real_dev): s2siamfc search 76.9 / 65.6, template 73.0 / 55.4;
  pul search 71.6 / 62.2, template 70.9 / 52.1; ``track()`` 76 ms (search) vs 21 ms (template)
  on box.mp4, one thread, idle machine (``bench/bench_siamfc_speed.py --backbones``). So the
  default is ``search`` (accuracy; 13 FPS with Lite0), and the ROS node's config
  (config/s2siamfc.yaml, pul.yaml) sets ``template``, which keeps up with a 30 Hz 640x480 camera
  (``bench/bench_ros_latency.py --method s2siamfc --torch-threads 1 --param
  s2siamfc.scale_mode=template``: 0 of 450 frames dropped, compute p50 28 ms; search mode dropped
  38 %).
* Speed of ``search`` mode (issue 8; profiled with the shipped Lite0 checkpoints, one thread,
  CPU time per ``track()`` on a 2-core machine under a load average of ~15-30, so only the
  ratios mean much): of ~72 ms, the backbone on the three 255 px crops took ~53 ms, and in it
  TensorFlow "same" padding by ``F.pad`` (a copy of every 96/144-channel map before each
  stride-2 depth-wise convolution) and out-of-place ReLU6 cost more than the convolutions they
  fed. The fused backbone now pads inside the convolution (a zero-led kernel, same products)
  and applies ReLU6 in place: backbone ~37 ms, ``track()`` ~52 ms (``bench_siamfc_speed.py
  --frames 30`` beside the previous code, same moment: S2SiamFC 93.5 -> 55.2 ms CPU, PUL at
  191 px 84.2 -> 30.6), boxes and scores
  bit-identical (checked on 60 box.mp4 frames for both methods). Crops, the tensor copy and the
  scale peaks (``cv2.reduce``) are a few ms. The rest is resolution: ``instance_size`` (8 m + 7
  for Lite0) shrinks the search patch and the region it covers at the same pixels per target
  pixel: the three-crop backbone took ~37 / 28 / 22 ms at 255 / 223 / 191. Measured on devbench
  (``--set long_term=false``): S2SiamFC 76.9 / 70.9 / 75.0, PUL 71.6 / 72.9 / 72.9; so PUL
  defaults to 191 and S2SiamFC keeps 255 (the drop is beyond the 0.5-point budget). Not done:
  one backbone pass shared by the three scales (features resampled), int8.
* Target size is kept between ``min_target_size`` pixels and the image size; the centre is
  kept inside the image.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

from ..crops import (cosine_window, crop_and_resize, mean_color, scale_factors,
                     scale_pyramid_crops, windowed_argmax)
from ..finetune import FinetuneHook
from ..geometry import cxcywh_to_xywh, xywh_to_cxcywh
from ..pairs import PairGeometry, PairJitter
from ..params import MAX_NUM_SCALES, TrackerParams
from ..tracker_base import Candidate, Tracker, TrackResult
from .siamfc import SiamFC, balanced_logistic_loss, label_maps

_INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}
_SCALE_MODES = ("search", "template")


@dataclasses.dataclass
class SiamFCParams(TrackerParams):
    """SiamFC tracking hyper-parameters (each method subclasses to set its own defaults)."""

    num_scales: int = 3
    scale_step: float = 1.0375
    scale_penalty: float = 0.9745
    #: Damping of the size update (1 = jump to the best scale).
    scale_lr: float = 0.59
    #: Weight of the cosine window blended into the normalised response.
    window_influence: float = 0.176
    response_upsample: int = 16
    upsample_interpolation: str = "bicubic"
    #: Context around the target in the template: p = context * (w + h).
    context: float = 0.5
    #: lambda_u of the linear template update; 0 disables it. Named like the node's generic
    #: ``update_rate`` so the node's online_update / update_rate reach it (ros/tracker_settings).
    update_rate: float = 0.0
    min_target_size: float = 4.0
    #: Radius of the positive label in search-patch pixels (fine-tuning loss).
    label_radius: float = 16.0
    #: Lost below this normalised peak-to-sidelobe ratio (see the module docstring).
    lost_score_threshold: float = 0.18
    #: "search": a pyramid of search crops per frame (SiamFC); "template": one search crop per
    #: frame against templates of the first frame at the inverse scales (see the module
    #: docstring: ~3.4x faster with the ImageNet backbone, less accurate).
    scale_mode: str = "search"
    #: Side of the search patches; 0 = the network's ``instance_size`` (255). Smaller patches
    #: (8 m + 7 for the Lite0 backbone) search a smaller region at the same resolution,
    #: cheaper in proportion to their area (see the module docstring).
    instance_size: int = 0

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.num_scales <= MAX_NUM_SCALES or self.num_scales % 2 == 0:
            raise ValueError(f"num_scales must be odd and in [1, {MAX_NUM_SCALES}]")
        if self.scale_step < 1.0 or not 0.0 < self.scale_penalty <= 1.0:
            raise ValueError("scale_step must be >= 1 and scale_penalty in (0, 1]")
        if not 0.0 <= self.scale_lr <= 1.0 or not 0.0 <= self.window_influence <= 1.0:
            raise ValueError("scale_lr and window_influence must be in [0, 1]")
        if not 0.0 <= self.update_rate <= 1.0:
            raise ValueError("update_rate must be in [0, 1]")
        if not 1 <= self.response_upsample <= 32:
            raise ValueError("response_upsample must be in [1, 32]")
        if self.upsample_interpolation not in _INTERPOLATIONS:
            raise ValueError(f"upsample_interpolation must be one of {sorted(_INTERPOLATIONS)}")
        if self.scale_mode not in _SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {_SCALE_MODES}")
        if self.instance_size != 0 and not 63 <= self.instance_size <= 1023:
            raise ValueError("instance_size must be 0 (the network's) or in [63, 1023]")
        if self.context < 0 or self.min_target_size < 1 or self.label_radius <= 0:
            raise ValueError("context must be >= 0, min_target_size >= 1, label_radius > 0")


class SiamFCFinetune(FinetuneHook):
    """First-frame fine-tuning of conv5 and the head with the balanced logistic loss.

    The pairs follow S2SiamFC's single-image sampling around the init box; the label sits at the
    known shift of the target in each search crop. Background inside the search crops are the
    negatives, so the copy learns to suppress this frame's distractors.
    """

    jitter = PairJitter(max_shift=24.0, scale=0.05, aspect=0.05, rotation_deg=5.0,
                        brightness=0.05, contrast=0.1, saturation=0.1, gray_probability=0.0)

    def geometry(self, tracker: "SiamFCTracker") -> PairGeometry:
        model = tracker.model
        return PairGeometry(model.exemplar_size, model.instance_size, tracker.params.context)

    def trainable_parameters(self, tracker, model: SiamFC):
        return model.last_layers()

    def precompute(self, tracker, model: SiamFC, batch):
        # Everything before the backbone's last layer is frozen: run it once, fused.
        trunk = model.backbone.fused_trunk().to(memory_format=torch.channels_last)
        with torch.no_grad():
            template = trunk(batch["template"].contiguous(memory_format=torch.channels_last))
            search = trunk(batch["search"].contiguous(memory_format=torch.channels_last))
        return {"template_trunk": template, "search_trunk": search, "offset": batch["offset"]}

    def loss(self, tracker, model: SiamFC, batch):
        tail = model.backbone.tail()
        logits = model.head(model.crop_template(tail(batch["template_trunk"])),
                            tail(batch["search_trunk"]))
        labels = label_maps(model.response_size, batch["offset"] / model.total_stride,
                            tracker.params.label_radius / model.total_stride)
        return balanced_logistic_loss(logits, labels).mean()


class SiamFCTracker(Tracker):
    """``SiamFCTracker(model, params, device)``; ``model`` is a :class:`SiamFC`."""

    finetune_hook = SiamFCFinetune()

    def __init__(self, model: SiamFC, params: SiamFCParams, device: torch.device):
        super().__init__(params)
        self.model = model
        self.device = torch.device(device)
        self.scales = scale_factors(params.num_scales, params.scale_step)
        self.penalties = np.where(np.isclose(self.scales, 1.0), 1.0, params.scale_penalty)
        #: Search patch side and response side (``params.instance_size`` or the network's).
        self.instance_size = int(params.instance_size or model.instance_size)
        if self.instance_size < model.exemplar_size:
            raise ValueError(f"instance_size {self.instance_size} is smaller than the "
                             f"network's template ({model.exemplar_size})")
        self.response_size = model.response_size_for(self.instance_size)
        self.upsampled_size = self.response_size * params.response_upsample
        window = cosine_window(self.upsampled_size)
        self.window = window / window.sum()
        self.interpolation = _INTERPOLATIONS[params.upsample_interpolation]

    def _to_tensor(self, patches: np.ndarray) -> torch.Tensor:
        """(N, H, W, C) patches as a float channels-last (N, C, H, W) tensor: one copy.

        The NHWC array viewed as NCHW already has channels-last strides, which ``float()``
        keeps (the values of the former transpose-then-reorder, without its two copies).
        """
        tensor = torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2)
        return tensor.to(self.device).float().contiguous(memory_format=torch.channels_last)

    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self.net = self.model.inference_copy()
        cx, cy, width, height = xywh_to_cxcywh(box_xywh)
        self.center = np.array([cx, cy])
        self.target_size = np.array([width, height])
        self.image_size = np.array([image.shape[1], image.shape[0]], dtype=np.float64)
        geometry = PairGeometry(self.net.exemplar_size, self.instance_size,
                                self.params.context)
        self.template_side = geometry.template_region(width, height)[0]
        self.search_side = geometry.search_region(width, height)[0]
        self.template_scales = self.params.scale_mode == "template"
        # Template mode: the template at scale s shows the target s times larger, so it matches
        # a target that grew by s relative to the current estimate.
        sides = self.template_side / self.scales if self.template_scales \
            else [self.template_side]
        templates = np.stack([crop_and_resize(image, self.center, side, self.net.exemplar_size,
                                              mean_color(image)) for side in sides])
        with torch.inference_mode():
            self.kernel = self.net.template_features(self._to_tensor(templates))
        self.center_kernel = len(sides) // 2
        #: Never updated: re-detection checks candidates against it (the update makes new
        #: tensors, so this stays the first frame's); the template at the current size.
        self.first_kernel = self._center_kernel()
        # Re-detection scores are relative to the template's peak on its own first frame.
        self.first_peak = max(float(self._window_logits(image, self.center[None])[1].max()),
                              1e-6)

    def _track(self, image: np.ndarray) -> TrackResult:
        params = self.params
        search_scales = [1.0] if self.template_scales else self.scales
        crops = scale_pyramid_crops(image, self.center, self.search_side, search_scales,
                                    self.instance_size, mean_color(image))
        with torch.inference_mode():
            features = self.net.features(self._to_tensor(crops))
            if self.template_scales:
                features = features.expand(len(self.kernel), -1, -1, -1)
            logits = self.net.head(self.kernel, features)[:, 0].float().cpu().numpy()
        upsampled = cv2.resize(np.ascontiguousarray(logits.transpose(1, 2, 0)),
                               (self.upsampled_size, self.upsampled_size),
                               interpolation=self.interpolation)
        upsampled = upsampled.reshape(self.upsampled_size, self.upsampled_size, -1)
        # cv2.reduce: the same maxima as upsampled.max(axis=(0, 1)), ~2x faster.
        peaks = cv2.reduce(upsampled.reshape(-1, upsampled.shape[2]), 0, cv2.REDUCE_MAX)[0]
        # Penalise by the peak logit's magnitude, so a penalty always lowers a scale's score.
        best = int(np.argmax(peaks - np.abs(peaks) * (1.0 - self.penalties)))
        response = upsampled[:, :, best]
        normalised = response - response.min()
        normalised /= max(float(normalised.sum()), 1e-12)
        row, col = windowed_argmax(normalised, self.window, params.window_influence)
        raw = logits[best]
        spread = float(raw.std())
        peak_to_sidelobe = (float(raw.max()) - float(raw.mean())) / spread if spread > 0 else 0.0
        confidence = float(np.clip(peak_to_sidelobe / np.sqrt(raw.size - 1), 0.0, 1.0))

        scale = self.scales[best]
        # Upsampled map -> search patch pixels -> image pixels.
        displacement = (np.array([col, row], dtype=np.float64) - (self.upsampled_size - 1) / 2.0)
        displacement *= self.net.total_stride / params.response_upsample
        displacement *= self.search_side * search_scales[min(best, len(search_scales) - 1)] \
            / self.instance_size
        self.center = np.clip(self.center + displacement, 0.0, self.image_size - 1.0)
        size_change = (1.0 - params.scale_lr) + params.scale_lr * scale
        new_size = np.clip(self.target_size * size_change, params.min_target_size,
                           np.maximum(self.image_size, params.min_target_size))
        applied = new_size / self.target_size
        self.target_size = new_size
        # The square crops follow the target's geometric-mean size change.
        self.template_side *= float(np.sqrt(applied[0] * applied[1]))
        self.search_side *= float(np.sqrt(applied[0] * applied[1]))

        self.match_score = self._match(raw, features[best:best + 1])
        if params.update_rate > 0 and not self.frozen:
            self._update_template(features[best:best + 1], row, col)
        box = cxcywh_to_xywh((*self.center, *self.target_size))
        return TrackResult(box=box, score=confidence)

    def _update_template(self, search_features: torch.Tensor, row: int, col: int) -> None:
        upsample = self.params.response_upsample
        last = self.response_size - 1
        cell_row = int(np.clip(round((row + 0.5) / upsample - 0.5), 0, last))
        cell_col = int(np.clip(round((col + 0.5) / upsample - 0.5), 0, last))
        size = self.kernel.shape[-1]
        window = search_features[:, :, cell_row:cell_row + size, cell_col:cell_col + size]
        rate = self.params.update_rate
        with torch.inference_mode():
            self.kernel = (1.0 - rate) * self.kernel + rate * window

    # -- re-detection hooks (unsup_tracker.long_term) -------------------------------------
    def _center_kernel(self) -> torch.Tensor:
        """Return the template at the current size (template mode holds one per scale)."""
        if len(self.kernel) == 1:
            return self.kernel
        return self.kernel[self.center_kernel:self.center_kernel + 1]

    def _window_logits(self, image: np.ndarray, centers: np.ndarray, scales=None):
        """Raw logits ``(N, r, r)`` of the memory and first-frame templates at ``centers``."""
        scales = np.ones(len(centers)) if scales is None else scales
        fill = mean_color(image)
        crops = np.stack([crop_and_resize(image, c, self.search_side * s, self.instance_size,
                                          fill) for c, s in zip(centers, scales)])
        with torch.inference_mode():
            features = self.net.features(self._to_tensor(crops))
            logits = [self.net.head(kernel, features)[:, 0].float().cpu().numpy()
                      for kernel in (self._center_kernel(), self.first_kernel)]
        return logits

    def _match(self, memory_logits: np.ndarray, features: torch.Tensor) -> float:
        """Return the lower of the memory and first-frame peaks over the first frame's peak."""
        peak = float(memory_logits.max())
        if self.first_kernel is not self.kernel:
            with torch.inference_mode():
                first = self.net.head(self.first_kernel, features)
            peak = min(peak, float(first.max()))
        return peak / self.first_peak

    def search_window(self) -> tuple[float, float]:
        """Return the search side and the span of the response map on it (the grid step)."""
        span = (self.response_size - 1) * self.net.total_stride / self.instance_size
        return float(self.search_side), float(self.search_side * span)

    def detect(self, image: np.ndarray, centers: np.ndarray,
               scales: np.ndarray | None = None) -> list[Candidate]:
        """Score windows at ``centers`` against both templates (memory and first frame).

        A candidate's score is the lower of the two peak logits over the first frame's; its
        position is the first-frame template's peak.
        """
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        scales = np.ones(len(centers)) if scales is None else np.asarray(scales, np.float64)
        memory, first = self._window_logits(image, centers, scales)
        scores = np.minimum(memory.max(axis=(1, 2)), first.max(axis=(1, 2))) / self.first_peak
        candidates = []
        for center, scale, logits, score in zip(centers, scales, first, scores):
            response = cv2.resize(logits, (self.upsampled_size, self.upsampled_size),
                                  interpolation=self.interpolation)
            row, col = np.unravel_index(int(np.argmax(response)), response.shape)
            shift = np.array([col, row], dtype=np.float64) - (self.upsampled_size - 1) / 2.0
            shift *= self.net.total_stride / self.params.response_upsample
            found = center + shift * self.search_side * scale / self.instance_size
            found = np.clip(found, 0.0, self.image_size - 1.0)
            candidates.append(Candidate(box=cxcywh_to_xywh((*found, *(self.target_size * scale))),
                                        score=float(score)))
        return candidates

    def reseat(self, box_xywh) -> None:
        """Move to ``box_xywh``; crops follow its size change, the templates are kept."""
        cx, cy, width, height = xywh_to_cxcywh(box_xywh)
        self.center = np.clip(np.array([cx, cy]), 0.0, self.image_size - 1.0)
        new_size = np.clip(np.array([width, height]), self.params.min_target_size,
                           np.maximum(self.image_size, self.params.min_target_size))
        applied = new_size / self.target_size
        self.target_size = new_size
        self.template_side *= float(np.sqrt(applied[0] * applied[1]))
        self.search_side *= float(np.sqrt(applied[0] * applied[1]))
