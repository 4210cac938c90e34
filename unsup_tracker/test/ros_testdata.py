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
"""A clip of known motion for the ROS node tests: a textured patch gliding over a textured field.

Written as an OTB-style folder (``<clip>/img/0001.png``, lossless) so camera_node's folder
source (and its ``img/`` handling) is what plays it.
"""
from pathlib import Path

import cv2
import numpy as np

FRAMES = 60
SIZE = (320, 240)  # width, height
START_BOX = (60.0, 50.0, 48.0, 40.0)  # x, y, w, h on the first frame
VELOCITY = (3.0, 2.0)  # px per frame


def truth(index: int) -> np.ndarray:
    """Return the patch's exact xywh box on frame ``index`` (0-based)."""
    x, y, w, h = START_BOX
    return np.array([x + VELOCITY[0] * index, y + VELOCITY[1] * index, w, h])


def texture(rng: np.random.Generator, height: int, width: int, blur: float) -> np.ndarray:
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), blur)


def write_clip(folder: Path, seed: int = 7) -> Path:
    """Write the clip's frames into ``folder/img`` and return ``folder``."""
    rng = np.random.default_rng(seed)
    background = texture(rng, SIZE[1], SIZE[0], 3.0)
    patch = cv2.normalize(texture(rng, int(START_BOX[3]), int(START_BOX[2]), 1.5), None, 0, 255,
                          cv2.NORM_MINMAX)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for index in range(FRAMES):
        frame = background.copy()
        x, y, w, h = (int(v) for v in truth(index))
        frame[y:y + h, x:x + w] = patch
        assert cv2.imwrite(str(folder / "img" / f"{index + 1:04d}.png"), frame)
    return folder
