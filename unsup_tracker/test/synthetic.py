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
"""Helpers shared by the method tests that train and track on in-memory synthetic clips."""
import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: one thread avoids OpenMP spin-waiting on a shared, loaded CPU.

    Autouse: a test module gets it by importing the name.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class ClipSource:
    """FrameSource over an in-memory clip: windows of consecutive frames, or any one frame."""

    def __init__(self, frames):
        self.frames = frames

    def sample_window(self, length, rng):
        start = int(rng.integers(0, max(1, len(self.frames) - length + 1)))
        return self.frames[start:start + length]

    def sample_image(self, rng):
        return self.frames[int(rng.integers(len(self.frames)))]


def zooming_clip(seed=0, frames=40, size=(200, 150), box=(70.0, 50.0, 44.0, 36.0),
                 zoom=1.5, pan=(1.0, 0.5), blur=1.5):
    """Render a camera zooming (by ``zoom`` over the clip) and panning over a textured scene.

    The target is a distinct textured rectangle (``box`` on the first frame) in a textured
    field; every frame is the same scene warped by ``scale_t`` about the target's (panning)
    centre, so the exact box of every frame is known: centre moves with ``pan`` px a frame,
    width and height grow by ``scale_t`` (geometric from 1 to ``zoom``; ``zoom`` < 1 shrinks).
    The background scales with the target, as it does when a camera zooms or the target
    approaches, so a tracker that keeps the first frame's size scores the IoU of
    :func:`frozen_size_boxes` and one that follows the size does much better.

    Returns ``(frames, boxes)``: a list of (H, W, 3) uint8 images and an (N, 4) float xywh array.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    x, y, w, h = box
    # The scene (canvas) is the first frame's view, with margin so a zoom out has content.
    margin = 2 * max(width, height)
    canvas = (rng.random((height + 2 * margin, width + 2 * margin, 3)) * 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 2.0 * blur)
    target = (rng.random((int(h), int(w), 3)) * 255).astype(np.uint8)
    target = cv2.normalize(cv2.GaussianBlur(target, (0, 0), blur), None, 0, 255, cv2.NORM_MINMAX)
    top, left = margin + int(y), margin + int(x)
    canvas[top:top + int(h), left:left + int(w)] = target
    anchor = np.array([margin + x + w / 2, margin + y + h / 2])   # target centre on the canvas
    images, boxes = [], []
    for t in range(frames):
        scale = zoom ** (t / max(frames - 1, 1))
        centre = np.array([x + w / 2 + pan[0] * t, y + h / 2 + pan[1] * t])
        # frame = scale * (canvas - anchor) + centre
        matrix = np.array([[scale, 0.0, centre[0] - scale * anchor[0]],
                           [0.0, scale, centre[1] - scale * anchor[1]]])
        images.append(cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
        boxes.append((centre[0] - scale * w / 2, centre[1] - scale * h / 2, scale * w, scale * h))
    return images, np.array(boxes, dtype=float)


def frozen_size_boxes(boxes):
    """Return the best boxes of a tracker that never changes size.

    Each frame's true centre with the first frame's width and height: their IoU with ``boxes``
    is the bar a size-tracking tracker must clear.
    """
    boxes = np.asarray(boxes, dtype=float)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    size = np.broadcast_to(boxes[0, 2:], centres.shape)
    return np.concatenate([centres - size / 2, size], axis=1)


def fading_target_clip(seed=0, frames=40, size=(200, 150), box=(50, 40, 40, 32),
                       velocity=(2.0, 1.0)):
    """Render a textured target moving over a static background while its texture changes.

    The texture cross-fades linearly from one random texture (first frame) to another (last
    frame). Returns ``(frames, boxes)`` as :func:`zooming_clip`.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    x, y, w, h = box
    background = cv2.GaussianBlur((rng.random((height, width, 3)) * 255).astype(np.uint8),
                                  (0, 0), 3.0)
    first, second = (cv2.normalize(cv2.GaussianBlur(
        (rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.5), None, 0, 255,
        cv2.NORM_MINMAX) for _ in range(2))
    images, boxes = [], []
    for t in range(frames):
        mix = t / max(frames - 1, 1)
        image = background.copy()
        left, top = int(round(x + velocity[0] * t)), int(round(y + velocity[1] * t))
        image[top:top + h, left:left + w] = cv2.addWeighted(first, 1.0 - mix, second, mix, 0.0)
        images.append(image)
        boxes.append((left, top, w, h))
    return images, np.array(boxes, dtype=float)


#: Frame size and target side of the long-term layer's clips (issue 9).
LONG_TERM_SIZE = (320, 240)
LONG_TERM_TARGET = 40


def _texture(rng, side, blur=1.5):
    patch = (rng.random((side, side, 3)) * 255).astype(np.uint8)
    patch = cv2.GaussianBlur(patch, (0, 0), blur)
    return cv2.normalize(patch, None, 0, 255, cv2.NORM_MINMAX)


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    width, height = LONG_TERM_SIZE
    background = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    background = cv2.GaussianBlur(background, (0, 0), 4.0)
    background = (0.5 * background + 64).astype(np.uint8)  # low-contrast clutter
    return rng, background


def _draw(background, patch, x, y):
    image = background.copy()
    image[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return image


def occlusion_clip(seed=0):
    """Target visible 10 frames, covered by a flat occluder 20 frames, then elsewhere 15."""
    rng, background = _scene(seed)
    target = _texture(rng, LONG_TERM_TARGET)
    frames, boxes = [], []
    for t in range(10):  # visible, moving slowly right
        x, y = 60 + 2 * t, 60 + t
        frames.append(_draw(background, target, x, y))
        boxes.append((x, y, LONG_TERM_TARGET, LONG_TERM_TARGET))
    for t in range(20):  # fully covered (a flat grey block larger than the target)
        image = frames[9].copy()
        image[50:120, 60:150] = 128
        frames.append(image)
        boxes.append((np.nan,) * 4)
    for t in range(15):  # reappears far away, on the other side of the frame
        x, y = 230 - t, 160
        frames.append(_draw(background, target, x, y))
        boxes.append((x, y, LONG_TERM_TARGET, LONG_TERM_TARGET))
    return frames, np.array(boxes, dtype=float)


def distractor_clip(seed=0):
    """Target visible 10 frames, then gone; a look-alike (same kind of texture) appears."""
    rng, background = _scene(seed)
    target = _texture(rng, LONG_TERM_TARGET)
    lookalike = _texture(rng, LONG_TERM_TARGET)
    frames = [_draw(background, target, 60 + 2 * t, 60 + t) for t in range(10)]
    frames += [_draw(background, lookalike, 200 - t, 150) for t in range(30)]
    return frames


def dimming_clip(seed=0, dim=0.97, back=0.3):
    """Target visible 10 frames, dimmed 15 frames (blended ``dim`` into flat grey), then back.

    It moves 1 px a frame throughout (never jumps), so it comes back inside the local search
    window; back, it stays blended ``back`` into grey (changed appearance, as after a lighting
    change). Returns ``(frames, boxes)``; every box is the target's.
    """
    rng, background = _scene(seed)
    target = _texture(rng, LONG_TERM_TARGET).astype(np.float64)
    grey = np.full_like(target, 128.0)
    frames, boxes = [], []
    for t in range(45):
        blend = 0.0 if t < 10 else dim if t < 25 else back
        patch = ((1.0 - blend) * target + blend * grey).astype(np.uint8)
        x, y = 80 + t, 80
        frames.append(_draw(background, patch, x, y))
        boxes.append((x, y, LONG_TERM_TARGET, LONG_TERM_TARGET))
    return frames, np.array(boxes, dtype=float)
