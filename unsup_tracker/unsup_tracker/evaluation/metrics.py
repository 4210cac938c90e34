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
"""One-pass evaluation (OPE) metrics as the got10k and pysot toolkits compute them.

* Success curve: for each of the 21 thresholds ``linspace(0, 1, 21)``, the fraction of scored
  frames whose IoU is *strictly greater* than the threshold (so an IoU of exactly 0.5 fails the
  0.5 threshold, IoU 0 fails every threshold and the last point, ``IoU > 1``, is always 0).
  AUC = mean of the 21 values (the got10k/pysot "success score").
* Precision curve: fraction of scored frames whose centre error (pixels) is ``<=`` each threshold
  ``0, 1, ..., 50``; P@20 is the value at 20 px.
* Normalised precision (pysot's convention, as LaSOT/TrackingNet report it): the centre offset is
  divided per axis by the ground-truth width and height, ``sqrt((dx / w_gt)^2 + (dy / h_gt)^2)``,
  and compared ``<=`` with ``0, 0.01, ..., 0.5``; NormP@0.2 is the value at 0.2.
* IoU and centres are continuous: :func:`unsup_tracker.geometry.iou_xywh` and
  :func:`~unsup_tracker.geometry.center_distance`. (pysot's centre uses ``x + (w - 1) / 2``; the
  ``-1/2`` cancels in a difference of centres, so the errors are identical.)

Which frames are scored (decision): frames where the target is annotated as present, *after* the
initialisation frame. The init frame is excluded because the tracker is handed its box there: the
OTB MATLAB toolkit and got10k's OTB experiment score it (as IoU 1), which inflates every method by
up to 1/N; GOT-10k's protocol and ``real_dev/baselines.md`` score frames 2..N, and so do we.
Absent frames (NaN ground truth) are excluded from numerator and denominator (got10k's convention;
pysot instead counts them as failures for success and as hits for precision).
Frames that were not tracked (e.g. after ``--max-frames``) do not exist for the metrics.

Aggregation over sequences: every curve is averaged over sequences with equal weight (got10k and
pysot do the same), so a dataset AUC is the mean of per-sequence AUCs, not a per-frame pool.

Mask metrics (DAVIS, Perazzi et al. 2016; written here from the definition, not copied):

* J (region similarity) = IoU of the predicted and ground-truth masks; both empty gives 1.
* F (contour accuracy) = F-measure of boundary precision and recall. Boundaries are DAVIS's
  ``seg2bmap`` maps (a pixel that differs from its right, lower or lower-right neighbour). A
  boundary pixel is matched when the other mask's boundary lies within a disk of radius
  ``ceil(0.008 * image diagonal)`` pixels (7 px at 640x480), tested by dilating the other boundary
  with that disk as the davis2017 toolkit does (a pixel may match more than once; no one-to-one
  bipartite assignment). No boundary in either mask gives F = 1; in only one, F = 0.
* Per sequence: mean, recall (fraction of frames > 0.5) and decay (mean of the first quarter of
  the scored frames minus mean of the last quarter, ``np.array_split`` into 4; DAVIS bins by
  rounded ``linspace`` edges, which differs by at most a frame per bin), for J and F;
  J&F = (J mean + F mean) / 2. Dataset figures are equal-weight means over sequences.
* Box-initialised, as SiamMask evaluates on DAVIS: the tracker is initialised with the box, and
  the mask frames are the scored frames (after the init frame, target present) that have a mask
  file. Every tracker also gets J/F of its *box filled as a mask* on the same frames: the baseline
  a real mask must beat. A tracker that gave masks scores J = F = 0 in a frame where it gave none.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Optional, Sequence as SequenceType

import cv2
import numpy as np

from ..geometry import center_distance, iou_xywh

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
#: Index of 20 px in PIXEL_THRESHOLDS and of 0.2 in NORM_THRESHOLDS.
PRECISION_INDEX = 20
NORM_PRECISION_INDEX = 20
#: DAVIS's boundary match distance as a fraction of the image diagonal.
BOUNDARY_TOLERANCE = 0.008
#: DAVIS's recall counts frames whose J (or F) is above this.
MASK_RECALL_THRESHOLD = 0.5

#: Per frame (J, F), or None where the frame has no such score.
FrameMaskScores = SequenceType[Optional[tuple[float, float]]]


def success_curve(ious: np.ndarray) -> np.ndarray:
    """Fraction of IoUs strictly above each of :data:`IOU_THRESHOLDS` (zeros when no frame)."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1)
    if ious.size == 0:
        return np.zeros_like(IOU_THRESHOLDS)
    return np.mean(ious[:, None] > IOU_THRESHOLDS[None, :], axis=0)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = PIXEL_THRESHOLDS) -> np.ndarray:
    """Fraction of centre errors ``<=`` each threshold (zeros when no frame)."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    if errors.size == 0:
        return np.zeros_like(thresholds, dtype=np.float64)
    return np.mean(errors[:, None] <= np.asarray(thresholds)[None, :], axis=0)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre error with the x offset divided by the GT width and the y offset by the GT height."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    # Scaling both boxes by (1/w_gt, 1/h_gt) scales their centres the same way, so the plain
    # centre distance of the scaled boxes is the normalised error.
    scale = 1.0 / np.maximum(gt[:, 2:], 1e-12)
    scale = np.concatenate([scale, scale], axis=1)
    return center_distance(pred * scale, gt * scale)


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Compute DAVIS's J: the IoU of two boolean masks; two empty masks agree perfectly (1.0)."""
    pred, gt = _mask_pair(pred, gt)
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & gt)) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Return the one-pixel boundary of a boolean mask, as DAVIS's ``seg2bmap`` defines it.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour;
    beyond the image the mask is taken to continue the last row/column (so the image border is no
    boundary), and the bottom-right pixel is never one.
    """
    mask = np.asarray(mask, dtype=bool)
    right = mask.copy()
    right[:, :-1] = mask[:, 1:]
    below = mask.copy()
    below[:-1, :] = mask[1:, :]
    diagonal = mask.copy()
    diagonal[:-1, :-1] = mask[1:, 1:]
    # The last row/column have no diagonal neighbour: only their right/lower one counts.
    diagonal[-1, :] = mask[-1, :]
    diagonal[:, -1] = mask[:, -1]
    boundary = (mask != right) | (mask != below) | (mask != diagonal)
    boundary[-1, -1] = False
    return boundary


def boundary_tolerance_px(shape: tuple[int, int],
                          tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Return the match distance in pixels: ``ceil(tolerance * diagonal)`` (``>= 1``: pixels)."""
    if tolerance >= 1:
        return int(math.ceil(tolerance))
    return int(math.ceil(tolerance * math.hypot(shape[0], shape[1])))


def _disk(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius ** 2).astype(np.uint8)


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray,
                       tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Compute DAVIS's F: boundary F-measure with matches within ``boundary_tolerance_px``.

    A predicted boundary pixel is matched when a ground-truth boundary pixel lies within the
    tolerance disk (Euclidean), and vice versa; precision = matched predicted / predicted boundary
    pixels, recall = matched ground-truth / ground-truth boundary pixels, F = their harmonic mean.
    Degenerate cases as DAVIS: no boundary in either mask gives F = 1; a boundary in only one
    of them gives F = 0.
    """
    pred, gt = _mask_pair(pred, gt)
    pred_boundary, gt_boundary = boundary_map(pred), boundary_map(gt)
    num_pred, num_gt = np.count_nonzero(pred_boundary), np.count_nonzero(gt_boundary)
    if num_pred == 0 and num_gt == 0:
        return 1.0
    if num_pred == 0 or num_gt == 0:
        return 0.0
    disk = _disk(boundary_tolerance_px(pred.shape, tolerance))
    near_gt = cv2.dilate(gt_boundary.view(np.uint8), disk) > 0
    near_pred = cv2.dilate(pred_boundary.view(np.uint8), disk) > 0
    precision = np.count_nonzero(pred_boundary & near_gt) / num_pred
    recall = np.count_nonzero(gt_boundary & near_pred) / num_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def mask_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """Return ``(J, F)`` of a predicted mask (non-zero = target) against a ground-truth mask."""
    return region_similarity(pred, gt), boundary_f_measure(pred, gt)


def _mask_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    if pred.ndim != 2 or pred.size == 0:
        raise ValueError(f"masks must be non-empty HxW arrays, got shape {pred.shape}")
    return pred != 0, gt != 0


@dataclasses.dataclass
class MaskScores:
    """Per-frame J and F of one kind of mask over a sequence's scored frames with a mask."""

    j: np.ndarray
    f: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: SequenceType[tuple[float, float]]) -> "MaskScores":
        values = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        return cls(j=values[:, 0].copy(), f=values[:, 1].copy())

    @property
    def num_frames(self) -> int:
        return int(len(self.j))

    def summary(self) -> dict:
        """J and F mean, recall (fraction > 0.5) and decay, and the J&F mean."""
        out = {}
        for name, values in (("j", self.j), ("f", self.f)):
            out[f"{name}_mean"] = float(np.mean(values))
            out[f"{name}_recall"] = float(np.mean(values > MASK_RECALL_THRESHOLD))
            out[f"{name}_decay"] = _decay(values)
        out["jf_mean"] = (out["j_mean"] + out["f_mean"]) / 2
        return out


def _decay(values: np.ndarray) -> Optional[float]:
    """Mean of the first quarter of frames minus mean of the last (None with < 4 frames)."""
    if len(values) < 4:
        return None
    quarters = np.array_split(np.asarray(values, dtype=np.float64), 4)
    return float(np.mean(quarters[0]) - np.mean(quarters[-1]))


class _CurveScores:
    """Headline numbers read off the ``success``, ``precision`` and ``norm_precision`` curves."""

    @property
    def auc(self) -> float:
        return float(np.mean(self.success))

    @property
    def precision_20(self) -> float:
        return float(self.precision[PRECISION_INDEX])

    @property
    def norm_precision_02(self) -> float:
        return float(self.norm_precision[NORM_PRECISION_INDEX])


@dataclasses.dataclass
class SequenceMetrics(_CurveScores):
    num_scored: int
    ious: np.ndarray
    center_errors: np.ndarray
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    #: J/F of the tracker's own masks (None: the tracker gave none, or no mask ground truth).
    mask: Optional[MaskScores] = None
    #: J/F of the tracker's box filled as a mask: the baseline a real mask must beat.
    box_mask: Optional[MaskScores] = None

    def summary(self) -> dict:
        return {"auc": self.auc, "precision_20": self.precision_20,
                "norm_precision_0.2": self.norm_precision_02, "num_scored": self.num_scored,
                **_mask_summaries(self.mask, self.box_mask)}


def _mask_summaries(mask: Optional[MaskScores], box_mask: Optional[MaskScores]) -> dict:
    return {"mask": mask.summary() if mask is not None else None,
            "box_mask": box_mask.summary() if box_mask is not None else None}


def scored_frames(groundtruth: np.ndarray, init_frame: int, num_tracked: Optional[int] = None
                  ) -> np.ndarray:
    """Return the indices of frames that count: after ``init_frame``, target present, tracked."""
    groundtruth = np.asarray(groundtruth, dtype=np.float64).reshape(-1, 4)
    end = len(groundtruth) if num_tracked is None else min(num_tracked, len(groundtruth))
    present = np.all(np.isfinite(groundtruth[:end]), axis=1)
    present[: init_frame + 1] = False
    return np.flatnonzero(present)


def evaluate_boxes(pred: np.ndarray, groundtruth: np.ndarray, init_frame: int = 0,
                   mask_scores: Optional[FrameMaskScores] = None,
                   box_mask_scores: Optional[FrameMaskScores] = None) -> SequenceMetrics:
    """Metrics of one sequence; ``pred`` and ``groundtruth`` are (N, 4) 0-based xywh per frame.

    ``box_mask_scores`` (per frame: (J, F) of the filled box, None where the frame has no mask
    ground truth) decide which scored frames count for the mask metrics. ``mask_scores`` (per
    frame: (J, F) of the tracker's mask, None where it gave none) are scored on those same frames
    when the tracker gave a mask in any frame; a frame where it then gave none scores J = F = 0.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    groundtruth = np.asarray(groundtruth, dtype=np.float64).reshape(-1, 4)
    if len(pred) > len(groundtruth):
        raise ValueError(f"{len(pred)} predicted boxes for {len(groundtruth)} frames")
    frames = scored_frames(groundtruth, init_frame, len(pred))
    p, g = pred[frames], groundtruth[frames]
    ious = iou_xywh(p, g) if len(frames) else np.zeros(0)
    errors = center_distance(p, g) if len(frames) else np.zeros(0)
    norm_errors = normalized_center_error(p, g) if len(frames) else np.zeros(0)
    # A tracker that reports no usable box (NaN/inf) in a scored frame simply misses it.
    missing = ~np.all(np.isfinite(p), axis=1)
    ious[missing] = 0.0
    errors[missing] = np.inf
    norm_errors[missing] = np.inf
    mask, box_mask = _sequence_mask_scores(frames, mask_scores, box_mask_scores)
    return SequenceMetrics(
        num_scored=int(len(frames)), ious=ious, center_errors=errors,
        success=success_curve(ious), precision=precision_curve(errors),
        norm_precision=precision_curve(norm_errors, NORM_THRESHOLDS), mask=mask,
        box_mask=box_mask)


def _sequence_mask_scores(frames: np.ndarray, mask_scores: Optional[FrameMaskScores],
                          box_mask_scores: Optional[FrameMaskScores]
                          ) -> tuple[Optional[MaskScores], Optional[MaskScores]]:
    if box_mask_scores is None:
        if mask_scores is not None and any(s is not None for s in mask_scores):
            raise ValueError("mask scores need the filled-box scores that mark the frames with "
                             "mask ground truth")
        return None, None
    box_list = list(box_mask_scores)
    with_gt = [int(i) for i in frames if i < len(box_list) and box_list[i] is not None]
    if not with_gt:
        return None, None
    box_mask = MaskScores.from_pairs([box_list[i] for i in with_gt])
    mask_list = list(mask_scores) if mask_scores is not None else []
    if not any(s is not None for s in mask_list):
        return None, box_mask
    pairs = [mask_list[i] if i < len(mask_list) and mask_list[i] is not None else (0.0, 0.0)
             for i in with_gt]
    return MaskScores.from_pairs(pairs), box_mask


@dataclasses.dataclass
class MaskSummary:
    """Dataset-level mask scores: each per-sequence figure averaged over sequences."""

    values: dict

    @property
    def j_mean(self) -> float:
        return self.values["j_mean"]

    @property
    def f_mean(self) -> float:
        return self.values["f_mean"]

    @property
    def jf_mean(self) -> float:
        return self.values["jf_mean"]


def _average_mask_scores(scores: list[MaskScores]) -> Optional[MaskSummary]:
    if not scores:
        return None
    summaries = [s.summary() for s in scores]
    values = {}
    for key in summaries[0]:
        present = [s[key] for s in summaries if s[key] is not None]
        values[key] = float(np.mean(present)) if present else None
    values["num_sequences"] = len(scores)
    return MaskSummary(values)


@dataclasses.dataclass
class DatasetMetrics(_CurveScores):
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    #: Over the sequences where the tracker gave masks (None: it never did, or no mask GT).
    mask: Optional[MaskSummary] = None
    #: Over the sequences with mask ground truth: the tracker's box filled as a mask.
    box_mask: Optional[MaskSummary] = None


def aggregate(per_sequence: Iterable[SequenceMetrics]) -> DatasetMetrics:
    """Equal-weight mean of per-sequence curves (sequences without a scored frame skipped)."""
    metrics = [m for m in per_sequence if m.num_scored > 0]
    if not metrics:
        raise ValueError("no sequence has a scored frame")
    return DatasetMetrics(
        success=np.mean([m.success for m in metrics], axis=0),
        precision=np.mean([m.precision for m in metrics], axis=0),
        norm_precision=np.mean([m.norm_precision for m in metrics], axis=0),
        mask=_average_mask_scores([m.mask for m in metrics if m.mask is not None]),
        box_mask=_average_mask_scores([m.box_mask for m in metrics if m.box_mask is not None]))


#: IoU above which a frame counts as on target for the lost-flag and re-acquisition counts.
ON_TARGET_IOU = 0.5


def lost_flag_counts(pred: np.ndarray, groundtruth: np.ndarray, lost: np.ndarray,
                     init_frame: int = 0) -> dict[str, int]:
    """Count how honest the ``lost`` flag is over the tracked frames (after ``init_frame``).

    ``lost_on_target`` (false alarms): frames flagged lost while the box has IoU > 0.5;
    ``lost_absent`` (hits): flagged lost while the target is absent; ``on_target`` and
    ``absent``: the frames of each kind, flagged or not. A re-acquisition is a frame not flagged
    lost right after a lost one: ``reacquired_correct`` when its box has IoU > 0.5, else
    ``reacquired_false`` (target absent or another place).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    groundtruth = np.asarray(groundtruth, dtype=np.float64).reshape(-1, 4)
    lost = np.asarray(lost, dtype=bool).reshape(-1)
    if not len(pred) == len(groundtruth) == len(lost):
        raise ValueError("pred, groundtruth and lost need one row per frame")
    frames = np.arange(init_frame + 1, len(pred))
    present = np.all(np.isfinite(groundtruth[frames]), axis=1)
    valid = present & np.all(np.isfinite(pred[frames]), axis=1)
    ious = np.zeros(len(frames))
    if valid.any():
        ious[valid] = iou_xywh(pred[frames][valid], groundtruth[frames][valid])
    on_target = ious > ON_TARGET_IOU
    flagged = lost[frames]
    previous = lost[frames - 1]
    reacquired = previous & ~flagged
    return {
        "on_target": int(on_target.sum()),
        "absent": int((~present).sum()),
        "lost_on_target": int((flagged & on_target).sum()),
        "lost_absent": int((flagged & ~present).sum()),
        "lost_frames": int(flagged.sum()),
        "reacquired_correct": int((reacquired & on_target).sum()),
        "reacquired_false": int((reacquired & ~on_target).sum()),
    }
