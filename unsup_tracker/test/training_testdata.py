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
"""Tiny real media files for the training-module tests (written with OpenCV and rosbags).

Every frame carries two marks that survive JPEG compression: the mean of its top-left block
encodes the frame index and the block below it the source id, so a test can tell which frame
of which source the sampler handed out.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HEIGHT, WIDTH = 48, 64
BLOCK = 16
INDEX_STEP = 10


def marked_frame(index: int, source_id: int) -> np.ndarray:
    """Make a BGR frame: textured background, a moving square, and the two marks."""
    rng = np.random.default_rng(1000 * source_id + index)
    frame = (rng.integers(60, 120, size=(HEIGHT, WIDTH, 3))).astype(np.uint8)
    frame = cv2.GaussianBlur(frame, (5, 5), 0)
    x = 20 + 2 * index % (WIDTH - 30)
    frame[18:30, x:x + 10] = (30, 200, 240)
    frame[:BLOCK, :BLOCK] = 20 + INDEX_STEP * index
    frame[BLOCK:2 * BLOCK, :BLOCK] = 40 + 60 * source_id
    return frame


def frame_marks(frame: np.ndarray) -> tuple[int, int]:
    """(index, source_id) read back from a (possibly compressed) marked frame."""
    gray = frame if frame.ndim == 2 else frame.mean(axis=2)
    index_block = gray[2:BLOCK - 2, 2:BLOCK - 2].mean()
    source_block = gray[BLOCK + 2:2 * BLOCK - 2, 2:BLOCK - 2].mean()
    return round((index_block - 20) / INDEX_STEP), round((source_block - 40) / 60)


def write_video(path: Path, count: int, source_id: int, fps: float = 10.0) -> list[np.ndarray]:
    frames = [marked_frame(i, source_id) for i in range(count)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return frames


def write_images(folder: Path, names: list[str], source_id: int) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    frames = [marked_frame(i, source_id) for i in range(len(names))]
    for name, frame in zip(names, frames):
        assert cv2.imwrite(str(folder / name), frame)
    return frames


def write_panning_video(path: Path, count: int, size: tuple[int, int] = (160, 120),
                        seed: int = 3) -> None:
    """Write a camera panning over blocky noise: texture to propose and track on."""
    width, height = size
    rng = np.random.default_rng(seed)
    cells = cv2.GaussianBlur((rng.random((height // 4, width // 3, 3)) * 255).astype(np.uint8),
                             (0, 0), 1)
    canvas = cv2.resize(cells, (width + 2 * count, height + count),
                        interpolation=cv2.INTER_NEAREST)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for i in range(count):
        writer.write(np.ascontiguousarray(canvas[i // 2:i // 2 + height, 2 * i:2 * i + width]))
    writer.release()
