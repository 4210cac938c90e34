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
"""Generic training loop shared by every method: data -> recipe -> optimiser -> checkpoints.

The recipe (``get_method(name).recipe_cls``) owns sampling, loss and schedule; this module owns
everything around it: building the model, reading the data, the step loop, time budget,
non-finite losses, the CSV log, checkpoints and resuming.

Decisions:

* Steps: ``--steps`` when given; when resuming, the run's saved total; otherwise the recipe class
  attribute ``default_steps`` when it has one, else :data:`DEFAULT_STEPS`.
* Randomness: one ``--seed`` (default 0) seeds torch and Python's ``random`` before the model is
  built, and is split with ``numpy.random.SeedSequence`` into one generator for
  ``recipe.prepare`` and one for the steps, so adding work to ``prepare`` does not change which
  batches the steps see.
* Resume (``OUT/<method>_last.pt``): weights, optimizer and scheduler state, step, loss history,
  the RNG states (step generator, torch, Python; PUL's selective search seeds C's ``rand()``
  per frame, so no C state needs saving)
  and the recipe's own state (``recipe.state_dict``: e.g. S2SiamFC's cluster bank, PUL's mined
  pairs and round) are restored; the saved recipe parameters and seed are reused (``--set``
  may still override a parameter, with a warning).
  ``prepare`` does not run again: ``recipe.load_state_dict`` takes its place, since rebuilding
  a recipe's state from the resumed weights would differ from what the interrupted run had.
  With the same data this makes a resumed run of every method reproduce an uninterrupted one
  bit for bit (on the same device and thread count; tested per method, and after SIGKILLs at
  random moments in ``test_training_crash_safety.py``). ``loss.csv`` rows after the resumed
  step (written after that checkpoint) and a torn last line are dropped.
* Reproducibility: with the same data, seed, parameters, step count, device and ``--threads``,
  a run from scratch gives bit-identical weights (``test_training_reproducible.py``; the full
  shipped runs: ``bench/bench_reproducible_training.py``). ``--max-minutes`` stops on wall time,
  so a run it cuts short depends on machine load: shipped checkpoints never use it.
* Resume refuses (:class:`TrainingError`, saying how to go on) a ``_last.pt`` without recipe
  state (written before it was saved) or with another method's, and, when the recipe state is
  not empty, data whose frame numbering may differ (other files, order or frame counts, or
  other ``--max-side``/``--frame-stride``/``--images-as``/``--topic``): that state refers to
  frames by position. A stateless recipe (UDT) resumes on other data with a warning.
* ``--max-minutes`` bounds the wall time of this invocation, data loading included: a step is
  not started when the average step would end past the budget; the run then saves as at its end.
* The LR scheduler steps once per step. Resuming with another ``--steps`` rebuilds the
  schedule for the new length and replays it up to the saved step.
* A non-finite loss or gradient skips the update (the step still counts and is logged as nan);
  ``max_nonfinite`` consecutive ones abort with :class:`TrainingError` after saving
  ``<method>_last.pt`` (weights from before the failing steps) for a resume with a lower LR.
* Gradient clipping happens only when the recipe's params have a positive ``grad_clip_norm``.
* ``loss.csv``: ``step, time`` (seconds since the run started, summed over resumes), ``loss``,
  ``lr`` (of the first parameter group, as used by that step), ``grad_norm`` (before any
  clipping), then the recipe's log keys of the first step, sorted.
* Checkpoints: every ``checkpoint_every`` steps (and at least every 10 minutes of wall time)
  ``<method>_last.pt`` (with training state); every ``checkpoint_every`` steps and at the end
  ``<method>_step<N>.pt``; at the end also ``<method>.pt``. Step files and the final file hold
  weights and metadata only, the form trackers load.
* Nothing lost: every checkpoint is written to a temp file, fsynced and renamed over the old one
  (``unsup_tracker.atomic_file``), and ``loss.csv`` is fsynced before each checkpoint and
  rewritten the same way on resume, so a run killed at any moment resumes from its last
  complete checkpoint. A failed write (e.g. a full disk) stops training with
  :class:`TrainingError` naming the cause and the step ``<method>_last.pt`` still holds.
"""
from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import logging
import math
import os
import random
import shlex
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unsup_tracker import (UNTRAINED, UnknownParameterError, build_model, get_method,
                           load_checkpoint, save_checkpoint)
from unsup_tracker.atomic_file import atomic_write, describe_os_error
from unsup_tracker.checkpoint import CheckpointWriteError, load_shared_features
from unsup_tracker.device import resolve_device

from .sampler import FrameSampler
from .sources import open_sources

LOG = logging.getLogger("unsup_tracker_training.loop")

DEFAULT_STEPS = 1000
#: Save ``<method>_last.pt`` at least this often, whatever ``checkpoint_every`` is.
SAVE_EVERY_SECONDS = 600.0
#: Progress lines in the log when no progress bar is shown.
LOG_EVERY_SECONDS = 30.0
FIXED_CSV_COLUMNS = ["step", "time", "loss", "lr", "grad_norm"]


class TrainingError(RuntimeError):
    """Training cannot start or go on (nothing to resume, refusing to overwrite, diverged)."""


class ConfigError(ValueError):
    """Bad options: unknown method or device, unknown or invalid recipe parameter."""


@dataclasses.dataclass
class TrainOptions:
    method: str
    data: list[str]
    out: str
    topic: str | None = None
    steps: int | None = None
    max_minutes: float | None = None
    seed: int | None = None
    device: str = "auto"
    #: Recipe parameter overrides (``--set key=value``).
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Network configuration of a fresh model (``--model-set key=value``); unknown keys refused.
    model_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    resume: bool = False
    init: str | None = None
    #: Another method's checkpoint on the same backbone: a fresh network starts from its
    #: backbone (and neck) weights (:func:`unsup_tracker.checkpoint.load_shared_features`).
    features_from: str | None = None
    quiet: bool = False
    checkpoint_every: int = 500
    max_side: int = 480
    frame_stride: int = 1
    memory_mb: float = 4096.0
    images_as: str = "auto"
    overwrite: bool = False
    max_nonfinite: int = 20
    #: torch intra-op threads (None: torch's default). Float sums are split across threads, so
    #: a run is bit-identical to another only at the same thread count: shipped runs pin it.
    threads: int | None = None
    #: The exact command line, recorded in checkpoints (default: this process's argv).
    command: str | None = None


@dataclasses.dataclass
class TrainResult:
    steps: int
    total_steps: int
    final_loss: float | None
    elapsed_seconds: float
    stop_reason: str
    checkpoint: Path
    last_checkpoint: Path


class LossLog:
    """``loss.csv``: one row per step; columns fixed by the first row written.

    Rows are appended and flushed one by one; :meth:`sync` (called before every checkpoint) makes
    them durable, so a checkpoint never claims steps whose rows could be lost. On resume the file
    is rewritten atomically with the complete rows up to the checkpoint's step: rows written
    after that checkpoint and a torn last line (the process killed mid-write) are dropped, and a
    kill during that rewrite leaves the previous file intact.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        self.columns: list[str] | None = None
        self._warned_keys: set[str] = set()
        self._handle = None
        self._writer = None
        try:
            if resume_step is not None and path.is_file():
                self.columns, kept = _read_complete_rows(path, resume_step)
                if self.columns:
                    with atomic_write(path, "w", newline="") as handle:
                        writer = csv.DictWriter(handle, fieldnames=self.columns)
                        writer.writeheader()
                        writer.writerows(kept)
                    self._handle = open(path, "a", newline="")
                    self._writer = csv.DictWriter(self._handle, fieldnames=self.columns,
                                                  extrasaction="ignore")
            if self._handle is None:
                self._handle = open(path, "w", newline="")
        except OSError as exc:
            raise TrainingError(f"cannot write {path}: {describe_os_error(exc, path)}") from exc

    def _start(self, columns: list[str]) -> None:
        self.columns = columns
        self._writer = csv.DictWriter(self._handle, fieldnames=columns, extrasaction="ignore")
        self._writer.writeheader()

    def write(self, row: dict[str, Any], logs: dict[str, float]) -> None:
        try:
            if self._writer is None:
                self._start(FIXED_CSV_COLUMNS
                            + sorted(k for k in logs if k not in FIXED_CSV_COLUMNS))
            new_keys = set(logs) - set(self.columns) - self._warned_keys
            if new_keys:
                LOG.warning("loss.csv: log keys %s appeared after the header was written; not "
                            "logged", sorted(new_keys))
                self._warned_keys |= new_keys
            self._writer.writerow({**{k: _fmt(v) for k, v in logs.items()},
                                   **{k: _fmt(v) for k, v in row.items()}})
            self._handle.flush()
        except OSError as exc:
            raise TrainingError(f"cannot write {self.path}: "
                                f"{describe_os_error(exc, self.path)}") from exc

    def sync(self) -> None:
        """Make every row written so far durable (before a checkpoint that covers them)."""
        if self._handle.closed:  # close() synced it
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise TrainingError(f"cannot write {self.path}: "
                                f"{describe_os_error(exc, self.path)}") from exc

    def close(self) -> None:
        """Sync and close; a failure here is only logged (write or sync raised it already)."""
        try:
            self.sync()
        except TrainingError as exc:
            LOG.warning("%s", exc)
        with contextlib.suppress(OSError):
            self._handle.close()


def _read_complete_rows(path: Path, last_step: int) -> tuple[list[str] | None, list[dict]]:
    """Return the header and the complete rows of steps <= ``last_step`` of a loss.csv.

    A line without its terminator was torn by a kill mid-write and is dropped, as is any row
    with missing or extra fields or a non-integer step.
    """
    with open(path, newline="") as handle:
        text = handle.read()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()
    reader = csv.DictReader(lines)
    columns = list(reader.fieldnames or []) or None
    kept = []
    for row in reader:
        if None in row or None in row.values():
            continue
        if row.get("step", "").isdigit() and int(row["step"]) <= last_step:
            kept.append(row)
    return columns, kept


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def plain(value: Any) -> Any:
    """Metadata as builtin types only, so checkpoints load with ``weights_only=True``.

    (``torch.__version__`` is a str subclass, params may hold NumPy scalars or paths.)
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        return tuple(items) if type(value) is tuple else items
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if value is None or type(value) is str:
        return value
    return str(value)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _grad_norm(parameters: list[torch.Tensor], clip: float) -> float:
    grads = [p for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    max_norm = clip if clip > 0 else math.inf
    return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))


def _step_scheduler(scheduler) -> None:
    with warnings.catch_warnings():
        # PyTorch warns when the scheduler steps before any optimizer step, which is what
        # happens on a skipped first step or when replaying a schedule; both are intended.
        warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*", category=UserWarning)
        scheduler.step()


def _progress_bar(total: int, initial: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    if not enabled:
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


def _load_resume(path: Path, method: str):
    if not path.is_file():
        raise TrainingError(f"nothing to resume: {path} does not exist (drop --resume to start)")
    checkpoint = load_checkpoint(path, method)
    state = checkpoint.training_state
    if not state or "optimizer" not in state or "step" not in state:
        raise TrainingError(f"{path} holds no training state (optimizer, step): cannot resume it")
    recipe_state = state.get("recipe")
    if not isinstance(recipe_state, dict) or not isinstance(recipe_state.get("state"), dict):
        raise TrainingError(
            f"{path} holds no recipe state (it was written before recipe state was saved): "
            f"resuming it could not reproduce an uninterrupted run bit for bit, so it is "
            f"refused. Start the run again (the same command with --overwrite, or another "
            f"--out), or continue from its weights as a new run with --init {path} --out "
            f"NEW_DIR (new LR schedule and random streams)")
    if recipe_state.get("method") != method:
        raise TrainingError(
            f"{path} holds recipe state of method {recipe_state.get('method')!r}, not "
            f"{method!r}: cannot resume it. Start a new run (--overwrite or another --out)")
    return checkpoint


_LAYOUT_OPTIONS = ("max_side", "frame_stride", "effective_stride", "images_as", "topic")


def _frame_layout(manifest: list[dict], sampler_meta: dict) -> tuple:
    """Return what fixes the sampler's frame numbering: files in order, frames, options."""
    return ([(e.get("sha256"), e.get("frames_used")) for e in manifest],
            [sampler_meta.get(k) for k in _LAYOUT_OPTIONS])


def discover_for(recipe, sampler: FrameSampler) -> None:
    """Run moving-object discovery on the sampler's frames; hand the usable clips to the recipe.

    Cached per source (:class:`~.discovery.DiscoveryCache`), so a resumed run or a second run
    on the same data gets the same clips without recomputing them.
    """
    from .discovery import DiscoveryCache, DiscoveryParams, discover_sampler
    settings = DiscoveryParams()
    started = time.monotonic()
    clips = discover_sampler(sampler, settings, DiscoveryCache())
    usable = [clip for clip in clips if clip.usable(settings)]
    LOG.info("discovery: %d of %d clips usable (%.1f s)", len(usable), len(clips),
             time.monotonic() - started)
    if not usable:
        raise TrainingError(f"moving-object discovery found no usable clip in the data "
                            f"({len(clips)} clips): the {type(recipe).__name__} needs videos "
                            f"with a moving object")
    recipe.set_discovery(usable)


def train(options: TrainOptions) -> TrainResult:
    """Train ``options.method`` on ``options.data``; see the module docstring."""
    started = time.monotonic()
    try:
        spec = get_method(options.method)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    method = spec.name
    if spec.recipe_cls is None:
        raise TrainingError(f"method {method!r} has no training recipe")
    if options.checkpoint_every < 1:
        raise ConfigError("checkpoint_every must be >= 1")
    if options.steps is not None and options.steps < 0:
        raise ConfigError("steps must be >= 0")
    if options.max_minutes is not None and options.max_minutes <= 0:
        raise ConfigError("max_minutes must be > 0")
    if options.frame_stride < 1 or options.memory_mb <= 0 or options.max_side < 0:
        raise ConfigError("frame_stride must be >= 1, memory_mb > 0 and max_side >= 0")
    if options.max_nonfinite < 1:
        raise ConfigError("max_nonfinite must be >= 1")
    if options.threads is not None and options.threads < 1:
        raise ConfigError("threads must be >= 1")
    out = Path(options.out)
    last_path = out / f"{method}_last.pt"
    command = options.command or shlex.join(sys.argv)

    if options.init and options.features_from:
        raise ConfigError("--init starts from a whole checkpoint of this method; "
                          "--features-from only from another's backbone: pass one")
    resume = None
    if options.resume:
        if options.init or options.features_from:
            raise TrainingError("--resume continues OUT's own run; it cannot be combined "
                                "with --init or --features-from")
        resume = _load_resume(last_path, method)
    elif last_path.exists() and not options.overwrite:
        raise TrainingError(f"{last_path} exists: pass --resume to continue that run, or use "
                            f"another --out (or --overwrite)")
    saved_meta = resume.meta if resume else {}
    state = resume.training_state if resume else None

    saved_params = saved_meta.get("recipe_params", {}) if resume else {}
    changed = {k: v for k, v in options.overrides.items() if k in saved_params}
    if resume and changed:
        LOG.warning("resuming with changed recipe parameters %s: the continuation will differ "
                    "from the original run", sorted(changed))
    try:
        params = spec.recipe_cls.params_cls.from_overrides({**saved_params, **options.overrides})
    except (UnknownParameterError, ValueError) as exc:
        raise ConfigError(f"recipe parameters of {method!r}: {exc}") from exc

    seed = options.seed if options.seed is not None else 0
    if resume:
        seed = int(saved_meta.get("seed", seed))
        if options.seed is not None and options.seed != seed:
            LOG.warning("--seed %d ignored: resuming restores the run's own RNG state (seed %d)",
                        options.seed, seed)
    if options.steps is not None:
        total_steps = options.steps
    elif state is not None:
        total_steps = int(state["total_steps"])
    else:
        total_steps = int(getattr(spec.recipe_cls, "default_steps", DEFAULT_STEPS))
    if state is not None and total_steps != int(state["total_steps"]):
        LOG.warning("total steps changed from %d to %d: the LR schedule is rebuilt for %d steps",
                    int(state["total_steps"]), total_steps, total_steps)

    try:
        device = resolve_device(options.device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    torch.manual_seed(seed)
    random.seed(seed)
    prepare_seed, step_seed = np.random.SeedSequence(seed).spawn(2)
    prepare_rng = np.random.default_rng(prepare_seed)
    step_rng = np.random.default_rng(step_seed)

    init = resume if resume else (options.init or UNTRAINED)
    try:
        model, init_checkpoint = build_model(method, init, device,
                                             model_config=options.model_overrides or None)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model configuration of {method!r}: {exc}") from exc
    features_record = saved_meta.get("features_from") if resume else None
    if options.features_from:
        donor = load_checkpoint(options.features_from)
        shared = load_shared_features(model, donor)
        features_record = {"checkpoint": str(options.features_from), "method": donor.method,
                           "tensors": len(shared),
                           "donor_training_command": donor.meta.get("training_command")}
        LOG.info("backbone from %s (%s): %d tensors", options.features_from, donor.method,
                 len(shared))
    model_config = {**spec.default_model_config,
                    **(init_checkpoint.model_config if init_checkpoint
                       else options.model_overrides)}
    recipe = spec.recipe_cls(params, model_config)

    sources = open_sources(options.data, topic=options.topic, images_as=options.images_as)
    sampler = FrameSampler(sources, max_side=options.max_side, frame_stride=options.frame_stride,
                           memory_budget_mb=options.memory_mb)
    LOG.info("data: %s", sampler.summary())
    if recipe.data_kind == "video" and sampler.longest_clip < 2:
        LOG.warning("the %s recipe learns from video but the data hold only single frames; its "
                    "windows will be one frame long", method)
    manifest = sampler.manifest()
    sampler_meta = {"max_side": options.max_side, "frame_stride": options.frame_stride,
                    "effective_stride": sampler.effective_stride,
                    "memory_mb": options.memory_mb, "images_as": options.images_as,
                    "topic": options.topic}
    if resume:
        recipe_state = state["recipe"]["state"]
        same_frames = (_frame_layout(saved_meta.get("data_manifest", []),
                                     saved_meta.get("sampler", {}))
                       == _frame_layout(plain(manifest), plain(sampler_meta)))
        if not same_frames and recipe_state:
            raise TrainingError(
                f"the data or their reading options differ from the run in {last_path}, whose "
                f"{method} recipe state refers to its frames by position: cannot resume. Resume "
                f"with the original --data (same order) and options, or start a new run "
                f"(--init {last_path} --out NEW_DIR continues from its weights)")
        if not same_frames:
            LOG.warning("the data differ from the run being resumed (files, order, frames used "
                        "or reading options); the continuation will not match an "
                        "uninterrupted run")

    if recipe.needs_discovery:
        discover_for(recipe, sampler)
    model.train()
    if resume:
        # The model was built from the checkpoint; the recipe gets back what prepare built.
        try:
            recipe.load_state_dict(recipe_state, model, sampler)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TrainingError(f"{last_path}: the saved {method} recipe state does not fit "
                                f"this recipe or data ({exc}); start a new run") from exc
    else:
        recipe.prepare(model, sampler, prepare_rng)
    optimizer, scheduler = recipe.make_optimizer(model, total_steps)

    step = 0
    elapsed_before = 0.0
    nonfinite_total = 0
    recent = collections.deque(maxlen=50)
    last_loss = None
    if state is not None:
        step = int(state["step"])
        first_lrs = [group["lr"] for group in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        if total_steps == int(state["total_steps"]):
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
        elif scheduler is not None and step <= total_steps:
            # A scheduler's state pins the old length; replay the new schedule up to ``step``.
            for group, lr in zip(optimizer.param_groups, first_lrs):
                group["lr"] = lr
            for _ in range(step):
                _step_scheduler(scheduler)
        elapsed_before = float(state.get("elapsed_seconds", 0.0))
        nonfinite_total = int(state.get("nonfinite_skips", 0))
        recent.extend(float(v) for v in state.get("recent_losses", []))
        last_loss = recent[-1] if recent else None
        step_rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        python_rng = state.get("python_rng")
        if python_rng is not None:
            random.setstate((python_rng[0], tuple(python_rng[1]), python_rng[2]))
        LOG.info("resuming %s at step %d of %d", last_path, step, total_steps)

    out.mkdir(parents=True, exist_ok=True)
    history = list(saved_meta.get("training_commands", [])) + [command]
    parameters = [p for p in model.parameters() if p.requires_grad]
    clip = float(getattr(params, "grad_clip_norm", 0.0) or 0.0)
    budget = options.max_minutes * 60.0 if options.max_minutes else None
    stop_reason = "steps"

    def elapsed_total() -> float:
        return elapsed_before + time.monotonic() - started

    def metadata() -> dict[str, Any]:
        return plain({
            "method": method,
            "training_command": command,
            "training_commands": history,
            "data_manifest": manifest,
            "recipe_params": params.to_dict(),
            "steps": step,
            "total_steps": total_steps,
            "seed": seed,
            "elapsed_seconds": round(elapsed_total(), 3),
            "final_loss": last_loss,
            "final_loss_mean50": float(np.mean(recent)) if recent else None,
            "stop_reason": stop_reason,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "init_checkpoint": (saved_meta.get("init_checkpoint") if resume
                                else str(options.init) if options.init else None),
            "features_from": features_record,
            "torch_version": torch.__version__,
            "frames": sampler.num_frames,
            "clips": sampler.num_clips,
            "skipped_frames": sampler.skipped,
            "nonfinite_skips": nonfinite_total,
            "sampler": sampler_meta,
        })

    def training_state() -> dict[str, Any]:
        return {
            "step": step,
            "total_steps": total_steps,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "numpy_rng": step_rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "python_rng": random.getstate(),
            "elapsed_seconds": elapsed_total(),
            "nonfinite_skips": nonfinite_total,
            "recent_losses": list(recent),
            # Tensors and plain values by the recipe API's contract; not plain(), which would
            # turn tensors into strings.
            "recipe": {"method": method, "state": recipe.state_dict(sampler)},
        }

    step_files_written: set[int] = set()

    saved_step = {"last": state["step"] if state is not None else None}

    def save(final: bool, step_file: bool = True) -> Path:
        meta = metadata()
        loss_log.sync()  # the rows this checkpoint covers are on disk before it is
        try:
            if step_file and step not in step_files_written:
                save_checkpoint(out / f"{method}_step{step}.pt", method, model, model_config,
                                meta)
                step_files_written.add(step)
            save_checkpoint(last_path, method, model, model_config, meta,
                            training_state=training_state())
            saved_step["last"] = step
            if final:
                return save_checkpoint(out / f"{method}.pt", method, model, model_config, meta)
        except CheckpointWriteError as exc:
            kept = (f"{last_path} still holds step {saved_step['last']} (continue with --resume "
                    f"once the problem is solved)" if saved_step["last"] is not None
                    else "no checkpoint of this run was saved")
            raise TrainingError(f"training stopped at step {step}: {exc}. {kept}") from exc
        return last_path

    loss_log = LossLog(out / "loss.csv", resume_step=step if resume else None)
    show_bar = not options.quiet and sys.stderr.isatty()
    bar = _progress_bar(total_steps, step, show_bar)
    consecutive_nonfinite = 0
    mean_step_seconds = 0.0
    last_save = last_report = time.monotonic()
    redirect = contextlib.nullcontext()
    if bar is not None:
        from tqdm.contrib.logging import logging_redirect_tqdm
        redirect = logging_redirect_tqdm()
    model.train()  # prepare may have switched it to eval
    try:
        with redirect:
            while step < total_steps:
                if budget is not None and time.monotonic() - started + mean_step_seconds > budget:
                    stop_reason = "time budget"
                    LOG.info("time budget of %.1f min reached at step %d", options.max_minutes,
                             step)
                    break
                step_start = time.monotonic()
                batch = _to_device(recipe.sample_batch(sampler, step_rng), device)
                loss, logs = recipe.loss(model, batch)
                optimizer.zero_grad(set_to_none=True)
                step_lr = float(optimizer.param_groups[0]["lr"])  # the LR this step uses
                grad_norm = math.nan
                finite = bool(torch.isfinite(loss.detach()).all())
                if finite:
                    loss.backward()
                    grad_norm = _grad_norm(parameters, clip)
                    finite = math.isfinite(grad_norm)
                if finite:
                    optimizer.step()
                    consecutive_nonfinite = 0
                    last_loss = float(loss.detach())
                    recent.append(last_loss)
                else:
                    optimizer.zero_grad(set_to_none=True)
                    consecutive_nonfinite += 1
                    nonfinite_total += 1
                    LOG.warning("step %d: non-finite %s, update skipped (%d in a row)", step + 1,
                                "loss" if not math.isfinite(float(loss.detach())) else "gradient",
                                consecutive_nonfinite)
                if scheduler is not None:
                    # Also after a skipped update: the LR is a function of the step number.
                    _step_scheduler(scheduler)
                # Counted only now, so a checkpoint never claims an update that did not happen.
                step += 1
                logs = {k: float(v) for k, v in (logs or {}).items()}
                loss_log.write({"step": step, "time": round(elapsed_total(), 3),
                                "loss": float(loss.detach()) if finite else math.nan,
                                "lr": step_lr,
                                "grad_norm": grad_norm}, logs)
                if consecutive_nonfinite >= options.max_nonfinite:
                    stop_reason = "diverged"
                    save(final=False, step_file=False)
                    raise TrainingError(
                        f"{consecutive_nonfinite} consecutive non-finite losses/gradients at step "
                        f"{step}; saved {last_path} (weights before them). Lower the learning "
                        f"rate with --set and --resume, or check the data")
                seconds = time.monotonic() - step_start
                mean_step_seconds = (seconds if mean_step_seconds == 0.0
                                     else 0.9 * mean_step_seconds + 0.1 * seconds)
                now = time.monotonic()
                if bar is not None:
                    bar.update(1)
                    if last_loss is not None:
                        bar.set_postfix(loss=f"{last_loss:.4g}", refresh=False)
                elif not options.quiet and now - last_report >= LOG_EVERY_SECONDS:
                    last_report = now
                    LOG.info("step %d/%d loss %.4g lr %.3g (%.2f s/step)", step, total_steps,
                             last_loss if last_loss is not None else math.nan,
                             optimizer.param_groups[0]["lr"], mean_step_seconds)
                if step % options.checkpoint_every == 0:
                    save(final=False)
                    last_save = now
                elif now - last_save >= SAVE_EVERY_SECONDS:
                    save(final=False, step_file=False)
                    last_save = now
    except KeyboardInterrupt:
        stop_reason = "interrupted"
        save(final=False, step_file=False)
        LOG.warning("interrupted at step %d; saved %s (continue with --resume)", step, last_path)
        raise
    finally:
        if bar is not None:
            bar.close()
        loss_log.close()

    final_path = save(final=True)
    elapsed = elapsed_total()
    LOG.info("done: %d/%d steps (%s), final loss %s, %.1f s; saved %s", step, total_steps,
             stop_reason, f"{last_loss:.4g}" if last_loss is not None else "n/a", elapsed,
             final_path)
    return TrainResult(steps=step, total_steps=total_steps, final_loss=last_loss,
                       elapsed_seconds=elapsed, stop_reason=stop_reason, checkpoint=final_path,
                       last_checkpoint=last_path)
