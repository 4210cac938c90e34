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
"""PUL stage 1: the background-discrimination (BD) model, learned contrastively on proposals.

The BD model is the SiamFC network itself (backbone trained here, head untouched): PUL runs it
as "BD-SiamFC" for temporal mining and then "further trains BD-SiamFC", so sharing the
architecture is what the paper does and leaves no second network to keep.

One training step: N proposal instances, two augmented 127-pixel views of each (the template
crop SiamFC would cut around the proposal: context 0.5), InfoNCE with tau = 0.5 over the 2N
views (:func:`.losses.info_nce`): the other view of the same proposal is the positive, the other
proposals (same frame: background distractors; other frames) are the negatives.

Anchor-based hard-negative mining (AHM, the paper's Alg. 1): training runs in rounds of
``round_steps`` steps; each round draws a fresh patch set (``per_frame`` proposals from random
frames of the proposal pool). The first ``random_fraction`` of the steps build mini-batches from
N random patches; afterwards each round embeds its patch set with the current model
(global-average-pooled conv5 as the paper's GAP layer, centred on the patch set's mean and
L2-normalised), picks ``N * E``
candidate anchors (E = 5), scores each by the summed similarity to its N - 1 nearest neighbours
(Eq. 5), keeps the ``round_steps`` best, and uses "anchor + its N - 1 nearest neighbours" as one
mini-batch each: negatives the current model finds hard to tell apart.

Decisions where the paper is silent (DIGEST 3.8):

* Embedding for InfoNCE: the flattened conv5 map (6 x 6 x C), L2-normalised. It is the vector
  SiamFC's correlation compares at the target position, so the contrast trains exactly the
  similarity the tracker uses; a pooled vector would discard the spatial layout that
  localisation needs. No projection head (it would absorb what the tracker needs to learn).
* Augmentations (SimCLR-like but milder geometry, because a tracker's template and its match
  differ by small shifts and scale changes, not by crops of random halves): centre shift up to
  ``view_shift`` of the crop side, log-uniform scale +-15 %, per-axis stretch +-10 %, brightness,
  contrast, saturation, grey and blur jitter (:func:`unsup_tracker.pairs.photometric_jitter`).
  No flips: the tracker never sees a mirrored target.
* AHM similarity on centred pooled features: without centring, the pooled features of all
  patches point the same way (the mean neighbour similarity of the first AHM round was 0.997 in
  a 30-step run on the opencv-doc videos), so the nearest-neighbour ranking would be noise.
* Patch sets without duplicates. PUL draws 12 proposals from ONE frame of each video per
  epoch, so two patches of a set never show the same object. A frame source here has no notion
  of videos, so frames are grouped into scenes (:func:`assign_scenes`: a thumbnail correlation
  or colour-histogram similarity that, measured on the opencv-doc videos, is >= 0.91 between
  frames of one static-camera video and <= 0.78 between videos; Megamind, a montage of shots,
  splits into several scenes) and a round's patch set takes one frame per scene; only when
  that gives fewer than ``min_patch_set`` patches (e.g. a single video) do more frames join,
  and then two patches of one scene may overlap by at most IoU ``max_overlap`` (0.3).
  Measured before this rule (40 pool frames, 120 steps, held-out InfoNCE on random batches of
  16 instances): 3.24 at the start, 2.07 after 30 random steps, then rising to 2.39 over 90 AHM
  steps whose "hard negatives" were the same background patch in other frames of the same
  static-camera video (mean neighbour similarity 0.995).
* Plain surfaces are no objects: proposals must contain edges (:mod:`.proposals`,
  ``min_edge_density``); otherwise AHM's densest region of feature space is a table top cut
  in sixteen places, indistinguishable by design.
* Frames: a pool of ``pool_frames`` random frames (PUL: one frame in ten of every video), with
  their proposals computed once (:mod:`.proposals`).
* Optimiser: Adam, ``lr`` 1e-3 (PUL starts AlexPUL from SiamFC's supervised weights and uses
  1e-4; here the network starts from scratch with a CPU-sized budget; not tuned further),
  weight decay 5e-4 on the convolution weights.

Measured with the defaults on the opencv-doc videos (96 pool frames, 150 steps, 10 AHM rounds):
InfoNCE of the training batches 2.27 -> 2.13 (AHM batches are harder than random ones, so the
figure understates the change); on the development benchmark the BD model alone tracked no
better than the untrained network (AUC 36.7 vs 37.4), so on this little data its value is as
the first miner, not as a tracker (see :mod:`.recipe`).
* Budget: at most ``steps`` steps, and the caller's wall-clock deadline (the recipe's
  ``bd_max_seconds``, proposal computation included); a deadline that bites makes the stage
  depend on the machine's load.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...crops import crop_and_resize, image_to_tensor_layout, mean_color
from ...geometry import iou_xywh, xywh_to_cxcywh
from ...pairs import PairGeometry, PairJitter, photometric_jitter
from ...recipe import FrameSource
from .losses import info_nce
from .proposals import ProposalSettings, propose

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BDSettings:
    steps: int = 150
    #: N: instances per mini-batch (2N views).
    batch_instances: int = 16
    temperature: float = 0.5
    pool_frames: int = 96
    #: Proposals drawn per frame into a round's patch set (PUL: 12).
    per_frame: int = 12
    #: A round's patch set takes one frame per scene, more only to reach this size.
    min_patch_set: int = 64
    max_overlap: float = 0.3
    round_steps: int = 10
    #: Share of the steps with random mini-batches before AHM starts (PUL: 20 of 60 epochs).
    random_fraction: float = 1.0 / 3.0
    #: E: candidate anchors per round = N * E.
    anchor_scale: int = 5
    view_shift: float = 0.06
    lr: float = 1e-3
    weight_decay: float = 5e-4
    #: Photometric part of the view augmentation (geometry: see the module docstring).
    jitter: PairJitter = PairJitter(max_shift=0.0, scale=0.0, aspect=0.0, brightness=0.15,
                                    contrast=0.3, saturation=0.3, gray_probability=0.1,
                                    blur_probability=0.2)


@dataclasses.dataclass
class ProposalPool:
    """Frames (read-only views of the source's cache) and their proposals (cx, cy, w, h)."""

    frames: list[np.ndarray]
    proposals: list[np.ndarray]
    fills: list[np.ndarray]
    #: Scene of each frame: frames whose thumbnails correlate above a threshold share one.
    scenes: list[int] = dataclasses.field(default_factory=list)


def _scene_signature(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey 32 x 24 thumbnail, zero-mean unit-norm; square root of the HSV 8x4x4 histogram)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    small -= small.mean()
    small /= max(float(np.linalg.norm(small)), 1e-9)
    hist = cv2.calcHist([cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)], [0, 1, 2], None, [8, 4, 4],
                        [0, 180, 0, 256, 0, 256]).ravel().astype(np.float64)
    return small, np.sqrt(hist / max(float(hist.sum()), 1e-9))


def assign_scenes(frames: list[np.ndarray], layout_threshold: float = 0.8,
                  colour_threshold: float = 0.88) -> list[int]:
    """Return scene ids: a frame joins the first scene whose first frame looks like it.

    Looks like: thumbnail correlation above ``layout_threshold`` or colour-histogram
    Bhattacharyya coefficient above ``colour_threshold``; otherwise the frame starts a new scene.
    """
    representatives: list[tuple[np.ndarray, np.ndarray]] = []
    scenes = []
    for frame in frames:
        layout, colour = _scene_signature(frame)
        for scene, (other_layout, other_colour) in enumerate(representatives):
            if (layout @ other_layout > layout_threshold
                    or colour @ other_colour > colour_threshold):
                scenes.append(scene)
                break
        else:
            representatives.append((layout, colour))
            scenes.append(len(representatives) - 1)
    return scenes


def collect_proposals(source: FrameSource, rng: np.random.Generator, num_frames: int,
                      settings: ProposalSettings, deadline: float = math.inf) -> ProposalPool:
    """Proposals of ``num_frames`` random frames (frames with fewer than two are skipped)."""
    pool = ProposalPool([], [], [])
    attempts = 0
    while len(pool.frames) < num_frames and attempts < 3 * num_frames:
        attempts += 1
        if len(pool.frames) >= 2 and time.monotonic() > deadline:
            break
        frame = source.sample_image(rng)
        boxes = propose(frame, settings, rng)
        if len(boxes) < 2:
            continue
        pool.frames.append(frame)
        pool.proposals.append(np.stack([xywh_to_cxcywh(b) for b in boxes]))
        pool.fills.append(mean_color(frame))
    pool.scenes = assign_scenes(pool.frames)
    return pool


def draw_patch_set(pool: ProposalPool, per_frame: int, min_size: int, max_overlap: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Rows ``(frame index, proposal index)`` of one round's patch set.

    One random frame per scene, ``per_frame`` proposals from each; only while the set is
    smaller than ``min_size`` further frames of already used scenes join. Two patches of the
    same scene overlap by IoU <= ``max_overlap`` (see the module docstring).
    """
    scenes = pool.scenes or list(range(len(pool.frames)))
    order = rng.permutation(len(pool.frames))
    seen: set[int] = set()
    first, rest = [], []
    for frame_index in order:
        (rest if scenes[frame_index] in seen else first).append(int(frame_index))
        seen.add(scenes[frame_index])
    rows: list[tuple[int, int]] = []
    taken: dict[int, list[np.ndarray]] = {}
    for position, frame_index in enumerate(first + rest):
        if position >= len(first) and len(rows) >= min_size:
            break
        boxes = pool.proposals[frame_index]
        xywh = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2.0, boxes[:, 2:]], axis=1)
        scene_boxes = taken.setdefault(scenes[frame_index], [])
        chosen = 0
        for candidate in rng.permutation(len(boxes)):
            if chosen >= per_frame:
                break
            if scene_boxes and iou_xywh(np.broadcast_to(xywh[candidate], (len(scene_boxes), 4)),
                                        np.asarray(scene_boxes)).max() > max_overlap:
                continue
            scene_boxes.append(xywh[candidate])
            rows.append((frame_index, int(candidate)))
            chosen += 1
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def instance_view(frame: np.ndarray, box_cxcywh: np.ndarray, geometry: PairGeometry,
                  settings: BDSettings, rng: np.random.Generator | None,
                  fill: np.ndarray) -> np.ndarray:
    """Return the template crop of a proposal, augmented when ``rng`` is given (uint8, TxTx3)."""
    cx, cy, width, height = (float(v) for v in box_cxcywh)
    region_w, region_h = geometry.template_region(width, height)
    if rng is not None:
        scale = math.exp(rng.uniform(-math.log(1.15), math.log(1.15)))
        region_w *= scale * math.exp(rng.uniform(-math.log(1.1), math.log(1.1)))
        region_h *= scale * math.exp(rng.uniform(-math.log(1.1), math.log(1.1)))
        cx += rng.uniform(-settings.view_shift, settings.view_shift) * region_w
        cy += rng.uniform(-settings.view_shift, settings.view_shift) * region_h
    crop = crop_and_resize(frame, (cx, cy), (region_w, region_h), geometry.template_size, fill)
    return photometric_jitter(crop, settings.jitter, rng) if rng is not None else crop


def view_embeddings(model: torch.nn.Module, crops: np.ndarray) -> torch.Tensor:
    """Flattened conv5 maps (N, 6*6*C) of uint8 crops (N, T, T, 3), with gradients."""
    device = next(model.parameters()).device
    batch = torch.from_numpy(image_to_tensor_layout(crops)).to(device)
    features = model.template_features(batch.contiguous(memory_format=torch.channels_last))
    return features.flatten(1)


def pooled_embeddings(model: torch.nn.Module, crops: np.ndarray, chunk: int = 64) -> torch.Tensor:
    """Global-average-pooled conv5 features (M, C), centred on their mean and L2-normalised.

    Eval mode, no gradients. Centring: see the module docstring (AHM).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(crops), chunk):
                batch = torch.from_numpy(image_to_tensor_layout(crops[start:start + chunk]))
                batch = batch.to(device).contiguous(memory_format=torch.channels_last)
                out.append(model.features(batch).mean((2, 3)).cpu())
    finally:
        model.train(was_training)
    pooled = torch.cat(out)
    return F.normalize(pooled - pooled.mean(0, keepdim=True), dim=1)


def anchor_batches(features: torch.Tensor, batch_size: int, num_anchors: int,
                   anchor_scale: int, rng: np.random.Generator) -> list[np.ndarray]:
    """AHM (Alg. 1, Eq. 5): ``num_anchors`` mini-batches "anchor + its N - 1 nearest neighbours".

    ``features`` (M, D) are L2-normalised; candidates are ``batch_size * anchor_scale`` random
    rows; each is scored by its summed dot product with its ``batch_size - 1`` nearest
    neighbours among all M rows; the best-scored candidates become anchors.
    """
    count = features.shape[0]
    if count < batch_size:
        raise ValueError(f"patch set of {count} is smaller than the batch ({batch_size})")
    candidates = rng.choice(count, size=min(count, batch_size * anchor_scale), replace=False)
    similarity = features[candidates] @ features.t()
    similarity[torch.arange(len(candidates)), torch.from_numpy(candidates)] = -math.inf
    top = similarity.topk(batch_size - 1, dim=1)
    scores = top.values.sum(1)
    best = torch.argsort(scores, descending=True)[:num_anchors]
    return [np.concatenate([[candidates[int(b)]], top.indices[int(b)].numpy()]) for b in best]


def train_background_model(model: torch.nn.Module, pool: ProposalPool, geometry: PairGeometry,
                           settings: BDSettings, rng: np.random.Generator,
                           deadline: float = math.inf) -> dict[str, float]:
    """Contrastive BD training of ``model``'s backbone in place; returns a summary."""
    if len(pool.frames) == 0:
        raise ValueError("no frame with proposals: nothing to learn background discrimination on")
    trained = [p for p in model.backbone.parameters() if p.requires_grad]  # not frozen stages
    decayed = [p for p in trained if p.dim() > 1]
    plain = [p for p in trained if p.dim() <= 1]
    optimizer = torch.optim.Adam([{"params": decayed, "weight_decay": settings.weight_decay},
                                  {"params": plain, "weight_decay": 0.0}], lr=settings.lr)
    random_steps = int(round(settings.random_fraction * settings.steps))
    losses: list[float] = []
    ahm_similarity: list[float] = []
    rows = np.zeros((0, 2), dtype=np.int64)
    batches: list[np.ndarray] = []
    model.train()
    step = 0
    for step in range(settings.steps):
        if time.monotonic() > deadline:
            break
        if step % settings.round_steps == 0:
            rows = draw_patch_set(pool, settings.per_frame, settings.min_patch_set,
                                  settings.max_overlap, rng)
            batches = []
            if step >= random_steps and len(rows) >= settings.batch_instances:
                crops = np.stack([instance_view(pool.frames[f], pool.proposals[f][p], geometry,
                                                settings, None, pool.fills[f]) for f, p in rows])
                features = pooled_embeddings(model, crops)
                batches = anchor_batches(features, settings.batch_instances,
                                         settings.round_steps, settings.anchor_scale, rng)
                ahm_similarity.append(float(
                    (features[batches[0][1:]] @ features[batches[0][0]]).mean()))
        if len(rows) < 2:
            raise ValueError("the proposal pool gives fewer than two patches")
        if batches:
            chosen = batches[step % len(batches)]
        else:
            chosen = rng.choice(len(rows), size=min(settings.batch_instances, len(rows)),
                                replace=False)
        views = [[instance_view(pool.frames[f], pool.proposals[f][p], geometry, settings, rng,
                                pool.fills[f]) for f, p in rows[chosen]] for _ in range(2)]
        embeddings = view_embeddings(model, np.stack(views[0] + views[1]))
        loss = info_nce(embeddings[:len(chosen)], embeddings[len(chosen):],
                        settings.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    done = len(losses)
    head = losses[:max(1, min(10, done // 4))]
    tail = losses[-max(1, min(10, done // 4)):]
    summary = {
        "bd_steps": float(done),
        "bd_loss_first": float(np.mean(head)) if losses else math.nan,
        "bd_loss_last": float(np.mean(tail)) if losses else math.nan,
        "bd_ahm_rounds": float(len(ahm_similarity)),
        "bd_ahm_neighbour_similarity": float(np.mean(ahm_similarity)) if ahm_similarity
        else math.nan,
    }
    LOG.info("PUL background discrimination: %d steps, InfoNCE %.3f -> %.3f (first/last "
             "quarter, up to 10 steps), %d AHM rounds", done, summary["bd_loss_first"],
             summary["bd_loss_last"], len(ahm_similarity))
    return summary
