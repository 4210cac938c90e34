"""Publish one vision_msgs/Detection2DArray from its own process (a stand-in detector).

    python ros_detector_publisher.py TOPIC STAMP_NS CLASS:SCORE:X:Y:W:H [...]

Waits (at most 20 s) for a subscriber, publishes the message (reliable, depth 10) with the given
header stamp, one Detection2D per argument (box xywh in pixels), waits a moment for delivery and
exits 0; exits 1 when no subscriber appeared. Used by test_ros_multi_target.py.
"""
import sys
import time


def main(argv):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    topic, stamp_ns, specs = argv[0], int(argv[1]), argv[2:]
    rclpy.init()
    node = Node("fake_detector")
    publisher = node.create_publisher(
        Detection2DArray, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    try:
        deadline = time.monotonic() + 20.0
        while publisher.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        if publisher.get_subscription_count() < 1:
            print(f"no subscriber on {topic}", file=sys.stderr)
            return 1
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
        publisher.publish(msg)
        time.sleep(1.0)  # let reliable delivery finish before the participant goes away
        print(f"published {len(specs)} detections", flush=True)
        return 0
    finally:
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
