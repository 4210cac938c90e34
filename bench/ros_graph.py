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
"""The node graph the ROS benchmarks measure, and what they record of it (one harness).

camera_node (opencv-doc's box.mp4, 640x480 rgb8, looped, at ``rate`` Hz) -> tracker_node
(``publish_timing``) [-> visualization_node], each a separate process over Fast DDS on loopback
with the shipped large-image profile, as the demo runs them. This process records, keyed by the
camera stamp:

- ``published``: ``camera_info`` arrivals (same stamps as the images, tiny messages);
- ``detections``: arrival time, number of targets and the first box (for re-inits);
- ``timing``: tracker_node's ``~/timing`` (receive, worker start, end, dropped-as-stale total);
- ``annotated``: visualization_node's ``~/annotated`` arrivals (received serialized; only the
  stamp is read, so the 900 kB frames cost this process almost nothing).

:func:`window_figures` turns the records of a time window into latency and drop figures;
``bench_ros_latency.py`` reports one window, ``soak_ros.py`` one per minute.
"""
import os
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def add_graph_arguments(parser):
    """Add the options every ROS graph benchmark takes."""
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--method", default="udt")
    parser.add_argument("--checkpoint", default=None,
                        help="default: the shipped checkpoint, or 'untrained' when there is none")
    parser.add_argument("--reliability", default="best_effort",
                        choices=("best_effort", "reliable"))
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = torch's default")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="extra tracker_node parameter, e.g. s2siamfc.scale_mode=template")


def percentile_ms(values, q):
    return float(np.percentile(np.asarray(values) * 1e3, q)) if len(values) else float("nan")


def _stamp_of_serialized(serialized):
    """Return the header stamp (ns) of a serialized message that starts with a std_msgs/Header.

    CDR: a 4-byte encapsulation header (byte 1 = 1: little endian), then int32 sec, uint32 nsec.
    """
    sec, nanosec = struct.unpack_from("<iI" if serialized[1] == 1 else ">iI", serialized, 4)
    return sec * 1_000_000_000 + nanosec


class Graph:
    """Start the graph's processes and this process's recorder node; always stop them."""

    def __init__(self, args, visualization=False, logs=None, max_targets=1):
        from unsup_tracker.registry import UNTRAINED, get_method
        from unsup_tracker.ros.demo import DEMO_INIT_BOX, DEMO_VIDEO
        from unsup_tracker.ros.processes import ros_environment
        from unsup_tracker.sample_data import find_sample_video

        spec = get_method(args.method)
        self.args = args
        self.checkpoint = args.checkpoint or (
            "" if spec.shipped_checkpoint.is_file() else UNTRAINED)
        self.video = str(find_sample_video(DEMO_VIDEO))
        self.init_box = DEMO_INIT_BOX
        self.visualization = visualization
        self.max_targets = max_targets
        self.env = ros_environment()
        for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                    "FASTDDS_DEFAULT_PROFILES_FILE"):
            if self.env.get(key):
                os.environ[key] = self.env[key]
        self.logs = Path(logs) if logs else Path(tempfile.mkdtemp(prefix="bench_ros_graph_"))
        self.logs.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.published, self.detections, self.timing, self.annotated = {}, {}, {}, {}
        #: (width, height) of the camera's frames, from its camera_info (None before the first).
        self.frame_size = None
        self.init_calls = []  # (start, end) wall clock of every ~/init call
        self.processes = {}
        self.node = None

    # ------------------------------------------------------------------ recorder callbacks
    def _on_info(self, msg):
        from unsup_tracker.ros.conversions import stamp_to_ns

        with self.lock:
            self.published[stamp_to_ns(msg.header.stamp)] = time.time()
            self.frame_size = (msg.width, msg.height)

    def _on_detections(self, msg):
        from unsup_tracker.ros.conversions import stamp_to_ns, tracked_boxes

        boxes = tracked_boxes(msg)
        with self.lock:
            self.detections[stamp_to_ns(msg.header.stamp)] = (
                time.time(), len(boxes), boxes[0].box_xywh if boxes else None)

    def _on_timing(self, msg):
        sec, nanosec, received, start, end, dropped_total, _tracking = msg.data
        with self.lock:
            self.timing[int(sec) * 1_000_000_000 + int(nanosec)] = (
                received, start, end, dropped_total)

    def _on_annotated(self, serialized):
        stamp = _stamp_of_serialized(serialized)
        with self.lock:
            self.annotated[stamp] = time.time()

    # ------------------------------------------------------------------ life cycle
    def __enter__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import Trigger
        from unsup_tracker_interfaces.srv import InitTrack
        from vision_msgs.msg import Detection2DArray

        from unsup_tracker.ros.common import image_qos
        from unsup_tracker.ros.processes import ros_args

        args = self.args
        rclpy.init(args=[])
        node = self.node = rclpy.create_node("bench_ros_graph")
        node.create_subscription(CameraInfo, "camera_info", self._on_info,
                                 image_qos(args.reliability, 100))
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(Detection2DArray, "tracker_node/detections",
                                 self._on_detections, reliable)
        node.create_subscription(Float64MultiArray, "tracker_node/timing", self._on_timing,
                                 reliable)
        if self.visualization:
            node.create_subscription(Image, "visualization_node/annotated",
                                     self._on_annotated, QoSProfile(depth=30), raw=True)
        self.init_client = node.create_client(InitTrack, "tracker_node/init")
        self.stop_client = node.create_client(Trigger, "tracker_node/stop")
        # Single-threaded, as the nodes: see unsup_tracker.ros.common.run_node.
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        try:
            tracker = {"method": args.method, "publish_timing": True,
                       "image_reliability": args.reliability,
                       "torch_threads": args.torch_threads, "max_targets": self.max_targets}
            if self.checkpoint:
                tracker["checkpoint"] = self.checkpoint
            for item in args.param:
                key, _, value = item.partition("=")
                tracker[key] = value
            self._start("tracker_node", ros_args(tracker))
            if not self.init_client.wait_for_service(timeout_sec=90.0):
                sys.exit(f"tracker_node did not start:\n{self.log_tail('tracker_node')}")
            subscribers = 1
            if self.visualization:
                self._start("visualization_node", ros_args(
                    {"image_reliability": args.reliability},
                    remaps={"detections": "tracker_node/detections",
                            "mask": "tracker_node/mask"}))
                subscribers = 2
            camera = {"source": self.video, "rate": args.rate, "loop": True,
                      "image_reliability": args.reliability,
                      "wait_for_subscribers": subscribers}
            self._start("camera_node", ros_args(camera))
            deadline = time.monotonic() + 60.0
            while not self.published and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self.published:
                sys.exit(f"no frames from camera_node:\n{self.log_tail('camera_node')}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, name, arguments):
        from unsup_tracker.ros.processes import NodeProcess, node_command

        self.processes[name] = NodeProcess(node_command(name) + arguments,
                                           self.logs / f"{name}.log", self.env)

    def __exit__(self, *exc):
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.node is not None:
            import rclpy

            self.executor.shutdown(timeout_sec=2.0)
            self.node.destroy_node()
            rclpy.shutdown()
            self.node = None
        return False

    # ------------------------------------------------------------------ use
    def init(self, stamp_ns=0, box=None, retries=40):
        """Call ``~/init`` on frame ``stamp_ns`` (0: the latest); return (response, seconds).

        A frame the tracker never got (lossy transport) or no frame yet is retried on the latest
        frame: timing, not accuracy, is measured here.
        """
        from unsup_tracker_interfaces.srv import InitTrack

        from unsup_tracker.ros.conversions import ns_to_stamp, xywh_to_bbox

        request = InitTrack.Request()
        request.header.stamp = ns_to_stamp(stamp_ns)
        request.box = xywh_to_bbox(self.init_box if box is None else box)
        for _ in range(retries):
            started, wall = time.monotonic(), time.time()
            future = self.init_client.call_async(request)
            while not future.done():
                time.sleep(0.005)
            seconds = time.monotonic() - started
            with self.lock:
                self.init_calls.append((wall, wall + seconds))
            response = future.result()
            if response.success or ("no buffered frame" not in response.message
                                    and "no image received" not in response.message):
                break
            request.header.stamp = ns_to_stamp(0)
            time.sleep(0.05)
        return response, seconds

    def stop(self):
        """Call ``~/stop`` (every target); return the response."""
        from std_srvs.srv import Trigger

        future = self.stop_client.call_async(Trigger.Request())
        while not future.done():
            time.sleep(0.005)
        return future.result()

    def first_frame(self):
        with self.lock:
            return min(self.published)

    def latest_detection(self):
        """Return (stamp_ns, xywh) of the newest detection with a target, or None."""
        with self.lock:
            found = [(s, d[2]) for s, d in self.detections.items() if d[2] is not None]
        return max(found) if found else None

    def log_tail(self, name):
        return self.processes[name].log_tail()

    def alive(self):
        return {name: process.alive for name, process in self.processes.items()}

    def pids(self):
        return {name: process.process.pid for name, process in self.processes.items()}

    def forget_before(self, stamp_ns):
        """Drop records of frames stamped before ``stamp_ns`` (keeps a long run's memory flat)."""
        with self.lock:
            for records in (self.published, self.detections, self.timing, self.annotated):
                for stamp in [s for s in records if s < stamp_ns]:
                    del records[stamp]


#: /proc/<pid>/status fields of :func:`memory_mib`, by the names it returns.
MEMORY_FIELDS = {"rss": "VmRSS", "private": "RssAnon", "shm": "RssShmem"}


def memory_mib(pid):
    """Return ``{"rss", "private", "shm"}`` of process ``pid`` in MiB (Linux /proc; NaN if gone).

    ``private`` (anonymous memory: heaps, tensors, queues) is where a leak grows. ``shm`` is the
    shared-memory transport's segments mapped by the process (Fast DDS: the 32 MiB segment of
    each publisher it reads, see config/fastdds_large_images.xml), counted in RSS as far as
    they have been touched, so it rises towards the segments' size when load makes frames pile
    up, without anything leaking.
    """
    found = dict.fromkeys(MEMORY_FIELDS, float("nan"))
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for name, field in MEMORY_FIELDS.items():
        for line in lines:
            if line.startswith(field + ":"):
                found[name] = int(line.split()[1]) / 1024.0
    return found


def window_figures(graph, window_start, window_end):
    """Return latency and drop figures for the frames published in [window_start, window_end).

    Call it about a second after ``window_end`` so that the window's last answers arrived.
    """
    with graph.lock:
        frames = sorted(s for s in graph.published if window_start <= s * 1e-9 < window_end)
        detections = {s: graph.detections[s] for s in frames if s in graph.detections}
        timing = {s: graph.timing[s] for s in frames if s in graph.timing}
        annotated = {s: graph.annotated[s] for s in frames if s in graph.annotated}
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
    # ~/init runs in tracker_node's executor: images arriving meanwhile wait in its 2-deep DDS
    # queue, so older ones are overwritten there without the node seeing them (compute too).
    with graph.lock:
        calls = list(graph.init_calls)
    during_init = sum(1 for s in frames if s not in detections and any(
        start - 0.1 <= s * 1e-9 <= end for start, end in calls))
    share = (float(np.sum(transport) / np.sum([detections[s][0] - s * 1e-9 for s in timed]))
             if timed else float("nan"))

    def p(values):
        return {"p50": percentile_ms(values, 50), "p95": percentile_ms(values, 95)}

    figures = {
        "window_s": round(window_end - window_start, 2),
        "frames_published": len(frames), "frames_answered": len(answered),
        "frames_with_target": len(with_target),
        "dropped_fraction": round(missing / len(frames), 4) if frames else None,
        "dropped_as_stale_by_tracker": stale_dropped,
        "lost_while_init_ran": during_init,
        "lost_in_transport_or_unaccounted": max(missing - stale_dropped - during_init, 0),
        "latency_ms": p(total),
        "transport_ms": p(transport),
        "transport_share_of_latency": share,
        "queueing_ms": p(queueing),
        "compute_ms": p(compute),
        "detections_transport_ms": p(detection_transport),
    }
    if graph.visualization:
        figures["frames_annotated"] = len(annotated)
        figures["annotated_latency_ms"] = p([annotated[s] - s * 1e-9 for s in annotated])
    return figures
