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
"""Nodes as separate processes over Fast DDS: tracking a clip of known motion, bad input, services.

Graph (loopback discovery and a per-run ROS_DOMAIN_ID from conftest.py):

- ``/t``: camera_node (an image folder, OTB-style ``img/``) -> tracker_node -> visualization_node;
- ``/b``: a second tracker_node started with a checkpoint that does not exist, fed directly by
  this test with good and malformed images.

Every wait is bounded and every process is stopped (process group) even when a test fails.
"""
import math
import os
import threading
import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv: make setup)")
pytest.importorskip("vision_msgs.msg",
                    reason="vision_msgs is not importable (make setup builds it)")
pytest.importorskip("unsup_tracker_interfaces.srv",
                    reason="unsup_tracker_interfaces is not built (make setup builds it)")

import rclpy  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from unsup_tracker_interfaces.srv import InitTrack  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from unsup_tracker.ros.conversions import (  # noqa: E402
    bgr8_to_image_msg, image_msg_to_bgr8, ns_to_stamp, stamp_to_ns, tracked_boxes, xywh_to_bbox)
from unsup_tracker.ros.processes import (  # noqa: E402
    NodeProcess, node_command, ros_args, ros_environment)

from ros_testdata import (  # noqa: E402
    FRAMES, SIZE, START_BOX, call_service, texture, truth, wait_until, write_clip)
from installed import require_shipped_weights, shipped_weights_or_untrained  # noqa: E402
from synthetic import frozen_size_boxes  # noqa: E402
from unsup_tracker.geometry import iou_xywh  # noqa: E402

METHOD = "udt"

CAMERA_RATE = 15.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip"))


def _checkpoint():
    return shipped_weights_or_untrained(METHOD)


class Client:
    """The test's own node, spinning in a background thread."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.images = []         # /t/image, in order of arrival: (stamp_ns, msg)
        self.detections = {}     # namespace -> list of (received, msg)
        self.annotated = []
        self.masks = []          # /t/tracker_node/mask
        n = self.node
        n.create_subscription(Image, "/t/image", self._on_image, RELIABLE)
        for ns in ("t", "b"):
            self.detections[ns] = []
            n.create_subscription(Detection2DArray, f"/{ns}/tracker_node/detections",
                                  lambda msg, ns=ns: self._on_detections(ns, msg), RELIABLE)
        n.create_subscription(Image, "/t/visualization_node/annotated", self._on_annotated,
                              RELIABLE)
        n.create_subscription(Image, "/t/tracker_node/mask", self._on_mask, RELIABLE)
        self.b_image = n.create_publisher(Image, "/b/image", RELIABLE)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_image(self, msg):
        with self.lock:
            self.images.append((stamp_to_ns(msg.header.stamp), msg))

    def _on_detections(self, ns, msg):
        with self.lock:
            self.detections[ns].append((time.time(), msg))

    def _on_annotated(self, msg):
        with self.lock:
            self.annotated.append(msg)

    def _on_mask(self, msg):
        with self.lock:
            self.masks.append(msg)

    def call(self, srv_type, name, request, timeout=20.0):
        return call_service(self.node, srv_type, name, request, timeout)

    def init(self, ns, box, stamp_ns=0, method=""):
        request = InitTrack.Request()
        request.header.stamp = ns_to_stamp(stamp_ns)
        request.box = xywh_to_bbox(box)
        request.method = method
        return self.call(InitTrack, f"/{ns}/tracker_node/init", request)

    def set_parameter(self, ns, name, value):
        request = SetParameters.Request()
        parameter = Parameter(name=name)
        parameter.value.type = ParameterType.PARAMETER_STRING
        parameter.value.string_value = value
        request.parameters = [parameter]
        result = self.call(SetParameters, f"/{ns}/tracker_node/set_parameters", request)
        assert result.results[0].successful, result.results[0].reason

    def close(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture(scope="module")
def graph(clip, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    env = ros_environment()
    # The test process itself joins the same graph.
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if env.get(key):
            os.environ[key] = env[key]
    common = {"method": METHOD, "image_reliability": "reliable", "torch_threads": 1,
              "stats_period": 1.0}
    main_params = dict(common, frame_buffer_size=60)
    if _checkpoint():
        main_params["checkpoint"] = _checkpoint()
    processes = {}
    client = None
    try:
        processes["tracker"] = NodeProcess(
            node_command("tracker_node") + ros_args(main_params, namespace="/t"),
            logs / "tracker.log", env)
        processes["broken"] = NodeProcess(
            node_command("tracker_node") + ros_args(
                dict(common, checkpoint="/nonexistent/dir/udt.pt"), namespace="/b"),
            logs / "broken.log", env)
        processes["viz"] = NodeProcess(
            node_command("visualization_node") + ros_args(
                {"image_reliability": "reliable"}, namespace="/t",
                remaps={"detections": "tracker_node/detections", "mask": "tracker_node/mask"}),
            logs / "viz.log", env)
        client = Client()
        client.processes = processes
        client.clip = clip
        client.env = env
        client.logs = logs
        yield client
    finally:
        for process in processes.values():
            process.stop()
        if client is not None:
            client.close()


@pytest.fixture(scope="module")
def tracking_run(graph):
    """Start the camera, init on its first frame, record one pass over the clip."""
    for name in ("tracker", "viz"):
        assert graph.processes[name].alive, graph.processes[name].log_tail()
    camera_params = {"source": str(graph.clip), "rate": CAMERA_RATE, "loop": True,
                     "image_reliability": "reliable", "wait_for_subscribers": 3}
    graph.processes["camera"] = NodeProcess(
        node_command("camera_node") + ros_args(camera_params, namespace="/t"),
        graph.logs / "camera.log", graph.env)
    watched = [graph.processes[name] for name in ("camera", "tracker", "viz")]
    wait_until(lambda: graph.images, 60.0, "the first camera image", watched)
    first_stamp, first_msg = graph.images[0]
    assert image_msg_to_bgr8(first_msg).shape == (SIZE[1], SIZE[0], 3)
    # The request may overtake the image on its way to the tracker: retry briefly.
    deadline = time.monotonic() + 5.0
    response = graph.init("t", START_BOX, first_stamp)
    while not response.success and time.monotonic() < deadline and (
            "no image received" in response.message or "no buffered frame" in response.message):
        time.sleep(0.05)
        response = graph.init("t", START_BOX, first_stamp)
    assert response.success, response.message
    init_answered = time.time()
    wait_until(lambda: len(graph.images) >= FRAMES + 5, FRAMES / CAMERA_RATE + 30.0,
               "one pass over the clip", watched)
    time.sleep(1.0)
    with graph.lock:
        index_of = {stamp: i for i, (stamp, _) in enumerate(graph.images[:FRAMES])}
        detections = list(graph.detections["t"])
    return {"response": response, "index_of": index_of, "detections": detections,
            "first_stamp": first_stamp, "init_answered": init_answered}


def test_tracker_follows_the_known_motion(tracking_run):
    assert tracking_run["response"].track_id.startswith(f"{METHOD}-")
    index_of = tracking_run["index_of"]
    errors, boxes = {}, {}
    answered = set()
    for _, msg in tracking_run["detections"]:
        index = index_of.get(stamp_to_ns(msg.header.stamp))
        if index is None or index == 0:
            continue
        answered.add(index)
        for target in tracked_boxes(msg):
            assert target.track_id == tracking_run["response"].track_id
            assert math.isfinite(target.score)
            centre = target.box_xywh[:2] + target.box_xywh[2:] / 2
            expected = truth(index)[:2] + truth(index)[2:] / 2
            errors[index] = float(np.linalg.norm(centre - expected))
            boxes[index] = np.asarray(target.box_xywh, dtype=float)
    # How many frames the tracker skips as stale depends on the machine's load (speed is not
    # asserted here); every frame it did answer after the init must show the target where
    # the clip put it.
    later = {i for stamp, i in index_of.items() if stamp * 1e-9 > tracking_run["init_answered"]}
    answered_later = answered & later
    summary = (f"{len(later)} frames after init, {len(answered_later)} answered, "
               f"target on {len(errors)}; centre errors (px): {errors}")
    assert len(answered_later) >= 10, summary
    # Frames answered before the init response arrived may precede the target (the node adds it
    # while they are being answered); every frame answered after it must carry the target.
    assert len(set(errors) & answered_later) >= 0.9 * len(answered_later), summary
    good = [i for i, e in errors.items() if e < 8.0]
    assert len(good) >= 0.9 * len(errors), summary
    # Size as well as position: the patch shrinks to 0.8 of its side (area x0.64) over the
    # clip, so a box of the first frame's size on the true centre scores ``frozen`` (IoU 0.80
    # on average, 0.64 at the end). Measured with the shipped UDT through the Python API on
    # every frame / every 2nd / every 3rd (a loaded machine skips frames): IoU 0.94 / 0.90 /
    # 0.88, final area x0.68 / x0.78 / x0.84.
    indices = sorted(boxes)
    predicted = np.array([boxes[i] for i in indices])
    expected = np.array([truth(i) for i in indices])
    ious = iou_xywh(predicted, expected)
    frozen = iou_xywh(frozen_size_boxes(np.vstack([truth(0), expected]))[1:], expected)
    summary += f"; IoU {np.round(ious, 2).tolist()}, frozen-size IoU {frozen.mean():.3f}"
    assert np.mean(ious > 0.6) >= 0.9 and ious.mean() > frozen.mean() + 0.04, summary
    last = indices[2 * len(indices) // 3:]
    followed = np.mean([np.log(boxes[i][2] * boxes[i][3] / (START_BOX[2] * START_BOX[3]))
                        / np.log(truth(i)[2] * truth(i)[3] / (START_BOX[2] * START_BOX[3]))
                        for i in last])
    assert followed > 0.3, f"{summary}; area change followed {followed:.2f}"


def test_visualization_publishes_annotated_frames(graph, tracking_run):
    with graph.lock:
        annotated = list(graph.annotated)
    assert len(annotated) >= 10
    index_of = tracking_run["index_of"]
    drawn = [m for m in annotated if stamp_to_ns(m.header.stamp) in index_of]
    assert drawn, "no annotated frame carries a camera stamp"
    # The visualization draws the tracker's answer for each frame; frames it answered without
    # the target (before the init took effect) are drawn without a box.
    with_target = {stamp_to_ns(msg.header.stamp) for _, msg in tracking_run["detections"]
                   if tracked_boxes(msg)}
    drawn = [m for m in drawn if stamp_to_ns(m.header.stamp) in with_target]
    assert len(drawn) >= 5, f"{len(drawn)} annotated frames of frames answered with the target"
    msg = drawn[-1]
    assert (msg.encoding, msg.width, msg.height) == ("bgr8", SIZE[0], SIZE[1])
    image = image_msg_to_bgr8(msg)
    # The box is drawn in pure green somewhere near the target of that frame.
    x, y, w, h = truth(index_of[stamp_to_ns(msg.header.stamp)])
    region = image[max(int(y) - 12, 0):int(y + h) + 12, max(int(x) - 12, 0):int(x + w) + 12]
    green = (region[..., 0] == 0) & (region[..., 1] == 255) & (region[..., 2] == 0)
    assert green.sum() > 40, "no box drawn around the target"


def test_tracker_publishes_a_mask_of_the_target(graph, tracking_run):
    """publish_mask (default on): UDT has no mask of its own, the shared mask stage gives one."""
    with graph.lock:
        masks = list(graph.masks)
    index_of = tracking_run["index_of"]
    scored = [m for m in masks if index_of.get(stamp_to_ns(m.header.stamp), 0) > 0]
    assert len(scored) >= 10, f"{len(masks)} masks, {len(scored)} on the clip's frames"
    inside, cover = [], []
    for msg in scored:
        assert (msg.encoding, msg.width, msg.height) == ("mono8", SIZE[0], SIZE[1])
        mask = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width]
        assert set(np.unique(mask)) <= {0, 1}, "one target: its pixels are 1"
        x, y, w, h = np.round(truth(index_of[stamp_to_ns(msg.header.stamp)])).astype(int)
        in_box = mask[max(y - 4, 0):y + h + 4, max(x - 4, 0):x + w + 4].sum()
        inside.append(in_box / max(mask.sum(), 1))
        cover.append(mask.sum() / (w * h))
    summary = f"inside box {np.round(inside, 2).tolist()}, cover {np.round(cover, 2).tolist()}"
    assert np.median(inside) > 0.9 and np.median(cover) > 0.3, summary


@pytest.mark.parametrize("box, stamp_ns, method, reason", [
    ((math.nan, 10.0, 20.0, 20.0), 0, "", "non-finite"),
    ((1000.0, 10.0, 20.0, 20.0), 0, "", "outside"),
    ((10.0, 10.0, 0.0, 20.0), 0, "", "at least"),
    ((10.0, 10.0, 20.0, 20.0), 0, "no_such_method", "unknown method"),
    ((10.0, 10.0, 20.0, 20.0), 5_000_000_123, "", "no buffered frame"),
])
def test_bad_init_requests_are_refused_with_a_reason(
        graph, tracking_run, box, stamp_ns, method, reason):
    response = graph.init("t", box, stamp_ns, method)
    assert not response.success
    assert reason in response.message


def test_valid_init_after_refusals_and_stop(graph, tracking_run):
    response = graph.init("t", START_BOX)  # zero stamp: the latest frame
    assert response.success, response.message
    stop = graph.call(Trigger, "/t/tracker_node/stop", Trigger.Request())
    assert stop.success and response.track_id in stop.message
    stopped_at = time.time()
    wait_until(lambda: sum(1 for t, _ in graph.detections["t"] if t > stopped_at + 0.3) >= 3, 10.0,
               "detections after ~/stop")
    with graph.lock:
        after = [m for t, m in graph.detections["t"] if t > stopped_at + 0.3]
    assert all(len(m.detections) == 0 for m in after), "detections published after ~/stop"
    again = graph.call(Trigger, "/t/tracker_node/stop", Trigger.Request())
    assert again.success and "no active track" in again.message


@pytest.mark.parametrize("method", ["s2siamfc", "pul"])
def test_other_methods_track_when_named_in_the_init_request(graph, tracking_run, method):
    """``method`` in InitTrack switches the running node to another method's shipped weights."""
    require_shipped_weights(method)
    # Start early in the camera's loop: at the wrap-around the target jumps back ~180 px, which
    # no tracker follows, and a start near the clip's end left too few frames before it.
    wait_until(lambda: (len(graph.images) - 1) % FRAMES < FRAMES // 3,
               2 * FRAMES / CAMERA_RATE + 10.0, "the start of the camera's loop")
    with graph.lock:
        position = len(graph.images) - 1
        stamp_ns = graph.images[position][0]
    # The camera loops over the clip without losing frames (reliable QoS).
    response = graph.init("t", tuple(truth(position % FRAMES)), stamp_ns, method)
    assert response.success, response.message
    assert response.track_id.startswith(f"{method}-")
    started = time.time()
    wait_until(lambda: sum(1 for t, m in graph.detections["t"] if t > started and any(
        d.id == response.track_id for d in m.detections)) >= 10, 30.0, f"{method} detections")
    with graph.lock:
        index_of = {stamp: i % FRAMES for i, (stamp, _) in enumerate(graph.images)}
        recent = [m for t, m in graph.detections["t"] if t > started]
    errors = []
    for msg in recent:
        index = index_of.get(stamp_to_ns(msg.header.stamp))
        # Frames just after a wrap-around jump the target back to its start: skip those.
        if index is None or index < 3:
            continue
        for target in tracked_boxes(msg):
            centre = target.box_xywh[:2] + target.box_xywh[2:] / 2
            expected = truth(index)[:2] + truth(index)[2:] / 2
            errors.append(float(np.linalg.norm(centre - expected)))
    assert errors, "no detection for a known frame"
    assert np.median(errors) < 10.0, f"{method} centre errors (px): {errors}"
    graph.call(Trigger, "/t/tracker_node/stop", Trigger.Request())


def _good_frame(stamp_ns):
    rng = np.random.default_rng(stamp_ns % 1000)
    image = texture(rng, SIZE[1], SIZE[0], 2.0)
    header = Header(frame_id="test")
    header.stamp = ns_to_stamp(stamp_ns)
    return bgr8_to_image_msg(image, header, "rgb8")


def _publish_to_b(graph, msg):
    wait_until(lambda: graph.b_image.get_subscription_count() >= 1, 30.0,
               "/b tracker subscription")
    graph.b_image.publish(msg)


def test_missing_checkpoint_is_reported_and_can_be_fixed(graph, tmp_path):
    broken = graph.processes["broken"]
    assert broken.alive, broken.log_tail()
    response = graph.init("b", START_BOX)
    assert not response.success
    assert "no image received" in response.message or "cannot load" in response.message
    stamp = time.time_ns()
    _publish_to_b(graph, _good_frame(stamp))
    wait_until(lambda: any(stamp_to_ns(m.header.stamp) == stamp for _, m in graph.detections["b"]),
               10.0, "the /b tracker to answer a frame")
    response = graph.init("b", START_BOX, stamp)
    assert not response.success and "/nonexistent/dir/udt.pt" in response.message
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    graph.set_parameter("b", "checkpoint", str(corrupt))
    response = graph.init("b", START_BOX, stamp)
    assert not response.success and "corrupt.pt" in response.message
    graph.set_parameter("b", "checkpoint", "untrained")
    response = graph.init("b", START_BOX, stamp)
    assert response.success, response.message
    assert broken.alive


def test_malformed_images_are_dropped_and_logged(graph):
    broken = graph.processes["broken"]
    base = time.time_ns()
    bad = []
    wrong_encoding = _good_frame(base + 1)
    wrong_encoding.encoding = "yuv422"
    bad.append((wrong_encoding, "unsupported encoding"))
    short_step = _good_frame(base + 2)
    short_step.step = short_step.width  # one byte per pixel for rgb8
    bad.append((short_step, "smaller than one row"))
    empty = _good_frame(base + 3)
    empty.height, empty.width, empty.step, empty.data = 0, 0, 0, b""
    bad.append((empty, "empty image"))
    # One at a time: the node keeps only the newest 2 images queued (sensor-data style), so a
    # burst could replace a malformed frame before the node has seen it.
    for msg, reason in bad:
        _publish_to_b(graph, msg)
        wait_until(lambda: reason in broken.log_text(), 10.0, f"a log line saying {reason!r}",
                   [broken])
    _publish_to_b(graph, _good_frame(base + 4))
    wait_until(lambda: any(stamp_to_ns(m.header.stamp) == base + 4
                           for _, m in graph.detections["b"]),
               10.0, "the good frame after the bad ones to be answered")
    with graph.lock:
        answered = {stamp_to_ns(m.header.stamp) for _, m in graph.detections["b"]}
    assert not answered & {base + 1, base + 2, base + 3}, "a malformed frame was answered"
    refused = graph.init("b", START_BOX, base + 2)
    assert not refused.success and "no buffered frame" in refused.message
    assert broken.alive


def test_nodes_stop_cleanly(graph, tracking_run):
    tracker = graph.processes["tracker"]
    assert tracker.alive
    assert tracker.stop() is not None and not tracker.alive
    assert "Traceback" not in tracker.log_text(), tracker.log_tail(40)


def test_nodes_with_an_unusable_configuration_exit_with_a_message(tmp_path, clip):
    cases = [
        ("camera_node", {"source": "/nonexistent/clip.mp4"}, "does not exist"),
        ("tracker_node", {"image_reliability": "sometimes"}, "image_reliability"),
        # A misspelt parameter is refused by every node, not ignored.
        ("tracker_node", {"onlne_update": False}, "unknown parameter(s) ['onlne_update']"),
        ("camera_node", {"source": str(clip), "rat": 5.0}, "unknown parameter(s) ['rat']"),
        ("visualization_node", {"mask_alpa": 0.5}, "unknown parameter(s) ['mask_alpa']"),
    ]
    processes = [NodeProcess(node_command(executable) + ros_args(parameters),
                             tmp_path / f"{index}_{executable}.log", ros_environment())
                 for index, (executable, parameters, _) in enumerate(cases)]
    try:
        codes = [process.wait(timeout=60.0) for process in processes]
    finally:
        for process in processes:
            process.stop()
    for (executable, _, message), process, code in zip(cases, processes, codes):
        assert code == 2, f"{executable}: {process.log_tail()}"
        assert message in process.log_text(), process.log_tail()
        assert "Traceback" not in process.log_text(), process.log_tail()
