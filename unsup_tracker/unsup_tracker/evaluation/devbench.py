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
"""Development benchmark: OTB-layout sequences with exact ground truth, built from real footage.

Every frame is real imagery composited with known geometry, so boxes and masks are exact:

* background: a window panning and zooming over a real photo (camera motion); no video is used
  (see Sources);
* target: an object cut out of a real photo with an irregular mask (GrabCut inside a hand-picked
  rectangle; a random smooth blob for photos where GrabCut cannot separate the object), moved
  along a smooth random path with scale change and rotation as the sequence's attributes ask;
* challenges per sequence (``meta.json`` lists them): illumination change (global and on the
  target), motion blur (line kernel along the target's velocity), fast motion, partial and full
  occlusion (occluders are blobs cut from other photos, drawn over the target), a look-alike
  distractor (a second copy of the target, identical or hue-shifted, circling nearby, drawn
  behind the target), and out-of-view spells (the target leaves the frame and comes back).

Ground-truth decisions:

* ``groundtruth_rect.txt`` is in OTB's 1-based convention (read it with
  :func:`.dataset.read_groundtruth`); boxes are integer pixel bounds.
* The box is the bounding box of the target's *full* (amodal) mask inside the frame: partial
  occlusion does not shrink it (as annotators box the whole object), leaving the frame clips it.
* ``masks/NNNN.png`` holds the *visible* target pixels (255): occluded pixels are excluded, so
  a segmenting tracker is scored against what it can see. Where the target is fully visible,
  the box is exactly the bounding box of the mask.
* Under motion blur the ground truth is the sharp object at mid-exposure.
* A frame is *absent* (``0,0,0,0``, empty mask, not scored) when less than
  :data:`ABSENT_VISIBILITY` of the target's pixels are visible (fully occluded or out of view).
* Frame 1 always shows the whole target, unoccluded (trackers initialise there).

Rendering: the camera window, smooth random paths, sprites and blob masks are the project's one
renderer, :mod:`unsup_tracker.render`, shared with the training module's unlabeled synthetic clips
(which never see this module's boxes or masks).

Determinism: sequence ``i`` depends only on ``(seed, i)`` and the generation options, and
OpenCV's RNG is reseeded before GrabCut, so the same seed gives byte-identical files on the same
OpenCV build.

Sources (located with :mod:`unsup_tracker.sample_data`), none of them used by any training
command: the benchmark's footage and training footage are disjoint, and the training module
enforces it.

* Debian ``opencv-doc`` photos: the targets (:data:`TARGET_PHOTOS`), the occluders
  (:data:`OCCLUDER_PHOTOS`) and four backgrounds (:data:`BACKGROUND_PHOTOS`). The shipped
  checkpoints train on opencv-doc's *videos* and on its other photos, never on these.
* Debian ``lomiri-wallpapers-16.04``: eight real photographs as backgrounds
  (:data:`WALLPAPER_BACKGROUNDS`; CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0; authors in the package's
  copyright file). No training command uses this package. Large photos are shrunk (area
  interpolation) so the widest camera window is at most :data:`MAX_BACKGROUND_SCALE` frame
  widths.

The benchmark used opencv-doc's five videos as backgrounds up to generator version 1; they are
the shipped checkpoints' training footage, so version 2 replaced them with the wallpapers (a
photo background has no motion of its own: the camera's pan and zoom is all the background
motion). :func:`source_files` lists every file the benchmark reads, and
:class:`SourceIndex` recognises them (by path, or by name and size, or by content for a renamed
copy); the training module refuses them as ``--data``. The benchmark never reads ``real_dev``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

import cv2
import numpy as np

from .. import sample_data
from ..render import (Sprite, blob_mask, camera_matrix, camera_path, composite, fit_background,
                      paste_mask, place, smooth_path, smoothstep)
from .dataset import LIST_FILE, write_otb_boxes

GENERATOR_VERSION = 2
ABSENT_VISIBILITY = 0.1
DEFAULT_NUM_SEQUENCES = 12
DEFAULT_NUM_FRAMES = 150
DEFAULT_FRAME_SIZE = (640, 480)
JPEG_QUALITY = 90
INDEX_FILE = "devbench.json"


@dataclasses.dataclass(frozen=True)
class TargetPhoto:
    """An object in an opencv-doc photo: ``rect`` (x, y, w, h) encloses it."""

    photo: str
    rect: tuple[int, int, int, int]
    #: "grabcut": segment inside rect; "blob": smooth random blob filling rect.
    cut: str = "grabcut"


TARGET_PHOTOS = (
    TargetPhoto("apple.jpg", (50, 10, 450, 495)),
    TargetPhoto("orange.jpg", (15, 15, 470, 460)),
    TargetPhoto("HappyFish.jpg", (28, 8, 231, 186)),
    TargetPhoto("butterfly.jpg", (5, 5, 483, 260)),
    TargetPhoto("squirrel_cls.jpg", (110, 70, 210, 290)),
    TargetPhoto("messi5.jpg", (150, 15, 250, 300)),
    TargetPhoto("ml.png", (25, 5, 270, 370)),
    TargetPhoto("rubberwhale1.png", (205, 80, 125, 110)),
    TargetPhoto("WindowsLogo.jpg", (55, 25, 225, 200)),
    TargetPhoto("left.jpg", (30, 110, 250, 320)),
    TargetPhoto("chicky_512.png", (150, 40, 280, 400), cut="blob"),
    TargetPhoto("baboon.jpg", (110, 30, 300, 460), cut="blob"),
)
OCCLUDER_PHOTOS = ("starry_night.jpg", "graf1.png", "board.jpg", "aloeL.jpg", "fruits.jpg",
                   "basketball1.png")
#: Background photos from opencv-doc (``examples/data``).
BACKGROUND_PHOTOS = ("building.jpg", "leuvenA.jpg", "aero3.jpg", "home.jpg")
#: Background photos from :data:`unsup_tracker.sample_data.WALLPAPER_PACKAGE`.
WALLPAPER_BACKGROUNDS = (
    "life_by_Aitzol_Berasategi.jpg", "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg",
    "aitzgorri_by_Aitzol_Berasategi.jpg", "Dragonfly_by_Bolly.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg",
    "friends_by_Aitzol_Berasategi.jpg",
)
#: Background photos are shrunk until the widest camera window spans at most this many frame
#: widths of source pixels (the wallpapers are 2-5k px wide; warping does not low-pass).
MAX_BACKGROUND_SCALE = 1.5

#: Our attribute names and the OTB attribute codes they correspond to.
OTB_CODES = {
    "camera_motion": "CM", "scale_variation": "SV", "rotation": "IPR", "illumination": "IV",
    "motion_blur": "MB", "fast_motion": "FM", "partial_occlusion": "OCC",
    "full_occlusion": "OCC", "distractor": "BC", "out_of_view": "OV",
}

#: One template per sequence index (cycled): background source and challenges.
TEMPLATES = (
    ("life_by_Aitzol_Berasategi.jpg", ("scale_variation", "distractor")),
    ("Picture_1A_by_freespace.jpg", ("rotation", "motion_blur", "fast_motion")),
    ("Wine_by_Jakkub_Mede.jpg", ("partial_occlusion", "illumination")),
    ("aitzgorri_by_Aitzol_Berasategi.jpg", ("full_occlusion", "scale_variation")),
    ("building.jpg", ("out_of_view", "rotation")),
    ("Dragonfly_by_Bolly.jpg", ("illumination", "distractor", "motion_blur")),
    ("leuvenA.jpg", ("partial_occlusion", "full_occlusion", "scale_variation")),
    ("picosdeeuropa_by_Aitzol_Berasategi.jpg", ("out_of_view", "distractor", "fast_motion")),
    ("aero3.jpg", ("fast_motion", "motion_blur", "rotation", "illumination")),
    ("seeding_by_Clements_Engelhardt.jpg", ("distractor", "partial_occlusion", "scale_variation")),
    ("home.jpg", ("out_of_view", "full_occlusion", "rotation")),
    ("friends_by_Aitzol_Berasategi.jpg", ("distractor", "partial_occlusion", "illumination",
                                          "motion_blur", "out_of_view", "scale_variation")),
)


class FootageMissingError(FileNotFoundError):
    """The footage the benchmark is built from (opencv-doc, the wallpapers) is not installed."""


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
    name: str
    #: Seed material of this sequence's random generator.
    seed: tuple[int, ...]
    background: str
    target: TargetPhoto
    attributes: tuple[str, ...]
    num_frames: int = DEFAULT_NUM_FRAMES
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE


def make_specs(seed: int = 0, num_sequences: int = DEFAULT_NUM_SEQUENCES,
               num_frames: int = DEFAULT_NUM_FRAMES,
               frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> list[SequenceSpec]:
    """Return the sequences of the benchmark: templates cycled, targets shuffled by ``seed``."""
    if num_sequences < 1:
        raise ValueError("num_sequences must be >= 1")
    if num_frames < 20:
        raise ValueError("num_frames must be >= 20 (room for the challenges)")
    if min(frame_size) < 96:
        raise ValueError("frame_size must be at least 96x96")
    order = np.random.default_rng([seed, 7919]).permutation(len(TARGET_PHOTOS))
    specs = []
    for index in range(num_sequences):
        background, attributes = TEMPLATES[index % len(TEMPLATES)]
        target = TARGET_PHOTOS[order[index % len(order)]]
        # "life_by_Aitzol_Berasategi.jpg" -> "life": the author stays in meta.json.
        short = Path(background).stem.split("_by_")[0].lower()
        name = (f"dev{index + 1:02d}_{short}"
                f"_{Path(target.photo).stem.lower()}")
        specs.append(SequenceSpec(name=name, seed=(seed, index), background=background,
                                  target=target, attributes=("camera_motion",) + attributes,
                                  num_frames=num_frames, frame_size=tuple(frame_size)))
    return specs


# ----------------------------------------------------------------------------- sources

def opencv_doc_photo_names() -> tuple[str, ...]:
    """Names of the opencv-doc photos the benchmark reads (targets, occluders, backgrounds)."""
    return tuple(dict.fromkeys([t.photo for t in TARGET_PHOTOS] + list(OCCLUDER_PHOTOS)
                               + list(BACKGROUND_PHOTOS)))


def source_path(name: str) -> Path:
    """Return the file the benchmark reads for the photo ``name`` (one of the lists above).

    Raises ValueError for a name that is not a benchmark source, FootageMissingError when the
    package holding it is not installed.
    """
    try:
        if name in WALLPAPER_BACKGROUNDS:
            return sample_data.find_wallpaper(name)
        if name in opencv_doc_photo_names():
            path = sample_data.opencv_doc_dir() / "examples" / "data" / name
            if not path.is_file():
                raise FileNotFoundError(f"opencv-doc photo {path} is missing")
            return path
    except FileNotFoundError as exc:
        raise FootageMissingError(str(exc)) from exc
    raise ValueError(f"{name!r} is not a development-benchmark source (TARGET_PHOTOS, "
                     "OCCLUDER_PHOTOS, BACKGROUND_PHOTOS, WALLPAPER_BACKGROUNDS)")


def source_files(missing_ok: bool = False) -> list[Path]:
    """Every file the benchmark reads (targets, occluders, backgrounds), in a fixed order.

    Raises FootageMissingError when one is not installed, unless ``missing_ok`` (then only the
    present files are listed).
    """
    files = []
    for name in opencv_doc_photo_names() + WALLPAPER_BACKGROUNDS:
        try:
            files.append(source_path(name))
        except FootageMissingError:
            if not missing_ok:
                raise
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SourceIndex:
    """Recognises the benchmark's source files, also when copied or renamed.

    A file matches a source when it resolves to the same path, or has the same size and either
    the same name (a copy) or the same sha256 (a renamed copy; hashed only on a size match, so
    checking many files stays cheap). Built from the sources installed here
    (``source_files(missing_ok=True)``) unless ``files`` is given.
    """

    def __init__(self, files: Optional[list[Path]] = None):
        files = source_files(missing_ok=True) if files is None else [Path(f) for f in files]
        self._by_path = {f.resolve(): f for f in files}
        self._by_size: dict[int, list[Path]] = {}
        for f in files:
            self._by_size.setdefault(f.stat().st_size, []).append(f)
        self._hashes: dict[Path, str] = {}

    def match(self, path: str | Path) -> Optional[Path]:
        """Return the benchmark source ``path`` is (a copy of), or None."""
        path = Path(path)
        resolved = path.resolve()
        if resolved in self._by_path:
            return self._by_path[resolved]
        try:
            size = path.stat().st_size
        except OSError:
            return None
        candidates = self._by_size.get(size, [])
        for source in candidates:
            if source.name == path.name:
                return source
        if candidates:
            digest = _sha256(path)
            for source in candidates:
                if source not in self._hashes:
                    self._hashes[source] = _sha256(source)
                if self._hashes[source] == digest:
                    return source
        return None


class Footage:
    """The benchmark's photos, loaded once per generation run."""

    def __init__(self):
        source_files()  # fails now, not after half the sequences, when a package is missing
        self._photos: dict[str, np.ndarray] = {}
        self._backgrounds: dict[tuple[str, tuple[int, int]], np.ndarray] = {}
        self._cutouts: dict[TargetPhoto, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def _read(name: str) -> np.ndarray:
        path = source_path(name)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FootageMissingError(f"cannot read photo {path}")
        return image

    def photo(self, name: str) -> np.ndarray:
        """Return a target or occluder image at full size."""
        if name not in self._photos:
            self._photos[name] = self._read(name)
        return self._photos[name]

    def background(self, name: str, frame_size: tuple[int, int]) -> np.ndarray:
        """Return a background, shrunk per :data:`MAX_BACKGROUND_SCALE` for ``frame_size``."""
        key = (name, tuple(frame_size))
        if key not in self._backgrounds:
            self._backgrounds[key] = fit_background(self._read(name), frame_size,
                                                    MAX_BACKGROUND_SCALE)
        return self._backgrounds[key]

    def cutout(self, target: TargetPhoto) -> tuple[np.ndarray, np.ndarray]:
        """(BGR patch, uint8 mask 0/255) of the target, cropped to the mask's bounding box."""
        if target not in self._cutouts:
            image = self.photo(target.photo)
            x, y, w, h = target.rect
            patch = image[y:y + h, x:x + w]
            mask = _grabcut_mask(patch) if target.cut == "grabcut" else None
            if mask is None:
                mask = blob_mask(np.random.default_rng(list(target.photo.encode())), h, w, 0.35)
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            self._cutouts[target] = (patch[crop].copy(), mask[crop].copy())
        return self._cutouts[target]


def _grabcut_mask(patch: np.ndarray) -> Optional[np.ndarray]:
    """Foreground of ``patch`` (its border is background), holes filled; None if implausible."""
    h, w = patch.shape[:2]
    scale = min(1.0, 200.0 / max(h, w))
    small = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    mask = np.zeros((sh, sw), np.uint8)
    rect = (2, 2, sw - 4, sh - 4)
    # grabCut seeds its k-means from OpenCV's global RNG; reseeding keeps the cut reproducible.
    cv2.setRNGSeed(12345)
    cv2.grabCut(small, mask, rect, np.zeros((1, 65)), np.zeros((1, 65)), 5, cv2.GC_INIT_WITH_RECT)
    foreground = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    component = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(component)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    fraction = filled.mean()
    if not 0.15 <= fraction <= 0.95:
        return None
    full = cv2.resize(filled * 255, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.where(full >= 128, 255, 0).astype(np.uint8)


# ----------------------------------------------------------------------------- rendering
# (the shared pieces live in unsup_tracker.render)

def _hue_shifted(patch: np.ndarray, shift: int, gain: float) -> np.ndarray:
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
    hsv[..., 2] = np.clip(hsv[..., 2].astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


# ----------------------------------------------------------------------------- one sequence

@dataclasses.dataclass
class _TargetPlan:
    """Per-frame geometry and photometry of the target (arrays of length n)."""

    long_side: float  # px at scale 1
    scale: np.ndarray
    angle: np.ndarray  # degrees
    center: np.ndarray  # (n, 2) frame pixels
    global_gain: np.ndarray
    target_gain: np.ndarray
    exposure: float  # motion-blur length per px/frame of speed; 0 = no blur

    @property
    def size_px(self) -> np.ndarray:
        return self.long_side * self.scale

    @property
    def velocity(self) -> np.ndarray:
        return np.gradient(self.center, axis=0)


def _plan_target(rng: np.random.Generator, attrs: set, n: int, frame_size: tuple[int, int]
                 ) -> _TargetPlan:
    out_w, out_h = frame_size
    unit = out_w / 640.0  # sizes and speeds are tuned for 640-px-wide frames
    long_side = rng.uniform(56, 100) * unit
    if "scale_variation" in attrs:
        scale = smooth_path(rng, n, 0.55, 1.7, 35, first=1.0)[:, 0]
    else:
        scale = smooth_path(rng, n, 0.92, 1.08, 60, first=1.0)[:, 0]
    if "rotation" in attrs:
        angle = smooth_path(rng, n, -75, 75, 30, first=0.0)[:, 0]
    else:
        angle = smooth_path(rng, n, -4, 4, 60, first=0.0)[:, 0]
    # The margin keeps the whole target (any rotation) inside the frame, frame 1 included.
    margin = 0.72 * long_side * scale.max() + 4
    margin_x, margin_y = min(margin, 0.45 * out_w), min(margin, 0.45 * out_h)
    start = (out_w * (0.5 + rng.uniform(-0.1, 0.1)), out_h * (0.5 + rng.uniform(-0.1, 0.1)))
    center = smooth_path(rng, n, (margin_x, margin_y), (out_w - margin_x, out_h - margin_y),
                         11 if "fast_motion" in attrs else 40, first=start)
    if "out_of_view" in attrs:
        plateau = max(3, int(rng.uniform(0.08, 0.15) * n))
        ramp = max(3, int(0.07 * n))
        leave = int(rng.uniform(0.3, 0.55) * n)
        t = np.arange(n, dtype=np.float64)
        weight = (smoothstep((t - leave) / ramp)
                  * smoothstep((leave + 2 * ramp + plateau - t) / ramp))
        middle = min(n - 1, leave + ramp + plateau // 2)
        exit_point = _exit_point(center[middle], out_w, out_h,
                                 0.75 * long_side * scale.max() + 10)
        center = center * (1 - weight[:, None]) + exit_point[None, :] * weight[:, None]
    if "illumination" in attrs:
        global_gain = smooth_path(rng, n, 0.45, 1.35, 25, first=1.0)[:, 0]
        target_gain = smooth_path(rng, n, 0.6, 1.4, 30, first=1.0)[:, 0]
    else:
        global_gain = np.ones(n)
        target_gain = np.ones(n)
    exposure = rng.uniform(0.8, 1.1) if "motion_blur" in attrs else 0.0
    return _TargetPlan(long_side, scale, angle, center, global_gain, target_gain, exposure)


def _make_distractor(rng: np.random.Generator, plan: _TargetPlan, patch: np.ndarray,
                     mask: np.ndarray, n: int) -> dict:
    """Make a copy of the target (identical or hue-shifted) circling it, drawn behind it."""
    exact_copy = bool(rng.random() < 0.5)
    if exact_copy:
        look = patch
    else:
        shift = int(rng.choice([-1, 1]) * rng.integers(6, 14))
        look = _hue_shifted(patch, shift, float(rng.uniform(0.8, 1.2)))
    radius = smooth_path(rng, n, 0.7, 2.4, 35, first=2.2)[:, 0]  # in target sizes
    phase = smooth_path(rng, n, -2 * np.pi, 2 * np.pi, 45)[:, 0]
    sprite = Sprite.from_cutout(look, mask, plan.long_side * plan.scale.max() * 1.3)
    relative_scale = float(rng.uniform(0.85, 1.15))
    offset = np.stack([np.cos(phase), np.sin(phase)], 1) * (radius * plan.size_px)[:, None]
    return {
        "sprite": sprite,
        "center": plan.center + offset,
        "scale": plan.scale * relative_scale * plan.long_side / sprite.long_side,
        "angle": smooth_path(rng, n, -30, 30, 40)[:, 0],
        "meta": {"kind": "identical copy" if exact_copy else "hue-shifted copy",
                 "relative_scale": round(relative_scale, 3)},
    }


def render_sequence(spec: SequenceSpec, out_dir: str | Path, footage: Footage) -> dict:
    """Write ``out_dir/<spec.name>/`` (img/, masks/, groundtruth_rect.txt, meta.json)."""
    unknown = sorted(set(spec.attributes) - set(OTB_CODES))
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; known: {sorted(OTB_CODES)}")
    rng = np.random.default_rng(list(spec.seed))
    attrs = set(spec.attributes)
    n = spec.num_frames
    out_w, out_h = spec.frame_size
    plan = _plan_target(rng, attrs, n, spec.frame_size)
    velocity = plan.velocity
    speed = np.linalg.norm(velocity, axis=1)

    patch, mask = footage.cutout(spec.target)
    target_sprite = Sprite.from_cutout(patch, mask, plan.long_side * plan.scale.max() * 1.1)
    sprite_scale = plan.long_side / target_sprite.long_side  # sprite px -> frame px at scale 1
    distractor = _make_distractor(rng, plan, patch, mask, n) if "distractor" in attrs else None
    events = []
    if "partial_occlusion" in attrs:
        events += ["partial"] * int(rng.integers(1, 3))
    if "full_occlusion" in attrs:
        events.append("full")
    occluders = [_make_occluder(kind, rng, footage, plan.center, plan.size_px, n, out_w / 640.0)
                 for kind in events]
    background = footage.background(spec.background, spec.frame_size)
    cam_center, window_w = camera_path(rng, background, n, spec.frame_size)

    seq_dir = Path(out_dir) / spec.name
    (seq_dir / "img").mkdir(parents=True, exist_ok=True)
    (seq_dir / "masks").mkdir(parents=True, exist_ok=True)
    boxes = np.full((n, 4), np.nan)
    visibility, occlusion, in_view, blur_px = (np.zeros(n) for _ in range(4))
    for index in range(n):
        matrix = camera_matrix(cam_center[index], window_w[index], (out_w, out_h))
        canvas = cv2.warpAffine(background, matrix, (out_w, out_h),
                                flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        if distractor is not None:
            composite(canvas, place(distractor["sprite"], distractor["center"][index],
                                    distractor["scale"][index], distractor["angle"][index]))
        blur = None
        if plan.exposure > 0:
            length = plan.exposure * speed[index]
            blur = (length, math.atan2(velocity[index, 1], velocity[index, 0]))
            blur_px[index] = length if length >= 2.0 else 0.0
        target = place(target_sprite, plan.center[index], plan.scale[index] * sprite_scale,
                       plan.angle[index], gain=float(plan.target_gain[index]), blur=blur)
        composite(canvas, target)
        occluded = np.zeros((out_h, out_w), bool)
        for occluder in occluders:
            placed = place(occluder["sprite"], occluder["path"][index], 1.0,
                           occluder["angle"][index])
            composite(canvas, placed)
            paste_mask(occluded, placed, placed.alpha > 0.5)
        if plan.global_gain[index] != 1.0:
            canvas *= plan.global_gain[index]
        frame = cv2.convertScaleAbs(canvas)

        amodal = np.zeros((out_h, out_w), bool)
        paste_mask(amodal, target, target.sharp_mask)
        visible = amodal & ~occluded
        full_area = max(1, int(np.count_nonzero(target.sharp_mask)))
        in_frame = int(np.count_nonzero(amodal))
        num_visible = int(np.count_nonzero(visible))
        visibility[index] = num_visible / full_area
        in_view[index] = in_frame / full_area
        occlusion[index] = 1.0 - num_visible / in_frame if in_frame else 0.0
        if visibility[index] >= ABSENT_VISIBILITY:
            rows, cols = np.flatnonzero(amodal.any(1)), np.flatnonzero(amodal.any(0))
            boxes[index] = (cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0])
        else:
            visible[:] = False
        stem = f"{index + 1:04d}"
        cv2.imwrite(str(seq_dir / "img" / f"{stem}.jpg"), frame,
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        cv2.imwrite(str(seq_dir / "masks" / f"{stem}.png"), visible.astype(np.uint8) * 255)
    if visibility[0] < 0.999:
        raise RuntimeError(f"{spec.name}: target not fully visible in frame 1 (generator bug)")
    write_otb_boxes(seq_dir / "groundtruth_rect.txt", boxes, decimals=0)

    absent = ~np.all(np.isfinite(boxes), axis=1)
    meta = {
        "name": spec.name,
        "generator": "unsup_tracker.evaluation.devbench",
        "generator_version": GENERATOR_VERSION,
        "seed": list(spec.seed),
        "frame_size": [out_w, out_h],
        "num_frames": n,
        "attributes": list(spec.attributes),
        "otb_attributes": sorted({OTB_CODES[a] for a in spec.attributes}),
        "background": {"kind": "photo", "file": spec.background,
                       "package": ("opencv-doc" if spec.background in BACKGROUND_PHOTOS
                                   else sample_data.WALLPAPER_PACKAGE),
                       "size_used": [background.shape[1], background.shape[0]]},
        "target": {"photo": spec.target.photo, "rect_xywh": list(spec.target.rect),
                   "cut": spec.target.cut, "long_side_px": round(float(plan.long_side), 1),
                   "scale_range": [round(float(plan.scale.min()), 3),
                                   round(float(plan.scale.max()), 3)],
                   "angle_range_deg": [round(float(plan.angle.min()), 1),
                                       round(float(plan.angle.max()), 1)],
                   "max_speed_px": round(float(speed.max()), 1)},
        "distractor": distractor["meta"] if distractor else None,
        "occluders": [o["meta"] for o in occluders],
        "ground_truth": ("groundtruth_rect.txt: 1-based OTB x,y,w,h of the full target inside "
                         "the frame; masks/: visible target pixels; 0,0,0,0 and an empty mask "
                         f"where visibility < {ABSENT_VISIBILITY}"),
        "num_absent": int(absent.sum()),
        "per_frame": {
            "visibility": np.round(visibility, 3).tolist(),
            "in_view": np.round(in_view, 3).tolist(),
            "occlusion": np.round(occlusion, 3).tolist(),
            "motion_blur_px": np.round(blur_px, 1).tolist(),
            "illumination_gain": np.round(plan.global_gain * plan.target_gain, 3).tolist(),
            "absent": absent.tolist(),
        },
    }
    with open(seq_dir / "meta.json", "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)
    return meta


def _exit_point(point: np.ndarray, width: int, height: int, beyond: float) -> np.ndarray:
    """Return the point ``beyond`` pixels outside the frame edge nearest to ``point``."""
    x, y = point
    distances = {"left": x, "right": width - x, "top": y, "bottom": height - y}
    edge = min(distances, key=distances.get)
    if edge == "left":
        return np.array([-beyond, y])
    if edge == "right":
        return np.array([width + beyond, y])
    if edge == "top":
        return np.array([x, -beyond])
    return np.array([x, height + beyond])


def _make_occluder(kind: str, rng: np.random.Generator, footage: Footage, center: np.ndarray,
                   size_px: np.ndarray, n: int, unit: float) -> dict:
    """Make an occluder crossing the target around a random middle frame.

    Its path follows the target's during the crossing (so the planned overlap happens whatever
    the target does) and is a straight line before and after.
    """
    photo_name = OCCLUDER_PHOTOS[int(rng.integers(len(OCCLUDER_PHOTOS)))]
    photo = footage.photo(photo_name)
    middle = int(rng.uniform(0.35, 0.8) * n)
    if kind == "full":
        long_side = rng.uniform(1.6, 1.9) * size_px[middle]
        lateral = 0.0
        relative_speed = rng.uniform(3.5, 5.0) * unit
        irregularity = 0.15
    else:
        long_side = rng.uniform(0.5, 0.8) * size_px[middle]
        lateral = rng.choice([-1, 1]) * rng.uniform(0.1, 0.4) * size_px[middle]
        relative_speed = rng.uniform(2.5, 5.0) * unit
        irregularity = 0.45
    # Fast enough to be clear of the target at frame 1, where trackers initialise.
    clearance = 0.75 * (long_side + size_px.max()) + 8
    relative_speed = max(relative_speed, clearance / max(middle, 1))
    aspect = rng.uniform(0.6, 1.0)
    box_w, box_h = int(round(long_side)), max(4, int(round(long_side * aspect)))
    crop_side = int(rng.uniform(0.3, 0.6) * min(photo.shape[:2]))
    cx = int(rng.integers(0, photo.shape[1] - crop_side + 1))
    cy = int(rng.integers(0, photo.shape[0] - crop_side + 1))
    crop = photo[cy:cy + int(crop_side * aspect), cx:cx + crop_side]
    patch = cv2.resize(crop, (box_w, box_h), interpolation=cv2.INTER_AREA)
    sprite = Sprite.from_cutout(patch, blob_mask(rng, box_h, box_w, irregularity), long_side)
    half_crossing = int(math.ceil((0.5 * (long_side + size_px[middle]) + 4) / relative_speed))
    # Following the target a little past the crossing keeps it from walking into the
    # occluder again right after.
    t0, t1 = max(0, middle - half_crossing), min(n - 1, middle + 2 * half_crossing)
    t = np.arange(n)
    anchor = center[np.clip(t, t0, t1)]
    # The straight approach must not cover the target in frame 1: try directions until clear;
    # failing that, the occluder shadows the target's motion on its way in.
    for _ in range(16):
        direction = rng.uniform(0, 2 * np.pi)
        unit_dir = np.array([math.cos(direction), math.sin(direction)])
        normal = np.array([-unit_dir[1], unit_dir[0]])
        path = anchor + (t - middle)[:, None] * relative_speed * unit_dir + lateral * normal
        if np.linalg.norm(path[0] - center[0]) >= clearance:
            break
    else:
        anchor = center[np.minimum(t, t1)]
        path = anchor + (t - middle)[:, None] * relative_speed * unit_dir + lateral * normal
    spin = rng.uniform(-1.0, 1.0)
    return {"sprite": sprite, "path": path, "angle": spin * (t - middle),
            "meta": {"kind": kind, "photo": photo_name,
                     "photo_crop_xywh": [cx, cy, crop_side, int(crop_side * aspect)],
                     "middle_frame": middle + 1, "long_side_px": round(float(long_side), 1)}}


# ----------------------------------------------------------------------------- whole benchmark

def generate_devbench(out_dir: str | Path, seed: int = 0,
                      num_sequences: int = DEFAULT_NUM_SEQUENCES,
                      num_frames: int = DEFAULT_NUM_FRAMES,
                      frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
                      log: Optional[TextIO] = sys.stderr) -> Path:
    """Generate the benchmark into ``out_dir`` (OTB layout + ``list.txt`` + ``devbench.json``).

    ``devbench.json`` is written last: its presence marks a complete benchmark.
    """
    out_dir = Path(out_dir)
    specs = make_specs(seed, num_sequences, num_frames, frame_size)
    footage = Footage()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / INDEX_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    summaries = []
    for spec in specs:
        seq_start = time.perf_counter()
        meta = render_sequence(spec, out_dir, footage)
        summaries.append({"name": spec.name, "attributes": meta["attributes"],
                          "num_absent": meta["num_absent"]})
        if log is not None:
            print(f"  {spec.name:<36s} {num_frames} frames, {meta['num_absent']:3d} absent, "
                  f"{time.perf_counter() - seq_start:5.1f} s  [{', '.join(spec.attributes[1:])}]",
                  file=log, flush=True)
    with open(out_dir / LIST_FILE, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{spec.name}\n" for spec in specs))
    index = {"generator_version": GENERATOR_VERSION,
             **_options(seed, num_sequences, num_frames, frame_size),
             "seconds": round(time.perf_counter() - started, 1), "sequences": summaries}
    with open(out_dir / INDEX_FILE, "w", encoding="utf-8") as handle:
        json.dump(index, handle, indent=1)
    return out_dir


def _options(seed, num_sequences, num_frames, frame_size) -> dict:
    return {"seed": int(seed), "num_sequences": int(num_sequences),
            "num_frames": int(num_frames), "frame_size": [int(v) for v in frame_size]}


def is_complete(out_dir: str | Path, seed: int, num_sequences: int, num_frames: int,
                frame_size: tuple[int, int]) -> bool:
    """Tell whether ``out_dir`` holds a finished benchmark made with these options."""
    index_path = Path(out_dir) / INDEX_FILE
    if not index_path.is_file():
        return False
    try:
        with open(index_path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError):
        return False
    wanted = {"generator_version": GENERATOR_VERSION,
              **_options(seed, num_sequences, num_frames, frame_size)}
    return all(index.get(key) == value for key, value in wanted.items())


def default_cache_dir(seed: int = 0, num_sequences: int = DEFAULT_NUM_SEQUENCES,
                      num_frames: int = DEFAULT_NUM_FRAMES,
                      frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> Path:
    """Where ``--dataset devbench`` keeps the generated benchmark (under the sample-data cache)."""
    return (sample_data.cache_dir() / "devbench"
            / f"v{GENERATOR_VERSION}_seed{seed}_n{num_sequences}_f{num_frames}"
              f"_{frame_size[0]}x{frame_size[1]}")


def ensure_devbench(seed: int = 0, num_sequences: int = DEFAULT_NUM_SEQUENCES,
                    num_frames: int = DEFAULT_NUM_FRAMES,
                    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
                    log: Optional[TextIO] = sys.stderr) -> Path:
    """Return the cached benchmark for these options, generated first if missing or incomplete."""
    folder = default_cache_dir(seed, num_sequences, num_frames, frame_size)
    if not is_complete(folder, seed, num_sequences, num_frames, frame_size):
        if log is not None:
            print(f"generating the development benchmark into {folder}", file=log, flush=True)
        generate_devbench(folder, seed, num_sequences, num_frames, frame_size, log)
    return folder
