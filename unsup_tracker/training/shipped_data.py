"""Training footage of the shipped checkpoints, listed once (``tools/train_shipped.sh``, tests).

All of it is Debian ``opencv-doc`` (:func:`unsup_tracker.sample_data.opencv_doc_dir`):

* :data:`VIDEOS`: the five sample videos;
* still photos: every ``.jpg``/``.png`` of ``examples/data`` except :data:`EXCLUDED_PHOTOS`,
  linked into one folder (:func:`link_still_photos`) so they form one stills source.

:data:`EXCLUDED_PHOTOS` is written out rather than taken from the benchmark, so the training set
does not change silently when the benchmark does: the benchmark may use these photos or fewer,
and a test fails if it reads one training uses.

:data:`METHOD_DATA` says which of the two each method trains on. ``python -m
unsup_tracker_training.shipped_data METHOD`` prints that method's ``--data`` paths, one a line
(linking the photos first when the method uses them).
"""
from __future__ import annotations

import sys
from pathlib import Path

from unsup_tracker import sample_data

#: The videos, relative to the opencv-doc directory.
VIDEOS = ("examples/data/Megamind.avi", "examples/data/vtest.avi", "examples/data/tree.avi",
          "opencv4/html/box.mp4.gz", "opencv4/html/cup.mp4.gz")
PHOTO_SUFFIXES = (".jpg", ".png")
#: opencv-doc photos training leaves out: the development benchmark's targets, occluders and
#: backgrounds (:func:`unsup_tracker.evaluation.devbench.opencv_doc_photo_names`).
EXCLUDED_PHOTOS = (
    "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg",
    "building.jpg", "butterfly.jpg", "chicky_512.png", "fruits.jpg", "graf1.png", "HappyFish.jpg",
    "home.jpg", "left.jpg", "leuvenA.jpg", "messi5.jpg", "ml.png", "orange.jpg",
    "rubberwhale1.png", "squirrel_cls.jpg", "starry_night.jpg", "WindowsLogo.jpg",
)
#: Data kinds per method, in ``--data`` order.
METHOD_DATA = {
    "udt": ("videos",),  # UDT's forward-backward cycle needs frame windows
    "s2siamfc": ("photos", "videos"),  # single images: photos plus strided video frames
    "pul": ("videos",),  # PUL mines temporal correspondences
}


def videos() -> list[Path]:
    """The video files; FileNotFoundError (with a ``make setup`` hint) when one is missing."""
    root = sample_data.opencv_doc_dir()
    paths = [root / relative for relative in VIDEOS]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}: run make setup (installs opencv-doc)")
    return paths


def still_photos() -> list[Path]:
    """The opencv-doc photos training may use: all but :data:`EXCLUDED_PHOTOS`."""
    excluded = set(EXCLUDED_PHOTOS)
    folder = sample_data.opencv_doc_dir() / "examples" / "data"
    return [path for path in sorted(folder.iterdir())
            if path.suffix.lower() in PHOTO_SUFFIXES and path.name not in excluded]


def link_still_photos(folder: Path | None = None) -> Path:
    """Fill ``folder`` (default: cache ``train_photos/``) with links to :func:`still_photos`."""
    folder = Path(folder) if folder is not None else sample_data.cache_dir() / "train_photos"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for path in still_photos():
        (folder / path.name).symlink_to(path)
    return folder


def data_paths(method: str) -> list[Path]:
    """The ``--data`` paths of ``method``'s shipped checkpoint (photos linked when used)."""
    if method not in METHOD_DATA:
        raise ValueError(f"unknown method {method!r}; shipped: {', '.join(METHOD_DATA)}")
    paths: list[Path] = []
    for kind in METHOD_DATA[method]:
        paths += [link_still_photos()] if kind == "photos" else videos()
    return paths


def main(argv: list[str] | None = None) -> int:
    """Print ``method``'s data paths, one a line; exit status 2 with a reason on failure."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m unsup_tracker_training.shipped_data "
              f"{'|'.join(METHOD_DATA)}", file=sys.stderr)
        return 2
    try:
        paths = data_paths(argv[0])
    except (ValueError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
