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
"""Synthetic unlabeled clips rendered from real photos: a ``--data`` source like a video.

Spec (``--data``): ``synth[,KEY=VALUE...]:PATH``, where PATH is one photo or a folder of photos
(the images directly inside it) and the keys are those of :data:`DEFAULTS`::

    synth:photos/                                  one clip per photo, defaults otherwise
    synth,clips=200,frames=48,size=320x240,seed=3,objects=2:photos/

Each clip is a camera panning and zooming over one photo (the background), with ``objects``
patches cut from *other* photos of the set (smooth irregular masks) moving, scaling and turning
over it: the motions a tracker must follow, in real textures. It is rendered with the project's
one renderer (:mod:`unsup_tracker.render`, which the development benchmark uses too).

Decisions:

* Unlabeled, by construction: the source yields frames only, ``(clip_id, frame)`` like any
  other source. The patches' paths are local to the rendering of one clip and never stored, so
  no training code can read a box or a mask from it.
* Deterministic: clip ``c`` depends only on ``(seed, c)``, the options and the photos (and the
  OpenCV build), never on the stride or on which clips were read before. Clip ``c``'s
  background is photo ``order[c % num_photos]`` of a seed-fixed permutation of the sorted photo
  list, so the default ``clips`` (one per photo) uses every photo once.
* Photos are shrunk once (area interpolation) so the widest camera window spans at most
  :data:`MAX_BACKGROUND_SCALE` frame widths, as the benchmark does; patches are cut from the
  shrunk photos.
* The manifest's sha256 covers the photos, the options and :data:`SYNTH_VERSION`, so a resumed
  run refuses different synthetic data. Bump the version when the rendering changes.
* The development benchmark's photos are refused like any other source's files
  (:func:`unsup_tracker_training.sources.refuse_devbench_footage` checks :meth:`files`).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from unsup_tracker.render import (Sprite, blob_mask, camera_matrix, camera_path, composite,
                                  fit_background, place, smooth_path)

from .sources import IMAGE_SUFFIXES, DataError, Source, image_files

PREFIX = "synth"
SYNTH_VERSION = 1
MAX_BACKGROUND_SCALE = 1.5
#: Options of a ``synth`` spec; ``clips`` None means one clip per photo.
DEFAULTS = {"clips": None, "frames": 48, "size": (320, 240), "seed": 0, "objects": 1}
#: Inclusive bounds of the integer options (and of each side of ``size``).
LIMITS = {"clips": (1, 1_000_000), "frames": (2, 100_000), "size": (32, 4096),
          "seed": (0, 2 ** 63 - 1), "objects": (0, 8)}


def is_spec(raw) -> bool:
    """Tell whether a ``--data`` argument is a synthetic-clip spec (``synth:`` or ``synth,``)."""
    return isinstance(raw, str) and raw.startswith((PREFIX + ":", PREFIX + ","))


def parse_spec(raw: str) -> tuple[Path, dict]:
    """Split ``synth[,KEY=VALUE...]:PATH`` into the path and the full options; DataError if bad."""
    if not is_spec(raw):
        raise DataError(f"{raw!r} is not a synth spec (synth[,KEY=VALUE...]:PATH)")
    head, sep, path = raw.partition(":")
    if not sep or not path:
        raise DataError(f"{raw!r}: no photo path after ':' (synth[,KEY=VALUE...]:PATH)")
    options = dict(DEFAULTS)
    for item in head.split(",")[1:]:
        key, eq, value = item.partition("=")
        if not eq or key not in DEFAULTS:
            raise DataError(f"{raw!r}: bad option {item!r}; options: "
                            f"{', '.join(f'{k}=' for k in DEFAULTS)}")
        low, high = LIMITS[key]
        try:
            if key == "size":
                width, x, height = value.lower().partition("x")
                parsed = (int(width), int(height)) if x else None
                if parsed is None or not all(low <= side <= high for side in parsed):
                    raise ValueError
            else:
                parsed = int(value)
                if not low <= parsed <= high:
                    raise ValueError
        except ValueError:
            what = f"WIDTHxHEIGHT, each {low}..{high}" if key == "size" else f"{low}..{high}"
            raise DataError(f"{raw!r}: {key} must be {what}, got {value!r}") from None
        options[key] = parsed
    return Path(path).expanduser(), options


def spec(path: str | os.PathLike, **options) -> str:
    """Return the ``--data`` spec of ``path`` with ``options`` (checked like a parsed one)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise DataError(f"unknown synth option(s) {unknown}; options: {', '.join(DEFAULTS)}")
    parts = [PREFIX]
    for key, value in options.items():
        parts.append(f"{key}={value[0]}x{value[1]}" if key == "size" else f"{key}={value}")
    text = ",".join(parts) + f":{path}"
    parse_spec(text)
    return text


class SynthSource(Source):
    """Clips rendered from the photos of ``path`` (see the module docstring); frames only."""

    kind = "synth"

    def __init__(self, path: str | os.PathLike, options: dict | None = None):
        super().__init__(path)
        self.options = dict(DEFAULTS)
        if options:
            unknown = sorted(set(options) - set(DEFAULTS))
            if unknown:
                raise DataError(f"unknown synth option(s) {unknown}")
            self.options.update(options)
        if self.path.is_file():
            if self.path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{self.path}: synth needs photos "
                                f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a folder of them")
            self._photos = [self.path]
        elif self.path.is_dir():
            self._photos = image_files(self.path)
        else:
            raise DataError(f"data path does not exist: {self.path}")
        if not self._photos:
            raise DataError(f"{self.path}: no photos for synth "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.num_clips = self.options["clips"] or len(self._photos)
        self._backgrounds: list[np.ndarray] | None = None

    @classmethod
    def from_spec(cls, raw: str) -> "SynthSource":
        """Open the source a ``synth[,KEY=VALUE...]:PATH`` spec names."""
        path, options = parse_spec(raw)
        return cls(path, options)

    def describe(self) -> str:
        width, height = self.options["size"]
        return (f"synth {self.path} ({len(self._photos)} photos; {self.num_clips} clips x "
                f"{self.options['frames']} frames, {width}x{height}, "
                f"{self.options['objects']} moving patch(es), seed {self.options['seed']})")

    def estimate_frames(self) -> int | None:
        return self.num_clips * self.options["frames"]

    def files(self) -> list[Path]:
        return list(self._photos)

    def manifest_entry(self) -> dict:
        entry = super().manifest_entry()
        options = dict(self.options, clips=self.num_clips, size=list(self.options["size"]),
                       version=SYNTH_VERSION)
        key = json.dumps(options, sort_keys=True) + entry["sha256"]
        entry.update(sha256=hashlib.sha256(key.encode()).hexdigest(), synth=options)
        return entry

    # -- rendering --------------------------------------------------------------------------
    def _load(self) -> list[np.ndarray]:
        if self._backgrounds is None:
            backgrounds = []
            for path in self._photos:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or image.size == 0:
                    self._skip(str(path), "not a decodable image")
                    continue
                backgrounds.append(fit_background(image, self.options["size"],
                                                  MAX_BACKGROUND_SCALE))
            if not backgrounds:
                raise DataError(f"{self.path}: none of the {len(self._photos)} photos decodes")
            self._backgrounds = backgrounds
            self._unreadable = len(self._photos) - len(backgrounds)
        return self._backgrounds

    def _patch(self, rng: np.random.Generator, photo: np.ndarray, n: int) -> dict:
        """Plan one moving patch cut from ``photo``: its sprite and per-frame pose."""
        out_w, out_h = self.options["size"]
        long_side = rng.uniform(0.15, 0.35) * out_w
        aspect = rng.uniform(0.5, 1.0)
        crop_w = max(4, int(rng.uniform(0.25, 0.6) * min(photo.shape[:2])))
        crop_h = max(4, int(crop_w * aspect))
        if rng.random() < 0.5:
            crop_w, crop_h = crop_h, crop_w
        x0 = int(rng.integers(0, photo.shape[1] - crop_w + 1))
        y0 = int(rng.integers(0, photo.shape[0] - crop_h + 1))
        box = (max(4, round(long_side * crop_w / max(crop_w, crop_h))),
               max(4, round(long_side * crop_h / max(crop_w, crop_h))))
        patch = cv2.resize(photo[y0:y0 + crop_h, x0:x0 + crop_w], box,
                           interpolation=cv2.INTER_AREA)
        mask = blob_mask(rng, box[1], box[0], rng.uniform(0.15, 0.45))
        sprite = Sprite.from_cutout(patch, mask, long_side * 1.3)
        margin = 0.3 * long_side
        return {"sprite": sprite,
                "scale": (smooth_path(rng, n, 0.75, 1.3, 30, first=1.0)[:, 0]
                          * long_side / sprite.long_side),
                "angle": smooth_path(rng, n, -30, 30, 30, first=0.0)[:, 0],
                "center": smooth_path(rng, n, (margin, margin), (out_w - margin, out_h - margin),
                                      rng.uniform(12, 40))}

    def _clip(self, clip: int, stride: int) -> Iterator[np.ndarray]:
        backgrounds = self._load()
        count = len(backgrounds)
        seed, n = self.options["seed"], self.options["frames"]
        size = tuple(self.options["size"])
        order = np.random.default_rng([seed, SYNTH_VERSION]).permutation(count)
        rng = np.random.default_rng([seed, clip, SYNTH_VERSION])
        index = int(order[clip % count])
        background = backgrounds[index]
        centers, widths = camera_path(rng, background, n, size)
        patches = []
        for _ in range(self.options["objects"]):
            other = int(rng.integers(max(1, count - 1)))
            other += int(count > 1 and other >= index)  # another photo than the background
            patches.append(self._patch(rng, backgrounds[other], n))
        for frame_index in range(0, n, stride):
            matrix = camera_matrix(centers[frame_index], widths[frame_index], size)
            canvas = cv2.warpAffine(background, matrix, size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT).astype(np.float32)
            for patch in patches:
                composite(canvas, place(patch["sprite"], patch["center"][frame_index],
                                        patch["scale"][frame_index],
                                        patch["angle"][frame_index]))
            yield cv2.convertScaleAbs(canvas)

    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        self._reset_skips()
        self._load()
        self.skipped = self._unreadable  # photos that do not decode (logged on first load)
        for clip in range(self.num_clips):
            for frame in self._clip(clip, stride):
                yield clip, frame
