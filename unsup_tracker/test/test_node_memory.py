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
"""Freed image buffers go back to the OS in the nodes without torch (camera, visualization).

return_image_buffers_to_the_os pins glibc's mmap threshold there; tracker_node does not (it doubled
every method's ``track()``: see ``run_node``).
"""
import subprocess
import sys

import pytest

PROBE = r"""
import os
import sys

import numpy as np

if sys.argv[1] == "pinned":
    from unsup_tracker.ros.common import return_image_buffers_to_the_os
    assert return_image_buffers_to_the_os()


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


frame_bytes = 640 * 480 * 3
first = np.ones(frame_bytes, np.uint8)  # glibc maps it; freeing it raises the threshold
del first
base = rss_mib()
survivors, frames = [], []
for _ in range(100):  # a burst of queued frames, small objects allocated between them
    frames.append(np.ones(frame_bytes, np.uint8))
    survivors.append(b"x" * 6400)
del frames
print(round(rss_mib() - base, 1))
"""


def retained_mib(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_frames_leave_no_resident_memory_behind():
    pinned = retained_mib("pinned")
    default = retained_mib("default")
    # 100 frames are 88 MiB; glibc's default keeps them resident (measured 88.5 MiB here).
    assert pinned < 5.0, f"{pinned} MiB still resident after freeing (glibc default: {default})"


@pytest.mark.parametrize("module, entry, pinned", [
    ("camera_node", "main", True), ("visualization_node", "main", True),
    ("tracker_node", "main", False), ("tracker_node", "lifecycle_main", False),
])
def test_only_the_nodes_without_torch_pin_the_mmap_threshold(monkeypatch, module, entry, pinned):
    pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv)")
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs is not built (make setup)")
    pytest.importorskip("unsup_tracker_interfaces.srv", reason="interfaces not built (make setup)")
    import importlib
    import inspect

    from unsup_tracker.ros import common

    node_module = importlib.import_module(f"unsup_tracker.ros.{module}")
    default = inspect.signature(common.run_node).parameters["pin_mmap_threshold"].default
    used = []
    monkeypatch.setattr(node_module, "run_node",
                        lambda make_node, args=None, **options: used.append(options) or 0)
    assert getattr(node_module, entry)([]) == 0
    assert used[0].get("pin_mmap_threshold", default) is pinned


VISUALIZATION_BURSTS = r"""
import os
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from unsup_tracker.ros.conversions import bgr8_to_image_msg, ns_to_stamp
from unsup_tracker.ros.processes import NodeProcess, node_command, ros_args, ros_environment


def private_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024


env = ros_environment()
os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID")
                   if env.get(k)})
viz = NodeProcess(node_command("visualization_node") + ros_args(
    {"image_reliability": "best_effort"}, namespace="/vm"), sys.argv[1], env)
rclpy.init()
node = rclpy.create_node("burst_publisher")
images = node.create_publisher(Image, "/vm/image", QoSProfile(
    depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
detections = node.create_publisher(Detection2DArray, "/vm/detections", 10)
frame = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
count = 0


def send(frames, period):
    global count
    for _ in range(frames):
        count += 1
        header = Header(stamp=ns_to_stamp(count * 1_000_000), frame_id="cam")
        images.publish(bgr8_to_image_msg(frame, header))
        detections.publish(Detection2DArray(header=header))
        time.sleep(period)


try:
    deadline = time.monotonic() + 60
    while images.get_subscription_count() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert viz.alive, viz.log_tail(20)
    send(150, 1 / 30)
    base = private_mib(viz.process.pid)
    growth = []
    for _ in range(3):
        send(200, 0.0)  # faster than the node reads: its reader history fills
        send(60, 1 / 30)
        growth.append(private_mib(viz.process.pid) - base)
    print(" ".join(f"{g:.2f}" for g in growth))
finally:
    viz.stop()
    node.destroy_node()
    rclpy.shutdown()
"""


def test_visualization_memory_stays_bounded_after_bursts(tmp_path):
    """Bursts of 640x480 frames grow visualization_node's memory once, by its image queue.

    Private memory grows by at most the image queue's payloads (depth 2: 1.8 MiB measured;
    depth 5 gave 4.4 MiB), after the first burst only.
    """
    pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv)")
    pytest.importorskip("vision_msgs.msg", reason="vision_msgs is not built (make setup)")
    out = subprocess.run([sys.executable, "-c", VISUALIZATION_BURSTS, str(tmp_path / "viz.log")],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    growth = [float(value) for value in out.stdout.split()]
    assert max(growth) < 3.0, growth
    assert growth[-1] - growth[0] < 0.5, growth  # no growth per burst
