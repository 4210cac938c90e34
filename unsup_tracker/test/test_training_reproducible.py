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
"""A run from scratch is bit-identical when repeated: the property shipped checkpoints rely on.

Every method trains twice on the same real video file through the training loop (the path
``unsup-tracker-train`` and ``tools/train_shipped.sh`` take), with pinned recipe and network
parameters and one thread; the weights must match bit for bit and must have moved from their
initial values. The full shipped runs are compared by ``bench/bench_reproducible_training.py``.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from unsup_tracker import UNTRAINED, build_model, load_checkpoint
from unsup_tracker_training.cli import main
from unsup_tracker_training.loop import ConfigError, TrainOptions, train

SMALL_SIAMFC = {"channels": [8, 16, 16, 16, 16]}
#: Small but complete runs: every stage of each recipe happens within the steps.
RUNS = {
    "udt": dict(steps=4, overrides={"batch_size": 4, "window_length": 4},
                model_overrides={"channels": 8}),
    "s2siamfc": dict(steps=4, overrides={"batch_size": 4, "hard_negative_start": 0.0,
                                         "kmeans_clusters": 2, "kmeans_iterations": 3,
                                         "cluster_bank_size": 16, "cluster_refresh_steps": 2},
                     model_overrides=SMALL_SIAMFC, images_as="stills"),
    "pul": dict(steps=4, overrides=dict(bd_steps=2, bd_pool_frames=4, bd_batch_instances=4,
                                        bd_min_patch_set=8, bd_round_steps=2, mining_pairs=4,
                                        mining_gap=3, mining_frame_stride=1, round2_pairs=2,
                                        round2_gap=4, round2_start=0.5, batch_size=2),
                model_overrides=SMALL_SIAMFC),
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Write a 12-frame 320x240 MJPG video: a textured square moving over a texture."""
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3)).astype(np.uint8), (7, 7), 0)
    patch = cv2.GaussianBlur(rng.integers(0, 255, (48, 48, 3)).astype(np.uint8), (3, 3), 0)
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    assert writer.isOpened()
    for i in range(12):
        frame = np.roll(background, 3 * i, axis=1)
        frame[90 + i:138 + i, 60 + 12 * i:108 + 12 * i] = patch
        writer.write(frame)
    writer.release()
    return path


def _train(method: str, clip, out) -> dict[str, torch.Tensor]:
    run = RUNS[method]
    result = train(TrainOptions(method=method, data=[str(clip)], out=str(out), quiet=True,
                                seed=3, threads=1, device="cpu", steps=run["steps"],
                                overrides=run["overrides"],
                                model_overrides=run["model_overrides"],
                                images_as=run.get("images_as", "auto")))
    assert result.steps == run["steps"]
    checkpoint = load_checkpoint(result.checkpoint, method)
    assert checkpoint.meta["threads"] == 1
    for key, value in run["model_overrides"].items():
        assert checkpoint.model_config[key] == value
    return checkpoint.state_dict


@pytest.mark.parametrize("method", sorted(RUNS))
def test_training_from_scratch_is_bit_identical(method, clip, tmp_path):
    threads = torch.get_num_threads()
    try:
        first = _train(method, clip, tmp_path / "a")
        second = _train(method, clip, tmp_path / "b")
    finally:
        torch.set_num_threads(threads)
    fresh, _ = build_model(method, UNTRAINED, model_config=RUNS[method]["model_overrides"])
    assert first.keys() == second.keys() == fresh.state_dict().keys()
    for name in first:
        assert torch.equal(first[name], second[name]), f"{method}: {name} differs between runs"
    # The runs trained: some weight left its initial value (a run that learns nothing would
    # trivially reproduce).
    assert any(not torch.equal(first[n], t) for n, t in fresh.state_dict().items()
               if t.is_floating_point())


def test_model_set_configures_a_fresh_network_and_refuses_unknown_keys(clip, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--method", "udt", "--data", str(clip), "--out", str(out), "--steps", "1",
                 "--quiet", "--device", "cpu", "--threads", "1", "--set", "batch_size=2",
                 "--set", "window_length=3", "--model-set", "channels=8"]) == 0
    checkpoint = load_checkpoint(out / "udt.pt", "udt")
    assert checkpoint.model_config["channels"] == 8
    assert "--model-set channels=8" in checkpoint.meta["training_command"]
    assert main(["--method", "udt", "--data", str(clip), "--out", str(tmp_path / "p"),
                 "--steps", "1", "--quiet", "--model-set", "chanels=8"]) == 2
    assert "chanels" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="from scratch"):
        train(TrainOptions(method="udt", data=[str(clip)], out=str(tmp_path / "q"), quiet=True,
                           init=str(out / "udt.pt"), model_overrides={"channels": 8}))
    with pytest.raises(ConfigError, match="threads"):
        train(TrainOptions(method="udt", data=[str(clip)], out=str(tmp_path / "r"), quiet=True,
                           threads=0))
