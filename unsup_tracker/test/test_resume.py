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
"""``--resume`` of every real method reproduces an uninterrupted run bit for bit (issue 14.3).

Each test trains a few steps on a tiny panning clip straight through, then the same run again
interrupted (KeyboardInterrupt before chosen steps, as Ctrl-C would raise it) and resumed after
each stop, and compares the final weights, optimizer state, recipe state and losses bit for bit.
The stops sit where each recipe's own state matters (S2SiamFC's cluster bank, PUL's mined pairs
and its round switch). SiamFC-based methods start from a small SiamFC (``--init``) to stay fast.
"""
from __future__ import annotations

import csv
import ctypes
import zlib

import pytest
import torch
from synthetic import one_torch_thread  # noqa: F401 (autouse fixture: runs comparable bit for bit)
from training_testdata import write_panning_video

from unsup_tracker import get_method, load_checkpoint, save_checkpoint
from unsup_tracker.methods.cyclesiam.model import build_cyclesiam
from unsup_tracker.methods.usot.model import build_usot
from unsup_tracker.models.siamfc import build_siamfc
from unsup_tracker_training.loop import TrainingError, TrainOptions, train

SMALL_SIAMFC = {"channels": [8, 16, 16, 16, 16]}

#: steps, recipe overrides and stops (1-based steps before which the run is interrupted).
CASES = {
    # Stateless: the loop's own state (weights, optimizer, RNG streams) is all there is.
    "udt": (5, {"batch_size": 4}, [3]),
    # 8 steps, negatives from step 3 (0.25 x 8 done), bank built at step 3 and refreshed at
    # step 6 (3 steps later, warm-started from the old centroids). Stops: before the bank,
    # with a bank built two steps earlier, and after the refresh.
    "s2siamfc": (8, {"batch_size": 4, "negative_fraction": 0.5, "hard_negative_start": 0.25,
                     "cluster_bank_size": 16, "kmeans_clusters": 4, "cluster_refresh_steps": 3},
                 [2, 5, 7]),
    # 6 steps, round 2 mined at step 4 (0.5 x 6 done). Stops: in round 1 after its mining,
    # just before the round switch (the resumed run mines round 2), and after it.
    "pul": (6, {"bd_steps": 3, "bd_batch_instances": 4, "bd_pool_frames": 6,
                "bd_min_patch_set": 4, "bd_per_frame": 4, "mining_pairs": 6, "mining_gap": 2,
                "mining_frame_stride": 1, "round2_pairs": 4, "round2_gap": 3, "batch_size": 4},
            [2, 4, 5]),
    # 4 steps, cycle memory from step 2 (0.5 x 4 done). Stops: in the naive stage and in the
    # memory stage (the step counter decides the stage). Data: a moving patch, for discovery.
    "usot": (4, {"batch_size": 1, "num_memories": 2, "naive_fraction": 0.5}, [2, 3]),
    # 5 steps: a pair step, three cycle steps, a refine step. Stops: in the cycle stage (its hops
    # run the resumed weights) and just before the refine stage.
    "cyclesiam": (5, {"batch_size": 1, "pair_fraction": 0.2, "refine_fraction": 0.2}, [3, 5]),
}
SMALL_USOT = {"channels": 8, "tower_layers": 1}
SMALL_CYCLESIAM = {"channels": 8, "hidden": 8, "mask_size": 8}


def scramble_c_rand(seed: int) -> None:
    """Put C ``rand()`` (which OpenCV's selective search draws from) in another state.

    PUL's proposals seed it per frame, so whatever state a run or a resume starts with must not
    matter; each run and resume here starts from a different one to prove it.
    """
    libc = ctypes.CDLL(None)
    libc.srand.argtypes = [ctypes.c_uint]
    libc.srand(seed)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume_data") / "pan.avi"
    write_panning_video(path, 40)
    return path


def start_options(method, video, out, tmp_path):
    """Options of a fresh run; also scrambles C rand() (it must not matter)."""
    steps, overrides, _ = CASES[method]
    scramble_c_rand(zlib.crc32(str(out).encode()))
    init = None
    if method != "udt":
        torch.manual_seed(0)
        init = tmp_path / f"small_{method}.pt"
        if not init.exists() and method == "usot":
            save_checkpoint(init, method, build_usot(SMALL_USOT), SMALL_USOT)
        elif not init.exists() and method == "cyclesiam":
            save_checkpoint(init, method, build_cyclesiam(SMALL_CYCLESIAM), SMALL_CYCLESIAM)
        elif not init.exists():
            save_checkpoint(init, method, build_siamfc(SMALL_SIAMFC), SMALL_SIAMFC)
    return TrainOptions(method=method, data=[str(video)], out=str(out), quiet=True, seed=5,
                        steps=steps, overrides=dict(overrides), device="cpu",
                        checkpoint_every=1000, init=str(init) if init else None)


def interrupt_before(monkeypatch, method, stops):
    """Make the recipe raise KeyboardInterrupt before each step in ``stops`` (once each)."""
    recipe_cls = get_method(method).recipe_cls
    original = recipe_cls.sample_batch
    pending = list(stops)
    done = {"steps": 0}

    def sample_batch(self, source, rng):
        if pending and done["steps"] + 1 == pending[0]:
            pending.pop(0)
            raise KeyboardInterrupt
        done["steps"] += 1
        return original(self, source, rng)

    monkeypatch.setattr(recipe_cls, "sample_batch", sample_batch)


def run_with_stops(monkeypatch, method, video, out, tmp_path):
    """Train with the case's stops, resuming after each; the recipe state at each stop.

    Each resumed run starts with C ``rand()`` in another state (it must not matter).
    """
    interrupt_before(monkeypatch, method, CASES[method][2])
    states = []
    options = start_options(method, video, out, tmp_path)
    for stop in CASES[method][2]:
        with pytest.raises(KeyboardInterrupt):
            train(options)
        state = load_checkpoint(out / f"{method}_last.pt", method).training_state
        assert state["step"] == stop - 1
        states.append(state["recipe"]["state"])
        scramble_c_rand(stop)
        options = TrainOptions(method=method, data=[str(video)], out=str(out), quiet=True,
                               resume=True, device="cpu", checkpoint_every=1000)
    train(options)
    monkeypatch.undo()
    return states


def losses(folder):
    with open(folder / "loss.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def assert_identical(a, b, where="state"):
    """Nested dicts/lists/tensors equal bit for bit (tensors: same dtype, shape and values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{index}]")
    else:
        assert a == b or (a != a and b != b), where


def assert_same_run(method, straight, resumed):
    a = load_checkpoint(straight / f"{method}.pt", method)
    b = load_checkpoint(resumed / f"{method}.pt", method)
    assert a.meta["steps"] == b.meta["steps"] == CASES[method][0]
    assert_identical(a.state_dict, b.state_dict, "weights")
    last_a = load_checkpoint(straight / f"{method}_last.pt", method).training_state
    last_b = load_checkpoint(resumed / f"{method}_last.pt", method).training_state
    for state in (last_a, last_b):  # wall-clock figures of PUL's log summary
        summary = state["recipe"]["state"].get("summary", {})
        for key in [k for k in summary if k.endswith("_seconds")]:
            del summary[key]
    for key in ("optimizer", "scheduler", "numpy_rng", "torch_rng", "python_rng",
                "recipe"):
        assert_identical(last_a[key], last_b[key], key)
    assert losses(straight) == losses(resumed)


def test_udt_resume_is_bit_identical(video, tmp_path, monkeypatch):
    train(start_options("udt", video, tmp_path / "straight", tmp_path))
    run_with_stops(monkeypatch, "udt", video, tmp_path / "resumed", tmp_path)
    assert_same_run("udt", tmp_path / "straight", tmp_path / "resumed")


def test_s2siamfc_resume_with_cluster_bank_is_bit_identical(video, tmp_path, monkeypatch):
    train(start_options("s2siamfc", video, tmp_path / "straight", tmp_path))
    states = run_with_stops(monkeypatch, "s2siamfc", video, tmp_path / "resumed", tmp_path)
    # The stops fall where they should: no bank yet, a bank of step 2, the refreshed bank.
    assert states[0]["bank"] is None
    assert states[1]["bank"]["built_at"] == 2 and states[2]["bank"]["built_at"] == 5
    assert len(states[1]["bank"]["frames"]) == 16
    assert_same_run("s2siamfc", tmp_path / "straight", tmp_path / "resumed")
    negatives = [float(row["negatives"]) for row in losses(tmp_path / "resumed")]
    assert sum(negatives[5:]) > 0  # the restored banks were used


def test_pul_resume_across_its_rounds_is_bit_identical(video, tmp_path, monkeypatch):
    train(start_options("pul", video, tmp_path / "straight", tmp_path))
    states = run_with_stops(monkeypatch, "pul", video, tmp_path / "resumed", tmp_path)
    assert [s["round2_done"] for s in states] == [False, False, True]
    assert len(states[2]["pairs"]) > len(states[1]["pairs"]) >= 2
    assert_same_run("pul", tmp_path / "straight", tmp_path / "resumed")
    mined = [float(row["mined_pairs"]) for row in losses(tmp_path / "resumed")]
    assert mined[2] < mined[3]  # round 2 was mined by the resumed run, at step 4


def test_usot_resume_across_its_stages_is_bit_identical(tmp_path, monkeypatch):
    from test_discovery import _write_video, moving_patch_clip
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    video = tmp_path / "patch.avi"
    _write_video(video, moving_patch_clip(frames=40)[0])
    train(start_options("usot", video, tmp_path / "straight", tmp_path))
    states = run_with_stops(monkeypatch, "usot", video, tmp_path / "resumed", tmp_path)
    assert [s["own_step"] for s in states] == [1, 2]
    assert_same_run("usot", tmp_path / "straight", tmp_path / "resumed")
    mem = [float(row["mem"]) for row in losses(tmp_path / "resumed")]
    assert mem[1] != mem[1] and mem[2] == mem[2]      # NaN in the naive stage, then memory


def test_resume_refuses_recipe_state_of_other_data(video, tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_before(monkeypatch, "s2siamfc", [4])
    with pytest.raises(KeyboardInterrupt):
        train(start_options("s2siamfc", video, out, tmp_path))
    with pytest.raises(TrainingError, match="refers to its frames by position"):
        train(TrainOptions(method="s2siamfc", data=[str(video)], out=str(out), quiet=True,
                           resume=True, device="cpu", max_side=100))


def test_cyclesiam_resume_across_its_stages_is_bit_identical(tmp_path, monkeypatch):
    from test_discovery import _write_video, moving_patch_clip
    monkeypatch.setenv("UNSUP_TRACKER_CACHE", str(tmp_path / "cache"))
    video = tmp_path / "patch.avi"
    _write_video(video, moving_patch_clip(frames=40)[0])
    train(start_options("cyclesiam", video, tmp_path / "straight", tmp_path))
    states = run_with_stops(monkeypatch, "cyclesiam", video, tmp_path / "resumed", tmp_path)
    assert [s["own_step"] for s in states] == [2, 4]
    assert_same_run("cyclesiam", tmp_path / "straight", tmp_path / "resumed")
    cls = [float(row["cls"]) for row in losses(tmp_path / "resumed")]
    assert len(cls) == 5 and all(c == c for c in cls)
