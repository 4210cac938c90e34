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
"""OTB-layout sequence loader.

Layout of a dataset root::

    ROOT/list.txt                 optional: one sequence folder name per line (order kept)
    ROOT/<seq>/img/0001.jpg ...   frames (.jpg, .jpeg or .png), sorted naturally (2 before 10)
    ROOT/<seq>/groundtruth_rect.txt  one box per frame: x, y, w, h
    ROOT/<seq>/masks/0001.png ... optional per-frame target masks (non-zero = target)
    ROOT/<seq>/meta.json          optional attributes (the development benchmark writes one)

Without ``list.txt`` every sub-folder holding a ``groundtruth_rect.txt`` is a sequence.

Decisions:

* Ground-truth values may be separated by commas, spaces, tabs or a mix (OTB ships all three).
* OTB boxes are 1-based: ``x, y`` is the 1-based index of the top-left pixel (MATLAB convention).
  Our boxes (:mod:`unsup_tracker.geometry`) are 0-based with pixel ``i`` covering ``[i, i + 1)``,
  so the loader converts ``x0 = x - 1, y0 = y - 1`` and keeps ``w, h``. With this conversion
  MOSSE, KCF and the static box reproduce every per-sequence AUC of ``real_dev/baselines.md``
  to the decimal (CSRT moves by up to 7 AUC points on a 1 px shift of its initial box).
  Files we write (devbench ground truth, tracker results) use the same 1-based convention so
  that other OTB tools read them correctly.
* A row of ``0,0,0,0``, any NaN, or a non-positive width/height marks the target as absent in that
  frame: it becomes a NaN row and is never scored.
* The number of ground-truth rows must equal the number of frames; a mismatch is an error
  (silently truncating would score a different sequence than the user thinks).
* Mask files are matched to frames by name stem (``img/0001.jpg`` <-> ``masks/0001.png``); a
  frame without a mask file has no mask ground truth.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence as SequenceType

import cv2
import numpy as np

from ..frame_readers import natural_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
GROUNDTRUTH_FILE = "groundtruth_rect.txt"
LIST_FILE = "list.txt"
META_FILE = "meta.json"


class DatasetError(ValueError):
    """A dataset folder or file that does not follow the OTB layout."""


def read_groundtruth(path: str | Path) -> np.ndarray:
    """Boxes of an OTB ``groundtruth_rect.txt`` as (N, 4) 0-based xywh; absent rows are NaN."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            fields = [f for f in re.split(r"[,\s]+", text) if f]
            if len(fields) != 4:
                raise DatasetError(
                    f"{path}:{line_number}: expected 4 values (x, y, w, h), "
                    f"got {len(fields)}: {text!r}")
            try:
                values = [float(f) for f in fields]
            except ValueError as exc:
                raise DatasetError(f"{path}:{line_number}: not a number in {text!r}") from exc
            rows.append(values)
    if not rows:
        raise DatasetError(f"{path} holds no boxes")
    boxes = np.asarray(rows, dtype=np.float64)
    return otb_to_boxes(boxes)


def otb_to_boxes(otb_boxes: np.ndarray) -> np.ndarray:
    """1-based OTB rows -> 0-based xywh; absent rows (zeros, NaN, w or h <= 0) -> NaN."""
    boxes = np.array(otb_boxes, dtype=np.float64).reshape(-1, 4)
    absent = ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    boxes[:, :2] -= 1.0
    boxes[absent] = np.nan
    return boxes


def boxes_to_otb(boxes: np.ndarray) -> np.ndarray:
    """0-based xywh (NaN rows = absent) -> 1-based OTB rows (absent = 0,0,0,0)."""
    otb = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    absent = ~np.all(np.isfinite(otb), axis=1)
    otb[:, :2] += 1.0
    otb[absent] = 0.0
    return otb


def write_otb_boxes(path: str | Path, boxes: np.ndarray, decimals: int = 2) -> None:
    """Write 0-based xywh boxes as a comma-separated, 1-based OTB file."""
    otb = boxes_to_otb(boxes)
    with open(path, "w", encoding="utf-8") as handle:
        for row in otb:
            handle.write(",".join(_format_number(v, decimals) for v in row) + "\n")


def _format_number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"missing image folder {folder}")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


@dataclasses.dataclass
class Sequence:
    """One annotated sequence; ``groundtruth`` rows are 0-based xywh, NaN where absent."""

    name: str
    frame_paths: list[Path]
    groundtruth: np.ndarray
    #: Per frame: the mask file or None (no mask ground truth for that frame).
    mask_paths: Optional[list[Optional[Path]]] = None
    #: Contents of ``meta.json`` when present.
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_paths)

    @property
    def present(self) -> np.ndarray:
        """Boolean per frame: the target is annotated (not absent)."""
        return np.all(np.isfinite(self.groundtruth), axis=1)

    @property
    def has_masks(self) -> bool:
        return self.mask_paths is not None and any(p is not None for p in self.mask_paths)

    def load_frame(self, index: int) -> np.ndarray:
        path = self.frame_paths[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"cannot read image {path}")
        return image

    def load_mask(self, index: int) -> Optional[np.ndarray]:
        """Boolean HxW mask of frame ``index``, or None when the frame has no mask file."""
        if self.mask_paths is None or self.mask_paths[index] is None:
            return None
        path = self.mask_paths[index]
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise DatasetError(f"cannot read mask {path}")
        return mask > 0

    def truncated(self, max_frames: int) -> "Sequence":
        """Return the first ``max_frames`` frames (for quick runs)."""
        if max_frames <= 0:
            raise ValueError("max_frames must be positive")
        masks = None if self.mask_paths is None else self.mask_paths[:max_frames]
        return dataclasses.replace(self, frame_paths=self.frame_paths[:max_frames],
                                   groundtruth=self.groundtruth[:max_frames], mask_paths=masks)


def load_sequence(folder: str | Path, name: Optional[str] = None) -> Sequence:
    folder = Path(folder)
    frames = list_images(folder / "img")
    if not frames:
        raise DatasetError(f"no .jpg/.png frames in {folder / 'img'}")
    gt_path = folder / GROUNDTRUTH_FILE
    if not gt_path.is_file():
        raise DatasetError(f"missing {gt_path}")
    groundtruth = read_groundtruth(gt_path)
    if len(groundtruth) != len(frames):
        raise DatasetError(
            f"{folder.name}: {len(frames)} frames but {len(groundtruth)} ground-truth rows "
            f"in {gt_path}")
    mask_paths = None
    mask_dir = folder / "masks"
    if mask_dir.is_dir():
        by_stem = {p.stem: p for p in list_images(mask_dir)}
        mask_paths = [by_stem.get(frame.stem) for frame in frames]
    meta: dict[str, Any] = {}
    meta_path = folder / META_FILE
    if meta_path.is_file():
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
    return Sequence(name=name or folder.name, frame_paths=frames, groundtruth=groundtruth,
                    mask_paths=mask_paths, meta=meta)


def sequence_names(root: str | Path) -> list[str]:
    """Names from ``list.txt`` when present, else sub-folders holding a ground-truth file."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    list_path = root / LIST_FILE
    if list_path.is_file():
        with open(list_path, encoding="utf-8") as handle:
            names = [line.strip() for line in handle if line.strip()]
        if not names:
            raise DatasetError(f"{list_path} is empty")
        return names
    names = [p.name for p in root.iterdir() if (p / GROUNDTRUTH_FILE).is_file()]
    if not names:
        raise DatasetError(f"{root} holds no OTB-layout sequence (<seq>/{GROUNDTRUTH_FILE})")
    return sorted(names, key=natural_key)


def load_dataset(root: str | Path, sequences: Optional[Iterable[str]] = None) -> list[Sequence]:
    """All sequences of ``root`` (or the named ones, in the order given)."""
    root = Path(root)
    available = sequence_names(root)
    if sequences is None:
        chosen: SequenceType[str] = available
    else:
        chosen = list(sequences)
        unknown = [s for s in chosen if s not in available]
        if unknown:
            raise DatasetError(f"unknown sequence(s) {unknown} in {root}; available: {available}")
    return [load_sequence(root / name, name) for name in chosen]
