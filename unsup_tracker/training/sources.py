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
"""Unlabeled training data: videos, image sequences, folders of stills and rosbag2 recordings.

Every source yields BGR uint8 frames as ``(clip_id, frame)`` pairs: frames with the same clip id
are consecutive in time, so the sampler may cut temporal windows from them. A video or an image
sequence is one clip; each still of a stills folder is its own one-frame clip; a rosbag is split
into clips where the recording has a gap (see :class:`RosbagSource`).

How a path's kind is detected (:func:`open_sources`):

* file ending in a video suffix (``.avi``, ``.mp4``, ...) -> video; ``<video>.gz`` (as Debian's
  opencv-doc ships ``box.mp4.gz``) -> video, decompressed once into a cache file;
* ``.db3`` / ``.mcap`` file, a folder holding ``metadata.yaml``, or ``metadata.yaml`` itself
  -> rosbag2 recording (sqlite3 or MCAP storage, read with the ``rosbags`` library);
* a single image file -> one still;
* a folder with an ``img/`` sub-folder of images (OTB layout) -> image sequence of ``img/``;
* a folder with images directly inside -> image sequence or stills, see
  :func:`classify_image_folder` (``images_as`` overrides the guess for every such folder);
* any other folder -> a collection: its entries are detected the same way, to a limited depth
  (e.g. a dataset root holding one folder per sequence, or a folder of videos).

Decision (sequence vs stills): the brief leaves the rule open. Frame dumps of a video are named
PREFIX + NUMBER with one shared prefix and a regular numbering (``img/0001.jpg``,
``frame_000123.png``); folders of unrelated photos are not. So a folder is a sequence when it has
at least two images, all names are PREFIX + NUMBER with the same PREFIX and suffix, and at least
90% of the steps between sorted numbers equal the most common step (a constant step also covers
dumps exported with a stride; the 10% tolerates a few dropped frames). Everything else is
stills. The guess is logged, and ``--images-as sequence|stills`` forces it.

Development-benchmark footage is refused: :func:`open_sources` raises
:class:`DevbenchFootageError` when any file a source reads is one of the benchmark's source files
or a copy of one (:class:`unsup_tracker.evaluation.devbench.SourceIndex`: same path, same name
and size, or same content), so a folder holding one such photo is refused whole; and when a file
lies in a rendered benchmark (a folder up to :data:`RENDERED_DEVBENCH_DEPTH` levels above it holds
the generator's ``meta.json`` or ``devbench.json``), so the benchmark's own frames are refused
too (copies of single rendered frames elsewhere are not recognised).
"""
from __future__ import annotations

import abc
import collections
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.devbench import SourceIndex
from unsup_tracker.frame_readers import natural_key
from unsup_tracker.image_encoding import ImageEncodingError, fields_to_bgr8
from unsup_tracker.sample_data import DecompressionError, decompress_gz

LOG = logging.getLogger("unsup_tracker_training.sources")

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v",
                            ".wmv", ".flv", ".ogv", ".3gp", ".ts", ".mjpeg", ".mjpg"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                            ".pgm", ".pnm", ".jp2"})
BAG_SUFFIXES = frozenset({".db3", ".mcap"})
IMAGE_MSG = "sensor_msgs/msg/Image"
COMPRESSED_MSG = "sensor_msgs/msg/CompressedImage"
IMAGE_MSG_TYPES = (IMAGE_MSG, COMPRESSED_MSG)
IMAGES_AS_CHOICES = ("auto", "sequence", "stills")

#: How deep a collection folder is searched for sources.
MAX_COLLECTION_DEPTH = 4
#: Individually logged skipped frames per source; later ones only count (and log at DEBUG).
MAX_LOGGED_SKIPS = 20


class DataError(ValueError):
    """A data path cannot be used: missing, of unknown kind, empty, or a bag without the topic."""


class DevbenchFootageError(DataError):
    """A data path reads development-benchmark footage (see the module docstring)."""


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


def classify_image_folder(files: list[Path]) -> str:
    """``"sequence"`` when the names look like one video's frame dump, else ``"stills"``.

    The rule is described in the module docstring.
    """
    if len(files) < 2:
        return "stills"
    pattern = re.compile(r"^(.*?)(\d+)$")
    prefixes, suffixes, numbers = set(), set(), []
    for path in files:
        match = pattern.match(path.stem)
        if match is None:
            return "stills"
        prefixes.add(match.group(1))
        suffixes.add(path.suffix.lower())
        numbers.append(int(match.group(2)))
    if len(prefixes) != 1 or len(suffixes) != 1:
        return "stills"
    numbers.sort()
    steps = np.diff(numbers)
    if steps.min() <= 0:  # the same number twice (e.g. 01.jpg and 1.jpg): not one frame dump
        return "stills"
    modal_step, count = collections.Counter(steps.tolist()).most_common(1)[0]
    return "sequence" if count >= 0.9 * len(steps) else "stills"


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _hash_files(files: list[Path], root: Path) -> tuple[int, str]:
    """Total size and one sha256 over the files' relative names and contents (order fixed)."""
    digest = hashlib.sha256()
    total = 0
    for path in files:
        if len(files) > 1:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                total += len(block)
    return total, digest.hexdigest()


class Source(abc.ABC):
    """One unlabeled data path, read frame by frame."""

    kind = "?"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        #: Frames (or messages) that could not be decoded and were skipped in the last read.
        self.skipped = 0
        self._logged_skips = 0

    @property
    def name(self) -> str:
        return self.path.name

    def describe(self) -> str:
        return f"{self.kind} {self.path}"

    @abc.abstractmethod
    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """``(clip_id, bgr_frame)`` for every ``stride``-th frame; clip ids never decrease."""

    @abc.abstractmethod
    def estimate_frames(self) -> int | None:
        """Frame count before striding, cheaply (may be approximate; None when unknown)."""

    @abc.abstractmethod
    def files(self) -> list[Path]:
        """Return the files whose content defines this source (for the data manifest)."""

    def manifest_entry(self) -> dict:
        """Kind, name, size and sha256 of the files read (computed once, on first call)."""
        if not hasattr(self, "_manifest"):
            files = self.files()
            root = self.path if self.path.is_dir() else self.path.parent
            size, sha = _hash_files(files, root)
            self._manifest = {"kind": self.kind, "file": self.name,
                              "path": str(self.path.resolve()), "size": size, "sha256": sha,
                              "num_files": len(files)}
        return dict(self._manifest)

    def first_frame(self) -> np.ndarray | None:
        """Return the first decodable frame or None (skips unlogged: a full read reports them)."""
        self._probing = True
        frames = self.iter_frames(1)
        try:
            return next(frames, (None, None))[1]
        finally:
            frames.close()  # releases the decoder or bag reader now, not at garbage collection
            self._probing = False

    def _skip(self, what: str, reason: object) -> None:
        self.skipped += 1
        if getattr(self, "_probing", False):
            LOG.debug("skipped %s: %s", what, reason)
        elif self._logged_skips < MAX_LOGGED_SKIPS:
            self._logged_skips += 1
            LOG.warning("skipped %s: %s", what, reason)
            if self._logged_skips == MAX_LOGGED_SKIPS:
                LOG.warning("%s: further skipped frames are only counted", self.path)
        else:
            LOG.debug("skipped %s: %s", what, reason)

    def _reset_skips(self) -> None:
        self.skipped = 0
        self._logged_skips = 0


def decompressed_video(path: Path) -> Path:
    """Return a playable copy of ``<video>.gz`` (``unsup_tracker.sample_data.decompress_gz``)."""
    try:
        return decompress_gz(path)
    except DecompressionError as exc:
        raise DataError(str(exc)) from exc


class VideoSource(Source):
    """A video file read with OpenCV (``.gz``-compressed videos are decompressed first)."""

    kind = "video"

    def _playable(self) -> Path:
        if self.path.suffix.lower() == ".gz":
            return decompressed_video(self.path)
        return self.path

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self._playable()))
        if not capture.isOpened():
            raise DataError(f"{self.path}: OpenCV cannot open this video")
        return capture

    def estimate_frames(self) -> int | None:
        capture = self._open()
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        return count if count > 0 else None

    def fps(self) -> float | None:
        capture = self._open()
        try:
            fps = float(capture.get(cv2.CAP_PROP_FPS))
        finally:
            capture.release()
        return fps if 0 < fps < 1000 else None

    def files(self) -> list[Path]:
        return [self.path]

    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        self._reset_skips()
        capture = self._open()
        try:
            index = 0
            # A container's frame count can exceed what decodes (tree.avi: 444 declared, 68
            # decodable); the stream simply ends at the first frame OpenCV cannot grab.
            while capture.grab():
                if index % stride == 0:
                    ok, frame = capture.retrieve()
                    if ok and frame is not None and frame.size:
                        yield 0, _as_bgr(frame)
                    else:
                        self._skip(f"{self.path} frame {index}", "OpenCV could not decode it")
                index += 1
        finally:
            capture.release()


class ImageSequenceSource(Source):
    """Naturally sorted images of one folder, consecutive frames of one video."""

    kind = "sequence"

    def __init__(self, path: str | os.PathLike, image_folder: Path | None = None,
                 files: list[Path] | None = None):
        super().__init__(path)
        self.image_folder = Path(image_folder) if image_folder is not None else self.path
        self._files = list(files) if files is not None else _image_files(self.image_folder)
        if not self._files:
            raise DataError(f"{self.image_folder}: no images "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))})")

    def estimate_frames(self) -> int | None:
        return len(self._files)

    def files(self) -> list[Path]:
        return list(self._files)

    def _read(self, path: Path) -> np.ndarray | None:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None or frame.size == 0:
            self._skip(str(path), "not a decodable image")
            return None
        return frame

    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        self._reset_skips()
        for path in self._files[::stride]:
            frame = self._read(path)
            if frame is not None:
                yield 0, frame


class StillsSource(ImageSequenceSource):
    """Unrelated images: each one is its own one-frame clip (``stride`` keeps every n-th image)."""

    kind = "stills"

    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        self._reset_skips()
        for clip_id, path in enumerate(self._files[::stride]):
            frame = self._read(path)
            if frame is not None:
                yield clip_id, frame


def ros_typestore():
    from rosbags.typesys import Stores, get_typestore
    # sensor_msgs/Image and CompressedImage are unchanged across ROS 2 distributions, so the
    # bundled definitions decode bags of any distro.
    return get_typestore(Stores.LATEST)


def decode_compressed_image(fmt: str, data) -> np.ndarray:
    """BGR frame from a sensor_msgs/CompressedImage's ``format`` and ``data``.

    ``format`` is ``"jpeg"``/``"png"`` or image_transport's ``"<enc>; <codec> compressed
    <enc2>"``: when ``enc2`` is an RGB layout the pixels were compressed in RGB order and are
    swapped back. Depth images (``compressedDepth``) are not camera frames and are refused.
    """
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise ImageEncodingError(f"format {fmt!r} is a depth image, not a camera frame")
    buffer = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageEncodingError("empty compressed image")
    try:
        frame = cv2.imdecode(buffer.view(np.uint8).ravel(), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageEncodingError(f"cannot decode {fmt!r} data: {exc}") from exc
    if frame is None or frame.size == 0:
        raise ImageEncodingError(f"{buffer.size} bytes of {fmt!r} data do not decode to an image")
    match = re.search(r"compressed\s+(\w+)", fmt)
    if match and match.group(1).lower().startswith("rgb"):
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    return frame


class RosbagSource(Source):
    """An image topic of a rosbag2 recording (sqlite3 or MCAP storage).

    ``topic=None`` takes the bag's only image topic (sensor_msgs/msg/Image or CompressedImage)
    and is an error listing the topics when there are several or none. A message that does not
    deserialize or decode is skipped with a warning naming the bag, topic, message index and
    timestamp. Decision: the recording is cut into separate clips where two consecutive messages
    are more than ``max_gap_seconds`` apart (a paused recording is not one continuous video).
    """

    kind = "rosbag"

    def __init__(self, path: str | os.PathLike, topic: str | None = None,
                 max_gap_seconds: float = 1.0):
        path = Path(path)
        if path.name == "metadata.yaml":
            path = path.parent
        super().__init__(path)
        self.max_gap_ns = int(max_gap_seconds * 1e9)
        from rosbags.rosbag2 import Reader
        try:
            with Reader(self.path) as reader:
                topics = {name: (info.msgtype, info.msgcount)
                          for name, info in reader.topics.items()}
                self._storage_files = self._find_storage_files(reader)
        except DataError:
            raise
        except Exception as exc:  # rosbags raises several types for unreadable bags
            raise DataError(f"{self.path}: not a readable rosbag2 recording: {exc}") from exc
        self.topics = topics
        self.topic, self.msgtype, self.message_count = self._choose_topic(topic)

    def _find_storage_files(self, reader) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        files = sorted(p for p in self.path.iterdir()
                       if p.suffix in BAG_SUFFIXES or p.name == "metadata.yaml")
        return files

    def _topic_listing(self) -> str:
        if not self.topics:
            return "the bag has no topics"
        return "topics in the bag: " + ", ".join(
            f"{name} ({msgtype}, {count} msgs)"
            for name, (msgtype, count) in sorted(self.topics.items()))

    def _choose_topic(self, topic: str | None) -> tuple[str, str, int]:
        image_topics = [name for name, (msgtype, _) in self.topics.items()
                        if msgtype in IMAGE_MSG_TYPES]
        if topic is None:
            if len(image_topics) == 1:
                topic = image_topics[0]
            elif not image_topics:
                raise DataError(f"{self.path}: no sensor_msgs/msg/Image or CompressedImage topic; "
                                f"{self._topic_listing()}")
            else:
                raise DataError(f"{self.path}: several image topics, choose one with --topic; "
                                f"{self._topic_listing()}")
        if topic not in self.topics:
            raise DataError(f"{self.path}: no topic {topic!r}; {self._topic_listing()}")
        msgtype, count = self.topics[topic]
        if msgtype not in IMAGE_MSG_TYPES:
            raise DataError(f"{self.path}: topic {topic!r} carries {msgtype}, not an image type; "
                            f"{self._topic_listing()}")
        return topic, msgtype, count

    def describe(self) -> str:
        return f"rosbag {self.path} topic {self.topic} ({self.msgtype}, {self.message_count} msgs)"

    def estimate_frames(self) -> int | None:
        return self.message_count

    def files(self) -> list[Path]:
        return list(self._storage_files)

    def manifest_entry(self) -> dict:
        entry = super().manifest_entry()
        entry["topic"] = self.topic
        entry["msgtype"] = self.msgtype
        return entry

    def _decode(self, typestore, msgtype: str, raw) -> np.ndarray:
        msg = typestore.deserialize_cdr(raw, msgtype)
        if msgtype == COMPRESSED_MSG:
            return decode_compressed_image(msg.format, msg.data)
        return fields_to_bgr8(msg.height, msg.width, msg.encoding, bool(msg.is_bigendian),
                              msg.step, msg.data)

    def iter_frames(self, stride: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        from rosbags.rosbag2 import Reader
        from rosbags.serde import SerdeError
        self._reset_skips()
        typestore = ros_typestore()
        clip_id = 0
        previous_ns = None
        with Reader(self.path) as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            messages = reader.messages(connections=connections)
            index = -1
            while True:
                try:
                    connection, timestamp, raw = next(messages)
                except StopIteration:
                    break
                except Exception as exc:  # a damaged storage file: keep what was read so far
                    self._skip(f"{self.path} topic {self.topic} after message #{index}",
                               f"storage error, rest of the bag not readable: {exc}")
                    break
                index += 1
                # Gaps are measured between all messages, so striding does not create them.
                if previous_ns is not None and timestamp - previous_ns > self.max_gap_ns:
                    clip_id += 1
                previous_ns = timestamp
                if index % stride:
                    continue
                try:
                    frame = self._decode(typestore, connection.msgtype, raw)
                except (SerdeError, ImageEncodingError, ValueError, cv2.error) as exc:
                    self._skip(f"{self.path} topic {self.topic} message #{index} "
                               f"(t={timestamp} ns = {timestamp / 1e9:.3f} s)", exc)
                    continue
                yield clip_id, frame


def _is_bag_dir(path: Path) -> bool:
    return (path / "metadata.yaml").is_file()


def _detect(path: Path, topic: str | None, images_as: str, depth: int,
            explicit: bool) -> list[Source]:
    name = path.name.lower()
    if path.is_file():
        suffix = path.suffix.lower()
        gz_video = suffix == ".gz" and Path(name[:-3]).suffix in VIDEO_SUFFIXES
        if suffix in VIDEO_SUFFIXES or gz_video:
            return [VideoSource(path)]
        if suffix in BAG_SUFFIXES or name == "metadata.yaml":
            if name != "metadata.yaml" and _is_bag_dir(path.parent):
                # One storage file of a split bag: read the whole recording once, via its folder.
                return [RosbagSource(path.parent, topic)] if explicit else []
            return [RosbagSource(path, topic)]
        if suffix in IMAGE_SUFFIXES:
            if not explicit:
                return []  # loose images inside a collection are handled by their folder
            return [StillsSource(path, image_folder=path.parent, files=[path])]
        if explicit:
            raise DataError(f"{path}: unknown data kind (expected a video "
                            f"{sorted(VIDEO_SUFFIXES)}, an image, a .db3/.mcap bag or a folder)")
        return []
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    if _is_bag_dir(path):
        return [RosbagSource(path, topic)]
    images = _image_files(path)
    if images:
        kind = images_as if images_as != "auto" else classify_image_folder(images)
        if images_as == "auto":
            LOG.info("%s: %d images, treated as %s (force with --images-as)", path,
                     len(images), kind)
        return [ImageSequenceSource(path) if kind == "sequence" else StillsSource(path)]
    if (path / "img").is_dir() and _image_files(path / "img"):
        return [ImageSequenceSource(path, image_folder=path / "img")]
    if depth >= MAX_COLLECTION_DEPTH:
        return []
    found: list[Source] = []
    for child in sorted(path.iterdir(), key=lambda p: natural_key(p.name)):
        if child.name.startswith("."):
            continue
        found.extend(_detect(child, topic, images_as, depth + 1, explicit=False))
    return found


def open_sources(paths: list[str | os.PathLike], topic: str | None = None,
                 images_as: str = "auto") -> list[Source]:
    """Detect the kind of every path (see the module docstring) and open it.

    Raises :class:`DataError` for a missing path, a path holding no usable data, or a bag
    without the requested (or a unique) image topic.
    """
    if images_as not in IMAGES_AS_CHOICES:
        raise DataError(f"images_as must be one of {IMAGES_AS_CHOICES}, got {images_as!r}")
    if not paths:
        raise DataError("no data paths given")
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise DataError(f"data path does not exist: {path}")
        found = _detect(path, topic, images_as, depth=0, explicit=True)
        if not found:
            raise DataError(f"{path}: no videos, images or rosbag2 recordings found")
        sources.extend(found)
    refuse_devbench_footage(sources)
    return sources


#: How many folders above a file are checked for a rendered benchmark's marker files.
RENDERED_DEVBENCH_DEPTH = 3


def _is_devbench_marker(folder: Path) -> bool:
    """Whether ``folder`` is a benchmark sequence or root written by the devbench generator."""
    for name, key, value in (("meta.json", "generator", devbench.__name__),
                             (devbench.INDEX_FILE, "generator_version", None)):
        marker = folder / name
        if not marker.is_file():
            continue
        try:
            with open(marker, encoding="utf-8") as handle:
                content = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(content, dict) and key in content and (
                value is None or content[key] == value):
            return True
    return False


def rendered_devbench(path: str | os.PathLike, _seen: dict | None = None) -> Path | None:
    """Return the benchmark folder ``path`` was rendered into (see the module docstring)."""
    seen = {} if _seen is None else _seen
    folder = Path(path).resolve().parent
    for _ in range(RENDERED_DEVBENCH_DEPTH + 1):
        if folder not in seen:
            seen[folder] = _is_devbench_marker(folder)
        if seen[folder]:
            return folder
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def refuse_devbench_footage(sources: list[Source], index: SourceIndex | None = None) -> None:
    """Raise :class:`DevbenchFootageError` if a source reads a development-benchmark file.

    ``index`` defaults to the benchmark sources installed here; rendered benchmark sequences
    are refused whatever the index (:func:`rendered_devbench`).
    """
    index = SourceIndex() if index is None else index
    seen: dict = {}
    for source in sources:
        for path in source.files():
            rendered = rendered_devbench(path, seen)
            if rendered is not None:
                raise DevbenchFootageError(
                    f"{source.path}: {path} is a frame of the rendered development benchmark "
                    f"({rendered}); training on it would let the benchmark score what the model "
                    "learnt from its own frames. Read it through unsup_tracker.evaluation "
                    "for measurements")
            match = index.match(path)
            if match is not None:
                raise DevbenchFootageError(
                    f"{source.path}: {path} is development-benchmark footage (same as {match}); "
                    "training on it would let the benchmark score what the model learnt from "
                    "its own footage. Leave it out (unsup_tracker.evaluation.devbench."
                    "source_files() lists the benchmark's files)")
