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
"""camera_node: publishes ``image`` and ``camera_info`` from a camera, a video or an image folder.

Parameters (all validated; a bad value, an unknown parameter name or a source that cannot be
opened ends the process with status 2 and a message):

- ``source``: camera index (``0``) or ``/dev/videoN``, a video file (``.gz`` allowed), an image
  folder (OTB-style ``<seq>/img`` included).
- ``rate``: frames per second; 0 = the source's own rate (a video's FPS, a camera's pace,
  30 for image folders).
- ``loop``: restart files and folders at the end (cameras never end). Without it the node logs
  the end of the source and exits with status 0.
- ``encoding``: ``rgb8`` (default) or ``bgr8``; ``frame_id``; ``width``/``height``: resize
  (0 = keep; one of them 0 keeps the aspect ratio).
- ``image_reliability``: ``best_effort`` (sensor-data QoS, default) or ``reliable``.
- ``max_frames``: stop after this many frames (0 = no limit).
- ``wait_for_subscribers``: hold the first frame until ``image`` has this many subscribers
  (so a test or demo does not lose the start of a clip to discovery); ``wait_timeout`` seconds.

``camera_info`` carries the image size and frame id only (no calibration: K and P are zero,
which ROS defines as "uncalibrated").
"""

from __future__ import annotations

import threading
import time
from typing import Optional

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..frame_readers import FrameReaderError, open_frame_reader
from .common import (
    RELIABILITIES,
    ParameterError,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_str,
    declare,
    image_qos,
    refuse_unknown_parameters,
    run_node,
)
from .conversions import bgr8_to_image_msg

FOLDER_DEFAULT_RATE = 30.0
SUBSCRIBER_SETTLE_SECONDS = 0.3


class CameraNode(Node):
    def __init__(self):
        super().__init__("camera_node", automatically_declare_parameters_from_overrides=True)
        p = {
            "source": declare(
                self, "source", "", "camera index, /dev/videoN, video file or image folder"
            ),
            "rate": declare(self, "rate", 0.0, "frames per second; 0 = the source's own rate"),
            "loop": declare(self, "loop", False, "restart files and folders at the end"),
            "encoding": declare(self, "encoding", "rgb8", "rgb8 or bgr8"),
            "frame_id": declare(
                self, "frame_id", "camera", "header.frame_id of image and camera_info"
            ),
            "width": declare(self, "width", 0, "resize to this width (0 = keep)"),
            "height": declare(self, "height", 0, "resize to this height (0 = keep)"),
            "image_reliability": declare(
                self, "image_reliability", "best_effort", "best_effort or reliable"
            ),
            "max_frames": declare(
                self, "max_frames", 0, "stop after this many frames (0 = no limit)"
            ),
            "wait_for_subscribers": declare(
                self,
                "wait_for_subscribers",
                0,
                "hold the first frame until `image` has this many subscribers",
            ),
            "wait_timeout": declare(
                self, "wait_timeout", 20.0, "seconds to wait for those subscribers"
            ),
        }
        refuse_unknown_parameters(self, p)
        self.source = as_str("source", p["source"])
        self.rate = as_float("rate", p["rate"], 0.0, 1000.0)
        self.loop = as_bool("loop", p["loop"])
        self.encoding = as_choice("encoding", p["encoding"], ("rgb8", "bgr8"))
        self.frame_id = as_str("frame_id", p["frame_id"])
        self.width = as_int("width", p["width"], 0, 16384)
        self.height = as_int("height", p["height"], 0, 16384)
        reliability = as_choice("image_reliability", p["image_reliability"], RELIABILITIES)
        self.max_frames = as_int("max_frames", p["max_frames"], 0)
        self.wait_for_subscribers = as_int(
            "wait_for_subscribers", p["wait_for_subscribers"], 0, 100
        )
        self.wait_timeout = as_float("wait_timeout", p["wait_timeout"], 0.0, 3600.0)
        try:
            self.reader = open_frame_reader(self.source)
        except FrameReaderError as exc:
            raise ParameterError(f"camera_node: {exc}") from exc
        if self.rate > 0:
            self.period: Optional[float] = 1.0 / self.rate
        elif self.reader.live:
            self.period = None  # the device paces the frames
        else:
            self.period = 1.0 / (self.reader.fps or FOLDER_DEFAULT_RATE)
        qos = image_qos(reliability, depth=2)
        self.image_pub = self.create_publisher(Image, "image", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
        self.exit_code = 0
        self.published = 0
        self._stop = threading.Event()
        rate_text = "device pace" if self.period is None else f"{1.0 / self.period:.2f} Hz"
        self.get_logger().info(
            f"publishing {self.reader.description} as {self.encoding} at {rate_text} "
            f"(loop={self.loop}, QoS {reliability}) on {self.image_pub.topic_name}"
        )
        # Frames are read and published by one thread so a slow decoder or a blocking camera
        # read never delays the executor (discovery, parameter services).
        self._thread = threading.Thread(target=self._pump, name="camera_pump", daemon=True)
        self._thread.start()

    def _wait_for_subscribers(self) -> None:
        if self.wait_for_subscribers <= 0:
            return
        deadline = time.monotonic() + self.wait_timeout
        while (
            self.image_pub.get_subscription_count() < self.wait_for_subscribers
            and time.monotonic() < deadline
            and not self._stop.is_set()
        ):
            time.sleep(0.02)
        count = self.image_pub.get_subscription_count()
        if count < self.wait_for_subscribers:
            self.get_logger().warning(
                f"only {count} of {self.wait_for_subscribers} subscribers after "
                f"{self.wait_timeout:g} s; "
                "starting anyway"
            )
            return
        # The publisher sees a match slightly before every subscriber has matched back; a
        # short pause keeps the first frame from being lost to that (best-effort) race.
        self._stop.wait(SUBSCRIBER_SETTLE_SECONDS)

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        if not self.width and not self.height:
            return frame
        h, w = frame.shape[:2]
        width = self.width or max(1, round(w * self.height / h))
        height = self.height or max(1, round(h * self.width / w))
        if (width, height) == (w, h):
            return frame
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)

    def _publish(self, frame: np.ndarray) -> None:
        header = Header(frame_id=self.frame_id, stamp=self.get_clock().now().to_msg())
        image = bgr8_to_image_msg(frame, header, self.encoding)
        info = CameraInfo(header=header, height=image.height, width=image.width)
        self.image_pub.publish(image)
        self.info_pub.publish(info)
        self.published += 1

    def _pump(self) -> None:
        try:
            self._wait_for_subscribers()
            next_time = time.monotonic()
            while not self._stop.is_set() and rclpy.ok():
                frame = self.reader.read()
                if frame is None:
                    if self.loop and self.reader.rewind():
                        frame = self.reader.read()
                    if frame is None:
                        self._finish()
                        return
                frame = self._resize(frame)
                if self.period is not None:
                    next_time += self.period
                    delay = next_time - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    elif delay < -1.0:
                        next_time = time.monotonic()  # fell far behind: do not burst to catch up
                if self._stop.is_set():
                    return
                self._publish(frame)
                if self.max_frames and self.published >= self.max_frames:
                    self.get_logger().info(f"published max_frames={self.max_frames}; stopping")
                    self._shutdown(0)
                    return
        except Exception as exc:  # noqa: BLE001 - report any reader failure, then exit non-zero
            if self._stop.is_set() or not rclpy.ok():
                return  # shutting down (Ctrl-C, SIGTERM): the context went away under us
            self.get_logger().error(f"camera source failed: {exc!r}")
            self._shutdown(1)

    def _finish(self) -> None:
        if self.published == 0:
            self.get_logger().error(f"{self.reader.description} delivered no frame")
            self._shutdown(1)
            return
        self.get_logger().info(
            f"source ended after {self.published} frames ({self.reader.description})"
        )
        self._shutdown(0)

    def _shutdown(self, code: int) -> None:
        self.exit_code = code
        # Let the last messages leave before the participant goes away.
        time.sleep(0.2)
        if rclpy.ok():
            rclpy.shutdown()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.reader.close()


def main(args=None) -> int:
    return run_node(CameraNode, args=args)


if __name__ == "__main__":
    raise SystemExit(main())
