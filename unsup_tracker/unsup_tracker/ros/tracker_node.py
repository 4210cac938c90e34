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
"""tracker_node: runs single-object trackers, several targets at once, on ``image``.

Topics (relative, so launch files remap them): subscribes ``image`` (sensor_msgs/Image,
sensor-data QoS, reliability from ``image_reliability``), ``image_mouse_left``
(geometry_msgs/Point: rqt_image_view's clicks; off with ``init_clicks: false``) and, with
``init_detections: true``, ``init_detections`` (vision_msgs/Detection2DArray); publishes
``~/detections`` (vision_msgs/Detection2DArray with the image's header; one Detection2D per
followed target, ``id`` = its track id; empty while idle or when every target is lost),
``~/mask`` (mono8, same header: the pixels of the i-th detection's target are ``i + 1``, 0
elsewhere; see ``publish_mask``), ``~/state`` (std_msgs/String: "idle" with no target,
"lost" when every target is lost, else "tracking"; published on change, transient local: the
visualization shows "searching" while lost), ``/diagnostics``
(diagnostic_msgs/DiagnosticArray every ``diagnostics_period`` seconds) and, with
``publish_timing``, ``~/timing`` (std_msgs/Float64MultiArray, see :data:`TIMING_FIELDS`).
Services: ``~/init`` (unsup_tracker_interfaces/srv/InitTrack: adds a target, returns its id),
``~/stop`` (std_srvs/Trigger: stops all targets) and ``~/stop_track``
(unsup_tracker_interfaces/srv/StopTrack: stops one by id).

Two executables: ``tracker_node`` (a plain node, configured and active from the start) and
``tracker_lifecycle_node`` (an rclpy LifecycleNode, as yolo_ros does it: configure loads the
model, activate subscribes and serves, deactivate stops tracking and frees the subscriptions and
services, cleanup frees the model; diagnostics are published in every state).

Decisions:

- Targets. A :class:`~unsup_tracker.targets.TargetManager` (core, no ROS) holds them: ids,
  ``max_targets`` (lost targets count: they are still searched for), lost state, and one batched
  forward pass per method and model (``track_batch``). Targets may use different methods.
- Threads. Decoding and tracking run in one worker thread that always takes the NEWEST received
  frame; a frame replaced before the worker reached it is dropped and counted. The executor is
  single-threaded (see :func:`.common.run_node` for the measurement that chose it): the image
  callback only validates and buffers (no copy), so it never waits for a frame being tracked.
  ``~/init`` builds and initialises a NEW tracker in the executor thread and adds it to the
  manager; a result the worker computed for a target stopped meanwhile is discarded. While an
  init runs (UDT ~70 ms, fine-tuning at most ``finetune_seconds`` more) new images wait in the
  DDS queue and only the newest ``image`` QoS depth of them are kept.
- Init frame. The request's stamp selects a frame of the last ``frame_buffer_size`` received
  frames; a zero stamp means the latest frame. A stamp that is no longer (or never was)
  buffered is refused with the buffered range in the message rather than silently using another
  frame: on a moving target the box would be wrong. After an init on an older frame the worker
  first tracks that target through the buffered frames up to the present (not published), so
  it is not searched for after a long jump.
- A frame not newer than a target's last tracked frame (its init frame until one is tracked) is
  not tracked for that target (out of order, a repeated stamp, or a source whose clock went back,
  e.g. restarted with another clock): tracking it would move the tracker's state back in time.
  The target stays, a throttled warning names the stamps; a source that restarted with an older
  clock needs a new ``~/init``.
- Detector start (``init_detections``): a detection whose best hypothesis has ``init_class_id``
  (empty: any) and a score of at least ``init_min_score`` starts a target on the buffered frame
  with the message's stamp, unless a held target's latest box overlaps it by more than
  ``init_overlap_iou`` IoU. Lost targets block too (by their last box): otherwise a detector
  seeing a briefly occluded object would start a duplicate of it at every frame.
- Click start: rqt_image_view publishes a click as a geometry_msgs/Point (pixels) on
  ``<image topic>_mouse_left``; the point has no stamp, so the box is proposed on the latest
  buffered frame (:func:`unsup_tracker.click_proposal.propose_box`: centred on the click, sized
  by colour contrast) and the target starts there.
- Parameters are declared with dynamic typing and checked here, giving one clear message for a
  wrong type or range. Node-level mistakes (``image_reliability``, ``frame_buffer_size``,
  unknown parameter names) stop the process with status 2. Tracker settings (``method``,
  ``checkpoint``, ``device``, method parameters) and model loading are checked at start-up and
  at every ``~/init``: a problem is logged and reported by ``~/init`` (success=false), and the
  node keeps running so it can be fixed with ``ros2 param set`` and a new ``~/init``.
- Every change (``ros2 param set``) is checked on the would-be values before it is taken,
  method hyper-parameters included (the method's params ``validate()``); a change that would
  make working settings invalid is refused with the reason and the old value kept, so a typo
  cannot break the next ``~/init`` (see :meth:`_TrackerLogic._on_set_parameters`).
- Per-method hyper-parameters are ROS parameters named ``<method>.<key>`` (YAML: a ``udt:``
  mapping under ``ros__parameters``); the configured method's keys are declared with their
  defaults so ``ros2 param list`` shows them, and setting ``method`` declares the new method's
  keys. How the generic settings (``online_update``, ``update_rate``,
  ``lost_score_threshold``, ``finetune``) map onto a method's keys is decided in
  :mod:`.tracker_settings`.
- Image size. A frame whose width or height differs from a target's init frame ends that target
  with a warning instead of tracking on in the old geometry; see
  :meth:`_TrackerLogic._end_on_resize` for why the box is not rescaled. Encoding changes are
  harmless: every frame is converted to bgr8 on its own.
- Diagnostics: one DiagnosticStatus named ``<namespace>/<node name>: tracking`` (no leading
  slash; hardware_id = the device) with state (unconfigured, inactive, idle, tracking), methods,
  FPS, camera FPS, stamp-to-detection latency p50/p95, frames received/dropped/bad, targets
  followed/lost, max_targets, models loaded and device, measured over the last period. WARN
  when the node falls behind the camera: more than :data:`BEHIND_FRACTION` of the received
  frames were dropped as stale in the period.
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
from geometry_msgs.msg import Point
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger
from unsup_tracker_interfaces.srv import InitTrack, StopTrack
from vision_msgs.msg import Detection2DArray

from ..checkpoint import CheckpointError
from ..click_proposal import propose_box
from ..geometry import InvalidBoxError, iou_xywh, validate_init_box
from ..long_term import wrap
from ..image_encoding import ImageEncodingError
from ..params import UnknownParameterError
from ..targets import (
    Target,
    TargetManager,
    TooManyTargetsError,
    UnknownTargetError,
    compose_masks,
    track_targets,
)
from ..tracker_base import InvalidImageError
from .common import (
    ParameterError,
    ThrottledWarning,
    as_bool,
    as_float,
    as_str,
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
    max_targets,
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

#: Diagnostics warn when more than this fraction of a period's received frames was dropped.
BEHIND_FRACTION = 0.1

#: Errors that make an init request (service, detection) fail with a clear reason.
INIT_ERRORS = (
    InvalidBoxError,
    InvalidImageError,
    ImageEncodingError,
    ParameterError,
    ValueError,
    UnknownParameterError,
    LookupError,
    CheckpointError,
)


@dataclasses.dataclass
class Frame:
    stamp_ns: int
    msg: Image
    received: float  # wall clock, seconds


class _TrackerLogic:
    """Everything of tracker_node but the ROS node class.

    The node class (a plain :class:`rclpy.node.Node` or an :class:`rclpy.lifecycle.LifecycleNode`)
    calls ``_setup`` from its constructor and ``_configure``/``_activate``/``_deactivate``/
    ``_cleanup`` for the transitions.
    """

    def _setup(self) -> None:
        values = {
            name: declare(self, name, default, text)
            for name, (default, text) in NODE_PARAMETERS.items()
        }
        self._check_parameter_names()
        checked = check_startup_parameters(values)
        self.reliability = checked["image_reliability"]
        self.frame_buffer_size = checked["frame_buffer_size"]
        self.stats_period = checked["stats_period"]
        self.publish_timing = checked["publish_timing"]
        self.publish_mask = checked["publish_mask"]
        self.init_detections = checked["init_detections"]
        self.init_clicks = checked["init_clicks"]
        self.init_filter = {
            name: checked[name] for name in ("init_class_id", "init_min_score", "init_overlap_iou")
        }
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
        self.targets = TargetManager(checked["max_targets"])
        self._models: dict[tuple, Any] = {}
        self._stats = _Stats()
        self._diagnostic_stats = _Stats()
        self._running = False
        self._worker: Optional[threading.Thread] = None
        self._activity = "unconfigured"
        self._warn_input = ThrottledWarning(self.get_logger())
        self._subscriptions_and_services: list = []
        self.image_sub = None
        self.detections_pub = self.mask_pub = self.timing_pub = self.state_pub = None
        self._state = ""
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.diagnostics_pub = None
        if checked["diagnostics_period"] > 0:
            from diagnostic_msgs.msg import DiagnosticArray

            self.diagnostics_pub = self.create_publisher(
                DiagnosticArray, "/diagnostics", QoSProfile(depth=10)
            )
            self.create_timer(checked["diagnostics_period"], self._publish_diagnostics)

    # ------------------------------------------------------------------ transitions
    def _configure(self) -> Optional[str]:
        """Create the publishers and load the model; return why the model cannot load, or None."""
        reliable = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
        self.detections_pub = self.create_publisher(Detection2DArray, "~/detections", reliable)
        self.mask_pub = self.create_publisher(Image, "~/mask", QoSProfile(depth=2))
        if self.publish_timing:
            self.timing_pub = self.create_publisher(
                Float64MultiArray, "~/timing", QoSProfile(depth=100)
            )
        self.state_pub = self.create_publisher(String, "~/state", state_qos())
        self._state = ""
        self._update_state()  # "idle": a late-joining visualization gets it (transient local)
        self._activity = "inactive"
        return self._startup_check()

    def _activate(self) -> None:
        """Subscribe to the images (and detections), serve, start the worker thread."""
        self.image_sub = self.create_subscription(
            Image, "image", self._on_image, image_qos(self.reliability, depth=2)
        )
        entities = [self.image_sub]
        if self.init_detections:
            entities.append(self.create_subscription(
                Detection2DArray, "init_detections", self._on_init_detections,
                QoSProfile(depth=10),
            ))
        if self.init_clicks:
            entities.append(self.create_subscription(
                Point, "image_mouse_left", self._on_click, QoSProfile(depth=10)
            ))
        # rclpy's default service QoS keeps the last 10 requests: of a burst of 100 ~/init calls
        # sent while one init ran, 89 were never answered. A deeper queue answers them all.
        services = QoSProfile(depth=SERVICE_QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        entities += [
            self.create_service(InitTrack, "~/init", self._on_init, qos_profile=services),
            self.create_service(Trigger, "~/stop", self._on_stop, qos_profile=services),
            self.create_service(
                StopTrack, "~/stop_track", self._on_stop_track, qos_profile=services
            ),
        ]
        self._subscriptions_and_services = entities
        with self._wake:
            self._running = True
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self._activity = "active"
        name = self.get_fully_qualified_name()
        extra = "".join(f", {e.topic_name}" for e in entities[1:] if hasattr(e, "topic_name"))
        self.get_logger().info(
            f"ready: subscribed to {self.image_sub.topic_name} ({self.reliability}){extra}, "
            f"services {name}/init and {name}/stop (all targets), {name}/stop_track (one by id)"
        )

    def _deactivate(self) -> None:
        """Stop the worker and every target; free the subscriptions and services."""
        self._stop_worker()
        for entity in self._subscriptions_and_services:
            if hasattr(entity, "srv_type"):
                self.destroy_service(entity)
            else:
                self.destroy_subscription(entity)
        self._subscriptions_and_services = []
        self.image_sub = None
        stopped = self.targets.clear()
        self._update_state()
        with self._lock:
            self._pending = None
        self._activity = "inactive"
        if stopped:
            ids = ", ".join(target.track_id for target in stopped)
            self.get_logger().info(f"deactivated: stopped {ids}")

    def _cleanup(self) -> None:
        """Free the model(s), the frame buffer and the publishers."""
        self._models = {}
        with self._lock:
            self._buffer.clear()
        for publisher in (self.detections_pub, self.mask_pub, self.timing_pub, self.state_pub):
            if publisher is not None:
                self.destroy_publisher(publisher)
        self.detections_pub = self.mask_pub = self.timing_pub = self.state_pub = None
        self._activity = "unconfigured"
        self.get_logger().info("cleaned up: model and frame buffer freed")

    def _stop_worker(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def close(self) -> None:
        self._stop_worker()

    @property
    def models_loaded(self) -> int:
        return len(self._models)

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
            elif name == "max_targets":
                self.targets.max_targets = max_targets(value)
            elif name == "init_class_id":
                self.init_filter[name] = as_str(name, value)
            elif name in ("init_min_score", "init_overlap_iou"):
                self.init_filter[name] = as_float(name, value)
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

    def _startup_check(self) -> Optional[str]:
        try:
            config = self.tracker_config()
        except (ParameterError, ValueError, UnknownParameterError) as exc:
            self.get_logger().error(
                f"tracker settings are invalid, ~/init will refuse until fixed: {exc}"
            )
            return str(exc)
        error = self._load_model(config)[1]
        if error:
            self.get_logger().error(f"{error}; ~/init will refuse until this is fixed")
        return error

    def _load_model(self, config: TrackerConfig) -> tuple[Any, Optional[str]]:
        """Return the cached model for ``config``, or why it cannot be loaded (retried).

        One model per (method, checkpoint, device) is kept while targets use it, so targets of
        different methods can run side by side; a model no target uses is dropped when another
        one is loaded.
        """
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
        in_use = {id(getattr(target.tracker, "model", None)) for target in self.targets.targets()}
        self._models = {k: m for k, m in self._models.items() if id(m) in in_use}
        self._models[key] = model
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
                self._diagnostic_stats.bad += 1
            self._warn_input(f"dropping image: {exc}")
            return
        frame = Frame(stamp_to_ns(msg.header.stamp), msg, received)
        with self._wake:
            self._buffer.append(frame)
            for stats in (self._stats, self._diagnostic_stats):
                stats.received += 1
                if self._pending is not None:
                    stats.dropped += 1
            if self._pending is not None:
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
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any frame
                if not self._running:
                    return  # shutting down: the failure is the shutdown's, not the frame's
                self.get_logger().error(
                    f"frame processing failed: {exc!r}", throttle_duration_sec=5.0
                )

    def _process(self, frame: Frame) -> None:
        start = time.time()
        held = self.targets.targets()
        due = [t for t in held if frame.stamp_ns > t.last_stamp_ns]
        for target in held:
            if target.init_stamp_ns != frame.stamp_ns and frame.stamp_ns <= target.last_stamp_ns:
                self._warn_input(
                    f"{target.track_id}: not tracking frame {_stamp_text(frame.stamp_ns)}, "
                    f"not newer than the last tracked {_stamp_text(target.last_stamp_ns)} "
                    "(out of order or repeated stamp; a restarted source needs ~/init)"
                )
        for target in due:
            if target.catch_up:
                self._catch_up(target, frame.stamp_ns)
        resized = [t for t in due if _size(frame) != t.size]
        for target in resized:
            self._end_on_resize(target, frame)
        due = [t for t in due if _size(frame) == t.size]
        published: list[TrackedBox] = []
        masks = []
        tracked = False
        if due:
            try:
                image = image_msg_to_bgr8(frame.msg)
            except ImageEncodingError as exc:
                self._warn_input(f"cannot track on this frame: {exc}")
                image = None
            results = [] if image is None else track_targets(due, image, self._on_track_error)
            for target, result in results:
                if result is None:
                    continue
                tracked = True
                target.box = np.asarray(result.box, dtype=float)
                target.last_stamp_ns = frame.stamp_ns
                self._report_lost_change(target, result.lost)
                # A target stopped while this frame was tracked is not published.
                if not result.lost and self.targets.holds(target):
                    published.append(TrackedBox(target.track_id, result.box, result.score))
                    masks.append(result.mask)
        if not self._running or self.detections_pub is None:
            return
        mask = compose_masks((frame.msg.height, frame.msg.width), masks) if masks else None
        if mask is not None and self.publish_mask:
            self.mask_pub.publish(mask_to_image_msg(mask, frame.msg.header))
        self.detections_pub.publish(detections_msg(frame.msg.header, published))
        end = time.time()
        if self.timing_pub is not None:
            self._publish_timing(frame, start, end, tracked)
        self._record(frame, start, end, tracked)

    def _on_track_error(self, group: list[Target], exc: Exception) -> None:
        ids = ", ".join(target.track_id for target in group)
        if isinstance(exc, (InvalidImageError, ImageEncodingError)):
            self._warn_input(f"cannot track on this frame: {exc}")
        else:
            self.get_logger().error(
                f"tracking {ids} failed on a frame: {exc!r}", throttle_duration_sec=5.0
            )

    def _publish_timing(self, frame: Frame, start: float, end: float, tracked: bool) -> None:
        stamp = frame.msg.header.stamp
        with self._lock:
            dropped_total = self._stats.dropped_total
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
                label=",".join(TIMING_FIELDS), size=len(TIMING_FIELDS), stride=len(TIMING_FIELDS)
            )
        )
        self.timing_pub.publish(timing)

    def _catch_up(self, target: Target, until_ns: int) -> None:
        with self._lock:
            backlog = [f for f in self._buffer if target.init_stamp_ns < f.stamp_ns < until_ns]
        for old in sorted(backlog, key=lambda f: f.stamp_ns):
            if not self._running or _size(old) != target.size:
                break  # a resized frame ends the target in _process
            try:
                target.box = np.asarray(target.tracker.track(image_msg_to_bgr8(old.msg)).box)
                target.last_stamp_ns = old.stamp_ns
            except (InvalidImageError, ImageEncodingError):
                continue
        target.catch_up = False

    def _end_on_resize(self, target: Target, frame: Frame) -> None:
        """End ``target``: its tracker's state is in the geometry of another image size.

        Rescaling the box to the new size would assume the new image shows the same view
        scaled; a camera that switches mode may crop instead, and a box that is wrong but
        tracked with confidence is worse than none. The target is stopped (a warning naming
        both sizes) and the client re-initialises on the new image.
        """
        if not self.targets.discard(target):
            return  # already stopped
        self._update_state()
        (w0, h0), (w1, h1) = target.size, _size(frame)
        self.get_logger().warning(
            f"{target.track_id}: image resolution changed from {w0}x{h0} to {w1}x{h1}; "
            "track stopped, call ~/init on the new image"
        )

    def _report_lost_change(self, target: Target, lost: bool) -> None:
        if lost != target.lost:
            target.lost = lost
            self.get_logger().info(
                f"{target.track_id}: target {'lost' if lost else 'found again'}"
            )
            self._update_state()

    def _update_state(self) -> None:
        """Publish ``~/state`` when it changes: "idle" (no target), "lost" (all), "tracking"."""
        followed, lost = self.targets.counts()
        state = "tracking" if followed else "lost" if lost else "idle"
        with self._lock:
            if state == self._state or self.state_pub is None:
                return
            self._state = state
        self.state_pub.publish(String(data=state))

    def _record(self, frame: Frame, start: float, end: float, tracked: bool) -> None:
        with self._lock:
            for stats in (self._stats, self._diagnostic_stats):
                stats.processed += 1
                stats.tracked += int(tracked)
                stats.stamp_latency.append(end - frame.stamp_ns * 1e-9)
                stats.receive_latency.append(end - frame.received)
                stats.compute.append(end - start)
            stats = self._stats
        if self.stats_period <= 0 or end - stats.window_start < self.stats_period:
            return
        with self._lock:
            report, self._stats = stats, stats.next_window(end)
        self.get_logger().info(report.summary(end))

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        now = time.time()
        with self._lock:
            stats, self._diagnostic_stats = self._diagnostic_stats, _Stats(now)
        followed, lost = self.targets.counts()
        methods = sorted({target.method for target in self.targets.targets()})
        device = self._device_text()
        state = self._activity
        if state == "active":
            state = "tracking" if followed + lost else "idle"
        level, message = DiagnosticStatus.OK, state
        seconds = max(now - stats.window_start, 1e-6)
        if stats.received >= 5 and stats.dropped > BEHIND_FRACTION * stats.received:
            level = DiagnosticStatus.WARN
            message = (
                f"falling behind the camera: {stats.dropped} of {stats.received} frames "
                f"dropped in {seconds:.1f} s"
            )
        values = {
            "state": state,
            "methods": ",".join(methods) or "-",
            "fps": f"{stats.processed / seconds:.2f}",
            "camera_fps": f"{stats.received / seconds:.2f}",
            "latency_p50_ms": _percentile_ms(stats.stamp_latency, 50),
            "latency_p95_ms": _percentile_ms(stats.stamp_latency, 95),
            "compute_p50_ms": _percentile_ms(stats.compute, 50),
            "frames_received": str(stats.received),
            "frames_dropped": str(stats.dropped),
            "frames_bad": str(stats.bad),
            "targets_followed": str(followed),
            "targets_lost": str(lost),
            "max_targets": str(self.targets.max_targets),
            "models_loaded": str(self.models_loaded),
            "device": device,
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_fully_qualified_name().lstrip('/')}: tracking",
            message=message,
            hardware_id=device,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    def _device_text(self) -> str:
        try:
            return str(build_tracker_config(self._parameter_values())[0].device)
        except (ParameterError, ValueError, UnknownParameterError):
            return str(self.get_parameter("device").value)

    # ------------------------------------------------------------------ starting targets
    def _on_init(
        self, request: InitTrack.Request, response: InitTrack.Response
    ) -> InitTrack.Response:
        response.success, response.track_id = False, ""
        try:
            theta = request.box.center.theta
            if not math.isfinite(theta):
                # The trackers use axis-aligned boxes, so theta is otherwise ignored; a NaN
                # there is a broken client, not a rotation.
                raise InvalidBoxError(f"box has a non-finite theta: {theta}")
            response.track_id, response.message = self._start_target(
                request.header.stamp, bbox_to_xywh(request.box), request.method.strip(),
                bool(request.finetune),
            )
            response.success = True
            self.get_logger().info(response.message)
        except INIT_ERRORS as exc:
            response.message = str(exc)
            self.get_logger().warning(f"~/init refused: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure is an answer, never a dead service
            response.message = f"tracker init failed: {exc!r}"
            self.get_logger().error(response.message)
        return response

    def _start_target(self, stamp, box_xywh, method: str = "", finetune: bool = False,
                      source: str = "") -> tuple[str, str]:
        """Initialise a tracker on the buffered frame ``stamp`` and add it; return (id, text)."""
        self.targets.check_room()
        frame = self._find_frame(stamp)
        image = image_msg_to_bgr8(frame.msg)
        box = validate_init_box(box_xywh, (image.shape[1], image.shape[0]))
        config = self.tracker_config(method, finetune)
        model, error = self._load_model(config)
        if error:
            raise LookupError(error)
        if config.finetune:
            # Fine-tuning changes weights: give this target its own copy of the cached model.
            model = copy.deepcopy(model)
        params = config.spec.params_cls.from_overrides(config.overrides)
        # The long-term layer as build_tracker applies it (unless long_term=False).
        tracker = wrap(config.spec.tracker_cls(model, params, config.device))
        started = time.monotonic()
        tracker.init(image, box)
        init_seconds = time.monotonic() - started
        with self._lock:
            newest = self._buffer[-1].stamp_ns if self._buffer else frame.stamp_ns
        target = self.targets.add(
            config.method, tracker, frame.stamp_ns, _size(frame),
            catch_up=newest > frame.stamp_ns,
        )
        target.box = np.asarray(box, dtype=float)
        self._update_state()
        x, y, w, h = (float(v) for v in box)
        stamp = frame.msg.header.stamp
        return target.track_id, (
            f"tracking {target.track_id}{source} from frame {stamp.sec}.{stamp.nanosec:09d}, "
            f"box x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} (init {init_seconds * 1e3:.0f} ms"
            f"{', fine-tuned' if config.finetune else ''}; {len(self.targets)} targets)"
        )

    def _on_init_detections(self, msg: Detection2DArray) -> None:
        """Start a target for every wanted detection that no held target overlaps."""
        wanted = self.init_filter
        taken = [t.box for t in self.targets.targets() if t.box is not None]
        for detection in msg.detections:
            scores = [
                r.hypothesis.score for r in detection.results
                if not wanted["init_class_id"] or r.hypothesis.class_id == wanted["init_class_id"]
            ]
            if not scores or max(scores) < wanted["init_min_score"]:
                continue
            box = bbox_to_xywh(detection.bbox)
            if not np.all(np.isfinite(box)):
                self._warn_input(f"ignoring a detection with a non-finite box: {box.tolist()}")
                continue
            if taken and float(np.max(iou_xywh(np.array(taken), box[None]))) > \
                    wanted["init_overlap_iou"]:
                continue
            try:
                track_id, text = self._start_target(
                    msg.header.stamp, box, source=f" (detection, score {max(scores):.2f})"
                )
            except TooManyTargetsError as exc:
                self._warn_input(f"detection not started: {exc}")
                return
            except INIT_ERRORS as exc:
                self._warn_input(f"detection not started: {exc}")
                continue
            taken.append(box)
            self.get_logger().info(text)

    def _on_click(self, msg: Point) -> None:
        """Start a target around a clicked point on the latest frame."""
        x, y = msg.x, msg.y
        try:
            frame = self._find_frame(None)
            box = propose_box(image_msg_to_bgr8(frame.msg), (x, y))
            _, text = self._start_target(
                frame.msg.header.stamp, box, source=f" (click at {x:.0f},{y:.0f})"
            )
        except INIT_ERRORS as exc:
            self._warn_input(f"click not started: {exc}")
            return
        self.get_logger().info(text)

    def _find_frame(self, stamp) -> Frame:
        with self._lock:
            frames = list(self._buffer)
        if not frames:
            topic = self.image_sub.topic_name if self.image_sub is not None else "image"
            raise LookupError(f"no image received yet on {topic}")
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

    # ------------------------------------------------------------------ stopping targets
    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        stopped = self.targets.clear()
        self._update_state()
        response.success = True
        response.message = (
            "stopped " + ", ".join(t.track_id for t in stopped) if stopped else "no active track"
        )
        self.get_logger().info(response.message)
        return response

    def _on_stop_track(
        self, request: StopTrack.Request, response: StopTrack.Response
    ) -> StopTrack.Response:
        try:
            target = self.targets.remove(request.track_id.strip())
        except UnknownTargetError as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().warning(f"~/stop_track refused: {exc}")
            return response
        self._update_state()
        response.success = True
        response.message = f"stopped {target.track_id} ({len(self.targets)} targets left)"
        self.get_logger().info(response.message)
        return response


class TrackerNode(_TrackerLogic, Node):
    """The plain node: configured and active from construction to shutdown."""

    def __init__(self):
        Node.__init__(self, "tracker_node", automatically_declare_parameters_from_overrides=True)
        self._setup()
        self._configure()
        self._activate()


def _lifecycle_node_class():
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    class TrackerLifecycleNode(_TrackerLogic, LifecycleNode):
        """tracker_node as a LifecycleNode: parameters are checked at construction."""

        def __init__(self):
            LifecycleNode.__init__(
                self, "tracker_node", automatically_declare_parameters_from_overrides=True
            )
            self._setup()
            self.get_logger().info("unconfigured: waiting for the configure transition")

        def on_configure(self, state):
            error = self._configure()
            if error:
                self._cleanup()
                return TransitionCallbackReturn.FAILURE
            self.get_logger().info("configured: model loaded")
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state):
            self._activate()
            return super().on_activate(state)

        def on_deactivate(self, state):
            self._deactivate()
            self.get_logger().info("deactivated: no subscription, no services")
            return super().on_deactivate(state)

        def on_cleanup(self, state):
            self._cleanup()
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            if self._activity == "active":
                self._deactivate()
            self._stop_worker()
            return TransitionCallbackReturn.SUCCESS

        def on_error(self, state):
            self._stop_worker()
            self.targets.clear()
            return TransitionCallbackReturn.SUCCESS

    return TrackerLifecycleNode


def _size(frame: Frame) -> tuple:
    return int(frame.msg.width), int(frame.msg.height)


def _stamp_text(stamp_ns: int) -> str:
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


def _percentile_ms(values: list, q: float) -> str:
    return f"{np.percentile(values, q) * 1e3:.1f}" if values else "-"


class _Stats:
    """Counters of one logging (or diagnostics) window."""

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
        return (
            f"{self.processed / seconds:.1f} FPS processed ({self.tracked} tracked), "
            f"{self.received} received, {self.dropped} dropped as stale, {self.bad} bad "
            f"in {seconds:.1f} s; stamp->publish p50 {_percentile_ms(self.stamp_latency, 50)} ms "
            f"p95 {_percentile_ms(self.stamp_latency, 95)} ms; "
            f"receive->publish p50 {_percentile_ms(self.receive_latency, 50)} ms; "
            f"compute p50 {_percentile_ms(self.compute, 50)} ms"
        )


def main(args=None) -> int:
    return run_node(TrackerNode, args=args, pin_mmap_threshold=False)


def lifecycle_main(args=None) -> int:
    """Run tracker_node as a LifecycleNode (``tracker_lifecycle_node``)."""
    return run_node(lambda: _lifecycle_node_class()(), args=args, pin_mmap_threshold=False)


if __name__ == "__main__":
    raise SystemExit(main())
