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
r"""Record real footage (a video or an image folder) into a rosbag2 recording, without ROS.

    python -m unsup_tracker_training.make_bag VIDEO_OR_FOLDER OUT --storage mcap \\
        --topic /camera/image_raw --encoding rgb8 --max-frames 300

Writes sensor_msgs/msg/Image (rgb8, bgr8, mono8; fields from the core ``bgr8_to_fields``) or
sensor_msgs/msg/CompressedImage (jpeg, png; ``format`` as image_transport writes it, e.g.
``"bgr8; jpeg compressed bgr8"``), one message per frame, stamped at the video's frame rate
(``--fps`` for image folders, default 30) from ``--start-ns`` (default: now).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from unsup_tracker.image_encoding import bgr8_to_fields

from .sampler import downscale
from .sources import (COMPRESSED_MSG, IMAGE_MSG, IMAGES_AS_CHOICES, DataError, VideoSource,
                      open_sources, ros_typestore)

RAW_ENCODINGS = ("rgb8", "bgr8", "mono8")
COMPRESSED_FORMATS = ("jpeg", "png")
ENCODING_CHOICES = RAW_ENCODINGS + COMPRESSED_FORMATS
STORAGE_CHOICES = ("mcap", "sqlite3")


def message_type(encoding: str) -> str:
    if encoding in RAW_ENCODINGS:
        return IMAGE_MSG
    if encoding in COMPRESSED_FORMATS:
        return COMPRESSED_MSG
    raise ValueError(f"unknown encoding {encoding!r}; choose from {ENCODING_CHOICES}")


def image_message(typestore, frame_bgr: np.ndarray, encoding: str, stamp_ns: int,
                  frame_id: str = "camera", jpeg_quality: int = 90):
    """Build a sensor_msgs Image (raw encodings) or CompressedImage (jpeg, png) of a BGR frame."""
    types = typestore.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 10**9),
                                                   nanosec=int(stamp_ns % 10**9)),
        frame_id=frame_id)
    if message_type(encoding) == IMAGE_MSG:
        fields = bgr8_to_fields(frame_bgr, encoding)
        return types[IMAGE_MSG](
            header=header, height=fields["height"], width=fields["width"],
            encoding=fields["encoding"], is_bigendian=int(fields["is_bigendian"]),
            step=fields["step"], data=np.frombuffer(fields["data"], dtype=np.uint8))
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if encoding == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if encoding == "jpeg" else ".png", frame_bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {frame_bgr.shape} frame as {encoding}")
    return types[COMPRESSED_MSG](header=header, format=f"bgr8; {encoding} compressed bgr8",
                                 data=encoded.reshape(-1))


def write_bag(frames: Iterable[np.ndarray], out: str | Path, storage: str = "mcap",
              topic: str = "/camera/image_raw", encoding: str = "rgb8", fps: float = 30.0,
              frame_id: str = "camera", start_ns: int | None = None,
              jpeg_quality: int = 90) -> int:
    """Write every frame as one message of ``topic``; returns the number written."""
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin
    if storage not in STORAGE_CHOICES:
        raise ValueError(f"storage must be one of {STORAGE_CHOICES}, got {storage!r}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    msgtype = message_type(encoding)
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; rosbag2 recordings are written to a new folder")
    typestore = ros_typestore()
    start_ns = time.time_ns() if start_ns is None else int(start_ns)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    count = 0
    with Writer(out, version=9, storage_plugin=plugin) as writer:
        connection = writer.add_connection(topic, msgtype, typestore=typestore)
        for frame in frames:
            stamp = start_ns + round(count * 1e9 / fps)
            msg = image_message(typestore, frame, encoding, stamp, frame_id, jpeg_quality)
            writer.write(connection, stamp, typestore.serialize_cdr(msg, msgtype))
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unsup_tracker_training.make_bag",
        description="Record a video or image folder into a rosbag2 (sqlite3 or MCAP).")
    parser.add_argument("source", metavar="VIDEO_OR_FOLDER")
    parser.add_argument("out", metavar="OUT", help="bag folder to create")
    parser.add_argument("--storage", choices=STORAGE_CHOICES, default="mcap")
    parser.add_argument("--topic", default="/camera/image_raw")
    parser.add_argument("--encoding", choices=ENCODING_CHOICES, default="rgb8")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--fps", type=float, help="stamp rate (default: the video's, else 30)")
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument("--start-ns", type=int, help="first stamp in ns (default: now)")
    parser.add_argument("--max-side", type=int, default=0,
                        help="shrink frames to this longest side (0: as is)")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--images-as", choices=IMAGES_AS_CHOICES, default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.max_frames is not None and args.max_frames < 1:
        parser.error("--max-frames must be >= 1")
    try:
        sources = open_sources([args.source], images_as=args.images_as)
        fps = args.fps
        if fps is None:
            video_fps = sources[0].fps() if isinstance(sources[0], VideoSource) else None
            fps = video_fps or 30.0

        def frames():
            produced = 0
            for source in sources:
                for _, frame in source.iter_frames():
                    if args.max_frames is not None and produced >= args.max_frames:
                        return
                    produced += 1
                    yield downscale(frame, args.max_side)

        count = write_bag(frames(), args.out, storage=args.storage, topic=args.topic,
                          encoding=args.encoding, fps=fps, frame_id=args.frame_id,
                          start_ns=args.start_ns, jpeg_quality=args.jpeg_quality)
    except (DataError, ValueError, FileExistsError) as exc:
        print(f"make_bag: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} {message_type(args.encoding)} messages ({args.encoding}) on "
          f"{args.topic} to {args.out} ({args.storage})")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
