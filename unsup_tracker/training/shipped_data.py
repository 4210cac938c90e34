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
"""Training footage of the shipped checkpoints, listed once (``tools/train_shipped.sh``, tests).

All of it is Debian ``opencv-doc`` (:func:`unsup_tracker.sample_data.opencv_doc_dir`):

* :data:`VIDEOS`: the five sample videos;
* :data:`STILL_PHOTOS`: an explicit list of ``examples/data`` photos, linked into one folder
  (:func:`link_still_photos`) so they form one stills source.

The photo list is written out rather than derived from the benchmark, so the training set does
not change when the benchmark (or opencv-doc) does; a test fails if the benchmark reads one of
them. Left out, besides every photo the benchmark uses: their near-duplicates (other views or
frames of the same scene: ``rubberwhale2``, ``basketball2``, ``aloeR``, ``aloeGT``, ``graf3``,
``leuvenB``, ``aero1``).

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
#: The still photos, relative to ``examples/data`` of the opencv-doc directory.
STILL_PHOTOS = tuple("""
Blender_Suzanne1.jpg Blender_Suzanne2.jpg LinuxLogo.jpg blox.jpg box.png box_in_scene.png
cards.png chessboard.png detect_blob.png digits.png ela_modified.jpg ela_original.jpg ellipses.jpg
gradient.png imageTextN.png imageTextR.png left01.jpg left02.jpg left03.jpg left04.jpg left05.jpg
left06.jpg left07.jpg left08.jpg left09.jpg left11.jpg left12.jpg left13.jpg left14.jpg
licenseplate_motion.jpg mask.png notes.png opencv-logo-white.png opencv-logo.png pca_test1.jpg
pic1.png pic2.png pic3.png pic4.png pic5.png pic6.png right.jpg right01.jpg right02.jpg
right03.jpg right04.jpg right05.jpg right06.jpg right07.jpg right08.jpg right09.jpg right11.jpg
right12.jpg right13.jpg right14.jpg smarties.png stuff.jpg sudoku.png templ.png text_defocus.jpg
text_motion.jpg tmpl.png
""".split())
#: Data kinds per method, in ``--data`` order.
METHOD_DATA = {
    "udt": ("videos",),  # UDT's forward-backward cycle needs frame windows
    "s2siamfc": ("photos", "videos"),  # single images: photos plus strided video frames
    "pul": ("videos",),  # PUL mines temporal correspondences
}


def videos() -> list[Path]:
    """Return the video files; FileNotFoundError (``make setup`` hint) when one is missing."""
    root = sample_data.opencv_doc_dir()
    paths = [root / relative for relative in VIDEOS]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}: run make setup (installs opencv-doc)")
    return paths


def still_photos() -> list[Path]:
    """Return the photos of :data:`STILL_PHOTOS`; FileNotFoundError when one is missing."""
    folder = sample_data.opencv_doc_dir() / "examples" / "data"
    paths = [folder / name for name in STILL_PHOTOS]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"missing opencv-doc photos {missing} in {folder}: run make setup")
    return paths


def link_still_photos(folder: Path | None = None) -> Path:
    """Fill ``folder`` (default: cache ``train_photos/``) with links to :func:`still_photos`.

    The folder is rewritten only when its links differ, so a run reading it is never disturbed
    by another run starting.
    """
    folder = Path(folder) if folder is not None else sample_data.cache_dir() / "train_photos"
    folder.mkdir(parents=True, exist_ok=True)
    photos = still_photos()
    wanted = {path.name: path for path in photos}
    current = {entry.name: entry for entry in folder.iterdir()}
    if (current.keys() != wanted.keys()
            or any(not entry.is_symlink() or entry.resolve() != wanted[name].resolve()
                   for name, entry in current.items())):
        for entry in current.values():
            entry.unlink()
        for path in photos:
            (folder / path.name).symlink_to(path)
    return folder


def data_paths(method: str) -> list[Path]:
    """Return the ``--data`` paths of ``method``'s shipped checkpoint (photos linked)."""
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
