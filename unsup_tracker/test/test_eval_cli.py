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
"""`unsup-tracker eval` end to end on a tiny OTB dataset written here (no external footage)."""
import json
import os

import cv2
import numpy as np
import pytest

from unsup_tracker.cli import main
from unsup_tracker.evaluation.dataset import load_dataset, write_otb_boxes
from unsup_tracker.evaluation.runner import StaticBoxTracker, mask_table, run_benchmark
from unsup_tracker.tracker_base import TrackResult

NUM_FRAMES = 10
SIZE = (160, 120)


def _write_slide(root, name, absent_frame=None, seed=0):
    """Draw a textured 20x20 square sliding 2 px/frame to the right over a textured background."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8), (0, 0), 3)
    texture = rng.integers(0, 255, (20, 20, 3), np.uint8)
    folder = root / name
    (folder / "img").mkdir(parents=True)
    (folder / "masks").mkdir()
    boxes = []
    for k in range(NUM_FRAMES):
        x, y = 10 + 2 * k, 30
        frame = background.copy()
        mask = np.zeros(frame.shape[:2], np.uint8)
        if k != absent_frame:
            frame[y:y + 20, x:x + 20] = texture
            mask[y:y + 20, x:x + 20] = 255
            boxes.append([x, y, 20, 20])
        else:
            boxes.append([np.nan] * 4)
        cv2.imwrite(str(folder / "img" / f"{k + 1:04d}.png"), frame)
        cv2.imwrite(str(folder / "masks" / f"{k + 1:04d}.png"), mask)
    write_otb_boxes(folder / "groundtruth_rect.txt", np.array(boxes, dtype=float))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_otb")
    _write_slide(root, "slide")
    _write_slide(root, "gap", absent_frame=4, seed=1)
    return root


def _static_box_auc(scored):
    """Compute StaticBox's AUC: it keeps (10, 30, 20, 20); the target is 2k px right.

    IoU = (20 - 2k) / (20 + 2k).
    """
    ious = np.array([(20 - 2 * k) / (20 + 2 * k) for k in scored])
    return float(np.mean([(ious > t).mean() for t in np.linspace(0, 1, 21)]))


def test_eval_cli_writes_results(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "--baselines", "mosse,kcf,csrt,static", "--dataset", str(dataset),
            "--out", str(out), "--threads", "1",
            "--method", "udt", "--checkpoint", "untrained", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    names = ["MOSSE", "KCF", "CSRT", "StaticBox", "udt (untrained)"]
    for name in names:
        assert f"| {name} |" in printed

    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["gap", "slide"]
    assert set(results["methods"]) == set(names)
    for name in names:
        per_sequence = results["methods"][name]["sequences"]
        assert per_sequence["slide"]["num_scored"] == NUM_FRAMES - 1
        assert per_sequence["gap"]["num_scored"] == NUM_FRAMES - 2
        assert per_sequence["slide"]["fps"] > 0
        overall = results["methods"][name]["overall"]
        assert len(overall["success_curve"]) == 21 and len(overall["precision_curve"]) == 51
        assert 0.0 <= overall["auc"] <= 1.0
    static = results["methods"]["StaticBox"]
    assert static["sequences"]["slide"]["auc"] == pytest.approx(_static_box_auc(range(1, 10)))
    gap_frames = [k for k in range(1, 10) if k != 4]
    assert static["sequences"]["gap"]["auc"] == pytest.approx(_static_box_auc(gap_frames))
    assert static["overall"]["auc"] == pytest.approx(
        (_static_box_auc(range(1, 10)) + _static_box_auc(gap_frames)) / 2)

    table = (out / "results.md").read_text()
    assert "| method | AUC | P@20 | NormP@0.2 | FPS | gap | slide |" in table
    for plot in ("success.png", "precision.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    boxes = (out / "boxes" / "StaticBox" / "gap.txt").read_text().splitlines()
    assert len(boxes) == NUM_FRAMES and boxes[0] == boxes[-1] == "11,31,20,20"


def test_eval_cli_max_frames_and_sequences(dataset, tmp_path):
    out = tmp_path / "out"
    assert main(["eval", "--baselines", "static", "--dataset", str(dataset), "--out", str(out),
                 "--sequences", "slide", "--max-frames", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["slide"]
    assert results["methods"]["StaticBox"]["sequences"]["slide"]["num_scored"] == 3


@pytest.mark.parametrize("extra", [
    ["--baselines", "nosuchtracker"],
    ["--baselines", "none"],
    ["--baselines", "static", "--checkpoint", "untrained"],
    ["--baselines", "static", "--set", "lost_score_threshold=0.5"],
    ["--baselines", "static", "--method", "nosuchmethod", "--checkpoint", "untrained"],
    ["--baselines", "static", "--sequences", "nosuchsequence"],
])
def test_eval_cli_user_errors(dataset, tmp_path, capsys, extra):
    assert main(["eval", "--dataset", str(dataset), "--out", str(tmp_path / "o")] + extra) == 1
    assert "error:" in capsys.readouterr().err


def test_eval_cli_unknown_parameter(dataset, tmp_path, capsys):
    argv = ["eval", "--dataset", str(dataset), "--out", str(tmp_path / "o"), "--baselines",
            "none", "--method", "udt", "--checkpoint", "untrained", "--set", "no_such_key=1"]
    assert main(argv) == 1
    assert "no_such_key" in capsys.readouterr().err


def test_eval_cli_missing_dataset(tmp_path, capsys):
    assert main(["eval", "--baselines", "static", "--dataset", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err


class _HalfMaskTracker(StaticBoxTracker):
    """StaticBox that also reports the left half of its box as a mask."""

    def _track(self, image):
        result = super()._track(image)
        mask = np.zeros(image.shape[:2], np.uint8)
        x, y, w, h = (int(v) for v in result.box)
        mask[y:y + h, x:x + w // 2] = 255
        return TrackResult(box=result.box, score=1.0, mask=mask)


def test_mask_j_and_f_reported_beside_the_filled_box(dataset):
    sequences = load_dataset(dataset, ["slide"])
    results = run_benchmark({"half": _HalfMaskTracker, "box": StaticBoxTracker}, sequences,
                            log=None)
    half, box = results
    # Frame k: predicted mask x in [10, 20), target x in [10 + 2k, 30 + 2k).
    expected = np.mean([max(0, 10 - 2 * k) * 20 / (200 + 400 - max(0, 10 - 2 * k) * 20)
                        for k in range(1, 10)])
    assert half.overall.mask.j_mean == pytest.approx(expected)
    assert box.overall.mask is None
    # A box target's filled box scores J = box IoU (same pixels), for both trackers.
    ious = box.metrics["slide"].ious
    assert box.overall.box_mask.j_mean == pytest.approx(np.mean(ious))
    assert half.overall.box_mask.j_mean == pytest.approx(np.mean(ious))
    assert half.overall.mask.f_mean < half.overall.box_mask.f_mean
    table = mask_table(results)
    assert "box J&F" in table and "| box |" in table and "| half |" in table
    assert mask_table(run_benchmark({"box": StaticBoxTracker},
                                    load_dataset(dataset, ["slide"]), log=None)) != ""


def test_eval_cli_writes_mask_metrics(dataset, tmp_path, capsys):
    out = tmp_path / "masks_out"
    assert main(["eval", "--dataset", str(dataset), "--out", str(out), "--baselines",
                 "static"]) == 0
    assert "box J&F" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    overall = data["methods"]["StaticBox"]["overall"]
    assert overall["mask"] is None and 0 < overall["box_mask"]["j_mean"] < 1
    assert data["methods"]["StaticBox"]["sequences"]["gap"]["box_mask"]["f_mean"] is not None
    assert "Masks (DAVIS J and F" in (out / "results.md").read_text()
    assert (out / "masks.png").stat().st_size > 0


def test_eval_cli_mask_stage_on_a_learned_method(dataset, tmp_path):
    """``--set mask=true`` gives any method masks, scored beside its filled box."""
    out = tmp_path / "stage_out"
    assert main(["eval", "--dataset", str(dataset), "--out", str(out), "--baselines", "none",
                 "--method", "udt", "--checkpoint", "untrained", "--set", "mask=true",
                 "--set", 'mask_settings={"kind": "colour"}', "--threads", "1"]) == 0
    overall = json.loads((out / "results.json").read_text())["methods"]["udt (untrained)"][
        "overall"]
    assert 0 <= overall["mask"]["j_mean"] <= 1 and overall["mask"]["num_sequences"] == 2
    assert 0 <= overall["box_mask"]["f_mean"] <= 1
    assert main(["eval", "--dataset", str(dataset), "--out", str(out), "--baselines", "none",
                 "--method", "udt", "--checkpoint", "untrained", "--set",
                 'mask_settings={"kind": "nope"}']) == 1


def test_nanotrack_baseline_without_its_files_is_a_clear_error(
        dataset, tmp_path, capsys, monkeypatch):
    """The NanoTrack ONNX files are never shipped: the error names the variable and the files."""
    monkeypatch.delenv("UNSUP_TRACKER_NANOTRACK_DIR", raising=False)
    argv = ["eval", "--dataset", str(dataset), "--out", str(tmp_path / "o"),
            "--baselines", "nanotrack"]
    assert main(argv) == 1
    assert "UNSUP_TRACKER_NANOTRACK_DIR" in capsys.readouterr().err
    monkeypatch.setenv("UNSUP_TRACKER_NANOTRACK_DIR", str(tmp_path))
    assert main(argv) == 1
    assert "nanotrack_backbone_sim.onnx" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not os.environ.get("UNSUP_TRACKER_NANOTRACK_DIR"),
                    reason="NanoTrack's ONNX files are not here (UNSUP_TRACKER_NANOTRACK_DIR)")
def test_nanotrack_baseline_runs_when_its_files_are_given(dataset, tmp_path):
    out = tmp_path / "o"
    assert main(["eval", "--dataset", str(dataset), "--out", str(out),
                 "--baselines", "nanotrack"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["methods"]["NanoTrack"]["overall"]["auc"] > 0.3
