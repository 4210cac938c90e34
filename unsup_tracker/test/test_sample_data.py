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
"""The opencv-doc sample videos are found, decompressed into the cache, and decodable."""
import cv2
import pytest

from unsup_tracker import sample_data

from installed import require_footage


def test_missing_opencv_doc_message(monkeypatch, tmp_path):
    monkeypatch.setenv("UNSUP_TRACKER_OPENCV_DOC", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="run make setup"):
        sample_data.find_sample_video("vtest.avi")


@pytest.mark.parametrize("name", ["Megamind.avi", "vtest.avi", "box.mp4", "cup.mp4"])
def test_sample_video_decodes(name, monkeypatch, tmp_path):
    require_footage(name)
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path))
    path = sample_data.find_sample_video(name)
    assert path.is_file()
    assert sample_data.find_sample_video(name) == path  # cached the second time
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok and frame.ndim == 3 and frame.shape[0] >= 240


def test_missing_wallpaper_message(monkeypatch, tmp_path):
    monkeypatch.setenv("UNSUP_TRACKER_WALLPAPERS", str(tmp_path))
    hint = f"apt-get install {sample_data.WALLPAPER_PACKAGE}"
    with pytest.raises(FileNotFoundError, match=hint):
        sample_data.find_wallpaper("Dragonfly_by_Bolly.jpg")
    with pytest.raises(ValueError, match="plain file name"):
        sample_data.find_wallpaper("../etc/passwd")
