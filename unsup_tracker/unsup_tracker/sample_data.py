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
"""Real footage from Debian packages (installed by ``make setup``): where it is found.

Two packages, with separate roles (see :mod:`unsup_tracker.evaluation.devbench` for the split):

* ``opencv-doc``: sample videos and photos; the videos are the demo's and the shipped
  checkpoints' training footage, some photos are the development benchmark's targets,
  occluders and backgrounds;
* ``lomiri-wallpapers-16.04`` (:data:`WALLPAPER_PACKAGE`): 15 wallpaper photographs (CC-BY-4.0,
  CC-BY-SA-4.0, CC0-1.0), used only as development-benchmark backgrounds; found with
  :func:`find_wallpaper`.

``opencv-doc`` 4.6 on Debian 12 puts them here (relative to :func:`opencv_doc_dir`)::

    examples/data/Megamind.avi       720x528, a face moving across the frame
    examples/data/Megamind_bugy.avi  the same with broken frames
    examples/data/vtest.avi          768x576, pedestrians (static camera)
    opencv4/html/box.mp4.gz          a box moved by hand (gzip: decompressed into the cache)
    opencv4/html/cup.mp4.gz          a cup moved by hand (gzip: decompressed into the cache)

Environment: ``UNSUP_TRACKER_OPENCV_DOC`` overrides the opencv-doc directory,
``UNSUP_TRACKER_WALLPAPERS`` the wallpaper directory (default ``/usr/share/backgrounds``),
``UNSUP_TRACKER_CACHE`` the cache directory (default ``~/.cache/unsup_tracker``).

:func:`decompress_gz` is the one place where ``<video>.gz`` files are decompressed (used here, by
the camera node's frame readers and by the training data sources).
"""
import gzip
import hashlib
import logging
import os
import pathlib
import shutil
import tempfile
import zlib
from typing import Iterator

LOG = logging.getLogger(__name__)

DEFAULT_OPENCV_DOC_DIR = "/usr/share/doc/opencv-doc"

#: Known videos: name -> path relative to the opencv-doc directory.
SAMPLE_VIDEOS = {
    "Megamind.avi": "examples/data/Megamind.avi",
    "Megamind_bugy.avi": "examples/data/Megamind_bugy.avi",
    "vtest.avi": "examples/data/vtest.avi",
    "box.mp4": "opencv4/html/box.mp4.gz",
    "cup.mp4": "opencv4/html/cup.mp4.gz",
}

_HINT = "run make setup (installs Debian's opencv-doc: apt-get install opencv-doc)"

DEFAULT_WALLPAPER_DIR = "/usr/share/backgrounds"
#: The Debian package whose photographs :func:`find_wallpaper` locates.
WALLPAPER_PACKAGE = "lomiri-wallpapers-16.04"
_WALLPAPER_HINT = f"run make setup (installs it: apt-get install {WALLPAPER_PACKAGE})"


def opencv_doc_dir() -> pathlib.Path:
    """Return the opencv-doc directory; raise FileNotFoundError if it is not installed."""
    path = pathlib.Path(os.environ.get("UNSUP_TRACKER_OPENCV_DOC", DEFAULT_OPENCV_DOC_DIR))
    if not (path / "examples" / "data").is_dir():
        raise FileNotFoundError(f"opencv-doc sample data not found in {path}: {_HINT}")
    return path


def cache_dir() -> pathlib.Path:
    """Return (and create) the cache directory for decompressed sample videos."""
    if os.environ.get("UNSUP_TRACKER_CACHE"):
        path = pathlib.Path(os.environ["UNSUP_TRACKER_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = pathlib.Path(base) / "unsup_tracker"
    path.mkdir(parents=True, exist_ok=True)
    return path


class DecompressionError(OSError):
    """A ``.gz`` file is not valid gzip (or is truncated), or no folder could take its copy."""


def _decompression_folders() -> Iterator[pathlib.Path]:
    try:
        yield cache_dir() / "videos"
    except OSError as exc:
        LOG.debug("cache directory not usable: %s", exc)
    yield pathlib.Path(tempfile.gettempdir()) / "unsup_tracker_videos"


def decompress_gz(path) -> pathlib.Path:
    """Return a decompressed copy of ``path`` (``<name>.gz``): made once, then reused.

    Copies live in :func:`cache_dir` + ``videos/`` (a temporary folder when the cache is not
    writable). The copy's name carries a key over the absolute path, size and modification time,
    so two ``clip.mp4.gz`` from different folders do not collide and a changed file is
    decompressed again. Writes go to a temporary file renamed into place, so concurrent callers
    are safe. Raises DecompressionError for a corrupt or truncated file, or when no folder is
    writable; FileNotFoundError when ``path`` is missing.
    """
    path = pathlib.Path(path)
    stat = path.stat()
    identity = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    target_name = f"{key[:16]}_{path.name[:-3]}"
    for folder in _decompression_folders():
        target = folder / target_name
        if target.is_file():
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.replace(tmp, target)
            except BaseException:
                pathlib.Path(tmp).unlink(missing_ok=True)
                raise
            return target
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DecompressionError(
                f"{path}: not a valid (or a truncated) gzip file: {exc}") from exc
        except OSError as exc:
            LOG.debug("cannot decompress %s into %s: %s", path, folder, exc)
    raise DecompressionError(
        f"{path}: could not decompress into the cache or the temporary folder")


def _locate(name: str) -> pathlib.Path:
    root = opencv_doc_dir()
    plain = name[:-3] if name.endswith(".gz") else name
    candidates = []
    if plain in SAMPLE_VIDEOS:
        candidates.append(root / SAMPLE_VIDEOS[plain])
    for sub in ("examples/data", "opencv4/html"):
        candidates += [root / sub / plain, root / sub / (plain + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = sorted(root.rglob(plain)) + sorted(root.rglob(plain + ".gz"))
    if found:
        return found[0]
    raise FileNotFoundError(
        f"sample video {name!r} not found under {root} (known: {', '.join(SAMPLE_VIDEOS)}); "
        f"{_HINT}")


def find_sample_video(name: str) -> pathlib.Path:
    """Return a readable path of the sample video ``name`` (e.g. ``"vtest.avi"``, ``"box.mp4"``).

    Gzip-compressed videos are decompressed once by :func:`decompress_gz`. Raises
    FileNotFoundError with a hint to run ``make setup`` when opencv-doc or the video is missing.
    """
    src = _locate(name)
    return decompress_gz(src) if src.suffix == ".gz" else src


def available_sample_videos() -> dict:
    """Return ``{name: path}`` of the known sample videos present (without decompressing)."""
    try:
        root = opencv_doc_dir()
    except FileNotFoundError:
        return {}
    return {name: root / rel for name, rel in SAMPLE_VIDEOS.items() if (root / rel).is_file()}


def find_wallpaper(name: str) -> pathlib.Path:
    """Return the path of the wallpaper photo ``name`` of :data:`WALLPAPER_PACKAGE`.

    Raises FileNotFoundError with a hint to run ``make setup`` when it is missing.
    """
    if pathlib.Path(name).name != name:
        raise ValueError(f"wallpaper name {name!r} must be a plain file name")
    folder = pathlib.Path(os.environ.get("UNSUP_TRACKER_WALLPAPERS", DEFAULT_WALLPAPER_DIR))
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"wallpaper {name!r} of {WALLPAPER_PACKAGE} not found in "
                                f"{folder}: {_WALLPAPER_HINT}")
    return path
