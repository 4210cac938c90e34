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
"""Several targets per tracker_node, over Fast DDS with the node in its own process.

- ``/m``: tracker_node with ``max_targets: 3`` and ``init_detections: true``, fed frame by frame
  by this test (each frame waits for its answer, so nothing is dropped and the test does not
  depend on the machine's speed) from a clip with two textured patches moving apart;
- a stand-in detector and a stand-in rqt_image_view (``ros_publish_once.py``) publishing real
  Detection2DArray and geometry_msgs/Point messages from separate processes;
- ``/lc``: tracker_lifecycle_node driven through its lifecycle services (what
  ``ros2 lifecycle set`` calls), observed from outside: subscriptions, services, /diagnostics.
"""
import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv: make setup)")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs is not importable (make setup)")
pytest.importorskip("unsup_tracker_interfaces.srv", reason="interfaces not built (make setup)")
pytest.importorskip("diagnostic_msgs.msg", reason="diagnostic_msgs missing (make setup)")
pytest.importorskip("lifecycle_msgs.srv", reason="lifecycle_msgs missing (make setup)")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from unsup_tracker_interfaces.srv import InitTrack, StopTrack  # noqa: E402

from unsup_tracker.geometry import iou_xywh  # noqa: E402
from unsup_tracker.ros.conversions import (  # noqa: E402
    bgr8_to_image_msg, ns_to_stamp, stamp_to_ns, tracked_boxes)
from unsup_tracker.ros.processes import (  # noqa: E402
    NodeProcess, node_command, ros_args, ros_environment)

from installed import shipped_weights_or_untrained  # noqa: E402
from ros_client import TrackerClient, client_of  # noqa: E402
from ros_testdata import texture, wait_until  # noqa: E402
SIZE = (320, 240)
FRAMES = 40
#: Two patches on the first frame (xywh) and their motion in px a frame: they move apart.
PATCHES = (((50.0, 40.0, 44.0, 36.0), (3.0, 2.0)), ((220.0, 150.0, 40.0, 44.0), (-2.5, -1.5)))
PUBLISH_ONCE = Path(__file__).with_name("ros_publish_once.py")


@functools.lru_cache(maxsize=1)
def two_patch_clip():
    """Return (frames, boxes[patch][frame]) of two tinted textured patches moving apart."""
    rng = np.random.default_rng(11)
    background = texture(rng, SIZE[1], SIZE[0], 2.0)
    # Tinted (A reddish, B bluish) as real objects differ from their background in colour,
    # which the click's box proposal relies on.
    looks = [np.clip(texture(np.random.default_rng(20 + i), int(b[3]), int(b[2]), 1.0)
                     .astype(int) + tint, 0, 255).astype(np.uint8)
             for i, ((b, _), tint) in enumerate(zip(PATCHES, ((0, 0, 60), (60, 0, 0))))]
    frames, boxes = [], [[], []]
    for t in range(FRAMES):
        image = background.copy()
        for i, ((x, y, w, h), (vx, vy)) in enumerate(PATCHES):
            x0, y0 = int(round(x + vx * t)), int(round(y + vy * t))
            image[y0:y0 + int(h), x0:x0 + int(w)] = looks[i]
            boxes[i].append((x0, y0, w, h))
        frames.append(image)
    return frames, np.array(boxes, dtype=float)


def frame_msg(index, stamp_ns):
    header = Header(frame_id="camera")
    header.stamp = ns_to_stamp(stamp_ns)
    return bgr8_to_image_msg(two_patch_clip()[0][index % FRAMES], header, "rgb8")


class Client(TrackerClient):
    """The test's node (:class:`ros_client.TrackerClient`) that also records /diagnostics."""

    def __init__(self, namespace):
        super().__init__(namespace, "multi_client")
        self.diagnostics = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics,
                                      QoSProfile(depth=50))

    def _on_diagnostics(self, msg):
        with self.lock:
            for status in msg.status:
                if status.name == f"{self.ns.strip('/')}/tracker_node: tracking":
                    self.diagnostics.append((time.time(), status))

    def stop_track(self, track_id):
        return self.call(StopTrack, "stop_track", StopTrack.Request(track_id=track_id))

    def publish_and_wait(self, msg, process, timeout=15.0):
        stamp = stamp_to_ns(msg.header.stamp)
        self.publish(msg)
        wait_until(lambda: self.answered(stamp), timeout, f"an answer to frame {stamp}", process)
        return self.answered(stamp)[-1]

    def latest_diagnostic(self, since):
        with self.lock:
            found = [status for t, status in self.diagnostics if t > since]
        return found[-1] if found else None


def values_of(status):
    return {kv.key: kv.value for kv in status.values}


def _environment():
    env = ros_environment()
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if env.get(key):
            os.environ[key] = env[key]
    return env


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    env = _environment()
    parameters = {"method": "udt", "checkpoint": shipped_weights_or_untrained("udt"),
                  "device": "cpu", "image_reliability": "reliable", "torch_threads": 1,
                  "stats_period": 0.0, "max_targets": 3, "init_detections": True,
                  "init_class_id": "person", "init_min_score": 0.5, "diagnostics_period": 1.0}
    process = NodeProcess(node_command("tracker_node") + ros_args(parameters, namespace="/m"),
                          tmp_path_factory.mktemp("multi") / "tracker.log", env)
    with client_of(process, lambda: Client("/m")) as client:
        client.env = env
        yield client


def _stop_all(client):
    assert client.call(Trigger, "stop", Trigger.Request()).success


def _fresh_start(client):
    """Stop every target and feed the clip's first frame; return (truth boxes, its stamp)."""
    _stop_all(client)
    start = time.time_ns()
    client.publish_and_wait(frame_msg(0, start), client.process)
    return two_patch_clip()[1], start


def _centre(box):
    box = np.asarray(box, dtype=float)
    return box[:2] + box[2:] / 2


@pytest.fixture(scope="module")
def two_targets(tracker):
    """Init both patches on frame 0, then feed the clip; return ids and per-frame boxes."""
    _stop_all(tracker)
    frames, truth = two_patch_clip()
    start = time.time_ns()
    tracker.publish_and_wait(frame_msg(0, start), tracker.process)
    ids = []
    for patch in range(2):
        response = tracker.init(tuple(truth[patch][0]), start)
        assert response.success, response.message
        ids.append(response.track_id)
    boxes = {track_id: {} for track_id in ids}
    for index in range(1, FRAMES):
        msg = tracker.publish_and_wait(frame_msg(index, start + index * 33_000_000),
                                       tracker.process)
        for target in tracked_boxes(msg):
            boxes[target.track_id][index] = target.box_xywh
    return ids, boxes, start


def test_two_targets_each_follow_their_own_patch_with_their_own_id(two_targets):
    ids, boxes, _ = two_targets
    assert len(set(ids)) == 2 and all(i.startswith("udt-") for i in ids), ids
    truth = two_patch_clip()[1]
    for patch, track_id in enumerate(ids):
        followed = boxes[track_id]
        assert len(followed) >= 0.9 * (FRAMES - 1), f"{track_id}: {len(followed)} frames"
        errors = {i: float(np.linalg.norm(_centre(b) - _centre(truth[patch][i])))
                  for i, b in followed.items()}
        near = [i for i, e in errors.items() if e < 8.0]
        assert len(near) >= 0.9 * len(errors), f"{track_id} centre errors: {errors}"
        ious = iou_xywh(np.array(list(followed.values())),
                        truth[patch][list(followed)])
        assert np.mean(ious > 0.5) >= 0.9, f"{track_id} IoU {np.round(ious, 2).tolist()}"


def test_max_targets_refuses_past_the_limit_and_stop_by_id(tracker, two_targets):
    ids, _, start = two_targets
    now = start + FRAMES * 33_000_000
    tracker.publish_and_wait(frame_msg(FRAMES - 1, now), tracker.process)
    third = tracker.init((10.0, 180.0, 40.0, 40.0), now)
    assert third.success, third.message
    fourth = tracker.init((120.0, 100.0, 40.0, 40.0), now)
    assert not fourth.success and "max_targets is 3" in fourth.message, fourth.message
    # Stop the first patch's target by id: the others keep being published.
    stopped = tracker.stop_track(ids[0])
    assert stopped.success and ids[0] in stopped.message, stopped.message
    later = tracker.publish_and_wait(frame_msg(FRAMES - 1, now + 33_000_000), tracker.process)
    published = {d.id for d in later.detections}
    assert ids[0] not in published and ids[1] in published, published
    again = tracker.stop_track(ids[0])
    assert not again.success and "no target" in again.message and ids[1] in again.message
    assert not tracker.stop_track("").success
    # Room again for one more; ~/stop stops every target.
    assert tracker.init((120.0, 100.0, 40.0, 40.0), now + 33_000_000).success
    stop_all = tracker.call(Trigger, "stop", Trigger.Request())
    assert stop_all.success and ids[1] in stop_all.message and third.track_id in stop_all.message
    empty = tracker.publish_and_wait(frame_msg(FRAMES - 1, now + 66_000_000), tracker.process)
    assert len(empty.detections) == 0


def _publish_once(client, *arguments):
    result = subprocess.run([sys.executable, str(PUBLISH_ONCE), *arguments], env=client.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _run_detector(client, stamp_ns, *specs):
    _publish_once(client, "detections", "/m/init_detections", str(stamp_ns), *specs)


def test_a_detection_starts_a_target_on_the_frame_with_its_stamp(tracker):
    _stop_all(tracker)
    frames, truth = two_patch_clip()
    start = time.time_ns()
    # Two frames buffered; the detector reports on the FIRST (an older frame, as a slow
    # detector would), so the target must start there and catch up.
    tracker.publish_and_wait(frame_msg(0, start), tracker.process)
    tracker.publish_and_wait(frame_msg(3, start + 100_000_000), tracker.process)
    a, b = (":".join(f"{v:g}" for v in truth[p][0]) for p in range(2))
    _run_detector(tracker, start, f"person:0.9:{a}", f"car:0.95:{b}", f"person:0.2:{b}")
    started = time.time_ns()
    wait_until(lambda: "(detection, score 0.90)" in tracker.process.log_text(), 15.0,
               "the detection-started target", tracker.process)
    msg = tracker.publish_and_wait(frame_msg(6, started), tracker.process)
    boxes = tracked_boxes(msg)
    assert len(boxes) == 1, [(t.track_id, t.box_xywh) for t in boxes]
    error = np.linalg.norm(_centre(boxes[0].box_xywh) - _centre(truth[0][6]))
    assert error < 8.0, f"detection-started target {error:.1f} px off patch A"
    # The same object detected again overlaps the live target: nothing new starts; a detection
    # of patch B with the wanted class does start a second target.
    _run_detector(tracker, started, f"person:0.9:{':'.join(f'{v:g}' for v in truth[0][6])}")
    msg = tracker.publish_and_wait(frame_msg(7, started + 33_000_000), tracker.process)
    assert len(msg.detections) == 1
    _run_detector(tracker, started + 33_000_000,
                  f"person:0.7:{':'.join(f'{v:g}' for v in truth[1][7])}")
    wait_until(lambda: "(detection, score 0.70)" in tracker.process.log_text(), 15.0,
               "the second detection-started target", tracker.process)
    msg = tracker.publish_and_wait(frame_msg(8, started + 66_000_000), tracker.process)
    assert len(msg.detections) == 2, [d.id for d in msg.detections]
    _stop_all(tracker)


def test_a_click_starts_a_target_around_the_clicked_point(tracker):
    truth, start = _fresh_start(tracker)
    cx, cy = _centre(truth[1][0])
    _publish_once(tracker, "click", "/m/image_mouse_left", f"{cx:g}", f"{cy:g}")
    wait_until(lambda: f"(click at {cx:.0f},{cy:.0f})" in tracker.process.log_text(), 15.0,
               "the click-started target", tracker.process)
    first = tracker.publish_and_wait(frame_msg(1, start + 33_000_000), tracker.process)
    assert len(first.detections) == 1
    iou = iou_xywh(tracked_boxes(first)[0].box_xywh[None], truth[1][1][None])[0]
    assert iou > 0.5, f"the click's box overlaps the patch by IoU {iou:.2f}"
    errors = []
    for index in range(2, 9):
        msg = tracker.publish_and_wait(frame_msg(index, start + index * 33_000_000),
                                       tracker.process)
        for target in tracked_boxes(msg):
            errors.append(float(np.linalg.norm(_centre(target.box_xywh)
                                               - _centre(truth[1][index]))))
    assert len(errors) >= 6 and np.median(errors) < 8.0, f"centre errors {errors}"
    # A click outside the image starts nothing and says why.
    _publish_once(tracker, "click", "/m/image_mouse_left", "5000", "10")
    wait_until(lambda: "outside the 320x240 image" in tracker.process.log_text(), 15.0,
               "the refusal of a click outside the image", tracker.process)
    _stop_all(tracker)


def test_diagnostics_carry_the_measured_fps_and_targets(tracker):
    truth, start = _fresh_start(tracker)
    assert tracker.init(tuple(truth[0][0]), start).success
    # 10 Hz for 3.5 s, paced by the test: every frame is answered well within 100 ms.
    began = time.time()
    for i in range(1, 36):
        tracker.image.publish(frame_msg(i, start + i * 100_000_000))
        time.sleep(max(0.0, began + i * 0.1 - time.time()))
    wait_until(lambda: tracker.latest_diagnostic(began + 2.5) is not None, 5.0,
               "a diagnostics message", tracker.process)
    status = tracker.latest_diagnostic(began + 2.5)
    values = values_of(status)
    assert status.level == DiagnosticStatus.OK, (status.message, values)
    assert status.hardware_id == "cpu" and values["device"] == "cpu"
    assert values["state"] == "tracking" and values["methods"] == "udt"
    assert values["targets_followed"] == "1" and values["targets_lost"] == "0"
    assert 7.0 <= float(values["fps"]) <= 13.0, values
    assert float(values["latency_p50_ms"]) <= float(values["latency_p95_ms"])
    # Paced well below the tracking cost: at most a stall or two of the loaded machine drops one.
    assert int(values["frames_dropped"]) <= 2, values


def test_diagnostics_warn_when_the_node_falls_behind_the_camera(tracker):
    truth, start = _fresh_start(tracker)
    for patch in range(2):
        assert tracker.init(tuple(truth[patch][0]), start).success
    # A stream far faster than two targets can be tracked (200 Hz, kept up until the warning:
    # a single burst was drained within one diagnostics period on a loaded machine, whose
    # slow publisher let the node keep up), so most received frames are dropped as stale.
    began = time.time()

    def warned():
        status = tracker.latest_diagnostic(began)
        return status is not None and status.level == DiagnosticStatus.WARN

    i = 0
    while not warned() and time.time() < began + 10.0:
        i += 1
        tracker.image.publish(frame_msg(i, start + i * 1_000_000))
        time.sleep(0.005)
    wait_until(warned, 2.0, "a WARN diagnostics message", tracker.process)
    warning = tracker.latest_diagnostic(began)
    assert "falling behind the camera" in warning.message, warning.message
    _stop_all(tracker)


# ------------------------------------------------------------------------------- lifecycle
@pytest.fixture
def lifecycle(tmp_path):
    env = _environment()
    parameters = {"method": "udt", "checkpoint": "untrained", "device": "cpu",
                  "image_reliability": "reliable", "torch_threads": 1, "stats_period": 0.0,
                  "diagnostics_period": 0.5}
    process = NodeProcess(
        node_command("tracker_lifecycle_node") + ros_args(parameters, namespace="/lc"),
        tmp_path / "lifecycle.log", env)
    with client_of(process, lambda: Client("/lc"), wait_for_subscription=False) as client:
        yield client


def _transition(client, transition_id):
    request = ChangeState.Request()
    request.transition.id = transition_id
    return client.call(ChangeState, "change_state", request).success


def _state(client):
    return client.call(GetState, "get_state", GetState.Request()).current_state.label


def _service_ready(client, name, timeout=1.0):
    service = client.node.create_client(InitTrack, f"/lc/tracker_node/{name}")
    try:
        return service.wait_for_service(timeout_sec=timeout)
    finally:
        client.node.destroy_client(service)


def _diagnostic_after(client, since, timeout=10.0):
    wait_until(lambda: client.latest_diagnostic(since) is not None, timeout, "diagnostics",
               client.process)
    return values_of(client.latest_diagnostic(since))


def test_lifecycle_transitions_subscribe_serve_and_free(lifecycle):
    client = lifecycle
    wait_until(lambda: "waiting for the configure transition" in client.process.log_text(),
               60.0, "the lifecycle node", client.process)
    assert _state(client) == "unconfigured"
    assert client.image.get_subscription_count() == 0
    assert _diagnostic_after(client, time.time())["models_loaded"] == "0"

    assert _transition(client, Transition.TRANSITION_CONFIGURE)
    assert _state(client) == "inactive"
    values = _diagnostic_after(client, time.time())
    assert values["state"] == "inactive" and values["models_loaded"] == "1", values
    time.sleep(1.0)
    assert client.image.get_subscription_count() == 0, "subscribed while inactive"
    assert not _service_ready(client, "init")

    assert _transition(client, Transition.TRANSITION_ACTIVATE)
    assert _state(client) == "active"
    wait_until(lambda: client.image.get_subscription_count() >= 1, 15.0, "the subscription",
               client.process)
    stamp = time.time_ns()
    client.publish_and_wait(frame_msg(0, stamp), client.process)
    response = client.init(tuple(two_patch_clip()[1][0][0]), stamp)
    assert response.success, response.message

    assert _transition(client, Transition.TRANSITION_DEACTIVATE)
    assert _state(client) == "inactive"
    wait_until(lambda: client.image.get_subscription_count() == 0, 15.0,
               "the subscription to go away", client.process)
    assert not _service_ready(client, "init")
    values = _diagnostic_after(client, time.time())
    assert values["targets_followed"] == "0" and values["state"] == "inactive", values

    assert _transition(client, Transition.TRANSITION_CLEANUP)
    assert _state(client) == "unconfigured"
    values = _diagnostic_after(client, time.time())
    assert values["models_loaded"] == "0" and values["state"] == "unconfigured", values

    # And back: configure + activate serve again.
    assert _transition(client, Transition.TRANSITION_CONFIGURE)
    assert _transition(client, Transition.TRANSITION_ACTIVATE)
    wait_until(lambda: client.image.get_subscription_count() >= 1, 15.0,
               "the subscription again", client.process)
    assert _service_ready(client, "init", timeout=10.0)
    assert client.process.alive and "Traceback" not in client.process.log_text()


def test_visualization_draws_every_target_in_its_own_colour():
    from unsup_tracker.ros.conversions import TrackedBox
    from unsup_tracker.ros.visualization_node import annotate, target_color

    image = np.zeros((240, 320, 3), np.uint8)
    boxes = [(20, 30, 60, 50), (200, 120, 70, 60)]
    targets = [TrackedBox(f"udt-{i + 1}", np.array(b, float), 0.9) for i, b in enumerate(boxes)]
    mask = np.zeros((240, 320), np.uint8)
    for index, (x, y, w, h) in enumerate(boxes):
        mask[y + 10:y + h - 10, x + 10:x + w - 10] = index + 1
    canvas = annotate(image, targets, mask, 30.0, mask_alpha=0.5)
    colours = [target_color(t.track_id) for t in targets]
    assert colours[0] != colours[1] and colours[0] == (0, 255, 0)
    for (x, y, w, h), colour in zip(boxes, colours):
        edge = canvas[y + h // 2, x - 1:x + 2].reshape(-1, 3)
        assert any(tuple(int(v) for v in px) == colour for px in edge), (colour, edge)
        tint = canvas[y + h // 2, x + w // 2].astype(int)
        expected = (np.array(colour) * 0.5).astype(int)
        assert np.abs(tint - expected).max() <= 1, (tint, expected)


def test_visualization_tints_only_the_mask_within_its_bounding_rectangle():
    from unsup_tracker.ros.conversions import TrackedBox
    from unsup_tracker.ros.visualization_node import annotate

    image = np.full((120, 160, 3), 200, np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    rows, cols = np.indices(mask.shape)
    triangle = (rows >= 20) & (cols >= 30) & (rows - 20 >= cols - 30) & (rows < 100)
    mask[triangle] = 1
    target = TrackedBox("udt-1", np.array((30, 20, 80, 80), float), 0.9)
    canvas = annotate(image, [target], mask, None, mask_alpha=0.5)
    # Inside the bounding rectangle, above the diagonal: not masked, so untouched.
    assert tuple(canvas[40, 100]) == (200, 200, 200)
    assert tuple(canvas[90, 40]) == (100, 228, 100)  # 0.5 * 200 + 0.5 * (0, 255, 0), rounded
    assert image.max() == 200 and image.min() == 200  # the input frame is not drawn on
