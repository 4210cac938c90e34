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
"""``demo`` (``make demo``): camera -> tracker -> visualization as separate ROS 2 processes.

With no arguments it plays Debian opencv-doc's ``box.mp4`` (a biscuit tin moved by hand, 640x480,
30 FPS) through ``camera_node``, tracks the tin with the default method and its shipped
checkpoint in ``tracker_node`` and draws the result in ``visualization_node``. The three nodes
are separate processes talking over Fast DDS on loopback (``ROS_AUTOMATIC_DISCOVERY_RANGE=
LOCALHOST``, a random ``ROS_DOMAIN_ID`` unless one is set, the shipped large-image profile).
This process starts them, sends the initial box with a real ``~/init`` service call for the
first frame's stamp, records what comes back and writes into ``--out`` (default ./demo_out):
``annotated.mp4`` (or ``.avi``), ``contact_sheet.png``, ``summary.json`` and the node logs.

It prints per-stage FPS and latency (camera stamp -> detection received here, camera stamp ->
annotated image received here) and exits with status 1 when detections are missing for more
than 5% of the frames published after the init answer (lost or dropped frames count as missing)
or when the boxes disagree with the reference below, 2 for a set-up problem (no shipped
checkpoint, no video, bad arguments).

Accuracy check: box.mp4 has no ground truth, so the node's boxes are compared with a reference
computed in this process after the run: the same method, checkpoint and device through the
Python API (:func:`unsup_tracker.build_tracker`, default parameters as the node's, one torch
thread), initialised with the same box on the same first frame and fed the same frames, read
from the video file, in the same order as the node tracked them (the frames it answered after
the init, plus those it caught up on from its buffer before the first answer; frames it dropped
as stale are skipped). At least ``REFERENCE_MIN_FRACTION`` (95%) of the node's detections must
overlap the reference box with IoU >= ``REFERENCE_MIN_IOU`` (0.9). Frames are matched to video
positions by the order of their ``camera_info`` stamps, so the check needs every one of them
(a live camera has no reference: the check is reported as not run). It does not say whether the
tracker is right, only that the ROS path (image transport and conversion, the node's tracker
set-up, the box in the message) gives what the Python API gives; the tracker itself is tested
on clips with known boxes (test_udt.py, test_siamfc.py, test_ros_nodes.py).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .processes import NodeProcess, node_command, ros_args, ros_environment

DEMO_VIDEO = "box.mp4"
#: The initial box for the first frame of opencv-doc's box.mp4, (x, y, w, h) in pixels: the tin
#: as a user would click it, chosen by eye. It is the tracker's INPUT (the user's click), never
#: compared with or substituted for the tracker's output.
DEMO_INIT_BOX = (296.0, 16.0, 298.0, 222.0)
MAX_MISSING_FRACTION = 0.05
#: The node's box must overlap the Python API reference by this IoU ...
REFERENCE_MIN_IOU = 0.9
#: ... on at least this fraction of the node's detections (see the module docstring).
REFERENCE_MIN_FRACTION = 0.95
CONTACT_SHEET_TILES = 12
#: Frames played from a live camera when --frames is not given.
LIVE_DEFAULT_FRAMES = 300
#: Annotated frames waiting for the video encoder before new ones are left out of the video.
VIDEO_QUEUE = 300
VIDEO_THREAD_NICENESS = 10


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="udt", help="tracking method (default: udt)")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint file (default: the method's shipped weights; 'untrained' = fresh)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--video",
        default=None,
        help=f"video file, image folder or camera index (default: opencv-doc {DEMO_VIDEO})",
    )
    parser.add_argument(
        "--box",
        default=None,
        help="initial box x,y,w,h on the first frame (required with --video)",
    )
    parser.add_argument("--out", default="demo_out", help="output directory (default: ./demo_out)")
    parser.add_argument(
        "--frames", type=int, default=0, help="frames to play (default: the whole video)"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="camera rate in Hz (default: the video's)"
    )
    parser.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the nodes to start"
    )
    return parser.parse_args(argv)


def _fail(message: str, code: int = 2) -> int:
    print(f"demo: error: {message}", file=sys.stderr, flush=True)
    return code


def _resolve_inputs(args) -> tuple[str, tuple, Optional[str]]:
    """Video, init box and checkpoint argument; raises ValueError/FileNotFoundError with advice."""
    from ..registry import UNTRAINED, get_method

    spec = get_method(args.method)  # ValueError lists the methods
    if args.checkpoint is None and not spec.shipped_checkpoint.is_file():
        raise FileNotFoundError(
            f"no shipped checkpoint for {args.method!r} at {spec.shipped_checkpoint}. Train one "
            f"(`unsup-tracker-train --method {args.method} ...`) and pass --checkpoint PATH, "
            "or run "
            f"with --checkpoint {UNTRAINED} to see the pipeline with untrained weights"
        )
    if args.checkpoint not in (None, UNTRAINED) and not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
    if args.video is None:
        from ..sample_data import find_sample_video

        video = str(find_sample_video(DEMO_VIDEO))
        box = tuple(float(v) for v in args.box.split(",")) if args.box else DEMO_INIT_BOX
    else:
        if not args.box:
            raise ValueError("--video needs --box x,y,w,h (the target on its first frame)")
        video = args.video
        box = tuple(float(v) for v in args.box.split(","))
    if len(box) != 4:
        raise ValueError(f"--box needs 4 numbers x,y,w,h, got {args.box!r}")
    return video, box, args.checkpoint


def _video_info(video: str) -> tuple[Optional[np.ndarray], Optional[int], Optional[float]]:
    """First frame, frame count and FPS of a file or folder (None for what is unknown)."""
    from ..frame_readers import FrameReaderError, open_frame_reader

    try:
        reader = open_frame_reader(video)
    except FrameReaderError:
        return None, None, None
    try:
        if reader.live:
            return None, None, reader.fps
        return reader.read(), reader.frame_count, reader.fps
    finally:
        reader.close()


class _Recorder:
    """The demo's own node: frames seen, init call, detections and annotated frames received.

    It stays light so it does not take CPU from the nodes it measures: published frames are
    counted from ``camera_info`` (same stamps, tiny), ``image`` is received serialized and only
    the first frame is decoded (to check it), and annotated frames are encoded into the video
    by a separate low-priority thread.
    """

    def __init__(self, out_dir: Path, expected_frames: int):
        import rclpy
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        from std_srvs.srv import Trigger
        from unsup_tracker_interfaces.srv import InitTrack
        from vision_msgs.msg import Detection2DArray

        from .common import image_qos

        self.node = Node("demo")
        self.init_client = self.node.create_client(InitTrack, "tracker_node/init")
        self.stop_client = self.node.create_client(Trigger, "tracker_node/stop")
        self.lock = threading.Lock()
        self.frames: list[tuple[int, float]] = []  # (stamp_ns, received)
        self.first_image: Optional[object] = None
        self.detections: dict[int, tuple[float, list]] = {}
        self.annotated: list[tuple[int, float]] = []
        self.sheet_frames: list[tuple[int, np.ndarray]] = []
        self.sheet_every = max(1, expected_frames // CONTACT_SHEET_TILES)
        self.out_dir = out_dir
        self.video_path: Optional[Path] = None
        self.video_skipped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=VIDEO_QUEUE)
        self._writer_thread = threading.Thread(target=self._write_video, daemon=True)
        self._writer_thread.start()
        # Raw (serialized) images: only the first one is decoded.
        self.node.create_subscription(
            Image, "image", self._on_image, image_qos("best_effort", depth=2), raw=True
        )
        self.node.create_subscription(
            CameraInfo, "camera_info", self._on_info, image_qos("best_effort", depth=100)
        )
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(
            Detection2DArray, "tracker_node/detections", self._on_detections, reliable
        )
        self.node.create_subscription(
            Image,
            "visualization_node/annotated",
            self._on_annotated,
            QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE),
        )
        # Single-threaded, as the nodes (see common.run_node): rclpy's multi-threaded executor
        # delayed the detections it measures by tens of milliseconds.
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_image(self, serialized: bytes) -> None:
        if self.first_image is not None:
            return
        from rclpy.serialization import deserialize_message
        from sensor_msgs.msg import Image

        with self.lock:
            if self.first_image is None:
                self.first_image = deserialize_message(serialized, Image)

    def _on_info(self, msg) -> None:
        from .conversions import stamp_to_ns

        with self.lock:
            self.frames.append((stamp_to_ns(msg.header.stamp), time.time()))

    def _on_detections(self, msg) -> None:
        from .conversions import stamp_to_ns, tracked_boxes

        with self.lock:
            self.detections[stamp_to_ns(msg.header.stamp)] = (time.time(), tracked_boxes(msg))

    def _on_annotated(self, msg) -> None:
        from .conversions import stamp_to_ns

        with self.lock:
            index = len(self.annotated)
            self.annotated.append((stamp_to_ns(msg.header.stamp), time.time()))
        try:
            self._queue.put_nowait((index, msg))
        except queue.Full:
            self.video_skipped += 1

    def _write_video(self) -> None:
        import cv2

        from .conversions import image_msg_to_bgr8

        try:
            # Encoding is the demo's own bookkeeping: on a busy machine it must not take CPU
            # from the nodes being measured (Linux: niceness is per thread).
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), VIDEO_THREAD_NICENESS)
        except (AttributeError, OSError):
            pass
        writer = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            index, msg = item
            image = image_msg_to_bgr8(msg)
            if writer is None:
                writer = self._open_writer(image.shape[1], image.shape[0])
            if writer is not None:
                writer.write(image)
            if index % self.sheet_every == 0:
                size = (320, round(320 * image.shape[0] / image.shape[1]))
                self.sheet_frames.append((index, cv2.resize(image, size)))
        if writer is not None:
            writer.release()

    def _open_writer(self, width: int, height: int):
        import cv2

        for name, fourcc in (("annotated.mp4", "mp4v"), ("annotated.avi", "MJPG")):
            path = self.out_dir / name
            writer = cv2.VideoWriter(
                str(path), cv2.VideoWriter_fourcc(*fourcc), 30.0, (width, height)
            )
            if writer.isOpened():
                self.video_path = path
                return writer
        print(
            "demo: warning: no video writer available (mp4v, MJPG); no annotated video",
            file=sys.stderr,
        )
        return None

    def call(self, client, request, timeout: float):
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not future.done():
            client.remove_pending_request(future)
            return None
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self._queue.put(None)  # blocks until there is room: every queued frame gets written
        self._writer_thread.join()


def _percentiles(values) -> dict:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "n": 0}
    values = np.asarray(values) * 1e3
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "n": int(values.size),
    }


def _rate(stamps) -> Optional[float]:
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return None
    return round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 2)


def _contact_sheet(tiles: list[tuple[int, np.ndarray]], path: Path) -> bool:
    import cv2

    if not tiles:
        return False
    if len(tiles) > CONTACT_SHEET_TILES:
        picks = np.linspace(0, len(tiles) - 1, CONTACT_SHEET_TILES).round().astype(int)
        tiles = [tiles[i] for i in picks]
    height, width = tiles[0][1].shape[:2]
    columns = 4
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for k, (index, tile) in enumerate(tiles):
        tile = tile.copy()
        cv2.putText(
            tile,
            f"#{index}",
            (6, height - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 0),
            1,
            cv2.LINE_AA,
        )
        r, c = divmod(k, columns)
        rows, cols = slice(r * height, (r + 1) * height), slice(c * width, (c + 1) * width)
        sheet[rows, cols] = tile
    return bool(cv2.imwrite(str(path), sheet))


def _summarize(rec: _Recorder, init_frame_ns: int, init_answered: float) -> dict:
    with rec.lock:
        frames = list(rec.frames)
        detections = dict(rec.detections)
        annotated = list(rec.annotated)
    after = [(s, r) for s, r in frames if s > init_frame_ns and s * 1e-9 > init_answered]
    with_target = [s for s, _ in after if s in detections and detections[s][1]]
    without_message = [s for s, _ in after if s not in detections]
    missing = len(after) - len(with_target)
    det_latency = [detections[s][0] - s * 1e-9 for s, _ in after if s in detections]
    ann_latency = [r - s * 1e-9 for s, r in annotated if s > init_frame_ns]
    det_times = sorted(detections[s][0] for s, _ in after if s in detections)
    return {
        "frames_seen": len(frames),
        "frames_after_init": len(after),
        "frames_with_detection": len(with_target),
        # No Detection2DArray at all: the tracker skipped the frame as stale (it was busy)
        # or the frame or its answer was lost on the way.
        "frames_without_message": len(without_message),
        # An empty Detection2DArray: the tracker reported the target lost.
        "frames_target_lost": missing - len(without_message),
        "missing_fraction": round(missing / len(after), 4) if after else 1.0,
        "camera_fps": _rate([s * 1e-9 for s, _ in frames]),
        "tracker_fps": _rate(det_times),
        "visualization_fps": _rate([r for _, r in annotated]),
        "latency_stamp_to_detection": _percentiles(det_latency),
        "latency_stamp_to_annotated": _percentiles(ann_latency),
        "annotated_frames": len(annotated),
    }


def main(argv=None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    env = ros_environment()
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID")})
    if env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = env["FASTDDS_DEFAULT_PROFILES_FILE"]
    try:
        video, box, checkpoint = _resolve_inputs(args)
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    out_dir = Path(args.out).resolve()
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    first, frame_count, video_fps = _video_info(video)
    frames = args.frames or frame_count or LIVE_DEFAULT_FRAMES
    rate = args.rate or video_fps or 30.0
    print(
        f"demo: {video} -> {args.method} ({checkpoint or 'shipped checkpoint'}), init box {box}, "
        f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, output {out_dir}",
        flush=True,
    )

    import rclpy

    rclpy.init(args=[])
    processes: list[NodeProcess] = []
    rec: Optional[_Recorder] = None
    try:
        # One torch thread: measured faster than two for UDT-sized work on a 2-core machine that
        # also runs the camera and visualization (two threads stall each other under load).
        tracker_parameters = {"method": args.method, "device": args.device, "torch_threads": 1}
        if checkpoint:
            tracker_parameters["checkpoint"] = checkpoint
        processes.append(
            NodeProcess(
                node_command("tracker_node") + ros_args(tracker_parameters),
                logs / "tracker_node.log",
                env,
            )
        )
        processes.append(
            NodeProcess(
                node_command("visualization_node")
                + ros_args(
                    remaps={"detections": "tracker_node/detections", "mask": "tracker_node/mask",
                            "state": "tracker_node/state"}
                ),
                logs / "visualization_node.log",
                env,
            )
        )
        rec = _Recorder(out_dir, frames)
        if (
            not _wait_for(
                lambda: rec.init_client.service_is_ready() or not processes[0].alive, args.timeout
            )
            or not processes[0].alive
        ):
            return _fail(f"tracker_node did not start:\n{processes[0].log_tail()}", 1)
        camera_parameters = {
            "source": video,
            "rate": float(args.rate),
            "wait_for_subscribers": 3,
            "max_frames": frames,
        }
        camera = NodeProcess(
            node_command("camera_node") + ros_args(camera_parameters),
            logs / "camera_node.log",
            env,
        )
        processes.append(camera)
        if not _wait_for(lambda: rec.first_image is not None or not camera.alive, args.timeout):
            return _fail(f"no image from camera_node:\n{camera.log_tail()}", 1)
        if rec.first_image is None:
            return _fail(f"camera_node ended without an image:\n{camera.log_tail()}", 1)
        problem = _check_first_frame(rec.first_image, first)
        if problem:
            return _fail(problem, 1)
        init_answered, init_frame_ns = _init(rec, box, args.method)
        if init_answered is None:
            return _fail(f"~/init failed: {init_frame_ns}", 1)
        # The camera ends by itself at the end of the video (or after max_frames).
        if camera.wait(timeout=2.0 * frames / rate + 30.0) is None:
            print(
                "demo: warning: camera_node still running after twice the expected time",
                file=sys.stderr,
            )
        time.sleep(1.5)  # let the last detections and drawings arrive
        from std_srvs.srv import Trigger

        rec.call(rec.stop_client, Trigger.Request(), 5.0)
    finally:
        for process in reversed(processes):
            process.stop()
        if rec is not None:
            rec.close()
        if rclpy.ok():
            rclpy.shutdown()

    summary = _summarize(rec, init_frame_ns, init_answered)
    summary.update(
        {
            "video": video,
            "method": args.method,
            "checkpoint": checkpoint or "shipped",
            "init_box_xywh": list(box),
            "frames_left_out_of_video": rec.video_skipped,
            "annotated_video": str(rec.video_path) if rec.video_path else None,
        }
    )
    sheet = out_dir / "contact_sheet.png"
    summary["contact_sheet"] = str(sheet) if _contact_sheet(rec.sheet_frames, sheet) else None
    summary["reference"] = _reference_agreement(
        rec, video, box, init_frame_ns, args.method, checkpoint, args.device
    )
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)
    failed = False
    if summary["missing_fraction"] > MAX_MISSING_FRACTION:
        print(
            f"demo: FAILED: detections missing for {summary['missing_fraction']:.1%} of "
            f"{summary['frames_after_init']} frames after init (limit {MAX_MISSING_FRACTION:.0%})",
            file=sys.stderr,
        )
        failed = True
    reference = summary["reference"]
    if reference["checked"] and reference["agreeing_fraction"] < REFERENCE_MIN_FRACTION:
        print(
            f"demo: FAILED: the node's box overlaps the Python API reference by IoU >= "
            f"{REFERENCE_MIN_IOU} on {reference['agreeing_fraction']:.1%} of "
            f"{reference['frames_compared']} detections (limit {REFERENCE_MIN_FRACTION:.0%})",
            file=sys.stderr,
        )
        failed = True
    elif not reference["checked"] and reference["required"]:
        print(f"demo: FAILED: no reference check: {reference['reason']}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


def _tracked_positions(
    stamps: list[int], detections: dict, init_frame_ns: int
) -> tuple[list[int], set[int]]:
    """Video positions the node tracked, in order, and those with a published box.

    The node tracks (a) the frames it answers once the track exists and (b) before its first
    answer, every buffered frame since the init frame (its catch-up). Before the first box the
    empty answers came before the track existed, so (b) is every frame up to the first box.
    """
    after = [i for i, s in enumerate(stamps) if s > init_frame_ns]
    with_box = {i for i in after if stamps[i] in detections and detections[stamps[i]][1]}
    if not with_box:
        return [], set()
    first = min(with_box)
    tracked = [i for i in after if i <= first or stamps[i] in detections]
    return tracked, with_box


def _reference_agreement(rec, video, box, init_frame_ns, method, checkpoint, device) -> dict:
    """Compare the node's boxes with the same tracker run here (see the module docstring)."""
    from ..frame_readers import FrameReaderError, open_frame_reader
    from ..geometry import iou_xywh

    result = {"checked": False, "required": False, "reason": ""}
    try:
        reader = open_frame_reader(video)
    except FrameReaderError as exc:
        result["reason"] = f"cannot read {video}: {exc}"
        return result
    try:
        if reader.live:
            result["reason"] = "a live camera cannot be replayed"
            return result
        result["required"] = True
        with rec.lock:
            stamps = [s for s, _ in rec.frames]
            detections = dict(rec.detections)
        if not stamps or stamps[0] != init_frame_ns:
            result["reason"] = "the init frame is not the first camera_info received"
            return result
        tracked, with_box = _tracked_positions(stamps, detections, init_frame_ns)
        if not with_box:
            result["reason"] = "no detection to compare"
            return result
        import torch

        from ..registry import build_tracker

        torch.set_num_threads(1)  # as the node (torch_threads 1)
        tracker = build_tracker(method, checkpoint, device)
        frame = reader.read()
        tracker.init(frame, box)
        position, ious = 0, []
        for index in tracked:
            while position < index and frame is not None:
                frame, position = reader.read(), position + 1
            if frame is None:
                result["reason"] = "the video has fewer frames than the camera published"
                return result
            reference_box = tracker.track(frame).box
            if index in with_box:
                node_box = detections[stamps[index]][1][0].box_xywh
                ious.append(float(iou_xywh(node_box, reference_box)[0]))
    finally:
        reader.close()
    ious_array = np.array(ious)
    result.update(
        {
            "checked": True,
            "frames_compared": len(ious),
            "frames_replayed": len(tracked),
            "agreeing_fraction": round(float(np.mean(ious_array >= REFERENCE_MIN_IOU)), 4),
            "iou_min": round(float(ious_array.min()), 4),
            "iou_median": round(float(np.median(ious_array)), 4),
        }
    )
    return result


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _check_first_frame(msg, expected: Optional[np.ndarray]) -> Optional[str]:
    """Check that the frame we init on is the video's first frame (the box is drawn on it)."""
    from .conversions import image_msg_to_bgr8

    if expected is None:
        return None
    received = image_msg_to_bgr8(msg)
    if (
        received.shape != expected.shape
        or np.abs(received.astype(np.int16) - expected).mean() > 2.0
    ):
        return (
            "the first image received is not the video's first frame (was it lost in transport?); "
            "the init box would not match it"
        )
    return None


def _init(rec: _Recorder, box, method: str):
    """Call ~/init for the first frame: (answer time, init frame stamp) or (None, reason)."""
    from unsup_tracker_interfaces.srv import InitTrack

    from .conversions import stamp_to_ns, xywh_to_bbox

    request = InitTrack.Request()
    request.header = rec.first_image.header
    request.box = xywh_to_bbox(box)
    request.method = method
    # The service call may overtake the image on its way to the tracker: retry briefly.
    for _ in range(20):
        response = rec.call(rec.init_client, request, 15.0)
        if response is None:
            return None, "no answer within 15 s"
        if response.success:
            print(f"demo: {response.message}", flush=True)
            return time.time(), stamp_to_ns(request.header.stamp)
        if (
            "no buffered frame" not in response.message
            and "no image received" not in response.message
        ):
            break
        time.sleep(0.05)
    return None, response.message


def _print_summary(s: dict) -> None:
    def lat(key):
        v = s[key]
        return f"p50 {v['p50_ms']} ms, p95 {v['p95_ms']} ms (n={v['n']})"

    print("demo results")
    print(f"  camera        {s['camera_fps']} FPS, {s['frames_seen']} frames")
    print(
        f"  tracker       {s['tracker_fps']} FPS; "
        f"stamp -> detection {lat('latency_stamp_to_detection')}"
    )
    print(
        f"  visualization {s['visualization_fps']} FPS; "
        f"stamp -> annotated {lat('latency_stamp_to_annotated')}"
    )
    print(
        f"  detections on {s['frames_with_detection']}/{s['frames_after_init']} frames after init "
        f"(missing {s['missing_fraction']:.1%}: {s['frames_without_message']} unanswered, "
        f"{s['frames_target_lost']} with the target reported lost)"
    )
    reference = s["reference"]
    if reference["checked"]:
        print(
            f"  reference     node box vs Python API IoU >= {REFERENCE_MIN_IOU} on "
            f"{reference['agreeing_fraction']:.1%} of {reference['frames_compared']} detections "
            f"(median IoU {reference['iou_median']}, min {reference['iou_min']})"
        )
    else:
        print(f"  reference     not checked: {reference['reason']}")
    print(f"  wrote {s['annotated_video']}, {s['contact_sheet']}")


if __name__ == "__main__":
    raise SystemExit(main())
