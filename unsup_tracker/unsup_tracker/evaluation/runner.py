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
"""Run trackers over OTB-layout sequences and write results (JSON, markdown, plots, boxes).

Protocol (one-pass evaluation, decisions documented in :mod:`.metrics`):

* a fresh tracker per sequence (from the method's factory), initialised with the ground-truth box
  of the first frame where the target is present (frame 1 in OTB data), then ``track()`` on every
  later frame; boxes before the init frame are NaN and, like the init frame, not scored;
* FPS counts ``track()`` calls only (``time.perf_counter`` around the call; image decoding and
  ``init()`` excluded; ``init()`` time is reported separately). Overall FPS = all track calls /
  their total time;
* OpenCV's classical trackers run behind the same :class:`~unsup_tracker.tracker_base.Tracker`
  interface: when OpenCV reports a failed update the last box is kept (score 0, lost);
* on frames with mask ground truth, DAVIS's J and F (:mod:`.metrics`) of the tracker's mask
  when it returns one, and always of its box filled as a mask (the baseline a mask must beat);
  computed outside the timed ``track()`` call.

Outputs in ``out_dir``: ``results.json`` (per sequence and overall, with full curves),
``results.md`` (the markdown table; with mask ground truth a second table of J/F, mask vs filled
box), ``success.png`` and ``precision.png`` (matplotlib, Agg), ``masks.png`` (J and F bars, mask vs
filled box, when the dataset has mask ground truth), and
``boxes/<method>/<sequence>.txt`` (1-based OTB format, ``0,0,0,0`` where no box, so other OTB
tools can read them).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence as SequenceType, TextIO

import cv2
import numpy as np

from ..geometry import box_to_mask
from ..params import TrackerParams
from ..tracker_base import Tracker, TrackResult
from .dataset import Sequence, write_otb_boxes
from .metrics import (IOU_THRESHOLDS, NORM_THRESHOLDS, PIXEL_THRESHOLDS, DatasetMetrics,
                      MaskSummary, SequenceMetrics, aggregate, evaluate_boxes,
                      lost_flag_counts, mask_scores)

TrackerFactory = Callable[[], Tracker]

# OpenCV factories: the main module where it has the tracker, else cv2.legacy (MOSSE, Boosting,
# MedianFlow, TLD). Boxes are always passed as rounded integers: the main module requires them,
# and legacy Boosting crashes (SIGSEGV in init, OpenCV 5.0) on fractional boxes such as vot_bag's.
_OPENCV_TRACKERS = {  # kind: (factory name, display name)
    "mosse": ("TrackerMOSSE_create", "MOSSE"),
    "kcf": ("TrackerKCF_create", "KCF"),
    "csrt": ("TrackerCSRT_create", "CSRT"),
    "mil": ("TrackerMIL_create", "MIL"),
    "boosting": ("TrackerBoosting_create", "Boosting"),
    "medianflow": ("TrackerMedianFlow_create", "MedianFlow"),
    "tld": ("TrackerTLD_create", "TLD"),
    "nanotrack": ("TrackerNano_create", "NanoTrack"),  # needs NANOTRACK_DIR_ENV
}
DEFAULT_BASELINES = ("mosse", "kcf", "csrt")

#: OpenCV's TrackerNano (NanoTrack v2) is the supervised peer (ImageNet MobileNetV3 + GOT-10k
#: labels) our label-free methods are measured against. Its two ONNX files are never shipped or
#: downloaded: a user who has them points this variable at their folder.
NANOTRACK_DIR_ENV = "UNSUP_TRACKER_NANOTRACK_DIR"
NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")


class NanoTrackMissingError(RuntimeError):
    """NanoTrack's ONNX files are not where ``UNSUP_TRACKER_NANOTRACK_DIR`` points."""


def nanotrack_files() -> tuple[Path, Path]:
    """Return NanoTrack v2's (backbone, head) ONNX paths, or raise NanoTrackMissingError."""
    folder = os.environ.get(NANOTRACK_DIR_ENV, "")
    if not folder:
        raise NanoTrackMissingError(
            f"the nanotrack baseline needs NanoTrack v2's ONNX files ({', '.join(NANOTRACK_FILES)}"
            f", from github.com/HonglinChu/SiamTrackers NanoTrack/models/nanotrackv2/; not "
            f"shipped): set {NANOTRACK_DIR_ENV} to the folder holding them")
    paths = tuple(Path(folder) / name for name in NANOTRACK_FILES)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NanoTrackMissingError(f"{NANOTRACK_DIR_ENV}={folder}: missing {', '.join(missing)}")
    return paths  # type: ignore[return-value]


def _nanotrack_factory() -> Callable:
    backbone, head = nanotrack_files()
    if not hasattr(cv2, "TrackerNano_create"):
        raise RuntimeError(f"OpenCV {cv2.__version__} has no TrackerNano")

    def create():
        params = cv2.TrackerNano_Params()
        params.backbone, params.neckhead = str(backbone), str(head)
        return cv2.TrackerNano_create(params)
    return create


class OpenCVTracker(Tracker):
    """An OpenCV (contrib) tracker behind the project's init/track interface."""

    def __init__(self, kind: str, params: Optional[TrackerParams] = None):
        super().__init__(params or TrackerParams())
        kind = kind.lower()
        if kind not in _OPENCV_TRACKERS:
            raise ValueError(
                f"unknown OpenCV tracker {kind!r}; available: {sorted(_OPENCV_TRACKERS)}")
        self.kind = kind
        self.method = _OPENCV_TRACKERS[kind][1]
        self._create = _nanotrack_factory() if kind == "nanotrack" else _opencv_factory(kind)
        self._tracker = None
        self._box = np.zeros(4)

    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self._tracker = self._create()
        self._tracker.init(image, tuple(int(round(v)) for v in box_xywh))
        self._box = np.asarray(box_xywh, dtype=np.float64).copy()

    def _track(self, image: np.ndarray) -> TrackResult:
        ok, rect = self._tracker.update(image)
        if ok:
            self._box = np.asarray(rect, dtype=np.float64)
        return TrackResult(box=self._box.copy(), score=1.0 if ok else 0.0, lost=not ok)


class StaticBoxTracker(Tracker):
    """Reports the initial box in every frame: the floor any tracker must beat."""

    method = "StaticBox"

    def __init__(self, params: Optional[TrackerParams] = None):
        super().__init__(params or TrackerParams())
        self._box = np.zeros(4)

    def _init(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self._box = np.asarray(box_xywh, dtype=np.float64).copy()

    def _track(self, image: np.ndarray) -> TrackResult:
        return TrackResult(box=self._box.copy(), score=1.0)


def _opencv_factory(kind: str) -> Callable:
    name = _OPENCV_TRACKERS[kind][0]
    for module in (cv2, getattr(cv2, "legacy", None)):
        if module is not None and hasattr(module, name):
            return getattr(module, name)
    raise RuntimeError(
        f"OpenCV {cv2.__version__} has no {name}; install opencv-contrib-python for the "
        f"{kind.upper()} baseline")


def baseline(kind: str) -> tuple[str, TrackerFactory]:
    """(display name, factory) of a baseline; raises at once when this OpenCV build lacks it."""
    kind = kind.lower()
    if kind == "static":
        return StaticBoxTracker.method, StaticBoxTracker
    if kind not in _OPENCV_TRACKERS:
        raise ValueError(
            f"unknown baseline {kind!r}; available: {', '.join(available_baselines())}")
    _nanotrack_factory() if kind == "nanotrack" else _opencv_factory(kind)
    return _OPENCV_TRACKERS[kind][1], lambda: OpenCVTracker(kind)


def available_baselines() -> list[str]:
    """List the OpenCV trackers by kind, plus ``static`` (:class:`StaticBoxTracker`)."""
    return sorted(_OPENCV_TRACKERS) + ["static"]


@dataclasses.dataclass
class SequenceRun:
    """What one tracker produced on one sequence (index = frame)."""

    boxes: np.ndarray
    scores: np.ndarray
    lost: np.ndarray
    init_frame: int
    init_seconds: float
    track_seconds: np.ndarray
    #: Per frame (J, F) of the tracker's mask (None: no mask given, or no mask ground truth).
    mask_scores: list[Optional[tuple[float, float]]]
    #: Per frame (J, F) of the box filled as a mask (None where no mask ground truth).
    box_mask_scores: list[Optional[tuple[float, float]]]

    @property
    def fps(self) -> float:
        total = float(np.sum(self.track_seconds))
        return len(self.track_seconds) / total if total > 0 else math.nan


def first_present_frame(sequence: Sequence) -> int:
    present = np.flatnonzero(sequence.present)
    if len(present) == 0:
        raise ValueError(f"sequence {sequence.name}: the target is absent in every frame")
    return int(present[0])


def run_sequence(tracker: Tracker, sequence: Sequence) -> SequenceRun:
    """Init on the first present frame, then track every later frame."""
    n = len(sequence)
    init_frame = first_present_frame(sequence)
    boxes = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    lost = np.zeros(n, dtype=bool)
    mask_scores_: list[Optional[tuple[float, float]]] = [None] * n
    box_mask_scores: list[Optional[tuple[float, float]]] = [None] * n
    has_masks = sequence.has_masks
    track_seconds = []
    image = sequence.load_frame(init_frame)
    start = time.perf_counter()
    tracker.init(image, sequence.groundtruth[init_frame])
    init_seconds = time.perf_counter() - start
    boxes[init_frame] = sequence.groundtruth[init_frame]
    scores[init_frame] = 1.0
    for index in range(init_frame + 1, n):
        image = sequence.load_frame(index)
        start = time.perf_counter()
        result = tracker.track(image)
        track_seconds.append(time.perf_counter() - start)
        boxes[index] = np.asarray(result.box, dtype=np.float64).reshape(4)
        scores[index] = float(result.score)
        lost[index] = bool(result.lost)
        gt_mask = sequence.load_mask(index) if has_masks else None
        if gt_mask is not None:
            box_mask_scores[index] = mask_scores(box_to_mask(boxes[index], gt_mask.shape),
                                                 gt_mask)
            if result.mask is not None:
                mask_scores_[index] = mask_scores(_checked_mask(result.mask, gt_mask.shape),
                                                  gt_mask)
    return SequenceRun(boxes=boxes, scores=scores, lost=lost, init_frame=init_frame,
                       init_seconds=init_seconds, track_seconds=np.asarray(track_seconds),
                       mask_scores=mask_scores_, box_mask_scores=box_mask_scores)


def _checked_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"the tracker's mask is {mask.shape}, the image {tuple(shape)}")
    return mask


#: Attribute subsets reported besides the overall figures: code -> attribute named in a
#: sequence's ``meta.json`` ``attributes`` (the development benchmark writes them).
ATTRIBUTE_SUBSETS = {"FOC": "full_occlusion", "OV": "out_of_view"}


def attribute_subsets(sequences: SequenceType[Sequence]) -> dict[str, list[str]]:
    """Return the names of the sequences of each :data:`ATTRIBUTE_SUBSETS` code that has any."""
    subsets = {}
    for code, attribute in ATTRIBUTE_SUBSETS.items():
        names = [s.name for s in sequences if attribute in s.meta.get("attributes", ())]
        if names:
            subsets[code] = names
    return subsets


@dataclasses.dataclass
class MethodResult:
    name: str
    runs: dict[str, SequenceRun]
    metrics: dict[str, SequenceMetrics]
    overall: DatasetMetrics
    #: Per sequence: :func:`~.metrics.lost_flag_counts`.
    lost_counts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def subset_auc(self, names: SequenceType[str]) -> float:
        """AUC over the sequences ``names`` (equal weight, as the overall figure)."""
        scored = [self.metrics[n] for n in names if self.metrics[n].num_scored]
        return aggregate(scored).auc if scored else math.nan

    @property
    def total_lost_counts(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for counts in self.lost_counts.values():
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
        return totals

    @property
    def fps(self) -> float:
        total = sum(float(np.sum(r.track_seconds)) for r in self.runs.values())
        calls = sum(len(r.track_seconds) for r in self.runs.values())
        return calls / total if total > 0 else math.nan


def evaluate_method(name: str, factory: TrackerFactory, sequences: SequenceType[Sequence],
                    log: Optional[TextIO] = sys.stderr) -> MethodResult:
    runs, metrics, lost_counts = {}, {}, {}
    for sequence in sequences:
        run = run_sequence(factory(), sequence)
        seq_metrics = evaluate_boxes(run.boxes, sequence.groundtruth, run.init_frame,
                                     run.mask_scores, run.box_mask_scores)
        runs[sequence.name] = run
        metrics[sequence.name] = seq_metrics
        lost_counts[sequence.name] = lost_flag_counts(run.boxes, sequence.groundtruth, run.lost,
                                                      run.init_frame)
        if log is not None:
            print(f"  {name:>12s} {sequence.name:<24s} AUC {100 * seq_metrics.auc:5.1f}  "
                  f"P@20 {100 * seq_metrics.precision_20:5.1f}  {run.fps:7.1f} FPS",
                  file=log, flush=True)
    return MethodResult(name=name, runs=runs, metrics=metrics, overall=aggregate(metrics.values()),
                        lost_counts=lost_counts)


def run_benchmark(methods: dict[str, TrackerFactory], sequences: SequenceType[Sequence],
                  out_dir: str | Path | None = None, dataset_label: str = "",
                  log: Optional[TextIO] = sys.stderr) -> list[MethodResult]:
    """Evaluate every method on every sequence; write the outputs when ``out_dir`` is given."""
    if not methods:
        raise ValueError("no method to evaluate")
    if not sequences:
        raise ValueError("no sequence to evaluate on")
    results = []
    for name, factory in methods.items():
        if log is not None:
            print(f"evaluating {name} on {len(sequences)} sequence(s)", file=log, flush=True)
        results.append(evaluate_method(name, factory, sequences, log))
    if out_dir is not None:
        write_outputs(results, sequences, Path(out_dir), dataset_label)
    return results


def _percent(value: Optional[float]) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def markdown_table(results: SequenceType[MethodResult], sequence_names: SequenceType[str]) -> str:
    """Make method rows: AUC, P@20, NormP@0.2 (all %), FPS of track(), per-sequence AUC (%)."""
    header = ["method", "AUC", "P@20", "NormP@0.2", "FPS"] + list(sequence_names)
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1)]
    for result in results:
        row = [result.name, _percent(result.overall.auc), _percent(result.overall.precision_20),
               _percent(result.overall.norm_precision_02)]
        row.append(f"{result.fps:.1f}")
        row += [_percent(result.metrics[name].auc) if result.metrics[name].num_scored else "-"
                for name in sequence_names]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def mask_table(results: SequenceType[MethodResult]) -> str:
    """Make method rows of DAVIS J/F (%): the tracker's mask, then its box filled as a mask.

    Empty string when no result has mask ground truth. ``-`` where the tracker gave no mask.
    """
    if not any(r.overall.box_mask is not None for r in results):
        return ""
    header = ["method", "J&F", "J", "F", "J recall", "F recall", "J decay",
              "box J&F", "box J", "box F"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for result in results:
        mask, box = result.overall.mask, result.overall.box_mask
        row = [result.name]
        row += _summary_cells(mask, ("jf_mean", "j_mean", "f_mean", "j_recall", "f_recall",
                                     "j_decay"))
        row += _summary_cells(box, ("jf_mean", "j_mean", "f_mean"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def lost_table(results: SequenceType[MethodResult], subsets: dict[str, list[str]]) -> str:
    """Make method rows: AUC overall and per attribute subset, lost-flag and re-acquisition counts.

    "lost on target" (false alarms) counts frames flagged lost with IoU > 0.5 out of all such
    frames; "lost absent" (hits) frames flagged lost while the target is absent out of all
    absent frames; re-acquisitions are lost -> not lost changes, right (IoU > 0.5) or wrong.
    """
    header = ["method", "AUC"] + [f"{code} AUC" for code in subsets]
    header += ["lost on target", "lost absent", "re-acq. right", "re-acq. wrong"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for result in results:
        counts = result.total_lost_counts
        row = [result.name, _percent(result.overall.auc)]
        row += [_percent(result.subset_auc(names)) for names in subsets.values()]
        row += [f"{counts.get('lost_on_target', 0)}/{counts.get('on_target', 0)}",
                f"{counts.get('lost_absent', 0)}/{counts.get('absent', 0)}",
                str(counts.get("reacquired_correct", 0)), str(counts.get("reacquired_false", 0))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _summary_cells(summary: Optional[MaskSummary], keys) -> list[str]:
    return [_percent(summary.values[k] if summary is not None else None) for k in keys]


def results_dict(results: SequenceType[MethodResult], sequences: SequenceType[Sequence],
                 dataset_label: str = "") -> dict:
    methods = {}
    for result in results:
        per_sequence = {}
        for sequence in sequences:
            run, metrics = result.runs[sequence.name], result.metrics[sequence.name]
            per_sequence[sequence.name] = {
                **metrics.summary(),
                "fps": _finite_or_none(run.fps),
                "num_frames": len(sequence),
                "init_frame": run.init_frame,
                "init_seconds": run.init_seconds,
                "lost_frames": int(np.count_nonzero(run.lost)),
                "lost_flag": result.lost_counts.get(sequence.name, {}),
            }
        overall = result.overall
        methods[result.name] = {
            "overall": {
                "auc": overall.auc, "precision_20": overall.precision_20,
                "norm_precision_0.2": overall.norm_precision_02,
                "mask": overall.mask.values if overall.mask is not None else None,
                "box_mask": overall.box_mask.values if overall.box_mask is not None else None,
                "fps": _finite_or_none(result.fps),
                "success_curve": overall.success.tolist(),
                "precision_curve": overall.precision.tolist(),
                "norm_precision_curve": overall.norm_precision.tolist(),
                "lost_flag": result.total_lost_counts,
            },
            "attributes": {code: {"auc": _finite_or_none(result.subset_auc(names)),
                                  "sequences": names}
                           for code, names in attribute_subsets(sequences).items()},
            "sequences": per_sequence,
        }
    return {
        "dataset": dataset_label,
        "sequences": [s.name for s in sequences],
        "protocol": ("one-pass; init on the first present frame with its ground truth; scored: "
                     "present frames after the init frame; success = IoU > t for t in "
                     "linspace(0,1,21), AUC = mean; precision = centre error <= 20 px; normalised "
                     "precision = centre error / GT size <= 0.2 (pysot); curves averaged over "
                     "sequences; FPS = track() calls only; masks: DAVIS J (region IoU) and F "
                     "(boundary F, tolerance 0.008 x diagonal) on scored frames with a mask "
                     "file, of the tracker's mask and of its box filled as a mask (box_mask)"),
        "thresholds": {"iou": IOU_THRESHOLDS.tolist(), "pixels": PIXEL_THRESHOLDS.tolist(),
                       "normalized": NORM_THRESHOLDS.tolist()},
        "methods": methods,
    }


def _finite_or_none(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "method"


def write_outputs(results: SequenceType[MethodResult], sequences: SequenceType[Sequence],
                  out_dir: Path, dataset_label: str = "") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in sequences]
    with open(out_dir / "results.json", "w", encoding="utf-8") as handle:
        json.dump(results_dict(results, sequences, dataset_label), handle, indent=1)
    with open(out_dir / "results.md", "w", encoding="utf-8") as handle:
        if dataset_label:
            handle.write(f"Dataset: `{dataset_label}` ({len(sequences)} sequences)\n\n")
        handle.write(markdown_table(results, names))
        masks = mask_table(results)
        if masks:
            handle.write("\nMasks (DAVIS J and F, %; box = the tracker's box filled as a mask, "
                         "the baseline a mask must beat):\n\n" + masks)
        handle.write("\nLost flag and re-acquisition (frames after the init frame):\n\n")
        handle.write(lost_table(results, attribute_subsets(sequences)))
    for result in results:
        folder = out_dir / "boxes" / _file_safe(result.name)
        folder.mkdir(parents=True, exist_ok=True)
        for name, run in result.runs.items():
            write_otb_boxes(folder / f"{_file_safe(name)}.txt", run.boxes)
    save_plots(results, out_dir)


def save_plots(results: SequenceType[MethodResult], out_dir: Path) -> list[Path]:
    """``success.png`` and ``precision.png``; returns the files written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    success = out_dir / "success.png"
    _save_curve_plot(plt, success, results, IOU_THRESHOLDS, "success", "auc",
                     xlabel="overlap threshold", ylabel="success rate",
                     title="Success plot (one pass)", xlim=(0, 1), legend_loc="lower left")
    precision = out_dir / "precision.png"
    _save_curve_plot(plt, precision, results, PIXEL_THRESHOLDS, "precision", "precision_20",
                     xlabel="location error threshold (px)", ylabel="precision",
                     title="Precision plot (one pass)", xlim=(0, 50), legend_loc="lower right")
    written = [success, precision]
    if any(r.overall.box_mask is not None for r in results):
        written.append(out_dir / "masks.png")
        _save_mask_plot(plt, written[-1], results)
    return written


def _save_mask_plot(plt, path: Path, results: SequenceType[MethodResult]) -> None:
    """Draw grouped bars per method: J and F of its masks (solid) and filled box (hatched)."""
    figure, axes = plt.subplots(figsize=(max(6, 1.4 * len(results) + 2), 4.5))
    width = 0.2
    bars = (("mask", "j_mean", "J mask", None), ("mask", "f_mean", "F mask", None),
            ("box_mask", "j_mean", "J box", "//"), ("box_mask", "f_mean", "F box", "//"))
    for k, (kind, key, label, hatch) in enumerate(bars):
        values = []
        for result in results:
            summary = getattr(result.overall, kind)
            values.append(100 * summary.values[key] if summary is not None else 0.0)
        axes.bar(np.arange(len(results)) + (k - 1.5) * width, values, width, label=label,
                 hatch=hatch, color=f"C{k % 2}", alpha=1.0 if hatch is None else 0.5)
    axes.set_xticks(np.arange(len(results)), [r.name for r in results], rotation=20)
    axes.set(ylabel="%", ylim=(0, 100), title="Masks: DAVIS J and F (box-initialised)")
    axes.grid(alpha=0.3, axis="y")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _save_curve_plot(plt, path: Path, results: SequenceType[MethodResult], thresholds,
                     curve: str, score: str, xlabel: str, ylabel: str, title: str, xlim,
                     legend_loc: str) -> None:
    """One curve per method (best ``score`` first in the legend, score shown in percent)."""
    order = sorted(results, key=lambda r: -getattr(r.overall, score))
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for result in order:
        axes.plot(thresholds, getattr(result.overall, curve),
                  label=f"{result.name} [{100 * getattr(result.overall, score):.1f}]")
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=xlim, ylim=(0, 1.02))
    axes.grid(alpha=0.3)
    axes.legend(loc=legend_loc, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
