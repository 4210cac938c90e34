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
from installed import require_devbench_footage, require_footage

from unsup_tracker import sample_data
from unsup_tracker.evaluation import devbench
from unsup_tracker_training import cli as train_cli
from unsup_tracker_training import shipped_data
from unsup_tracker_training.sources import (DevbenchFootageError, open_sources,
                                            refuse_devbench_footage)

VIDEO_SUFFIXES = (".avi", ".mp4", ".gz", ".mkv", ".mov", ".webm")


def test_backgrounds_are_photos_from_the_lists():
    backgrounds = [background for background, _ in devbench.TEMPLATES]
    assert len(devbench.TEMPLATES) == devbench.DEFAULT_NUM_SEQUENCES == 12
    assert set(backgrounds) <= set(devbench.BACKGROUND_PHOTOS + devbench.WALLPAPER_BACKGROUNDS)
    assert not [b for b in backgrounds if b.lower().endswith(VIDEO_SUFFIXES)]
    # The benchmark reads no opencv-doc photo that training keeps, and none of its videos.
    assert not set(devbench.opencv_doc_photo_names()) & set(shipped_data.STILL_PHOTOS)
    training_names = {relative.rsplit("/", 1)[-1] for relative in shipped_data.VIDEOS}
    assert not training_names & set(devbench.opencv_doc_photo_names())
    with pytest.raises(ValueError, match="not a development-benchmark source"):
        devbench.source_path("vtest.avi")


def test_devbench_sources_and_shipped_training_data_are_disjoint(tmp_path, monkeypatch):
    sources = require_devbench_footage()
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path))  # the photo links go here
    index = devbench.SourceIndex(sources)
    source_names = {path.name for path in sources}
    seen = set()
    for method in shipped_data.METHOD_DATA:
        data = shipped_data.data_paths(method)
        files = [f for path in data for f in (sorted(path.iterdir()) if path.is_dir() else [path])]
        assert files and all(f.is_file() for f in files)
        for f in files:
            assert f.name not in source_names, f
            assert index.match(f) is None, f
        seen.update(f.resolve() for f in files)
        # The training module's own check accepts the whole shipped data set.
        opened = open_sources(data, images_as="stills")
        refuse_devbench_footage(opened, index)
    assert not seen & {path.resolve() for path in sources}
    # The still photos are the listed ones, all present (62 of opencv-doc 4.6's 91).
    photo_dir = require_footage() / "examples" / "data"
    kept = [p.name for p in shipped_data.still_photos()]
    assert kept == list(shipped_data.STILL_PHOTOS) and len(set(kept)) == 62
    assert all((photo_dir / name).is_file() for name in kept)
    # Near-duplicates of benchmark photos (another view or frame of the same scene) stay out.
    for name in ("rubberwhale2.png", "basketball2.png", "aloeR.jpg", "aloeGT.png", "graf3.png",
                 "leuvenB.jpg", "aero1.jpg"):
        assert name not in kept


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

    clean = tmp_path / "clean"
    clean.mkdir()
    _write_photo(clean / "a.jpg", 4)
    _write_photo(clean / "b.jpg", 5)
    refuse_devbench_footage(open_sources([clean]), index)
    shutil.copy(apple, clean / "holiday.jpg")  # one benchmark photo hidden in a folder
    with pytest.raises(DevbenchFootageError, match="holiday.jpg is development-benchmark"):
        refuse_devbench_footage(open_sources([clean], images_as="stills"), index)


def test_training_refuses_a_devbench_source(tmp_path, capsys):
    sources = require_devbench_footage()
    wallpaper = sample_data.find_wallpaper(devbench.WALLPAPER_BACKGROUNDS[0])
    target = devbench.source_path(devbench.TARGET_PHOTOS[0].photo)
    assert wallpaper in sources and target in sources
    with pytest.raises(DevbenchFootageError, match="development-benchmark footage"):
        open_sources([wallpaper])
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
