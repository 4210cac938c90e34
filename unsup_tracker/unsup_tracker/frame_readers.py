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
"""Sequential frame readers for a camera, a video file or an image folder (no ROS import).

``open_frame_reader(source)`` decides by the source string:

- an integer (``"0"``) or ``/dev/videoN``: a V4L2 camera through ``cv2.VideoCapture``;
- a directory: an image sequence, sorted by the numbers in the file names; an OTB-style
  sequence folder (``<seq>/img/0001.jpg``) is accepted as it is;
- any other path: a video file; ``*.gz`` (e.g. opencv-doc's ``box.mp4.gz``) is decompressed once
  into the cache by :func:`unsup_tracker.sample_data.decompress_gz`.

Every reader yields HxWx3 uint8 BGR frames and reports its native rate where it has one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from .sample_data import decompress_gz

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


class FrameReaderError(OSError):
    """The source cannot be opened or holds no frames."""


class FrameReader:
    """Base class: ``read()`` returns the next BGR frame or None at the end."""

    #: True for cameras: no end, no rewind, the device paces the frames.
    live = False

    def __init__(self, description: str):
        self.description = description

    @property
    def fps(self) -> Optional[float]:
        return None

    @property
    def frame_count(self) -> Optional[int]:
        """Return the number of frames when known (files and folders), else None."""
        return None

    def read(self) -> Optional[np.ndarray]:
        raise NotImplementedError

    def rewind(self) -> bool:
        """Start again from the first frame; False when the source cannot."""
        return False

    def close(self) -> None:
        pass


class _CaptureReader(FrameReader):
    def __init__(self, target, description: str, live: bool):
        super().__init__(description)
        self.live = live
        self._target = target
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise FrameReaderError(f"cannot open {description}")

    @property
    def fps(self) -> Optional[float]:
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        return float(fps) if fps and 0.5 < fps < 1000 else None

    @property
    def frame_count(self) -> Optional[int]:
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return None if self.live or count <= 0 else count

    def read(self) -> Optional[np.ndarray]:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame

    def rewind(self) -> bool:
        if self.live:
            return False
        # Re-opening is more reliable than seeking to frame 0 across codecs.
        self._capture.release()
        self._capture = cv2.VideoCapture(self._target)
        return self._capture.isOpened()

    def close(self) -> None:
        self._capture.release()


class ImageFolderReader(FrameReader):
    def __init__(self, folder: Path):
        if (folder / "img").is_dir():
            folder = folder / "img"
        self.paths = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: natural_key(p.name),
        )
        if not self.paths:
            raise FrameReaderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        super().__init__(f"image folder {folder} ({len(self.paths)} images)")
        self._index = 0
        #: Files that could not be decoded (skipped).
        self.unreadable: list[Path] = []

    @property
    def frame_count(self) -> Optional[int]:
        return len(self.paths)

    def read(self) -> Optional[np.ndarray]:
        while self._index < len(self.paths):
            path = self.paths[self._index]
            self._index += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
            self.unreadable.append(path)
        return None

    def rewind(self) -> bool:
        self._index = 0
        return True


def natural_key(name: str) -> list:
    """Sort key ordering ``img2`` before ``img10`` (numbers compared as numbers, case ignored)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part]


def open_frame_reader(source: str) -> FrameReader:
    """Open a camera index or ``/dev/videoN``, an image folder or a video file (``.gz`` too)."""
    source = str(source).strip()
    if not source:
        raise FrameReaderError(
            "no source given (a camera index, /dev/videoN, a video file or a folder)"
        )
    if re.fullmatch(r"\d+", source):
        return _CaptureReader(int(source), f"camera {source}", live=True)
    if source.startswith("/dev/video"):
        if not Path(source).exists():
            raise FrameReaderError(f"camera device {source} does not exist")
        return _CaptureReader(source, f"camera {source}", live=True)
    path = Path(source).expanduser()
    if not path.exists():
        raise FrameReaderError(f"source {path} does not exist")
    if path.is_dir():
        return ImageFolderReader(path)
    if path.suffix == ".gz":
        try:
            path = decompress_gz(path)
        except OSError as exc:  # DecompressionError is one
            raise FrameReaderError(f"cannot decompress {source}: {exc}") from exc
    return _CaptureReader(str(path), f"video {path}", live=False)
