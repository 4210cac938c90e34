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
"""Generic training loop and CLI, driven by a tiny test recipe (a test double for real methods).

The test method ``tiny_test`` predicts frame t+1 from frame t with a two-layer conv net: a real,
if trivial, self-supervised loss on real (synthetic) video, cheap enough to train in seconds.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import time

import cv2
import numpy as np
import pytest
import torch
from synthetic import one_torch_thread  # noqa: F401 (autouse fixture: runs comparable bit for bit)
from training_testdata import write_video

from unsup_tracker import list_methods, load_checkpoint
from unsup_tracker.checkpoint import CheckpointError
from unsup_tracker.params import Params, TrackerParams
from unsup_tracker.recipe import TrainingRecipe
from unsup_tracker.registry import MethodSpec, get_method, register_method
from unsup_tracker.tracker_base import Tracker, TrackResult
from unsup_tracker_training.loop import ConfigError, TrainingError, TrainOptions, train
from unsup_tracker_training.cli import main

METHOD = "tiny_test"


class TinyNet(torch.nn.Module):
    def __init__(self, channels: int = 4):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3, padding=1),
                                        torch.nn.ReLU(),
                                        torch.nn.Conv2d(channels, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


@dataclasses.dataclass
class TinyParams(Params):
    batch_size: int = 2
    crop: int = 24
    lr: float = 0.01
    #: Test hooks: raise KeyboardInterrupt on this sample_batch call (0: never), sleep per
    #: step, make every loss NaN.
    interrupt_at_call: int = 0
    sleep_seconds: float = 0.0
    nan_loss: bool = False


class TinyRecipe(TrainingRecipe):
    params_cls = TinyParams
    data_kind = "video"
    default_steps = 4

    def __init__(self, params, model_config):
        super().__init__(params, model_config)
        self.calls = 0
        self.prepared = False

    def prepare(self, model, source, rng):
        self.prepared = True

    def sample_batch(self, source, rng):
        self.calls += 1
        if self.calls == self.params.interrupt_at_call:
            raise KeyboardInterrupt
        if self.params.sleep_seconds:
            time.sleep(self.params.sleep_seconds)
        pairs = []
        for _ in range(self.params.batch_size):
            window = source.sample_window(2, rng)
            window = window if len(window) == 2 else window * 2
            y, x = (int(rng.integers(s - self.params.crop + 1)) for s in window[0].shape[:2])
            pairs.append([f[y:y + self.params.crop, x:x + self.params.crop] for f in window])
        data = torch.from_numpy(np.stack(pairs)).float().div(255)  # B, 2, H, W, C
        data = data.permute(0, 1, 4, 2, 3)
        return {"now": data[:, 0].contiguous(), "next": data[:, 1].contiguous()}

    def loss(self, model, batch):
        error = torch.nn.functional.mse_loss(model(batch["now"]), batch["next"])
        if self.params.nan_loss:
            error = error * float("nan")
        return error, {"mse": float(error.detach()), "copy_mse": float(
            torch.nn.functional.mse_loss(batch["now"], batch["next"]))}

    def make_optimizer(self, model, total_steps):
        optimizer = torch.optim.Adam(model.parameters(), lr=self.params.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(total_steps, 1))
        return optimizer, scheduler


class TinyTracker(Tracker):
    def __init__(self, model, params, device):
        super().__init__(params)
        self.box = None

    def _init(self, image, box):
        self.box = np.asarray(box, dtype=float)

    def _track(self, image):
        return TrackResult(box=self.box, score=1.0)


if METHOD not in list_methods():
    register_method(MethodSpec(
        name=METHOD, params_cls=TrackerParams, build_model=lambda cfg: TinyNet(**cfg),
        tracker_cls=TinyTracker, default_model_config={"channels": 4}, recipe_cls=TinyRecipe,
        description="test double"))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "clip.avi"
    write_video(path, 16, source_id=0)
    return path


def options(video, out, **kwargs):
    return TrainOptions(method=METHOD, data=[str(video)], out=str(out), quiet=True, **kwargs)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_runs_and_writes_log_and_checkpoints(video, tmp_path):
    out = tmp_path / "run"
    result = train(options(video, out, steps=6, checkpoint_every=4, seed=3,
                           command="unsup-tracker-train --method tiny_test ..."))
    assert result.steps == 6 and result.stop_reason == "steps"
    assert np.isfinite(result.final_loss)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["loss.csv", "tiny_test.pt", "tiny_test_last.pt", "tiny_test_step4.pt",
                     "tiny_test_step6.pt"]
    rows = read_csv(out / "loss.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert list(rows[0]) == ["step", "time", "loss", "lr", "grad_norm", "copy_mse", "mse"]
    assert float(rows[0]["lr"]) == pytest.approx(0.01)
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # the cosine schedule was stepped
    assert all(float(r["loss"]) == pytest.approx(float(r["mse"]), rel=1e-4) for r in rows)

    for name in names[1:]:
        payload = torch.load(out / name, map_location="cpu", weights_only=True)
        assert payload["method"] == METHOD
    final = load_checkpoint(out / "tiny_test.pt", METHOD)
    meta = final.meta
    assert meta["training_command"] == "unsup-tracker-train --method tiny_test ..."
    assert meta["steps"] == 6 and meta["seed"] == 3 and meta["total_steps"] == 6
    assert meta["final_loss"] == pytest.approx(result.final_loss)
    assert meta["elapsed_seconds"] > 0 and meta["code_version"]
    assert meta["recipe_params"]["lr"] == 0.01
    (entry,) = meta["data_manifest"]
    assert entry["file"] == "clip.avi" and entry["frames_used"] == 16
    assert entry["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert final.training_state is None  # the deployable file carries weights and meta only
    last = load_checkpoint(out / "tiny_test_last.pt", METHOD)
    assert last.training_state["step"] == 6 and last.training_state["optimizer"]["state"]
    step4 = load_checkpoint(out / "tiny_test_step4.pt", METHOD)
    assert step4.meta["steps"] == 4
    assert not all(torch.equal(step4.state_dict[k], final.state_dict[k]) for k in final.state_dict)
    # The trained checkpoint builds the method's model and tracker like shipped weights do.
    from unsup_tracker import build_tracker
    assert isinstance(build_tracker(METHOD, out / "tiny_test.pt", device="cpu"), TinyTracker)


def test_resume_matches_an_uninterrupted_run(video, tmp_path):
    straight = train(options(video, tmp_path / "straight", steps=8, checkpoint_every=100, seed=7))
    with pytest.raises(KeyboardInterrupt):  # interrupted before the 4th step's batch
        train(options(video, tmp_path / "resumed", steps=8, checkpoint_every=100, seed=7,
                      overrides={"interrupt_at_call": 4}))
    interrupted = load_checkpoint(tmp_path / "resumed" / "tiny_test_last.pt", METHOD)
    assert interrupted.training_state["step"] == 3
    assert not (tmp_path / "resumed" / "tiny_test.pt").exists()

    resumed = train(options(video, tmp_path / "resumed", resume=True,
                            overrides={"interrupt_at_call": 0}))
    assert resumed.steps == 8 and resumed.total_steps == 8
    a = load_checkpoint(tmp_path / "straight" / "tiny_test_last.pt", METHOD)
    b = load_checkpoint(tmp_path / "resumed" / "tiny_test_last.pt", METHOD)
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    moments_a = a.training_state["optimizer"]["state"]
    moments_b = b.training_state["optimizer"]["state"]
    for index in moments_a:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(moments_a[index][name], moments_b[index][name])
    losses_a = [r["loss"] for r in read_csv(tmp_path / "straight" / "loss.csv")]
    rows_b = read_csv(tmp_path / "resumed" / "loss.csv")
    assert [int(r["step"]) for r in rows_b] == list(range(1, 9))
    assert [r["loss"] for r in rows_b] == losses_a
    assert resumed.final_loss == straight.final_loss
    assert len(b.meta["training_commands"]) == 2


def test_resume_refuses_a_checkpoint_without_or_with_foreign_recipe_state(video, tmp_path):
    out = tmp_path / "run"
    train(options(video, out, steps=3))
    last = out / "tiny_test_last.pt"
    payload = torch.load(last, map_location="cpu", weights_only=True)
    assert payload["training_state"]["recipe"] == {"method": METHOD, "state": {}}
    payload["training_state"]["recipe"]["method"] = "pul"
    torch.save(payload, last)
    with pytest.raises(TrainingError, match="recipe state of method 'pul'"):
        train(options(video, out, resume=True, steps=5))
    del payload["training_state"]["recipe"]  # as written before recipe state was saved
    torch.save(payload, last)
    with pytest.raises(TrainingError, match="no recipe state") as refused:
        train(options(video, out, resume=True, steps=5))
    assert "bit for bit" in str(refused.value) and f"--init {last}" in str(refused.value)
    assert load_checkpoint(out / "tiny_test.pt").meta["steps"] == 3  # nothing was continued
    # A stateless recipe refuses state it does not keep instead of ignoring it.
    payload["training_state"]["recipe"] = {"method": METHOD, "state": {"calls": 3}}
    torch.save(payload, last)
    with pytest.raises(TrainingError, match="keeps no state"):
        train(options(video, out, resume=True, steps=5))


def test_resume_with_more_steps_replays_the_longer_schedule(video, tmp_path):
    train(options(video, tmp_path / "long", steps=8))
    train(options(video, tmp_path / "short", steps=4))
    train(options(video, tmp_path / "short", steps=8, resume=True))
    long_lr = [float(r["lr"]) for r in read_csv(tmp_path / "long" / "loss.csv")]
    short_lr = [float(r["lr"]) for r in read_csv(tmp_path / "short" / "loss.csv")]
    assert len(short_lr) == 8
    assert short_lr[4:] == pytest.approx(long_lr[4:], rel=1e-5)
    assert short_lr[3] < long_lr[3]  # the first part ran the 4-step schedule


def test_time_budget_stops_and_saves(video, tmp_path):
    started = time.monotonic()
    result = train(options(video, tmp_path / "budget", steps=100000, max_minutes=0.02,
                           overrides={"sleep_seconds": 0.05}))
    took = time.monotonic() - started
    assert result.stop_reason == "time budget"
    assert 1 <= result.steps < 100000
    assert took < 1.2 + 2.0
    meta = load_checkpoint(tmp_path / "budget" / "tiny_test.pt", METHOD).meta
    assert meta["stop_reason"] == "time budget" and meta["steps"] == result.steps
    assert (tmp_path / "budget" / f"tiny_test_step{result.steps}.pt").is_file()


def test_nonfinite_losses_are_skipped_then_abort(video, tmp_path, caplog):
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match="3 consecutive non-finite"):
        train(options(video, out, steps=10, max_nonfinite=3, overrides={"nan_loss": True}))
    last = load_checkpoint(out / "tiny_test_last.pt", METHOD)
    assert last.meta["stop_reason"] == "diverged" and last.meta["nonfinite_skips"] == 3
    torch.manual_seed(0)  # the run seeds torch with 0 before building the model
    untouched = get_method(METHOD).build_model({"channels": 4}).state_dict()
    for key, value in untouched.items():
        assert torch.equal(last.state_dict[key], value)
    rows = read_csv(out / "loss.csv")
    assert len(rows) == 3 and all(r["loss"] == "nan" for r in rows)
    assert sum("non-finite loss" in r.getMessage() for r in caplog.records) == 3


def test_init_starts_from_a_checkpoint(video, tmp_path):
    train(options(video, tmp_path / "first", steps=3))
    first = tmp_path / "first" / "tiny_test.pt"
    train(options(video, tmp_path / "second", steps=0, init=str(first)))
    a = load_checkpoint(first).state_dict
    b = load_checkpoint(tmp_path / "second" / "tiny_test.pt")
    assert all(torch.equal(a[k], b.state_dict[k]) for k in a)
    assert b.meta["init_checkpoint"] == str(first)


def test_features_from_needs_a_fresh_network_and_a_shared_backbone(video, tmp_path):
    train(options(video, tmp_path / "first", steps=1))
    first = str(tmp_path / "first" / "tiny_test.pt")
    with pytest.raises(ConfigError, match="--features-from"):
        train(options(video, tmp_path / "second", steps=1, init=first, features_from=first))
    with pytest.raises(TrainingError, match="--features-from"):
        train(options(video, tmp_path / "first", steps=2, resume=True, features_from=first))
    with pytest.raises(CheckpointError, match="shares no backbone"):   # TinyNet has none
        train(options(video, tmp_path / "third", steps=1, features_from=first))


def test_cli(video, tmp_path, capsys):
    out = tmp_path / "cli"
    base = ["--method", METHOD, "--data", str(video), "--out", str(out), "--quiet"]
    assert main(base + ["--steps", "2", "--seed", "1", "--set", "lr=0.005"]) == 0
    meta = load_checkpoint(out / "tiny_test.pt").meta
    assert meta["training_command"] == (
        f"unsup-tracker-train --method tiny_test --data {video} --out {out} --quiet --steps 2 "
        f"--seed 1 --set lr=0.005")
    assert meta["recipe_params"]["lr"] == 0.005
    capsys.readouterr()

    assert main(base + ["--steps", "2"]) == 1  # would overwrite the run
    assert "--resume" in capsys.readouterr().err
    assert main(base + ["--resume", "--steps", "4"]) == 0
    assert load_checkpoint(out / "tiny_test.pt").meta["steps"] == 4
    assert main(["--method", METHOD, "--data", str(video), "--out", str(tmp_path / "x"),
                 "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err

    assert main(["--method", "no_such", "--data", str(video), "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'no_such'" in err and METHOD in err
    assert main(["--method", METHOD, "--data", str(tmp_path / "nope.avi"),
                 "--out", str(tmp_path / "y")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(base + ["--overwrite", "--set", "lrr=1"]) == 2
    assert "lrr" in capsys.readouterr().err
    assert main(base + ["--overwrite", "--set", "lr"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_cli_bag_without_the_topic(video, tmp_path, capsys):
    from unsup_tracker_training.make_bag import write_bag
    cap = cv2.VideoCapture(str(video))
    frames = [cap.read()[1] for _ in range(4)]
    write_bag(frames, tmp_path / "bag", storage="mcap", topic="/cam/image", encoding="bgr8")
    code = main(["--method", METHOD, "--data", str(tmp_path / "bag"), "--topic", "/camera",
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no topic '/camera'" in err and "/cam/image (sensor_msgs/msg/Image, 4 msgs)" in err
    assert main(["--method", METHOD, "--data", str(tmp_path / "bag"), "--topic", "/cam/image",
                 "--out", str(tmp_path / "o"), "--quiet", "--steps", "2"]) == 0
    (entry,) = load_checkpoint(tmp_path / "o" / "tiny_test.pt").meta["data_manifest"]
    assert entry["kind"] == "rosbag" and entry["topic"] == "/cam/image"


def test_cli_synth_spec(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(2):
        rng = np.random.default_rng(index)
        cv2.imwrite(str(photos / f"p{index}.png"), cv2.resize(
            (rng.random((20, 30, 3)) * 255).astype(np.uint8), (150, 100)))
    spec = f"synth,clips=2,frames=6,size=64x48:{photos}"
    out = tmp_path / "o"
    assert main(["--method", METHOD, "--data", spec, "--out", str(out), "--quiet",
                 "--steps", "2"]) == 0
    meta = load_checkpoint(out / "tiny_test.pt").meta
    (entry,) = meta["data_manifest"]
    assert entry["kind"] == "synth" and entry["frames_used"] == 12 and entry["clips"] == 2
    assert f"--data {spec}" in meta["training_command"]
    assert main(["--method", METHOD, "--data", f"synth,frames=1:{photos}", "--out",
                 str(tmp_path / "bad"), "--quiet"]) == 2
    assert "frames must be 2.." in capsys.readouterr().err


def test_udt_smoke(video, tmp_path):
    out = tmp_path / "udt"
    assert main(["--method", "udt", "--data", str(video), "--out", str(out), "--steps", "3",
                 "--quiet", "--device", "cpu", "--set", "batch_size=4"]) == 0
    assert load_checkpoint(out / "udt.pt", "udt").meta["steps"] == 3
    rows = read_csv(out / "loss.csv")
    assert len(rows) == 3 and all(np.isfinite(float(r["loss"])) for r in rows)
    from unsup_tracker import build_tracker
    build_tracker("udt", out / "udt.pt", device="cpu")  # the trained file is deployable
