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
"""Message <-> NumPy adapters for the nodes: images, masks, detections, boxes and stamps.

Pixel layouts are decoded by the core :mod:`unsup_tracker.image_encoding` (the same code reads
rosbag2 recordings); this module only moves fields between messages and those functions.
cv_bridge is not used: on Humble it is built against NumPy 1 and breaks under NumPy 2.

Box convention: the core works in ``xywh`` (top-left corner, continuous pixel coordinates);
vision_msgs 4.x boxes are centre-based (``bbox.center.position.x/y``, ``size_x``, ``size_y``).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose

from ..geometry import cxcywh_to_xywh, xywh_to_cxcywh
from ..image_encoding import array_to_fields, bgr8_to_fields, fields_to_array, fields_to_bgr8

#: class_id of every hypothesis we publish: a single-object tracker has no class.
TARGET_CLASS_ID = "target"


class TrackedBox(NamedTuple):
    """One tracked target as the nodes exchange it."""

    track_id: str
    box_xywh: np.ndarray
    score: float


def _fields(msg: Image) -> tuple:
    return msg.height, msg.width, msg.encoding, bool(msg.is_bigendian), msg.step, msg.data


def image_msg_to_array(msg: Image) -> np.ndarray:
    """Validate ``msg`` and view its pixels in the message's own channel order (no copy).

    Raises :class:`~unsup_tracker.image_encoding.ImageEncodingError` for an unsupported
    encoding, an empty image, a ``step`` shorter than a row, or too little data.
    """
    return fields_to_array(*_fields(msg))


def image_msg_to_bgr8(msg: Image) -> np.ndarray:
    """Decode ``msg`` to an HxWx3 uint8 BGR array (the layout every tracker takes)."""
    return fields_to_bgr8(*_fields(msg))


def _image_msg(fields: dict, header: Header) -> Image:
    msg = Image(header=header)
    # `data` must be assigned bytes: rclpy copies a bytes object in ~0.2 ms for 640x480 rgb8,
    # but iterates an ndarray element by element (~130 ms).
    msg.height, msg.width = fields["height"], fields["width"]
    msg.encoding, msg.is_bigendian, msg.step = (
        fields["encoding"],
        fields["is_bigendian"],
        fields["step"],
    )
    msg.data = fields["data"]
    return msg


def bgr8_to_image_msg(image_bgr: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """Encode a BGR uint8 image as an Image message in ``encoding`` (rgb8, bgr8 or mono8)."""
    return _image_msg(bgr8_to_fields(image_bgr, encoding), header)


def mask_to_image_msg(mask: np.ndarray, header: Header) -> Image:
    """Encode a uint8 HxW mask (255 = target) as a mono8 Image with ``header``."""
    if mask.ndim != 2:
        raise ValueError(f"a mask must be HxW, got shape {mask.shape}")
    return _image_msg(array_to_fields(mask.astype(np.uint8, copy=False), "mono8"), header)


def xywh_to_bbox(box_xywh) -> BoundingBox2D:
    cx, cy, w, h = xywh_to_cxcywh(box_xywh)
    bbox = BoundingBox2D()
    bbox.center.position.x, bbox.center.position.y = float(cx), float(cy)
    bbox.size_x, bbox.size_y = float(w), float(h)
    return bbox


def bbox_to_xywh(bbox: BoundingBox2D) -> np.ndarray:
    """Centre-based vision_msgs box -> xywh (NaN and negative sizes pass through to validation)."""
    return cxcywh_to_xywh(
        (bbox.center.position.x, bbox.center.position.y, bbox.size_x, bbox.size_y)
    )


def detections_msg(header: Header, targets: Iterable[TrackedBox]) -> Detection2DArray:
    """One Detection2D per target, ``id`` = track id, one hypothesis (class "target", score)."""
    array = Detection2DArray(header=header)
    for target in targets:
        detection = Detection2D(
            header=header, id=target.track_id, bbox=xywh_to_bbox(target.box_xywh)
        )
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = TARGET_CLASS_ID
        hypothesis.hypothesis.score = float(target.score)
        detection.results.append(hypothesis)
        array.detections.append(detection)
    return array


def tracked_boxes(msg: Detection2DArray) -> list[TrackedBox]:
    """List the targets of a Detection2DArray (score = best hypothesis, 0 when none)."""
    targets = []
    for detection in msg.detections:
        score = max((r.hypothesis.score for r in detection.results), default=0.0)
        targets.append(TrackedBox(detection.id, bbox_to_xywh(detection.bbox), float(score)))
    return targets


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(nanoseconds: int) -> Time:
    return Time(sec=int(nanoseconds // 1_000_000_000), nanosec=int(nanoseconds % 1_000_000_000))


def stamp_is_zero(stamp: Optional[Time]) -> bool:
    return stamp is None or (stamp.sec == 0 and stamp.nanosec == 0)
