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
"""visualization_node: draws the tracker's output onto the camera image for RViz.

Subscribes ``image`` (sensor_msgs/Image), ``detections`` (vision_msgs/Detection2DArray),
``mask`` (mono8 Image) and ``state`` (std_msgs/String); the launch file remaps the last three to
``tracker_node/detections``, ``tracker_node/mask`` and ``tracker_node/state``. While the state is
"lost" (every target lost) a frame without a box says "searching" (otherwise "no target").
Messages are paired by header stamp in a small cache: a frame is drawn once its image and
detections are both there, and, when the tracker has been sending masks, its mask too (or after
``mask_wait`` seconds without it). Publishes ``~/annotated`` (bgr8 by default, or rgb8) with every
target's box, id and score in its own colour, the mask overlay (value i + 1 = the i-th
detection's target) and the output FPS; frames the
tracker dropped (no detections) are not drawn.

Parameters: ``image_reliability`` (best_effort | reliable), ``output_encoding`` (bgr8 | rgb8),
``cache_size`` (frames kept for pairing), ``mask_wait`` (seconds), ``mask_alpha`` (0..1). A bad
value or an unknown parameter name ends the process with status 2 and a message.
"""

from __future__ import annotations

import collections
import time
from typing import Optional

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from vision_msgs.msg import Detection2DArray

from ..image_encoding import ImageEncodingError
from .common import (
    RELIABILITIES,
    ThrottledWarning,
    as_choice,
    as_float,
    as_int,
    declare,
    image_qos,
    refuse_unknown_parameters,
    run_node,
    state_qos,
)
from .conversions import (
    TrackedBox,
    bgr8_to_image_msg,
    image_msg_to_array,
    image_msg_to_bgr8,
    stamp_to_ns,
    tracked_boxes,
)

#: BGR colours of the targets, by track number (the ``n`` of ``<method>-<n>``): the first
#: target is green, and a target keeps its colour while others start and stop.
TARGET_COLORS = (
    (0, 255, 0), (255, 0, 255), (0, 165, 255), (255, 255, 0),
    (0, 255, 255), (255, 64, 64), (128, 0, 255), (0, 128, 128),
)


def target_color(track_id: str) -> tuple:
    """Return the BGR colour of ``track_id`` (ids without a number share the first colour)."""
    number = track_id.rsplit("-", 1)[-1]
    index = int(number) - 1 if number.isdigit() and int(number) > 0 else 0
    return TARGET_COLORS[index % len(TARGET_COLORS)]


#: Masks are expected for a frame when one arrived within this many seconds.
MASK_RECENT = 1.0


def annotate(
    image_bgr: np.ndarray,
    targets: list[TrackedBox],
    mask: Optional[np.ndarray],
    fps: Optional[float],
    mask_alpha: float = 0.4,
    searching: bool = False,
) -> np.ndarray:
    """Return a copy of ``image_bgr`` with masks tinted, boxes, ids, scores and FPS drawn.

    Every target is drawn in its own colour (:func:`target_color`); ``mask`` is tracker_node's
    ``~/mask``: value ``i + 1`` marks the pixels of ``targets[i]``. ``searching``: the tracker
    has lost its targets and searches for them (shown without a box).
    """
    canvas = image_bgr.copy()
    if mask is not None and mask.shape == canvas.shape[:2]:
        for index, target in enumerate(targets):
            # Blend the mask's bounding rectangle in OpenCV and copy it back under the mask:
            # boolean indexing in float cost ~15 ms for a frame-sized mask (half the node's
            # CPU in a soak whose target had grown to the frame), this ~2.4 ms.
            selected = (mask == index + 1).view(np.uint8)
            x, y, w, h = cv2.boundingRect(selected)
            if w == 0 or h == 0:
                continue
            region = canvas[y:y + h, x:x + w]
            color = np.full_like(region, target_color(target.track_id))
            tinted = cv2.addWeighted(region, 1.0 - mask_alpha, color, mask_alpha, 0.0)
            cv2.copyTo(tinted, selected[y:y + h, x:x + w], region)  # writes into the view
    scale = max(canvas.shape[0] / 480.0, 0.5)
    thickness = max(1, int(round(2 * scale)))
    for target in targets:
        x, y, w, h = (int(round(v)) for v in target.box_xywh)
        color = target_color(target.track_id)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, thickness)
        label = f"{target.track_id} {target.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, thickness)
        top = max(y - th - base - 2, 0)
        cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), color, -1)
        cv2.putText(
            canvas,
            label,
            (x + 2, top + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    status = f"{fps:.1f} FPS" if fps else "-- FPS"
    if not targets:
        status += "  searching" if searching else "  no target"
    # White text over a thicker black copy stays readable on any background.
    for color, stroke in (((0, 0, 0), thickness + 2), ((255, 255, 255), thickness)):
        cv2.putText(
            canvas,
            status,
            (8, int(24 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * scale,
            color,
            stroke,
            cv2.LINE_AA,
        )
    return canvas


class _Entry:
    __slots__ = ("image", "detections", "mask", "created")

    def __init__(self):
        self.image: Optional[Image] = None
        self.detections: Optional[Detection2DArray] = None
        self.mask: Optional[Image] = None
        self.created = time.monotonic()


class VisualizationNode(Node):
    def __init__(self):
        super().__init__(
            "visualization_node", automatically_declare_parameters_from_overrides=True
        )
        p = {
            "image_reliability": declare(
                self,
                "image_reliability",
                "best_effort",
                "QoS reliability of the image subscription",
            ),
            "output_encoding": declare(self, "output_encoding", "bgr8", "bgr8 or rgb8"),
            "cache_size": declare(
                self, "cache_size", 30, "frames kept while waiting for their partners"
            ),
            "mask_wait": declare(self, "mask_wait", 0.1, "seconds to wait for a frame's mask"),
            "mask_alpha": declare(self, "mask_alpha", 0.4, "opacity of the mask overlay"),
        }
        refuse_unknown_parameters(self, p)
        reliability = as_choice("image_reliability", p["image_reliability"], RELIABILITIES)
        self.output_encoding = as_choice(
            "output_encoding", p["output_encoding"], ("bgr8", "rgb8")
        )
        self.cache_size = as_int("cache_size", p["cache_size"], 1, 1000)
        self.mask_wait = as_float("mask_wait", p["mask_wait"], 0.0, 10.0)
        self.mask_alpha = as_float("mask_alpha", p["mask_alpha"], 0.0, 1.0)
        self._cache: collections.OrderedDict[int, _Entry] = collections.OrderedDict()
        self._published_at: collections.deque[float] = collections.deque(maxlen=30)
        self._last_mask_at = -1e9
        self._newest_published = -1
        self._warn_input = ThrottledWarning(self.get_logger())
        # Depth 2, not more: once a burst fills the reader's history, Fast DDS keeps a payload
        # buffer per slot for good (bench/soak_ros.py: +4.4 MiB resident at depth 5, 1.8 at 2).
        image_qos_profile = image_qos(reliability, depth=2)
        self.create_subscription(Image, "image", self._on_image, image_qos_profile)
        self.create_subscription(
            Detection2DArray, "detections", self._on_detections, QoSProfile(depth=10)
        )
        self.create_subscription(Image, "mask", self._on_mask, QoSProfile(depth=2))
        self._tracker_state = "idle"
        self.create_subscription(String, "state", self._on_state, state_qos())
        # Reliable publisher: matches both reliable (RViz default) and best-effort subscribers.
        self.annotated_pub = self.create_publisher(
            Image, "~/annotated", QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        )
        self.create_timer(0.02, self._flush_waiting)
        self.get_logger().info(f"drawing onto {self.annotated_pub.topic_name}")

    def _entry(self, stamp_ns: int) -> Optional[_Entry]:
        if stamp_ns <= self._newest_published:
            return None  # late partner of a frame already drawn (or older)
        entry = self._cache.get(stamp_ns)
        if entry is None:
            entry = self._cache[stamp_ns] = _Entry()
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    def _on_image(self, msg: Image) -> None:
        try:
            image_msg_to_array(msg)
        except ImageEncodingError as exc:
            self._warn_input(f"dropping image: {exc}")
            return
        self._update(stamp_to_ns(msg.header.stamp), "image", msg)

    def _on_detections(self, msg: Detection2DArray) -> None:
        self._update(stamp_to_ns(msg.header.stamp), "detections", msg)

    def _on_state(self, msg: String) -> None:
        self._tracker_state = msg.data

    def _on_mask(self, msg: Image) -> None:
        self._last_mask_at = time.monotonic()
        self._update(stamp_to_ns(msg.header.stamp), "mask", msg)

    def _update(self, stamp_ns: int, field: str, msg) -> None:
        entry = self._entry(stamp_ns)
        if entry is None:
            return
        setattr(entry, field, msg)
        self._try_publish(stamp_ns, entry)

    def _flush_waiting(self) -> None:
        for stamp_ns, entry in list(self._cache.items()):
            self._try_publish(stamp_ns, entry)

    def _try_publish(self, stamp_ns: int, entry: _Entry) -> None:
        if entry.image is None or entry.detections is None:
            return
        now = time.monotonic()
        wants_mask = (
            entry.mask is None
            and len(entry.detections.detections) > 0
            and now - self._last_mask_at < MASK_RECENT
        )
        if wants_mask and now - entry.created < self.mask_wait:
            return
        self._publish(stamp_ns, entry)

    def _publish(self, stamp_ns: int, entry: _Entry) -> None:
        # Drop this frame and every older one still waiting: annotated output stays in order.
        for stamp in [s for s in self._cache if s <= stamp_ns]:
            del self._cache[stamp]
        self._newest_published = stamp_ns
        try:
            image = image_msg_to_bgr8(entry.image)
            mask = None
            if entry.mask is not None:
                mask = image_msg_to_array(entry.mask)
                mask = mask if mask.ndim == 2 else None
        except ImageEncodingError as exc:
            self.get_logger().warning(f"cannot draw frame: {exc}", throttle_duration_sec=5.0)
            return
        now = time.monotonic()
        self._published_at.append(now)
        fps = None
        if len(self._published_at) > 1 and now > self._published_at[0]:
            fps = (len(self._published_at) - 1) / (now - self._published_at[0])
        canvas = annotate(image, tracked_boxes(entry.detections), mask, fps, self.mask_alpha,
                          searching=self._tracker_state == "lost")
        self.annotated_pub.publish(
            bgr8_to_image_msg(canvas, entry.image.header, self.output_encoding)
        )


def main(args=None) -> int:
    return run_node(VisualizationNode, args=args)


if __name__ == "__main__":
    raise SystemExit(main())
