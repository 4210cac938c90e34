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
"""A clip of known motion for the ROS node tests: a textured patch in a textured scene, zooming.

The camera pans (the patch moves ``VELOCITY`` px a frame) and zooms out (the patch shrinks to
``ZOOM`` of its first size over the clip), rendered by :func:`synthetic.zooming_clip`, so a box
that keeps its first size fails the tests' IoU checks. Written as an OTB-style folder
(``<clip>/img/0001.png``, lossless) so camera_node's folder source (and its ``img/`` handling)
is what plays it.
"""
import functools
import time
from pathlib import Path

import cv2
import numpy as np
from synthetic import zooming_clip

FRAMES = 60
SIZE = (320, 240)  # width, height
START_BOX = (60.0, 50.0, 48.0, 40.0)  # x, y, w, h on the first frame
VELOCITY = (3.0, 2.0)  # px per frame
#: Side of the patch on the last frame relative to the first: -0.37 % a frame, within what the
#: UDT scale search follows (at most ~0.44 % a frame with its defaults, see test_udt.py).
ZOOM = 0.8


@functools.lru_cache(maxsize=2)
def _clip(seed: int = 7):
    return zooming_clip(seed=seed, frames=FRAMES, size=SIZE, box=START_BOX, zoom=ZOOM,
                        pan=VELOCITY)


def truth(index: int) -> np.ndarray:
    """Return the patch's exact xywh box on frame ``index`` (0-based)."""
    return _clip()[1][index].copy()


def texture(rng: np.random.Generator, height: int, width: int, blur: float) -> np.ndarray:
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), blur)


def write_clip(folder: Path, seed: int = 7) -> Path:
    """Write the clip's frames into ``folder/img`` and return ``folder``."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(_clip(seed)[0]):
        assert cv2.imwrite(str(folder / "img" / f"{index + 1:04d}.png"), frame)
    return folder


def wait_until(condition, timeout, what, processes=()):
    """Poll ``condition`` for ``timeout`` s; fail early with its log when a process died.

    ``processes``: the watched NodeProcess, or several.
    """
    watched = [processes] if hasattr(processes, "alive") else list(processes or ())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for process in watched:
            assert process.alive, f"{process.command[0]} died:\n{process.log_tail(30)}"
        time.sleep(0.02)
    assert condition(), f"timed out after {timeout} s waiting for {what}"


def call_service(node, srv_type, name, request, timeout=20.0):
    """Call service ``name`` from ``node`` (spun by another thread) and return the response."""
    client = node.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), f"no answer from {name} within {timeout} s"
        return future.result()
    finally:
        node.destroy_client(client)
