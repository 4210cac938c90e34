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
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

from ..geometry import center_distance, iou_xywh

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
#: Index of 20 px in PIXEL_THRESHOLDS and of 0.2 in NORM_THRESHOLDS.
PRECISION_INDEX = 20
NORM_PRECISION_INDEX = 20


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


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Compute the IoU of two boolean masks; two empty masks agree perfectly (1.0)."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    union = np.count_nonzero(pred | gt)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & gt)) / union


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
    #: Mean mask IoU over scored frames with mask ground truth and a predicted mask, else None.
    mask_iou: Optional[float] = None

    def summary(self) -> dict:
        return {"auc": self.auc, "precision_20": self.precision_20,
                "norm_precision_0.2": self.norm_precision_02, "num_scored": self.num_scored,
                "mask_iou": self.mask_iou}


def scored_frames(groundtruth: np.ndarray, init_frame: int, num_tracked: Optional[int] = None
                  ) -> np.ndarray:
    """Return the indices of frames that count: after ``init_frame``, target present, tracked."""
    groundtruth = np.asarray(groundtruth, dtype=np.float64).reshape(-1, 4)
    end = len(groundtruth) if num_tracked is None else min(num_tracked, len(groundtruth))
    present = np.all(np.isfinite(groundtruth[:end]), axis=1)
    present[: init_frame + 1] = False
    return np.flatnonzero(present)


def evaluate_boxes(pred: np.ndarray, groundtruth: np.ndarray, init_frame: int = 0,
                   mask_ious: Optional[Iterable[Optional[float]]] = None) -> SequenceMetrics:
    """Metrics of one sequence; ``pred`` and ``groundtruth`` are (N, 4) 0-based xywh per frame.

    ``mask_ious`` (optional, per frame, None where not available) are averaged over the scored
    frames that have a value.
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
    mean_mask_iou = None
    if mask_ious is not None:
        per_frame = list(mask_ious)
        values = [per_frame[i] for i in frames if i < len(per_frame) and per_frame[i] is not None]
        mean_mask_iou = float(np.mean(values)) if values else None
    return SequenceMetrics(
        num_scored=int(len(frames)), ious=ious, center_errors=errors,
        success=success_curve(ious), precision=precision_curve(errors),
        norm_precision=precision_curve(norm_errors, NORM_THRESHOLDS), mask_iou=mean_mask_iou)


@dataclasses.dataclass
class DatasetMetrics(_CurveScores):
    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    mask_iou: Optional[float]


def aggregate(per_sequence: Iterable[SequenceMetrics]) -> DatasetMetrics:
    """Equal-weight mean of per-sequence curves (sequences without a scored frame skipped)."""
    metrics = [m for m in per_sequence if m.num_scored > 0]
    if not metrics:
        raise ValueError("no sequence has a scored frame")
    mask_values = [m.mask_iou for m in metrics if m.mask_iou is not None]
    return DatasetMetrics(
        success=np.mean([m.success for m in metrics], axis=0),
        precision=np.mean([m.precision for m in metrics], axis=0),
        norm_precision=np.mean([m.norm_precision for m in metrics], axis=0),
        mask_iou=float(np.mean(mask_values)) if mask_values else None)


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
