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
"""sensor_msgs/Image pixel layouts <-> NumPy, without ROS and without cv_bridge.

cv_bridge is deliberately not used: on Humble it is built against NumPy 1 and breaks under
NumPy 2, and it is not installable from PyPI. The ROS nodes and the rosbag reader both pass the
message's plain fields here (``height, width, encoding, is_bigendian, step, data``), so a live
topic and a recorded bag decode the same way.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

#: encoding -> (channels, numpy dtype of one channel)
ENCODINGS = {
    "rgb8": (3, np.uint8),
    "bgr8": (3, np.uint8),
    "rgba8": (4, np.uint8),
    "bgra8": (4, np.uint8),
    "mono8": (1, np.uint8),
    "8UC1": (1, np.uint8),
    "8UC3": (3, np.uint8),
    "mono16": (1, np.uint16),
    "16UC1": (1, np.uint16),
}


class ImageEncodingError(ValueError):
    """The message's fields do not describe a decodable image."""


def fields_to_array(
    height: int, width: int, encoding: str, is_bigendian: bool, step: int, data
) -> np.ndarray:
    """View the message buffer as (H, W) or (H, W, C) in the message's own channel order.

    Honours ``step`` (row padding) and ``is_bigendian``; zero-copy where the layout allows.
    """
    if encoding not in ENCODINGS:
        raise ImageEncodingError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(sorted(ENCODINGS))}"
        )
    channels, dtype = ENCODINGS[encoding]
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f"empty image ({width}x{height})")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageEncodingError(
            f"step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)"
        )
    buffer = (
        np.frombuffer(data, dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else data.view(np.uint8).ravel()
    )
    required = step * (height - 1) + row_bytes  # the last row's padding may be left out
    if buffer.size < required:
        raise ImageEncodingError(
            f"data holds {buffer.size} bytes, {height} rows of step {step} need {required}"
        )
    rows = np.lib.stride_tricks.as_strided(buffer, shape=(height, row_bytes), strides=(step, 1))
    byte_order = ">" if is_bigendian else "<"
    # astype(copy=False) is a no-op when the message's byte order is already native.
    typed = (
        rows.view(np.dtype(dtype).newbyteorder(byte_order)).astype(dtype, copy=False)
        if itemsize > 1
        else rows
    )
    image = typed.reshape(height, width, channels)
    return image[:, :, 0] if channels == 1 else image


def fields_to_bgr8(
    height: int, width: int, encoding: str, is_bigendian: bool, step: int, data
) -> np.ndarray:
    """Decode to an HxWx3 uint8 BGR image, the layout every tracker takes."""
    image = fields_to_array(height, width, encoding, is_bigendian, step, data)
    if encoding in ("bgr8", "8UC3"):
        return np.ascontiguousarray(image)
    if encoding == "rgb8":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    if encoding == "rgba8":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGBA2BGR)
    if encoding == "bgra8":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2BGR)
    if image.dtype == np.uint16:
        return cv2.cvtColor(mono16_to_mono8(image), cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)


def mono16_to_mono8(image: np.ndarray) -> np.ndarray:
    """Map 16-bit mono (mono16, 16UC1) to 8 bits with a fixed mapping: the high byte.

    The whole 0..65535 range maps linearly onto 0..255 (``value >> 8``), the same for every
    frame. A per-frame min-max stretch was used before and was dropped: one bright pixel
    entering the view changed the brightness of every other pixel, which a tracker's appearance
    model reads as the target changing. The cost is contrast for data that does not use the
    full range (a 12-bit sensor's frames come out dark, a depth image in millimetres maps 1 m to
    about 4 grey levels); such sources should be scaled to mono8 by their driver.
    """
    return (image >> 8).astype(np.uint8)


def array_to_fields(image: np.ndarray, encoding: str) -> dict:
    """Encode a NumPy image (already in ``encoding``'s channel order) as Image message fields."""
    if encoding not in ENCODINGS:
        raise ImageEncodingError(f"unsupported encoding {encoding!r}")
    channels, dtype = ENCODINGS[encoding]
    image = np.ascontiguousarray(image, dtype=dtype)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] != channels:
        raise ImageEncodingError(f"array of shape {image.shape} is not {encoding}")
    height, width = image.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": sys.byteorder == "big",
        "step": width * channels * image.dtype.itemsize,
        "data": image.tobytes(),
    }


def bgr8_to_fields(image_bgr: np.ndarray, encoding: str = "rgb8") -> dict:
    """Encode a BGR uint8 image as ``encoding`` (rgb8, bgr8 or mono8) message fields."""
    if encoding == "bgr8":
        return array_to_fields(image_bgr, "bgr8")
    if encoding == "rgb8":
        return array_to_fields(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), "rgb8")
    if encoding == "mono8":
        return array_to_fields(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), "mono8")
    raise ImageEncodingError(f"cannot encode BGR as {encoding!r}; use rgb8, bgr8 or mono8")
