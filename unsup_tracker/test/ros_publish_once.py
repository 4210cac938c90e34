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
"""Publish one message from its own process: a stand-in detector or a click in rqt_image_view.

    python ros_publish_once.py detections TOPIC STAMP_NS CLASS:SCORE:X:Y:W:H [...]
    python ros_publish_once.py click TOPIC X Y

``detections``: one vision_msgs/Detection2DArray with the given header stamp, one Detection2D
per argument (box xywh in pixels). ``click``: one geometry_msgs/Point (x, y in pixels, z 0), as
rqt_image_view publishes on ``<image topic>_mouse_left``. Waits (at most 20 s) for a subscriber,
publishes (reliable, depth 10), waits a moment for delivery and exits 0; exits 1 when no
subscriber appeared. Used by test_ros_multi_target.py.
"""
import sys
import time


def detections_msg(stamp_ns, specs):
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    msg = Detection2DArray()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "camera"
    for spec in specs:
        class_id, score, x, y, w, h = spec.split(":")
        detection = Detection2D(header=msg.header)
        detection.bbox.center.position.x = float(x) + float(w) / 2
        detection.bbox.center.position.y = float(y) + float(h) / 2
        detection.bbox.size_x, detection.bbox.size_y = float(w), float(h)
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = float(score)
        detection.results.append(hypothesis)
        msg.detections.append(detection)
    return msg


def main(argv):
    import rclpy
    from geometry_msgs.msg import Point
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    kind, topic, rest = argv[0], argv[1], argv[2:]
    if kind == "detections":
        msg = detections_msg(int(rest[0]), rest[1:])
    elif kind == "click":
        msg = Point(x=float(rest[0]), y=float(rest[1]), z=0.0)
    else:
        print(f"unknown kind {kind!r}", file=sys.stderr)
        return 2
    rclpy.init()
    node = Node("publish_once")
    publisher = node.create_publisher(
        type(msg), topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    try:
        deadline = time.monotonic() + 20.0
        while publisher.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        if publisher.get_subscription_count() < 1:
            print(f"no subscriber on {topic}", file=sys.stderr)
            return 1
        publisher.publish(msg)
        time.sleep(1.0)  # let reliable delivery finish before the participant goes away
        print(f"published {kind} on {topic}", flush=True)
        return 0
    finally:
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
