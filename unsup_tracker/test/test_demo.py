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
"""`make demo` as a user runs it: camera, tracker and visualization processes on box.mp4.

The full run plays the first 150 frames (5 s at the video's 30 FPS) at camera size (640x480 rgb8,
best effort), so it fails when frames are lost between the processes or the tracker cannot keep
up, which is the demo's own pass criterion (detections on at least 95% of the frames), or when
the node's boxes disagree with the same tracker run on the same frames through the Python API
(its accuracy criterion; box.mp4 has no ground truth, see ``unsup_tracker.ros.demo``).
"""
import json
import subprocess

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("unsup_tracker_interfaces")

from unsup_tracker.ros.demo import (  # noqa: E402
    DEMO_VIDEO, MAX_MISSING_FRACTION, REFERENCE_MIN_FRACTION, REFERENCE_MIN_IOU,
    _tracked_positions)
from unsup_tracker.ros.processes import node_command  # noqa: E402
from installed import require_footage  # noqa: E402

FRAMES = 150


def run_demo(*args, timeout=240):
    return subprocess.run(
        node_command("demo") + list(args), capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--video", "/tmp/anything.mp4"], "--video needs --box"),
        (["--method", "no_such_method"], "no_such_method"),
        (["--box", "1,2,3"], "4 numbers"),
        (["--checkpoint", "/nonexistent/weights.pt"], "does not exist"),
    ],
)
def test_bad_arguments_exit_with_status_2_and_a_reason(args, reason, tmp_path):
    if "--video" not in args:
        require_footage(DEMO_VIDEO)
    result = run_demo(*args, "--out", str(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert reason in result.stderr


def test_demo_tracks_the_sample_video_across_processes(tmp_path):
    require_footage(DEMO_VIDEO)
    result = run_demo("--frames", str(FRAMES), "--out", str(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames_seen"] >= FRAMES - 3, output
    assert summary["frames_after_init"] >= FRAMES - 10, output
    assert summary["missing_fraction"] <= MAX_MISSING_FRACTION, output
    assert summary["annotated_frames"] >= 0.9 * FRAMES, output
    assert summary["latency_stamp_to_detection"]["n"] == summary["frames_with_detection"]
    reference = summary["reference"]
    assert reference["checked"] and reference["required"], output
    assert reference["frames_compared"] >= summary["frames_with_detection"], output
    assert reference["agreeing_fraction"] >= REFERENCE_MIN_FRACTION, output
    assert reference["iou_median"] >= REFERENCE_MIN_IOU, output
    for key in ("annotated_video", "contact_sheet"):
        assert summary[key] and (tmp_path / summary[key]).stat().st_size > 10_000, key
    assert "demo results" in result.stdout


def test_reference_replays_the_frames_the_node_tracked():
    """Catch-up frames before the first box, then only the answered frames (stale ones skipped)."""
    box = [object()]
    stamps = [100, 200, 300, 400, 500, 600, 700]
    # 200: answered before the track existed (empty); 300: dropped, caught up; 400: first box;
    # 500: dropped as stale (never tracked); 600: target lost (empty but tracked); 700: a box.
    detections = {100: (0.0, []), 200: (0.0, []), 400: (0.0, box), 600: (0.0, []),
                  700: (0.0, box)}
    tracked, with_box = _tracked_positions(stamps, detections, init_frame_ns=100)
    assert tracked == [1, 2, 3, 5, 6] and with_box == {3, 6}
    assert _tracked_positions(stamps, {100: (0.0, [])}, 100) == ([], set())
