"""Real sample videos from Debian's ``opencv-doc`` package (installed by ``make setup``).

``opencv-doc`` 4.6 on Debian 12 puts them here (relative to :func:`opencv_doc_dir`)::

    examples/data/Megamind.avi       720x528, a face moving across the frame
    examples/data/Megamind_bugy.avi  the same with broken frames
    examples/data/vtest.avi          768x576, pedestrians (static camera)
    opencv4/html/box.mp4.gz          a box moved by hand (gzip: decompressed into the cache)
    opencv4/html/cup.mp4.gz          a cup moved by hand (gzip: decompressed into the cache)

Environment: ``UNSUP_TRACKER_OPENCV_DOC`` overrides the opencv-doc directory,
``UNSUP_TRACKER_CACHE`` the cache directory (default ``~/.cache/unsup_tracker``).
"""
import gzip
import os
import pathlib
import shutil
import tempfile

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

    Gzip-compressed videos are decompressed once into :func:`cache_dir` (atomically, so
    concurrent callers are safe). Raises FileNotFoundError with a hint to run ``make setup``
    when opencv-doc or the video is missing.
    """
    src = _locate(name)
    if src.suffix != ".gz":
        return src
    dst = cache_dir() / src.name[:-3]
    if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime and dst.stat().st_size > 0:
        return dst
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dst


def available_sample_videos() -> dict:
    """Return ``{name: path}`` of the known sample videos present (without decompressing)."""
    try:
        root = opencv_doc_dir()
    except FileNotFoundError:
        return {}
    return {name: root / rel for name, rel in SAMPLE_VIDEOS.items() if (root / rel).is_file()}
