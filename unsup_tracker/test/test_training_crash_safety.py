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
"""Nothing is lost in training (issue 13.6): kills, torn writes and a full disk.

* A real ``unsup-tracker-train`` process is SIGKILLed 20 times at seeded random moments (during
  start-up, resume, a step or a checkpoint write) and resumed with ``--resume`` after each kill;
  after every kill each checkpoint on disk loads, and the finished run's weights, optimizer
  state and loss.csv equal an uninterrupted run's bit for bit.
* Checkpoints and the resumed loss.csv are written through a fsynced temp file and a rename.
* A full disk (the kernel's ``/dev/full``, or a write raising ENOSPC) keeps the previous
  checkpoint and says so; the command exits non-zero with that message.
"""
from __future__ import annotations

import csv
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_testdata import write_panning_video

from unsup_tracker import atomic_file, load_checkpoint, save_checkpoint
from unsup_tracker.checkpoint import CheckpointWriteError
from unsup_tracker.models.siamfc import build_siamfc
from unsup_tracker_training.cli import main
from unsup_tracker_training.loop import LossLog

STEPS = 80
KILLS = 20
SEED = 1306
#: A tiny UDT run: one step plus its three checkpoint writes takes a few tens of milliseconds.
RUN = ["--method", "udt", "--threads", "1", "--device", "cpu", "--quiet", "--checkpoint-every",
       "1"]
FRESH = ["--steps", str(STEPS), "--seed", "4", "--model-set", "channels=4", "--set",
         "batch_size=2", "--set", "window_length=3"]

#: Runs the CLI entry point in forked children of a process that imported it once. Importing
#: torch takes 1-5 s, which 20 fresh processes could not afford; a forked child is still a
#: separate process that a SIGKILL ends wherever it is. Protocol: argv as a JSON line in; the
#: child's pid, then its exit code (negative: killed by that signal), as lines out.
ZYGOTE = """
import json, os, sys
from unsup_tracker import list_methods
import torch
import unsup_tracker_training.cli as cli
list_methods()  # imports every method now, not in each child
torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # first optimizer imports torch._dynamo
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            code = cli.main(request["argv"])
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


def train_command() -> list[str]:
    script = Path(sys.executable).with_name("unsup-tracker-train")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "unsup_tracker_training"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash_data") / "pan.avi"
    write_panning_video(path, 12, size=(96, 72))
    return path


def last_logged_step(out: Path) -> int:
    """Return the highest step in out/loss.csv (0 when none is readable yet)."""
    try:
        lines = (out / "loss.csv").read_text().splitlines()
    except OSError:
        return 0
    steps = [line.split(",", 1)[0] for line in lines[1:]]
    return max((int(s) for s in steps if s.isdigit()), default=0)


def wait_for_step(is_running, out: Path, step: int) -> bool:
    """Poll until loss.csv logs ``step`` (True) or the run ends (False)."""
    while is_running():
        if last_logged_step(out) >= step:
            return True
        time.sleep(0.002)
    return False


def wait_for_write(is_running, out: Path, since: float, give_up_step: int) -> None:
    """Poll until a temp file newer than ``since`` exists (a write under way), or give up."""
    while is_running() and last_logged_step(out) < give_up_step:
        for path in out.glob("*.tmp"):
            try:
                if path.stat().st_mtime >= since:
                    return
            except OSError:  # renamed into place meanwhile
                pass


def loss_rows(out: Path) -> list[dict]:
    with open(out / "loss.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def process_running(pid: int) -> bool:
    """Tell whether ``pid`` still runs (a zombie waiting for its parent's wait counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_sigkilled_run_resumes_bit_identical(clip, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    base = RUN + ["--data", str(clip)]
    # The uninterrupted run: the installed command itself.
    straight = tmp_path / "straight"
    subprocess.run(train_command() + base + FRESH + ["--out", str(straight)], env=env,
                   check=True, timeout=300)
    with open(straight / "loss.csv", newline="") as handle:
        times = [float(row["time"]) for row in csv.DictReader(handle)]
    step_seconds = (times[-1] - times[0]) / (len(times) - 1)
    assert zygote.stdout.readline() == "ready\n"

    rng = random.Random(SEED)
    out = tmp_path / "killed"
    log = tmp_path / "killed.log"
    kills = mid_write = 0
    startup = 1.0  # seconds from fork to the first new row; measured below
    try:
        while True:
            resume = (out / "udt_last.pt").is_file()
            stale = last_logged_step(out) if resume else 0
            argv = base + (["--resume"] if resume else FRESH) + ["--out", str(out)]
            zygote.stdin.write(json.dumps({"argv": argv, "log": str(log)}) + "\n")
            zygote.stdin.flush()
            forked, started = time.monotonic(), time.time()
            pid = int(zygote.stdout.readline())
            if kills < KILLS:
                moment = rng.random()
                if moment < 0.25:  # during start-up: data, resume, log rewrite
                    time.sleep(rng.uniform(0.0, 1.0) * startup)
                elif moment < 0.5:  # as soon as a checkpoint write is seen under way
                    wait_for_write(lambda: process_running(pid), out, started, stale + 5)
                elif wait_for_step(lambda: process_running(pid), out, stale + 1):
                    startup = time.monotonic() - forked
                    # anywhere in the new step's three checkpoint writes or the next step
                    time.sleep(rng.uniform(0.0, 1.5) * step_seconds)
                os.kill(pid, signal.SIGKILL)
            code = int(zygote.stdout.readline())
            if kills == KILLS:
                assert code == 0, log.read_text()[-3000:]
                break
            assert code == -signal.SIGKILL, (f"the run ended before kill {kills + 1}",
                                             log.read_text()[-3000:])
            kills += 1
            mid_write += any(p.stat().st_mtime >= started for p in out.glob("*.tmp"))
            # Whatever the moment of the kill, every checkpoint on disk is complete.
            for path in out.glob("*.pt"):
                load_checkpoint(path, "udt")
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    print(f"{kills} kills ({mid_write} left a temp file: killed mid-write), "
          f"start-up {startup:.2f} s, {step_seconds * 1000:.0f} ms/step")

    a = load_checkpoint(straight / "udt.pt", "udt")
    b = load_checkpoint(out / "udt.pt", "udt")
    assert a.meta["steps"] == b.meta["steps"] == STEPS
    assert a.state_dict.keys() == b.state_dict.keys()
    for name in a.state_dict:
        assert torch.equal(a.state_dict[name], b.state_dict[name]), name
    last_a = load_checkpoint(straight / "udt_last.pt").training_state["optimizer"]["state"]
    last_b = load_checkpoint(out / "udt_last.pt").training_state["optimizer"]["state"]
    for index in last_a:
        for key, value in last_a[index].items():
            assert torch.equal(value, last_b[index][key]), (index, key)
    assert loss_rows(straight) == loss_rows(out)


def test_checkpoint_write_is_fsynced_then_renamed(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd
        events.append(("fsync", Path(str(target)).name))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path / "a.pt", "udt", torch.nn.Linear(2, 2), {})
    assert events == [("fsync", "a.pt.tmp"), ("replace", "a.pt.tmp", "a.pt"),
                      ("fsync", tmp_path.name)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


def write_log(path: Path, rows: list[str], tail: str = "") -> None:
    path.write_text("step,time,loss,lr,grad_norm\r\n" + "".join(r + "\r\n" for r in rows) + tail)


def test_resumed_loss_log_drops_later_and_torn_rows(tmp_path):
    path = tmp_path / "loss.csv"
    rows = [f"{i},{i}.5,0.{i},0.01,1.{i}" for i in range(1, 6)]
    # Row 5 follows the checkpoint of step 4; the last line was torn by a kill mid-write.
    write_log(path, rows, tail="6,6.5,0.")
    log = LossLog(path, resume_step=4)
    log.write({"step": 5, "time": 9.0, "loss": 0.25, "lr": 0.01, "grad_norm": 2.0}, {})
    log.close()
    with open(path, newline="") as handle:
        got = list(csv.DictReader(handle))
    assert [r["step"] for r in got] == ["1", "2", "3", "4", "5"]
    assert got[4]["loss"] == "0.25" and all(None not in r.values() for r in got)
    # A torn row at or before the checkpoint's step (power cut) is dropped, not kept half empty.
    write_log(path, rows[:2], tail="3,3.5")
    LossLog(path, resume_step=4).close()
    with open(path, newline="") as handle:
        assert [r["step"] for r in csv.DictReader(handle)] == ["1", "2"]


def test_kill_while_the_resumed_log_is_rewritten_keeps_the_log(tmp_path, monkeypatch):
    path = tmp_path / "loss.csv"
    write_log(path, [f"{i},{i}.5,0.{i},0.01,1.{i}" for i in range(1, 4)])
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for SIGKILL between truncating and rewriting the log

    monkeypatch.setattr(csv.DictWriter, "writerows", killed)
    with pytest.raises(KeyboardInterrupt):
        LossLog(path, resume_step=3)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.csv"]


def disk_full_open(monkeypatch):
    """Make atomic_file's temp files hit a full disk: /dev/full, else a write raising ENOSPC."""
    real_open = open

    class FullFile:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    def full_open(path, mode="r", **kwargs):
        if not str(path).endswith(".tmp"):
            return real_open(path, mode, **kwargs)
        if os.path.exists("/dev/full"):
            real_open(path, mode, **kwargs).close()  # the temp file exists, as on a real disk
            return real_open("/dev/full", mode, **kwargs)
        return FullFile(real_open(path, mode, **kwargs))

    monkeypatch.setattr(atomic_file, "open", full_open, raising=False)


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    torch.manual_seed(0)
    save_checkpoint(path, "s2siamfc", build_siamfc({"channels": [4, 4, 4, 4, 4]}), {})
    before = path.read_bytes()
    disk_full_open(monkeypatch)
    with pytest.raises(CheckpointWriteError, match="no space left on the disk") as info:
        save_checkpoint(path, "s2siamfc", build_siamfc({"channels": [8, 8, 8, 8, 8]}), {})
    assert "previous file is kept" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before
    load_checkpoint(path, "s2siamfc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_training_on_a_full_disk_stops_with_a_clear_error(clip, tmp_path, monkeypatch, capsys):
    from unsup_tracker_training import loop
    real_save = loop.save_checkpoint
    calls = {"n": 0}

    def save_then_fill(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # step 2's two files are written; the disk is full from step 4 on
            disk_full_open(monkeypatch)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", save_then_fill)
    out = tmp_path / "run"
    code = main(["--method", "udt", "--data", str(clip), "--out", str(out), "--quiet",
                 "--device", "cpu", "--threads", "1", "--steps", "6", "--checkpoint-every", "2",
                 "--model-set", "channels=4", "--set", "batch_size=2", "--set",
                 "window_length=3"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "training stopped at step 4" in err and "no space left on the disk" in err
    assert f"{out / 'udt_last.pt'} still holds step 2" in err
    assert load_checkpoint(out / "udt_last.pt", "udt").training_state["step"] == 2
    assert not list(out.glob("*.tmp"))
