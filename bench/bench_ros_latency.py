"""ROS latency benchmark: camera_node (640x480 rgb8, 30 Hz) -> tracker_node -> detections.

Separate processes over Fast DDS on loopback with the shipped large-image profile, as the demo
runs them. camera_node loops opencv-doc's box.mp4 (640x480, real footage); tracker_node tracks
the tin from the demo's initial box and publishes per-frame timing on ``~/timing``; this process
records ``camera_info`` (same stamps as the images, tiny messages: the published frames),
the detections and the timing records. Over a measurement window after a warm-up it reports:

- stamp -> detection latency (camera stamp to this process receiving the Detection2DArray),
  median and p95;
- the transport share: camera stamp -> tracker_node receiving the image (includes the
  camera's encoding and publishing), p50 / p95 and as a share of the total;
- queueing (receive -> worker start) and compute (worker start -> detections published);
- the fraction of published frames without a detection message: dropped as stale by the
  tracker (it was busy: the newest frame wins) or lost in transport.

Nothing here is asserted; it prints what it measured. Usage::

    .venv/bin/python bench/bench_ros_latency.py [--seconds 20] [--rate 30] [--method udt]
        [--checkpoint PATH|untrained] [--reliability best_effort|reliable] [--json out.json]
        [--param s2siamfc.scale_mode=template]
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds ignored after init")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--method", default="udt")
    parser.add_argument("--checkpoint", default=None,
                        help="default: the shipped checkpoint, or 'untrained' when there is none")
    parser.add_argument("--reliability", default="best_effort",
                        choices=("best_effort", "reliable"))
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = torch's default")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="extra tracker_node parameter, e.g. s2siamfc.scale_mode=template")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args()


def percentile_ms(values, q):
    return float(np.percentile(np.asarray(values) * 1e3, q)) if len(values) else float("nan")


def main():
    args = parse_args()
    from unsup_tracker.registry import UNTRAINED, get_method
    from unsup_tracker.ros.demo import DEMO_INIT_BOX, DEMO_VIDEO
    from unsup_tracker.ros.processes import NodeProcess, node_command, ros_args, ros_environment
    from unsup_tracker.sample_data import find_sample_video

    spec = get_method(args.method)
    checkpoint = args.checkpoint or ("" if spec.shipped_checkpoint.is_file() else UNTRAINED)
    video = str(find_sample_video(DEMO_VIDEO))
    env = ros_environment()
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if env.get(key):
            os.environ[key] = env[key]

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Float64MultiArray
    from unsup_tracker_interfaces.srv import InitTrack
    from vision_msgs.msg import Detection2DArray

    from unsup_tracker.ros.common import image_qos
    from unsup_tracker.ros.conversions import stamp_to_ns, xywh_to_bbox

    logs = Path(tempfile.mkdtemp(prefix="bench_ros_latency_"))
    tracker_params = {"method": args.method, "publish_timing": True,
                      "image_reliability": args.reliability, "torch_threads": args.torch_threads}
    if checkpoint:
        tracker_params["checkpoint"] = checkpoint
    for item in args.param:
        key, _, value = item.partition("=")
        tracker_params[key] = value
    camera_params = {"source": video, "rate": args.rate, "loop": True,
                     "image_reliability": args.reliability, "wait_for_subscribers": 1}
    lock = threading.Lock()
    published, detections, timing = {}, {}, {}

    def on_info(msg):
        with lock:
            published[stamp_to_ns(msg.header.stamp)] = time.time()

    def on_detections(msg):
        with lock:
            detections[stamp_to_ns(msg.header.stamp)] = (time.time(), len(msg.detections))

    def on_timing(msg):
        sec, nanosec, received, start, end, dropped_total, tracking = msg.data
        with lock:
            timing[int(sec) * 1_000_000_000 + int(nanosec)] = (received, start, end, dropped_total)

    rclpy.init(args=[])
    node = rclpy.create_node("bench_ros_latency")
    node.create_subscription(CameraInfo, "camera_info", on_info, image_qos(args.reliability, 100))
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Detection2DArray, "tracker_node/detections", on_detections, reliable)
    node.create_subscription(Float64MultiArray, "tracker_node/timing", on_timing, reliable)
    init_client = node.create_client(InitTrack, "tracker_node/init")
    # Single-threaded, as the nodes: see unsup_tracker.ros.common.run_node.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    processes = []
    try:
        processes.append(NodeProcess(node_command("tracker_node") + ros_args(tracker_params),
                                     logs / "tracker_node.log", env))
        if not init_client.wait_for_service(timeout_sec=90.0):
            sys.exit(f"tracker_node did not start:\n{processes[0].log_tail()}")
        processes.append(NodeProcess(node_command("camera_node") + ros_args(camera_params),
                                     logs / "camera_node.log", env))
        deadline = time.monotonic() + 60.0
        while not published and time.monotonic() < deadline:
            time.sleep(0.01)
        if not published:
            sys.exit(f"no frames from camera_node:\n{processes[1].log_tail()}")
        request = InitTrack.Request()
        with lock:
            request.header.stamp.sec, request.header.stamp.nanosec = divmod(min(published), 10**9)
        request.box = xywh_to_bbox(DEMO_INIT_BOX)
        for _ in range(40):
            future = init_client.call_async(request)
            while not future.done():
                time.sleep(0.005)
            response = future.result()
            if response.success or "no buffered frame" not in response.message \
                    and "no image received" not in response.message:
                break
            if "no buffered frame" in response.message:
                # The tracker never got that frame (lossy transport): timing, not accuracy,
                # is measured here, so start on its latest frame.
                request.header.stamp.sec, request.header.stamp.nanosec = 0, 0
            time.sleep(0.05)
        if not response.success:
            sys.exit(f"~/init failed: {response.message}")
        window_start = time.time() + args.warmup
        time.sleep(args.warmup + args.seconds)
        window_end = time.time()
        time.sleep(1.0)  # let the window's last detections arrive
    finally:
        for process in reversed(processes):
            process.stop()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.shutdown()

    with lock:
        frames = sorted(s for s in published if window_start <= s * 1e-9 < window_end)
        answered = [s for s in frames if s in detections]
        with_target = [s for s in answered if detections[s][1] > 0]
        total = [detections[s][0] - s * 1e-9 for s in answered]
        timed = [s for s in answered if s in timing]
        transport = [timing[s][0] - s * 1e-9 for s in timed]
        queueing = [timing[s][1] - timing[s][0] for s in timed]
        compute = [timing[s][2] - timing[s][1] for s in timed]
        detection_transport = [detections[s][0] - timing[s][2] for s in timed]
        stale = [timing[s][3] for s in timed]
    stale_dropped = int(stale[-1] - stale[0]) if len(stale) > 1 else 0
    missing = len(frames) - len(answered)
    share = float(np.sum(transport) / np.sum([detections[s][0] - s * 1e-9 for s in timed])) \
        if timed else float("nan")
    figures = {
        "method": args.method, "checkpoint": checkpoint or "shipped", "rate_hz": args.rate,
        "reliability": args.reliability, "window_s": round(window_end - window_start, 2),
        "frames_published": len(frames), "frames_answered": len(answered),
        "frames_with_target": len(with_target),
        "dropped_fraction": round(missing / len(frames), 4) if frames else None,
        "dropped_as_stale_by_tracker": stale_dropped,
        "lost_in_transport_or_unaccounted": max(missing - stale_dropped, 0),
        "latency_ms": {"p50": percentile_ms(total, 50), "p95": percentile_ms(total, 95)},
        "transport_ms": {"p50": percentile_ms(transport, 50), "p95": percentile_ms(transport, 95)},
        "transport_share_of_latency": share,
        "queueing_ms": {"p50": percentile_ms(queueing, 50), "p95": percentile_ms(queueing, 95)},
        "compute_ms": {"p50": percentile_ms(compute, 50), "p95": percentile_ms(compute, 95)},
        "detections_transport_ms": {"p50": percentile_ms(detection_transport, 50),
                                    "p95": percentile_ms(detection_transport, 95)},
        "logs": str(logs),
    }
    print(f"ROS latency, {args.method} ({figures['checkpoint']}), 640x480 rgb8 "
          f"at {args.rate:g} Hz, "
          f"{args.reliability}, {figures['window_s']} s window")
    print(f"  frames published {len(frames)}, answered {len(answered)} "
          f"(with target {len(with_target)}); dropped {figures['dropped_fraction']:.1%} "
          f"({stale_dropped} stale in the tracker, {figures['lost_in_transport_or_unaccounted']} "
          "lost in transport)")
    for label, key in (("stamp -> detection", "latency_ms"), ("transport (image)", "transport_ms"),
                       ("queueing", "queueing_ms"), ("compute", "compute_ms"),
                       ("transport (detections)", "detections_transport_ms")):
        p50, p95 = figures[key]["p50"], figures[key]["p95"]
        print(f"  {label:24s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  transport share of latency {share:.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
