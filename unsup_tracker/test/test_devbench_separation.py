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
"""Training never sees development-benchmark footage: the lists are disjoint, training refuses it.

Tests marked by :mod:`installed` need the installed packages; the guard's
matching rules are also checked on files made here, which needs no footage.
"""
import json
import shutil

import cv2
import numpy as np
import pytest
from installed import require_devbench_footage

from unsup_tracker import sample_data
from unsup_tracker.evaluation import devbench
from unsup_tracker_training import cli as train_cli
from unsup_tracker_training import shipped_data
from unsup_tracker_training.sources import (DevbenchFootageError, open_sources,
                                            refuse_devbench_footage)

VIDEO_SUFFIXES = (".avi", ".mp4", ".gz", ".mkv", ".mov", ".webm")


BENCHMARK_NAMES = ("otb", "vot20", "vot-", "uav123", "dtb70", "uavdt", "lasot", "got-10k",
                   "got10k", "trackingnet", "davis", "youtube-vos", "ytvos", "real_dev")


def _listed_names(groups):
    return {name.rsplit("/", 1)[-1] for group in groups for name in group.names}


def test_backgrounds_are_photos_from_the_lists():
    backgrounds = [background for background, _ in devbench.TEMPLATES]
    assert len(devbench.TEMPLATES) == devbench.DEFAULT_NUM_SEQUENCES == 12
    assert set(backgrounds) <= set(devbench.BACKGROUND_PHOTOS + devbench.WALLPAPER_BACKGROUNDS)
    assert not [b for b in backgrounds if b.lower().endswith(VIDEO_SUFFIXES)]
    # The benchmark reads no photo or video that training lists (any package).
    benchmark = set(devbench.opencv_doc_photo_names()) | set(devbench.WALLPAPER_BACKGROUNDS)
    assert not benchmark & _listed_names(shipped_data.PHOTO_SETS)
    assert not benchmark & _listed_names(shipped_data.VIDEO_SETS)
    with pytest.raises(ValueError, match="not a development-benchmark source"):
        devbench.source_path("vtest.avi")


def test_lists_leave_out_near_duplicates_and_benchmarks():
    photos = _listed_names(shipped_data.PHOTO_SETS)
    # Near-duplicates of benchmark photos (another view or frame of the same scene) stay out,
    # and so does every excluded name.
    for name in ("rubberwhale2.png", "basketball2.png", "aloeR.jpg", "aloeGT.png", "graf3.png",
                 "leuvenB.jpg", "aero1.jpg", "motorcycle_left.png", "motorcycle_right.png"):
        assert name not in photos
    for excluded in shipped_data.EXCLUDED.values():
        assert not set(excluded) & photos
    # No file of a tracking benchmark, wherever it is.
    for group in shipped_data.PHOTO_SETS + shipped_data.VIDEO_SETS:
        for name in (group.root,) + group.names:
            assert not [b for b in BENCHMARK_NAMES if b in name.lower()], name
    # One name per photo in the linked folder; the opencv-doc list is the reviewed one.
    links = [shipped_data.link_name(g, n) for g in shipped_data.PHOTO_SETS for n in g.names]
    assert len(links) == len(set(links))
    assert len(shipped_data.STILL_PHOTOS) == len(set(shipped_data.STILL_PHOTOS)) == 62
    # make data installs what the lists read (make setup the rest).
    packages = {g.package for g in shipped_data.PHOTO_SETS + shipped_data.VIDEO_SETS}
    pypi = {requirement.split("==")[0] for requirement in shipped_data.PYPI_PACKAGES}
    assert packages == set(shipped_data.DEBIAN_PACKAGES) | pypi | set(
        shipped_data.SETUP_PACKAGES)


def _thumbnail(path):
    """Return a 32x32 grey thumbnail, zero mean, unit norm (copies of a photo correlate ~1)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    small = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    small -= small.mean()
    return small / max(np.linalg.norm(small), 1e-9)


def _check_no_resized_copies(photos, sources):
    """Check no training photo is a resized or re-encoded copy of a benchmark photo.

    Unrelated photos correlate below 0.8 here; other views of a scene are the reviewed lists' job.
    """
    bench = np.stack([_thumbnail(path) for path in sources])
    for photo in photos:
        correlation = bench @ _thumbnail(photo)
        assert correlation.max() < 0.95, (photo, sources[int(correlation.argmax())])


def _check_disjoint(data, index, source_names):
    opened = open_sources(data, images_as="stills")
    files = [f for source in opened for f in source.files()]
    assert files and all(f.is_file() for f in files)
    for f in files:
        assert f.name not in source_names, f
        assert index.match(f) is None, f
    # The training module's own check accepts the whole data set.
    refuse_devbench_footage(opened, index)
    return {f.resolve() for f in files}


def test_setup_footage_is_disjoint_from_the_benchmark(tmp_path):
    """What make setup installs (opencv-doc, the wallpapers, matplotlib) and the synth clips."""
    sources = require_devbench_footage()
    index = devbench.SourceIndex(sources)
    source_names = {path.name for path in sources}
    groups = [g for g in shipped_data.PHOTO_SETS if g.package in shipped_data.SETUP_PACKAGES]
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    for group in groups:
        for name, path in zip(group.names, group.paths()):
            (photo_dir / shipped_data.link_name(group, name)).symlink_to(path)
    videos = shipped_data.VIDEO_SETS[0].paths()  # opencv-doc's
    synth_spec = shipped_data.synth_spec(photo_dir)
    seen = _check_disjoint([photo_dir, synth_spec] + videos, index, source_names)
    assert not seen & {path.resolve() for path in sources}
    _check_no_resized_copies(sorted(photo_dir.iterdir()), sources)
    kept = [p.name for p in shipped_data.still_photos()]
    assert kept == list(shipped_data.STILL_PHOTOS)


def test_make_data_footage_is_disjoint_from_the_benchmark(tmp_path, monkeypatch):
    """Every method's shipped --data (needs make data: skipped where it was not run)."""
    sources = require_devbench_footage()
    try:
        shipped_data.photos(), shipped_data.videos()
    except FileNotFoundError as exc:
        pytest.skip(f"make data was not run: {exc}")
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path))  # the photo links go here
    index = devbench.SourceIndex(sources)
    source_names = {path.name for path in sources}
    for footage, methods in shipped_data.FOOTAGE.items():
        for method in methods:
            seen = _check_disjoint(shipped_data.data_args(method, footage), index, source_names)
            assert not seen & {path.resolve() for path in sources}
    _check_no_resized_copies(shipped_data.photos(), sources)


def _write_photo(path, seed):
    image = np.random.default_rng(seed).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def fake_sources(tmp_path):
    folder = tmp_path / "bench_sources"
    folder.mkdir()
    return [_write_photo(folder / "apple.jpg", 1), _write_photo(folder / "tree.png", 2)]


def test_guard_matches_path_copy_and_renamed_copy(tmp_path, fake_sources):
    index = devbench.SourceIndex(fake_sources)
    apple = fake_sources[0]
    assert index.match(apple) == apple
    link = tmp_path / "link.jpg"
    link.symlink_to(apple)
    assert index.match(link) == apple
    copy_dir = tmp_path / "copies"
    copy_dir.mkdir()
    assert index.match(shutil.copy(apple, copy_dir / "apple.jpg")) == apple
    assert index.match(shutil.copy(apple, copy_dir / "renamed.jpg")) == apple
    other = _write_photo(tmp_path / "other.jpg", 3)
    assert index.match(other) is None
    # A resized, re-encoded copy escapes the file index but not the thumbnail check.
    image = cv2.imread(str(apple))
    resized = tmp_path / "resized.png"
    cv2.imwrite(str(resized), cv2.resize(image, (80, 64), interpolation=cv2.INTER_CUBIC))
    assert index.match(resized) is None
    _check_no_resized_copies([other], fake_sources)
    with pytest.raises(AssertionError, match="resized.png"):
        _check_no_resized_copies([other, resized], fake_sources)

    clean = tmp_path / "clean"
    clean.mkdir()
    _write_photo(clean / "a.jpg", 4)
    _write_photo(clean / "b.jpg", 5)
    refuse_devbench_footage(open_sources([clean]), index)
    refuse_devbench_footage(open_sources([f"synth,frames=2:{clean}"]), index)
    shutil.copy(apple, clean / "holiday.jpg")  # one benchmark photo hidden in a folder
    with pytest.raises(DevbenchFootageError, match="holiday.jpg is development-benchmark"):
        refuse_devbench_footage(open_sources([clean], images_as="stills"), index)
    # Synthetic clips read their photos: one benchmark photo among them refuses them all.
    with pytest.raises(DevbenchFootageError, match="holiday.jpg is development-benchmark"):
        refuse_devbench_footage(open_sources([f"synth,frames=2:{clean}"]), index)


def test_training_refuses_a_devbench_source(tmp_path, capsys):
    sources = require_devbench_footage()
    wallpaper = sample_data.find_wallpaper(devbench.WALLPAPER_BACKGROUNDS[0])
    target = devbench.source_path(devbench.TARGET_PHOTOS[0].photo)
    assert wallpaper in sources and target in sources
    with pytest.raises(DevbenchFootageError, match="development-benchmark footage"):
        open_sources([wallpaper])
    with pytest.raises(DevbenchFootageError, match="development-benchmark footage"):
        open_sources([f"synth:{wallpaper}"])
    folder = tmp_path / "mixed"
    folder.mkdir()
    _write_photo(folder / "mine.jpg", 7)
    shutil.copy(target, folder / target.name)
    out = tmp_path / "run"
    status = train_cli.main(["--method", "udt", "--data", str(folder), "--out", str(out),
                             "--steps", "1", "--quiet"])
    assert status == 2
    error = capsys.readouterr().err
    assert f"{target.name} is development-benchmark footage" in error
    assert not (out / "checkpoint.pt").exists()


def test_rendered_benchmark_sequences_are_refused(tmp_path, fake_sources):
    index = devbench.SourceIndex(fake_sources)
    root = tmp_path / "bench"
    sequence = root / "dev01_x"
    (sequence / "img").mkdir(parents=True)
    for i in range(3):
        _write_photo(sequence / "img" / f"{i + 1:04d}.jpg", 10 + i)
    # Another tool's meta.json does not count.
    (sequence / "meta.json").write_text(json.dumps({"generator": "someone.else"}))
    refuse_devbench_footage(open_sources([sequence]), index)
    (sequence / "meta.json").write_text(json.dumps({"generator": devbench.__name__}))
    with pytest.raises(DevbenchFootageError, match="rendered development benchmark"):
        refuse_devbench_footage(open_sources([sequence]), index)
    with pytest.raises(DevbenchFootageError, match="rendered development benchmark"):
        open_sources([sequence / "img" / "0002.jpg"])
    link = tmp_path / "elsewhere.jpg"  # a link into the benchmark resolves to it
    link.symlink_to(sequence / "img" / "0001.jpg")
    with pytest.raises(DevbenchFootageError, match="rendered development benchmark"):
        open_sources([link])
    # The benchmark's index file at its root marks every sequence below it.
    (sequence / "meta.json").unlink()
    refuse_devbench_footage(open_sources([sequence]), index)
    (root / devbench.INDEX_FILE).write_text(json.dumps({"generator_version": 2}))
    with pytest.raises(DevbenchFootageError, match="rendered development benchmark"):
        open_sources([root])
