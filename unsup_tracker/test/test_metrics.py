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
"""OPE metrics on hand-computed cases; the OTB loader (separators, 1-based boxes, absent rows)."""
import math

import cv2
import numpy as np
import pytest

from unsup_tracker.evaluation.dataset import (DatasetError, load_dataset, load_sequence,
                                              read_groundtruth, write_otb_boxes)
from unsup_tracker.evaluation.metrics import (IOU_THRESHOLDS, aggregate, evaluate_boxes,
                                              boundary_f_measure, boundary_map,
                                              boundary_tolerance_px, mask_scores,
                                              normalized_center_error, region_similarity,
                                              precision_curve, success_curve)
from unsup_tracker.evaluation.runner import StaticBoxTracker, run_sequence
from unsup_tracker.geometry import box_to_mask

NAN_ROW = [math.nan] * 4


def test_thresholds_hit_exact_halves():
    assert len(IOU_THRESHOLDS) == 21
    assert IOU_THRESHOLDS[10] == 0.5 and IOU_THRESHOLDS[5] == 0.25 and IOU_THRESHOLDS[-1] == 1.0


def test_success_curve_is_strictly_greater():
    curve = success_curve([1.0, 0.5, 0.0])
    # IoU 0.5 fails the 0.5 threshold, IoU 0 fails every threshold, nothing beats 1.
    assert curve[0] == pytest.approx(2 / 3)
    assert curve[9] == pytest.approx(2 / 3)  # t = 0.45
    assert curve[10] == pytest.approx(1 / 3)  # t = 0.5
    assert curve[19] == pytest.approx(1 / 3)  # t = 0.95
    assert curve[20] == 0.0
    assert np.mean(curve) == pytest.approx(10 / 21)


def test_precision_is_inclusive_at_20px():
    curve = precision_curve([0.0, 20.0, 20.5, 50.0, 51.0])
    assert curve[20] == pytest.approx(2 / 5)
    assert curve[0] == pytest.approx(1 / 5)
    assert curve[50] == pytest.approx(4 / 5)


def test_normalized_error_divides_each_axis_by_gt_size():
    gt = np.array([[0.0, 0.0, 10.0, 40.0]] * 2)
    pred = np.array([[3.0, 0.0, 10.0, 40.0],    # dx = 3 of w = 10 -> 0.3
                     [0.0, 6.0, 10.0, 40.0]])   # dy = 6 of h = 40 -> 0.15
    np.testing.assert_allclose(normalized_center_error(pred, gt), [0.3, 0.15])


def test_evaluate_boxes_skips_init_and_absent_frames():
    gt = np.array([[10, 10, 10, 10], NAN_ROW, [10, 10, 10, 10], [10, 10, 10, 10],
                   [10, 10, 10, 10]], dtype=float)
    pred = np.array([[500, 500, 1, 1],     # init frame: never scored, whatever it holds
                     NAN_ROW,              # absent: not scored, may be NaN
                     [10, 10, 10, 10],     # IoU 1, error 0
                     [10, 15, 10, 10],     # IoU 50/150 = 1/3, error 5
                     [40, 40, 10, 10]],    # IoU 0, error sqrt(2) * 30
                    dtype=float)
    metrics = evaluate_boxes(pred, gt, init_frame=0)
    assert metrics.num_scored == 3
    np.testing.assert_allclose(metrics.ious, [1.0, 1 / 3, 0.0])
    np.testing.assert_allclose(metrics.center_errors, [0.0, 5.0, 30 * math.sqrt(2)])
    # IoU 1/3 passes thresholds 0 .. 0.3 (7 values), IoU 1 passes 0 .. 0.95 (20 values).
    assert metrics.auc == pytest.approx((20 + 7) / (3 * 21))
    assert metrics.precision_20 == pytest.approx(2 / 3)
    # Normalised errors: 0, 0.5, 3 * sqrt(2): only the first is <= 0.2.
    assert metrics.norm_precision_02 == pytest.approx(1 / 3)


def test_non_finite_prediction_is_a_miss():
    gt = np.array([[0, 0, 10, 10]] * 3, dtype=float)
    pred = np.array([[0, 0, 10, 10], NAN_ROW, [0, 0, 10, 10]], dtype=float)
    metrics = evaluate_boxes(pred, gt)
    np.testing.assert_array_equal(metrics.ious, [0.0, 1.0])
    assert metrics.precision_20 == 0.5 and metrics.norm_precision_02 == 0.5


def test_evaluate_boxes_respects_later_init_frame_and_short_runs():
    gt = np.array([[0, 0, 10, 10]] * 5, dtype=float)
    pred = np.array([[50, 50, 10, 10]] * 3 + [[0, 0, 10, 10]] * 2, dtype=float)
    assert evaluate_boxes(pred, gt, init_frame=2).auc == pytest.approx(20 / 21)
    # Only 3 frames tracked: frames 1 and 2 are scored (both misses).
    short = evaluate_boxes(pred[:3], gt, init_frame=0)
    assert short.num_scored == 2 and short.auc == 0.0


def test_evaluate_boxes_without_scored_frames_and_aggregate():
    gt = np.array([[0, 0, 10, 10], NAN_ROW], dtype=float)
    empty = evaluate_boxes(gt, gt)
    assert empty.num_scored == 0 and empty.auc == 0.0
    good = evaluate_boxes(np.array([[0, 0, 10, 10]] * 2, float), np.array([[0, 0, 10, 10]] * 2))
    bad = evaluate_boxes(np.array([[0, 0, 10, 10], [90, 0, 10, 10]], float),
                         np.array([[0, 0, 10, 10]] * 2, float))
    overall = aggregate([good, bad, empty])  # the empty sequence does not weigh in
    assert overall.auc == pytest.approx((20 / 21 + 0.0) / 2)
    with pytest.raises(ValueError):
        aggregate([empty])


def test_region_similarity_j():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert region_similarity(a, b) == 1.0
    a[:2] = True
    b[1:3] = True
    assert region_similarity(a, b) == pytest.approx(4 / 12)
    with pytest.raises(ValueError, match="shapes differ"):
        region_similarity(a, b[:3])


def test_boundary_map_of_a_square():
    mask = np.zeros((6, 6), bool)
    mask[2:4, 2:4] = True
    expected = {(1, 1), (1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2), (3, 3)}
    assert set(zip(*np.nonzero(boundary_map(mask)))) == expected
    # The image border is no boundary: a full mask has none.
    assert not boundary_map(np.ones((5, 7), bool)).any()


def test_boundary_tolerance_is_a_fraction_of_the_diagonal():
    assert boundary_tolerance_px((100, 100)) == 2  # ceil(0.008 * 141.4)
    assert boundary_tolerance_px((480, 640)) == 7  # ceil(0.008 * 800) = ceil(6.4)
    assert boundary_tolerance_px((480, 640), tolerance=3) == 3  # >= 1: pixels


def _square(shift=0):
    mask = np.zeros((100, 100), bool)
    mask[20:40, 20 + shift:40 + shift] = True
    return mask


def test_boundary_f_measure_hand_computed():
    gt = _square()
    assert boundary_f_measure(gt, gt) == 1.0
    # Boundary ring: 21x21 - 19x19 = 80 px. Shifted by 2 px = the tolerance: all matched.
    assert boundary_f_measure(_square(2), gt) == 1.0
    # Shifted by 3 px: of the predicted ring, 20 + 20 top/bottom pixels, and 4 of the left
    # column's (near the GT's top/bottom rows) are within 2 px: precision = recall = 44 / 80.
    assert boundary_f_measure(_square(3), gt) == pytest.approx(44 / 80)
    assert region_similarity(_square(3), gt) == pytest.approx(340 / 460)
    # A looser tolerance (4 px) matches every pixel.
    assert boundary_f_measure(_square(3), gt, tolerance=4) == 1.0
    empty = np.zeros_like(gt)
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_f_measure(empty, gt) == 0.0 and boundary_f_measure(gt, empty) == 0.0
    assert mask_scores(_square(3).astype(np.uint8) * 255, gt) == pytest.approx(
        (340 / 460, 44 / 80))


def test_box_to_mask_pixel_centres():
    mask = box_to_mask([1.2, 0.6, 2.0, 1.0], (4, 4))
    assert set(zip(*np.nonzero(mask))) == {(1, 1), (1, 2)}
    assert box_to_mask([0, 0, 4, 4], (3, 5)).sum() == 12  # clipped to the image
    assert not box_to_mask([np.nan] * 4, (3, 5)).any()
    assert not box_to_mask([10, 10, 4, 4], (3, 5)).any()


def test_sequence_mask_scores_recall_decay_and_missing_masks():
    gt = np.array([[0, 0, 10, 10]] * 7, float)
    box_scores = [None, (0.9, 0.8), (0.8, 0.8), None, (0.6, 0.4), (0.4, 0.2), (0.2, 0.1)]
    mask = [None, (1.0, 1.0), None, None, (0.8, 0.6), (0.6, 0.4), (0.4, 0.2)]
    metrics = evaluate_boxes(gt, gt, 0, mask, box_scores)
    # Frames 1, 2, 4, 5, 6 have mask ground truth (frame 3 has none, frame 0 is the init frame).
    np.testing.assert_allclose(metrics.box_mask.j, [0.9, 0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(metrics.mask.j, [1.0, 0.0, 0.8, 0.6, 0.4])  # frame 2: no mask
    summary = metrics.mask.summary()
    assert summary["j_mean"] == pytest.approx(0.56)
    assert summary["j_recall"] == pytest.approx(3 / 5)
    # Quarters of 5 frames: [1.0, 0.0], [0.8], [0.6], [0.4]: decay = 0.5 - 0.4.
    assert summary["j_decay"] == pytest.approx(0.1)
    assert summary["jf_mean"] == pytest.approx((0.56 + (1 + 0 + 0.6 + 0.4 + 0.2) / 5) / 2)
    no_masks = evaluate_boxes(gt, gt, 0, [None] * 7, box_scores)
    assert no_masks.mask is None and no_masks.box_mask is not None
    overall = aggregate([metrics, no_masks])
    assert overall.mask.j_mean == pytest.approx(0.56)  # only the sequence with masks
    assert overall.box_mask.j_mean == pytest.approx(0.58)
    assert evaluate_boxes(gt, gt).box_mask is None


@pytest.mark.parametrize("separator", [",", " ", "\t", ", "])
def test_read_groundtruth_separators_and_one_based(tmp_path, separator):
    rows = [["1", "1", "10", "20"], ["5.5", "7", "3", "4"], ["0", "0", "0", "0"],
            ["NaN", "NaN", "NaN", "NaN"]]
    path = tmp_path / "groundtruth_rect.txt"
    path.write_text("\n".join(separator.join(r) for r in rows) + "\n\n")
    boxes = read_groundtruth(path)
    np.testing.assert_array_equal(boxes[0], [0, 0, 10, 20])
    np.testing.assert_array_equal(boxes[1], [4.5, 6, 3, 4])
    assert np.isnan(boxes[2]).all() and np.isnan(boxes[3]).all()


def test_read_groundtruth_rejects_bad_rows(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3\n")
    with pytest.raises(DatasetError, match="expected 4 values"):
        read_groundtruth(path)
    path.write_text("1,2,3,x\n")
    with pytest.raises(DatasetError, match="not a number"):
        read_groundtruth(path)


def test_write_then_read_round_trip(tmp_path):
    boxes = np.array([[0, 0, 10, 20], NAN_ROW, [289.5, 100, 30, 40]])
    path = tmp_path / "boxes.txt"
    write_otb_boxes(path, boxes)
    assert path.read_text().splitlines() == ["1,1,10,20", "0,0,0,0", "290.5,101,30,40"]
    np.testing.assert_array_equal(read_groundtruth(path), boxes)


def _write_sequence(root, name, gt_lines, num_frames, masks=False):
    folder = root / name
    (folder / "img").mkdir(parents=True)
    # Unpadded names: natural sorting must put 2 before 10.
    for i in range(num_frames):
        image = np.full((48, 64, 3), 40 + 10 * i, np.uint8)
        cv2.imwrite(str(folder / "img" / f"{i + 1}.png"), image)
        if masks:
            (folder / "masks").mkdir(exist_ok=True)
            mask = np.zeros((48, 64), np.uint8)
            mask[10:20, 10:30] = 255
            cv2.imwrite(str(folder / "masks" / f"{i + 1}.png"), mask)
    (folder / "groundtruth_rect.txt").write_text("\n".join(gt_lines) + "\n")
    return folder


def test_load_dataset_natural_order_list_and_masks(tmp_path):
    _write_sequence(tmp_path, "b", ["11,11,20,10"] * 12, 12, masks=True)
    _write_sequence(tmp_path, "a", ["1,1,5,5"] * 3, 3)
    assert [s.name for s in load_dataset(tmp_path)] == ["a", "b"]
    (tmp_path / "list.txt").write_text("b\na\n")
    sequences = load_dataset(tmp_path)
    assert [s.name for s in sequences] == ["b", "a"]
    b = sequences[0]
    assert [p.name for p in b.frame_paths[:3]] == ["1.png", "2.png", "3.png"]
    assert b.frame_paths[9].name == "10.png"
    assert b.load_frame(9)[0, 0, 0] == 40 + 10 * 9
    assert b.has_masks and b.load_mask(0).sum() == 200
    assert not sequences[1].has_masks and sequences[1].load_mask(0) is None
    with pytest.raises(DatasetError, match="unknown sequence"):
        load_dataset(tmp_path, ["c"])


def test_frame_count_mismatch_is_an_error(tmp_path):
    folder = _write_sequence(tmp_path, "s", ["1,1,5,5"] * 2, 3)
    with pytest.raises(DatasetError, match="3 frames but 2"):
        load_sequence(folder)


def test_runner_initialises_on_first_present_frame(tmp_path):
    lines = ["0,0,0,0", "NaN,NaN,NaN,NaN", "11,11,20,10", "11,11,20,10", "21,11,20,10"]
    sequence = load_sequence(_write_sequence(tmp_path, "late", lines, 5, masks=True))
    run = run_sequence(StaticBoxTracker(), sequence)
    assert run.init_frame == 2
    assert np.isnan(run.boxes[:2]).all()
    np.testing.assert_array_equal(run.boxes[4], [10, 10, 20, 10])
    assert len(run.track_seconds) == 2
    metrics = evaluate_boxes(run.boxes, sequence.groundtruth, run.init_frame)
    # Frame 3 exact (IoU 1), frame 4 shifted by half the width (IoU 1/3).
    np.testing.assert_allclose(metrics.ious, [1.0, 1 / 3])


def test_lost_flag_counts_false_alarms_hits_and_reacquisitions():
    from unsup_tracker.evaluation.metrics import lost_flag_counts

    nan = [math.nan] * 4
    truth = np.array([[0, 0, 10, 10]] * 3 + [nan] * 2 + [[50, 50, 10, 10]] * 3, dtype=float)
    pred = np.array([[0, 0, 10, 10],      # init frame: not counted
                     [0, 0, 10, 10],      # on target, lost: false alarm
                     [0, 0, 10, 10],      # on target: re-acquired (after a false alarm)
                     [0, 0, 10, 10],      # absent, lost: hit
                     [0, 0, 10, 10],      # absent, not lost: a wrong re-acquisition
                     [0, 0, 10, 10],      # lost
                     [0, 0, 10, 10],      # re-acquired at the wrong place
                     [50, 50, 10, 10]],   # on target
                    dtype=float)
    lost = np.array([False, True, False, True, False, True, False, False])
    counts = lost_flag_counts(pred, truth, lost, init_frame=0)
    assert counts == {"on_target": 3, "absent": 2, "lost_on_target": 1, "lost_absent": 1,
                      "lost_frames": 3, "reacquired_correct": 1, "reacquired_false": 2}
