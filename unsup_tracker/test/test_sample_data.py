"""The opencv-doc sample videos are found, decompressed into the cache, and decodable."""
import cv2
import pytest

from unsup_tracker import sample_data

from shipped_data import require_footage


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
