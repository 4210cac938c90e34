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
"""tracker_node and visualization_node while the target is lost (issue 9.2), as processes.

The test publishes the long-term layer's occlusion clip (a textured patch, covered for 20
frames, then elsewhere) frame by frame, waiting for each frame's detections, so no frame is
dropped whatever the load. While lost ``~/detections`` is empty, the node logs "lost" and
"found again" once each, and ``~/state`` goes tracking -> lost -> tracking.
"""
import os

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv: make setup)")
pytest.importorskip("vision_msgs.msg",
                    reason="vision_msgs is not importable (make setup builds it)")
pytest.importorskip("unsup_tracker_interfaces.srv",
                    reason="unsup_tracker_interfaces is not built (make setup builds it)")

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from unsup_tracker.geometry import iou_xywh  # noqa: E402
from unsup_tracker.ros.common import state_qos  # noqa: E402
from unsup_tracker.ros.conversions import tracked_boxes  # noqa: E402
from unsup_tracker.ros.processes import (  # noqa: E402
    NodeProcess, node_command, ros_args, ros_environment)
from unsup_tracker.ros.visualization_node import annotate  # noqa: E402

from ros_client import RELIABLE, TrackerClient  # noqa: E402
from ros_testdata import wait_until  # noqa: E402
from installed import require_shipped_weights  # noqa: E402
from synthetic import occlusion_clip  # noqa: E402


class Client(TrackerClient):
    """The tracker client plus the node's ~/state and the visualization's annotated frames."""

    def __init__(self):
        super().__init__("/l", name="lost_test_client")
        self.states = []
        self.annotated = 0
        self.node.create_subscription(String, "/l/tracker_node/state", self._on_state,
                                      state_qos())
        self.node.create_subscription(Image, "/l/visualization_node/annotated",
                                      self._on_annotated, RELIABLE)

    def _on_state(self, msg):
        with self.lock:
            self.states.append(msg.data)

    def _on_annotated(self, msg):
        with self.lock:
            self.annotated += 1


def test_node_reports_lost_and_found_once_with_empty_detections(tmp_path):
    checkpoint = str(require_shipped_weights("udt"))
    frames, boxes = occlusion_clip()
    env = ros_environment()
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if env.get(key):
            os.environ[key] = env[key]
    params = {"method": "udt", "checkpoint": checkpoint, "image_reliability": "reliable",
              "torch_threads": 1, "stats_period": 0.0}
    tracker = NodeProcess(node_command("tracker_node") + ros_args(params, namespace="/l"),
                          tmp_path / "tracker.log", env)
    viz = NodeProcess(node_command("visualization_node") + ros_args(
        {"image_reliability": "reliable"}, namespace="/l",
        remaps={"detections": "tracker_node/detections", "mask": "tracker_node/mask",
                "state": "tracker_node/state"}), tmp_path / "viz.log", env)
    client = Client()
    try:
        wait_until(lambda: client.states, 60.0, "the node's first ~/state", tracker)
        # The visualization pairs each image with its detections: it must have joined the graph
        # (image subscribed, annotated published) before the clip, or it sees none of it.
        wait_until(lambda: client.image.get_subscription_count() >= 2
                   and client.node.count_publishers("/l/visualization_node/annotated") >= 1,
                   60.0, "the visualization node's image subscription", viz)
        response, stamps = client.track_clip(frames, boxes[0], tracker)
        assert response.success, response.message
        found = {i: tracked_boxes(client.answered(stamps[i])[-1]) for i in range(1, len(frames))}
        with client.lock:
            states = list(client.states)
        # Visible: a box each frame; covered: none after the loss; back: on the target again.
        assert all(len(found[i]) == 1 for i in range(1, 10)), found
        empty = [i for i in range(10, 30) if not found[i]]
        assert empty and empty == list(range(empty[0], 30)) and empty[0] <= 15, empty
        back = [i for i in range(30, len(frames)) if found[i]]
        assert back and back[0] <= 34, back
        for i in back:
            assert iou_xywh(found[i][0].box_xywh[None], boxes[i][None])[0] > 0.5
        assert states == ["idle", "tracking", "lost", "tracking"], states
        log = tracker.log_text()
        assert log.count("target lost") == 1 and log.count("target found again") == 1, log
        wait_until(lambda: client.annotated > 0, 10.0, "an annotated frame", viz)
    finally:
        tracker.stop()
        viz.stop()
        client.close()


def test_visualization_says_searching_while_lost():
    image = np.full((240, 320, 3), 90, np.uint8)
    searching = annotate(image, [], None, 30.0, searching=True)
    idle = annotate(image, [], None, 30.0)
    assert not np.array_equal(searching, idle)
    # Only the status line differs.
    rows = np.flatnonzero(np.any(searching != idle, axis=(1, 2)))
    assert rows.max() < 40
