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
"""The ROS tests' own node talking to one tracker_node namespace (import after rclpy is found).

:class:`TrackerClient` runs in its own rclpy context with a single-threaded executor spinning in
a background thread: it publishes ``<ns>/image``, records ``<ns>/tracker_node/detections`` and
calls the node's services. Tests subclass it for more (parameters, diagnostics).
"""
import contextlib
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from unsup_tracker_interfaces.srv import InitTrack
from vision_msgs.msg import Detection2DArray

from ros_testdata import call_service, wait_until
from unsup_tracker.ros.conversions import (
    bgr8_to_image_msg, ns_to_stamp, stamp_to_ns, xywh_to_bbox)

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


class TrackerClient:
    """The test's own node in its own context, spinning in a background thread."""

    def __init__(self, namespace, name="client"):
        self.ns = namespace
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(f"{name}{namespace.replace('/', '_')}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.detections = []
        self.node.create_subscription(Detection2DArray, f"{namespace}/tracker_node/detections",
                                      self._on_detections, RELIABLE)
        self.image = self.node.create_publisher(Image, f"{namespace}/image", RELIABLE)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_detections(self, msg):
        with self.lock:
            self.detections.append(msg)

    def call(self, srv_type, name, request, timeout=20.0):
        name = f"{self.ns}/tracker_node/{name}"
        return call_service(self.node, srv_type, name, request, timeout)

    def init(self, box, stamp_ns=0, method=""):
        request = InitTrack.Request()
        request.header.stamp = ns_to_stamp(stamp_ns)
        request.box = xywh_to_bbox(box)
        request.method = method
        return self.call(InitTrack, "init", request)

    def publish(self, msg):
        self.image.publish(msg)

    def track_clip(self, frames, box, process, frame_id="cam"):
        """Start a target on ``frames[0]`` at ``box``, then feed the rest one by one.

        Frame i is stamped (i + 1) x 100 ms. The first frame is re-published until ``~/init``
        succeeds (the request may overtake the image; 20 s at most); each later frame waits for
        its answer. Returns (the init response, the stamps); on a failed init nothing more is fed.
        """
        stamps = [(index + 1) * 100_000_000 for index in range(len(frames))]

        def publish(index):
            self.image.publish(bgr8_to_image_msg(
                frames[index], Header(stamp=ns_to_stamp(stamps[index]), frame_id=frame_id)))

        deadline = time.monotonic() + 20.0
        while True:
            publish(0)
            time.sleep(0.2)
            response = self.init(box, stamps[0])
            if response.success or time.monotonic() > deadline:
                break
        if not response.success:
            return response, stamps
        for index in range(1, len(frames)):
            publish(index)
            wait_until(lambda: self.answered(stamps[index]), 30.0, f"frame {index}", process)
        time.sleep(0.5)
        return response, stamps

    def answered(self, stamp_ns):
        with self.lock:
            return [m for m in self.detections if stamp_to_ns(m.header.stamp) == stamp_ns]

    def close(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@contextlib.contextmanager
def client_of(process, make_client, wait_for_subscription=True):
    """Yield ``make_client()`` for ``process`` (a NodeProcess); stop and close both afterwards.

    With ``wait_for_subscription`` the tracker's image subscription is awaited first.
    """
    client = None
    try:
        client = make_client()
        client.process = process
        if wait_for_subscription:
            wait_until(lambda: client.image.get_subscription_count() >= 1, 60.0,
                       "the tracker's image subscription", process)
        yield client
    finally:
        process.stop()
        if client is not None:
            client.close()
