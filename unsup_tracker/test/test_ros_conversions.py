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
"""Message <-> NumPy adapters of the ROS nodes (message packages needed, no running graph)."""
import math

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable (use the project venv: make setup)")
pytest.importorskip("vision_msgs.msg",
                    reason="vision_msgs is not importable (make setup builds it)")

from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import BoundingBox2D  # noqa: E402

from unsup_tracker.image_encoding import ImageEncodingError  # noqa: E402
from unsup_tracker.ros import conversions as conv  # noqa: E402


def _header(sec=12, nanosec=345):
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def _random_bgr(height=7, width=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_bgr_round_trip_keeps_pixels_and_header(encoding):
    image = _random_bgr()
    msg = conv.bgr8_to_image_msg(image, _header(), encoding)
    assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, 7, 5, 15)
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
    np.testing.assert_array_equal(conv.image_msg_to_bgr8(msg), image)


def test_rgb8_message_is_stored_in_rgb_order():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 2] = 200  # red in BGR
    msg = conv.bgr8_to_image_msg(image, _header(), "rgb8")
    assert bytes(msg.data[:3]) == bytes([200, 0, 0])


def test_padded_rows_are_honoured():
    image = _random_bgr(4, 3)
    msg = conv.bgr8_to_image_msg(image, _header(), "bgr8")
    padded = np.zeros((4, 16), np.uint8)
    padded[:, :9] = np.frombuffer(bytes(msg.data), np.uint8).reshape(4, 9)
    msg.step, msg.data = 16, padded.tobytes()
    np.testing.assert_array_equal(conv.image_msg_to_bgr8(msg), image)


@pytest.mark.parametrize("change, reason", [
    (dict(encoding="yuv422"), "unsupported encoding"),
    (dict(step=5), "smaller than one row"),
    (dict(height=0, width=0, step=0, data=b""), "empty image"),
    (dict(data=b"\x00" * 10), "bytes"),
])
def test_bad_messages_raise_a_reason(change, reason):
    msg = conv.bgr8_to_image_msg(_random_bgr(), _header(), "rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageEncodingError, match=reason):
        conv.image_msg_to_array(msg)


def test_mask_message_is_mono8_with_the_image_header():
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 3:7] = 255
    msg = conv.mask_to_image_msg(mask, _header(3, 4))
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("mono8", 6, 8, 8)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 4)
    np.testing.assert_array_equal(conv.image_msg_to_array(msg), mask)
    with pytest.raises(ValueError):
        conv.mask_to_image_msg(np.zeros((2, 2, 3), np.uint8), _header())


def test_detections_are_centre_based_with_id_class_and_score():
    header = _header()
    targets = [conv.TrackedBox("udt-1", np.array([10.0, 20.0, 30.0, 40.0]), 0.75)]
    msg = conv.detections_msg(header, targets)
    assert msg.header.stamp.nanosec == 345 and len(msg.detections) == 1
    det = msg.detections[0]
    assert det.id == "udt-1" and det.header.frame_id == "cam"
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (25.0, 40.0)
    assert (det.bbox.size_x, det.bbox.size_y) == (30.0, 40.0)
    assert len(det.results) == 1
    assert det.results[0].hypothesis.class_id == "target"
    assert det.results[0].hypothesis.score == pytest.approx(0.75)
    back = conv.tracked_boxes(msg)
    assert back[0].track_id == "udt-1" and back[0].score == pytest.approx(0.75)
    np.testing.assert_allclose(back[0].box_xywh, [10, 20, 30, 40])


def test_empty_detections_keep_the_header():
    msg = conv.detections_msg(_header(7, 8), [])
    assert msg.detections == [] and msg.header.stamp.sec == 7


def test_bbox_to_xywh_passes_nan_through_for_validation():
    bbox = BoundingBox2D()
    bbox.center.position.x = math.nan
    bbox.size_x, bbox.size_y = 4.0, 6.0
    assert math.isnan(conv.bbox_to_xywh(bbox)[0])


def test_stamp_conversions():
    stamp = conv.ns_to_stamp(1_700_000_000_123_456_789)
    assert (stamp.sec, stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert conv.stamp_to_ns(stamp) == 1_700_000_000_123_456_789
    assert conv.stamp_is_zero(conv.ns_to_stamp(0)) and not conv.stamp_is_zero(stamp)
