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
"""tracker_node: runs one single-object tracker on ``image`` and publishes its detections.

Topics (relative, so launch files remap them): subscribes ``image`` (sensor_msgs/Image,
sensor-data QoS, reliability from ``image_reliability``); publishes ``~/detections``
(vision_msgs/Detection2DArray with the image's header; empty while idle or lost), ``~/mask``
(mono8, same header, for methods that give masks), ``~/state`` (std_msgs/String, "idle",
"tracking" or "lost", published on change, transient local: the visualization shows
"searching" while lost) and, with ``publish_timing``, ``~/timing``
(std_msgs/Float64MultiArray, see :data:`TIMING_FIELDS`). Services: ``~/init``
(unsup_tracker_interfaces/srv/InitTrack) and ``~/stop`` (std_srvs/Trigger).

Decisions:

- Threads. Decoding and tracking run in one worker thread that always takes the NEWEST received
  frame; a frame replaced before the worker reached it is dropped and counted. The executor is
  single-threaded (see :func:`.common.run_node` for the measurement that chose it): the image
  callback only validates and buffers (no copy), so it never waits for a frame being tracked.
  ``~/init`` builds and initialises a NEW tracker object in the executor thread and swaps it in
  atomically (a result the worker computed with the previous tracker is discarded); while it
  runs (UDT ~70 ms, fine-tuning at most ``finetune_seconds`` more) new images wait in the DDS
  queue and only the newest ``image`` QoS depth of them are kept.
- Init frame. The request's stamp selects a frame of the last ``frame_buffer_size`` received
  frames; a zero stamp means the latest frame. A stamp that is no longer (or never was)
  buffered is refused with the buffered range in the message rather than silently using another
  frame: on a moving target the box would be wrong. After an init on an older frame the worker
  first tracks through the buffered frames up to the present (not published), so the target is
  not searched for after a long jump.
- Frames with a stamp not newer than the init frame are answered with an empty array.
- Parameters are declared with dynamic typing and checked here, giving one clear message for a
  wrong type or range. Node-level mistakes (``image_reliability``, ``frame_buffer_size``,
  unknown parameter names) stop the process with status 2. Tracker settings (``method``,
  ``checkpoint``, ``device``, method parameters) and model loading are checked at start-up and
  at every ``~/init``: a problem is logged and reported by ``~/init`` (success=false), and the
  node keeps running so it can be fixed with ``ros2 param set`` and a new ``~/init``.
- Every change (``ros2 param set``) is checked on the would-be values before it is taken,
  method hyper-parameters included (the method's params ``validate()``); a change that would
  make working settings invalid is refused with the reason and the old value kept, so a typo
  cannot break the next ``~/init`` (see :meth:`TrackerNode._on_set_parameters`).
- Per-method hyper-parameters are ROS parameters named ``<method>.<key>`` (YAML: a ``udt:``
  mapping under ``ros__parameters``); the configured method's keys are declared with their
  defaults so ``ros2 param list`` shows them, and setting ``method`` declares the new method's
  keys. How the generic settings (``online_update``, ``update_rate``,
  ``lost_score_threshold``, ``finetune``) map onto a method's keys is decided in
  :mod:`.tracker_settings`.
- Image size. A frame whose width or height differs from the init frame's ends the track with
  a warning (empty detections follow) instead of tracking on in the old geometry; see
  :meth:`TrackerNode._end_on_resize` for why the box is not rescaled. Encoding changes are
  harmless: every frame is converted to bgr8 on its own.
- Shutdown (SIGINT, SIGTERM): the worker thread is stopped before the ROS context is
  destroyed, see :func:`.common.run_node`.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import threading
import time
from typing import Any, Optional

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger
from unsup_tracker_interfaces.srv import InitTrack
from vision_msgs.msg import Detection2DArray

from ..checkpoint import CheckpointError
from ..geometry import InvalidBoxError, validate_init_box
from ..long_term import wrap
from ..image_encoding import ImageEncodingError
from ..params import UnknownParameterError
from ..tracker_base import InvalidImageError, Tracker
from .common import (
    ParameterError,
    ThrottledWarning,
    as_bool,
    declare,
    image_qos,
    refuse_unknown_parameters,
    run_node,
    state_qos,
)
from .tracker_settings import (
    NODE_PARAMETERS,
    TOP_LEVEL_ONLY,
    TrackerConfig,
    build_tracker_config,
    check_changed_parameter,
    check_startup_parameters,
    settings_error,
)
from .conversions import (
    TrackedBox,
    bbox_to_xywh,
    detections_msg,
    image_msg_to_array,
    image_msg_to_bgr8,
    mask_to_image_msg,
    stamp_is_zero,
    stamp_to_ns,
)

#: Requests of ``~/init`` and ``~/stop`` queued while one is served (a burst beyond is dropped).
SERVICE_QUEUE_DEPTH = 100

#: Layout of ``~/timing`` (wall-clock seconds; the image stamp as integer sec and nanosec).
TIMING_FIELDS = (
    "stamp_sec",
    "stamp_nanosec",
    "receive",
    "start",
    "end",
    "dropped_total",
    "tracking",
)


@dataclasses.dataclass
class Session:
    track_id: str
    tracker: Tracker
    init_stamp_ns: int
    catch_up: bool
    size: tuple  # (width, height) of the init frame: the tracker's geometry
    lost: bool = False


@dataclasses.dataclass
class Frame:
    stamp_ns: int
    msg: Image
    received: float  # wall clock, seconds


class TrackerNode(Node):
    def __init__(self):
        super().__init__("tracker_node", automatically_declare_parameters_from_overrides=True)
        values = {
            name: declare(self, name, default, text)
            for name, (default, text) in NODE_PARAMETERS.items()
        }
        self._check_parameter_names()
        checked = check_startup_parameters(values)
        reliability = checked["image_reliability"]
        self.frame_buffer_size = checked["frame_buffer_size"]
        self.stats_period = checked["stats_period"]
        self.publish_timing = checked["publish_timing"]
        self.publish_mask = checked["publish_mask"]
        torch_threads = checked["torch_threads"]
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self._declaring = False
        self._declare_method_parameters(values["method"])

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: collections.deque[Frame] = collections.deque(maxlen=self.frame_buffer_size)
        self._pending: Optional[Frame] = None
        self._session: Optional[Session] = None
        self._track_counter = 0
        self._models: dict[tuple, Any] = {}
        self._stats = _Stats()
        self._running = True
        self._warn_input = ThrottledWarning(self.get_logger())

        self.image_sub = self.create_subscription(
            Image,
            "image",
            self._on_image,
            image_qos(reliability, depth=2),
        )
        reliable = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
        self.detections_pub = self.create_publisher(Detection2DArray, "~/detections", reliable)
        self.mask_pub = self.create_publisher(Image, "~/mask", QoSProfile(depth=2))
        self.state_pub = self.create_publisher(String, "~/state", state_qos())
        self._state = ""
        self._publish_state("idle")
        self.timing_pub = (
            self.create_publisher(Float64MultiArray, "~/timing", QoSProfile(depth=100))
            if self.publish_timing
            else None
        )
        # rclpy's default service QoS keeps the last 10 requests: of a burst of 100 ~/init calls
        # sent while one init ran, 89 were never answered. A deeper queue answers them all.
        services = QoSProfile(depth=SERVICE_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.create_service(InitTrack, "~/init", self._on_init, qos_profile=services)
        self.create_service(Trigger, "~/stop", self._on_stop, qos_profile=services)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._startup_check()
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: subscribed to {self.image_sub.topic_name} ({reliability}), "
            f"services {self.get_fully_qualified_name()}/init and "
            f"{self.get_fully_qualified_name()}/stop"
        )

    # ------------------------------------------------------------------ parameters
    def _check_parameter_names(self) -> None:
        from ..registry import list_methods

        methods = set(list_methods()) | {self.get_parameter("method").value}

        def method_parameter(name: str) -> bool:
            return "." in name and name.split(".", 1)[0] in methods

        refuse_unknown_parameters(
            self,
            NODE_PARAMETERS,
            method_parameter,
            f"; method parameters are <method>.<key> for methods {sorted(set(list_methods()))}",
        )

    def _declare_method_parameters(self, method: Any) -> None:
        """Declare ``<method>.<key>`` with the method's defaults: listed and settable."""
        from ..registry import get_method

        try:
            spec = get_method(str(method))
        except ValueError:
            return  # reported by the start-up check
        for field in dataclasses.fields(spec.params_cls):
            if field.name in TOP_LEVEL_ONLY or field.default is dataclasses.MISSING:
                continue
            default = list(field.default) if isinstance(field.default, tuple) else field.default
            try:
                declare(
                    self, f"{spec.name}.{field.name}", default, f"{spec.name} tracker parameter"
                )
            except Exception as exc:  # noqa: BLE001 - a type rclpy cannot hold stays Python-only
                self.get_logger().debug(f"not exposing {spec.name}.{field.name}: {exc}")

    def _parameter_values(self) -> dict:
        """Return every parameter's current value by name."""
        names = self.list_parameters([], 0).names
        return {parameter.name: parameter.value for parameter in self.get_parameters(names)}

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check a change on the would-be values; refuse it (old values kept) with the reason.

        Each changed value is checked on its own (type, range, an existing checkpoint file),
        then the tracker settings it would give are built for the configured method and every
        method whose ``<method>.<key>`` changes, which runs the method's params ``validate()``.
        A change that makes valid settings invalid is refused. While the settings are already
        invalid (the node was started with a bad value and idles), a change whose values are
        valid on their own (the other settings at their defaults) is accepted with a warning
        naming what is still wrong, so problems can be fixed one ``ros2 param set`` at a time.
        """
        if self._declaring:
            return SetParametersResult(successful=True)  # a method's defaults, see below
        changes = {parameter.name: parameter.value for parameter in parameters}
        try:
            for name, value in changes.items():
                check_changed_parameter(name, value)
            current = self._parameter_values()
            would_be = {**current, **changes}
            methods = {str(would_be.get("method", ""))} | {
                name.split(".", 1)[0] for name in changes if "." in name
            }
            for method in sorted(methods):
                error = settings_error(would_be, method)
                if error is None:
                    continue
                if settings_error(current, method) is None:
                    raise ParameterError(f"refused, {method} settings would be invalid: {error}")
                for name in (n for n in changes if n.startswith(f"{method}.")):
                    # Already invalid: each changed key must at least be valid on its own
                    # (with every other setting at its default).
                    alone = settings_error({"method": method, name: changes[name]}, method)
                    if alone is not None:
                        raise ParameterError(f"refused, {name}: {alone}")
                self.get_logger().warning(
                    f"accepted {sorted(changes)}, but the {method} settings are still invalid "
                    f"(~/init refuses until fixed): {error}"
                )
        except (ParameterError, ValueError, UnknownParameterError) as exc:
            self.get_logger().warning(f"parameter change {sorted(changes)} refused: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        for name, value in changes.items():
            if name == "publish_mask":
                self.publish_mask = as_bool(name, value)
            elif name == "stats_period":
                self.stats_period = float(value)
            elif name == "method":
                # Declared here (not after the change) so that `ros2 param list` shows the new
                # method's keys right away; the nested on-set call is skipped by _declaring.
                self._declaring = True
                try:
                    self._declare_method_parameters(value)
                finally:
                    self._declaring = False
        return SetParametersResult(successful=True)

    def tracker_config(self, method: str = "", finetune: bool = False) -> TrackerConfig:
        """Return the checked tracker settings (``method``: the request's, empty = parameter)."""
        config, warning = build_tracker_config(self._parameter_values(), method, finetune)
        if warning:
            self.get_logger().warning(warning, throttle_duration_sec=60.0)
        return config

    def _startup_check(self) -> None:
        try:
            config = self.tracker_config()
        except (ParameterError, ValueError, UnknownParameterError) as exc:
            self.get_logger().error(
                f"tracker settings are invalid, ~/init will refuse until fixed: {exc}"
            )
            return
        error = self._load_model(config)[1]
        if error:
            self.get_logger().error(f"{error}; ~/init will refuse until this is fixed")

    def _load_model(self, config: TrackerConfig) -> tuple[Any, Optional[str]]:
        """Return the cached model for ``config``, or why it cannot be loaded (retried)."""
        from ..registry import UNTRAINED, build_model

        key = config.model_key
        if key in self._models:
            return self._models[key], None
        started = time.monotonic()
        try:
            model, _ = build_model(config.method, config.checkpoint, config.device)
        except Exception as exc:  # noqa: BLE001 - any failure to build the model is a reason
            where = config.checkpoint or f"the shipped {config.method} checkpoint"
            return None, f"cannot load {where}: {exc}"
        # Keep the current model only: switching back and forth is rare, and memory is not.
        self._models = {key: model}
        source = (
            "fresh (untrained) weights"
            if config.checkpoint == UNTRAINED
            else (config.checkpoint or f"shipped weights {config.spec.shipped_checkpoint}")
        )
        self.get_logger().info(
            f"loaded {config.method} ({source}) on {config.device} "
            f"in {time.monotonic() - started:.2f} s"
        )
        return model, None

    # ------------------------------------------------------------------ image input
    def _on_image(self, msg: Image) -> None:
        received = time.time()
        try:
            image_msg_to_array(msg)  # validates layout without copying
        except ImageEncodingError as exc:
            with self._lock:
                self._stats.bad += 1
            self._warn_input(f"dropping image: {exc}")
            return
        frame = Frame(stamp_to_ns(msg.header.stamp), msg, received)
        with self._wake:
            self._buffer.append(frame)
            self._stats.received += 1
            if self._pending is not None:
                self._stats.dropped += 1
                self._stats.dropped_total += 1
            self._pending = frame
            self._wake.notify()

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and self._running:
                    self._wake.wait(timeout=0.5)
                if not self._running:
                    return
                frame, self._pending = self._pending, None
                session = self._session
            try:
                self._process(frame, session)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any frame
                if not self._running:
                    return  # shutting down: the failure is the shutdown's, not the frame's
                self.get_logger().error(
                    f"frame processing failed: {exc!r}", throttle_duration_sec=5.0
                )

    def _process(self, frame: Frame, session: Optional[Session]) -> None:
        start = time.time()
        targets: list[TrackedBox] = []
        mask = None
        tracked = False
        if session is not None and frame.stamp_ns > session.init_stamp_ns:
            if session.catch_up:
                self._catch_up(session, frame.stamp_ns)
            if _size(frame) != session.size:
                self._end_on_resize(session, frame)
                session = None
        if session is not None and frame.stamp_ns > session.init_stamp_ns:
            try:
                result = session.tracker.track(image_msg_to_bgr8(frame.msg))
            except (InvalidImageError, ImageEncodingError) as exc:
                self._warn_input(f"cannot track on this frame: {exc}")
                result = None
            if result is not None:
                tracked = True
                self._report_lost_change(session, result.lost)
                if not result.lost:
                    targets.append(TrackedBox(session.track_id, result.box, result.score))
                    mask = result.mask
        with self._lock:
            if tracked and self._session is not session:
                # ~/stop or a new ~/init arrived while this frame was tracked: do not publish
                # a result of the old track.
                targets, mask = [], None
            dropped_total = self._stats.dropped_total
        if not self._running:
            return
        if mask is not None and self.publish_mask:
            self.mask_pub.publish(mask_to_image_msg(mask, frame.msg.header))
        self.detections_pub.publish(detections_msg(frame.msg.header, targets))
        end = time.time()
        if self.timing_pub is not None:
            stamp = frame.msg.header.stamp
            timing = Float64MultiArray(
                data=[
                    float(stamp.sec),
                    float(stamp.nanosec),
                    frame.received,
                    start,
                    end,
                    float(dropped_total),
                    1.0 if tracked else 0.0,
                ]
            )
            timing.layout.dim.append(
                MultiArrayDimension(
                    label=",".join(TIMING_FIELDS),
                    size=len(TIMING_FIELDS),
                    stride=len(TIMING_FIELDS),
                )
            )
            self.timing_pub.publish(timing)
        self._record(frame, start, end, tracked)

    def _catch_up(self, session: Session, until_ns: int) -> None:
        with self._lock:
            backlog = [f for f in self._buffer if session.init_stamp_ns < f.stamp_ns < until_ns]
        for old in sorted(backlog, key=lambda f: f.stamp_ns):
            if not self._running or _size(old) != session.size:
                break  # a resized frame ends the track in _process
            try:
                session.tracker.track(image_msg_to_bgr8(old.msg))
            except (InvalidImageError, ImageEncodingError):
                continue
        session.catch_up = False

    def _end_on_resize(self, session: Session, frame: Frame) -> None:
        """End ``session``: its tracker's state is in the geometry of another image size.

        Rescaling the box to the new size would assume the new image shows the same view
        scaled; a camera that switches mode may crop instead, and a box that is wrong but
        tracked with confidence is worse than none. The track is stopped (empty detections,
        a warning naming both sizes) and the client re-initialises on the new image.
        """
        with self._lock:
            if self._session is not session:
                return  # already replaced by a new ~/init or ~/stop
            self._session = None
            self._publish_state("idle")
        (w0, h0), (w1, h1) = session.size, _size(frame)
        self.get_logger().warning(
            f"{session.track_id}: image resolution changed from {w0}x{h0} to {w1}x{h1}; "
            "track stopped, call ~/init on the new image"
        )

    def _report_lost_change(self, session: Session, lost: bool) -> None:
        if lost != session.lost:
            session.lost = lost
            self.get_logger().info(
                f"{session.track_id}: target {'lost' if lost else 'found again'}"
            )
            with self._lock:
                if self._session is session:  # not replaced by ~/stop or ~/init meanwhile
                    self._publish_state("lost" if lost else "tracking")

    def _publish_state(self, state: str) -> None:
        """Publish ``~/state`` when it changes ("idle", "tracking", "lost"); hold ``_lock``."""
        if state != self._state:
            self._state = state
            self.state_pub.publish(String(data=state))

    def _record(self, frame: Frame, start: float, end: float, tracked: bool) -> None:
        stats = self._stats
        with self._lock:
            stats.processed += 1
            stats.tracked += int(tracked)
            stats.stamp_latency.append(end - frame.stamp_ns * 1e-9)
            stats.receive_latency.append(end - frame.received)
            stats.compute.append(end - start)
        if self.stats_period <= 0 or end - stats.window_start < self.stats_period:
            return
        with self._lock:
            report, self._stats = stats, stats.next_window(end)
        self.get_logger().info(report.summary(end))

    # ------------------------------------------------------------------ services
    def _on_init(
        self, request: InitTrack.Request, response: InitTrack.Response
    ) -> InitTrack.Response:
        response.success, response.track_id = False, ""
        try:
            response.track_id, response.message = self._start_track(request)
            response.success = True
            self.get_logger().info(response.message)
        except (
            InvalidBoxError,
            InvalidImageError,
            ImageEncodingError,
            ParameterError,
            ValueError,
            UnknownParameterError,
            LookupError,
            CheckpointError,
        ) as exc:
            response.message = str(exc)
            self.get_logger().warning(f"~/init refused: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure is an answer, never a dead service
            response.message = f"tracker init failed: {exc!r}"
            self.get_logger().error(response.message)
        return response

    def _start_track(self, request: InitTrack.Request) -> tuple[str, str]:
        theta = request.box.center.theta
        if not math.isfinite(theta):
            # The trackers use axis-aligned boxes, so theta is otherwise ignored; a NaN there
            # is a broken client, not a rotation.
            raise InvalidBoxError(f"box has a non-finite theta: {theta}")
        frame = self._find_frame(request.header.stamp)
        image = image_msg_to_bgr8(frame.msg)
        box = validate_init_box(bbox_to_xywh(request.box), (image.shape[1], image.shape[0]))
        config = self.tracker_config(request.method.strip(), bool(request.finetune))
        model, error = self._load_model(config)
        if error:
            raise LookupError(error)
        if config.finetune:
            # Fine-tuning changes weights: give this track its own copy of the cached model.
            model = copy.deepcopy(model)
        params = config.spec.params_cls.from_overrides(config.overrides)
        # The long-term layer as build_tracker applies it (unless long_term=False).
        tracker = wrap(config.spec.tracker_cls(model, params, config.device))
        started = time.monotonic()
        tracker.init(image, box)
        init_seconds = time.monotonic() - started
        with self._lock:
            self._track_counter += 1
            track_id = f"{config.method}-{self._track_counter}"
            newest = self._buffer[-1].stamp_ns if self._buffer else frame.stamp_ns
            self._session = Session(
                track_id, tracker, frame.stamp_ns, catch_up=newest > frame.stamp_ns,
                size=_size(frame),
            )
            self._publish_state("tracking")
        x, y, w, h = (float(v) for v in box)
        stamp = frame.msg.header.stamp
        return track_id, (
            f"tracking {track_id} from frame {stamp.sec}.{stamp.nanosec:09d}, box "
            f"x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} (init {init_seconds * 1e3:.0f} ms"
            f"{', fine-tuned' if config.finetune else ''})"
        )

    def _find_frame(self, stamp) -> Frame:
        with self._lock:
            frames = list(self._buffer)
        if not frames:
            raise LookupError(f"no image received yet on {self.image_sub.topic_name}")
        if stamp_is_zero(stamp):
            return frames[-1]
        wanted = stamp_to_ns(stamp)
        for frame in reversed(frames):
            if frame.stamp_ns == wanted:
                return frame
        raise LookupError(
            f"no buffered frame has stamp {stamp.sec}.{stamp.nanosec:09d}; "
            f"the {len(frames)} buffered "
            f"frames span {_stamp_text(frames[0].stamp_ns)} .. {_stamp_text(frames[-1].stamp_ns)} "
            "(use a zero stamp for the latest frame, or raise frame_buffer_size)"
        )

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            session, self._session = self._session, None
            self._publish_state("idle")
        response.success = True
        response.message = f"stopped {session.track_id}" if session else "no active track"
        self.get_logger().info(response.message)
        return response

    def close(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify_all()
        self._worker.join(timeout=5.0)


def _size(frame: Frame) -> tuple:
    return int(frame.msg.width), int(frame.msg.height)


def _stamp_text(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


class _Stats:
    """Counters of one logging window."""

    def __init__(self, window_start: Optional[float] = None, dropped_total: int = 0):
        self.window_start = time.time() if window_start is None else window_start
        self.received = self.processed = self.tracked = self.dropped = self.bad = 0
        self.dropped_total = dropped_total
        self.stamp_latency: list[float] = []
        self.receive_latency: list[float] = []
        self.compute: list[float] = []

    def next_window(self, now: float) -> "_Stats":
        return _Stats(now, self.dropped_total)

    def summary(self, now: float) -> str:
        seconds = max(now - self.window_start, 1e-6)

        def ms(values, q):
            return f"{np.percentile(values, q) * 1e3:.1f}" if values else "-"

        return (
            f"{self.processed / seconds:.1f} FPS processed ({self.tracked} tracked), "
            f"{self.received} received, {self.dropped} dropped as stale, {self.bad} bad "
            f"in {seconds:.1f} s; stamp->publish p50 {ms(self.stamp_latency, 50)} ms "
            f"p95 {ms(self.stamp_latency, 95)} ms; "
            f"receive->publish p50 {ms(self.receive_latency, 50)} ms; "
            f"compute p50 {ms(self.compute, 50)} ms"
        )


def main(args=None) -> int:
    return run_node(TrackerNode, args=args)


if __name__ == "__main__":
    raise SystemExit(main())
