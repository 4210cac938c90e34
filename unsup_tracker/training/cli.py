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
r"""``unsup-tracker-train``: learn a tracker's weights from unlabeled videos, images and rosbags.

Example::

    unsup-tracker-train --method udt --data /usr/share/doc/opencv-doc/examples/data/vtest.avi \\
        --data recording/ --topic /camera/image_raw --out runs/udt --max-minutes 30

``--set key=value`` (recipe) and ``--model-set key=value`` (network) values are read as JSON
when they parse (``0.01``, ``true``, ``[1, 2]``) and as plain strings otherwise; the recipe's
parameter class and the method's network builder check keys and types.
Exit status: 0 done, 1 training failed, 2 bad arguments or data, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys

from unsup_tracker import CheckpointError, list_methods

from .loop import DEFAULT_STEPS, ConfigError, TrainingError, TrainOptions, train
from .sources import IMAGES_AS_CHOICES, DataError

PROG = "unsup-tracker-train"


def parse_set(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Train a label-free tracker on unlabeled videos, image folders "
        "and rosbag2 recordings.")
    parser.add_argument("--method", required=True, help="tracking method, e.g. udt")
    parser.add_argument("--data", action="append", required=True, metavar="PATH",
                        help="video (.avi/.mp4/...; .gz too), image-sequence folder, stills "
                        "folder, rosbag2 folder or .db3/.mcap file, or a folder of those; or "
                        "synth[,clips=N,frames=F,size=WxH,seed=S,objects=K]:PHOTOS for clips "
                        "rendered from photos; repeat")
    parser.add_argument("--topic",
                        help="image topic of the bags (default: their only image topic)")
    parser.add_argument("--out", required=True, metavar="DIR", help="checkpoints and loss.csv")
    parser.add_argument("--steps", type=int,
                        help=f"optimisation steps (default: recipe's default_steps or "
                        f"{DEFAULT_STEPS}; when resuming, the run's own)")
    parser.add_argument("--max-minutes", type=float, help="wall-clock budget; stops and saves")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: torch's); results are bit-identical "
                        "only at the same thread count")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe parameter override; repeat")
    parser.add_argument("--model-set", action="append", default=[], metavar="KEY=VALUE",
                        help="network configuration of a model trained from scratch (repeatable; "
                        "unknown keys are refused)")
    parser.add_argument("--resume", action="store_true",
                        help="continue OUT/<method>_last.pt (model, optimizer, step, RNG)")
    parser.add_argument("--init", metavar="CKPT", help="start from this checkpoint's weights")
    parser.add_argument("--features-from", metavar="CKPT",
                        help="start a fresh network's backbone (and neck) from another method's "
                        "checkpoint on the same backbone, e.g. the shipped usot.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    parser.add_argument("--checkpoint-every", type=int, default=500, metavar="N",
                        help="save <method>_step<N>.pt and <method>_last.pt every N steps "
                        "(default 500)")
    parser.add_argument("--max-side", type=int, default=480,
                        help="frames are kept with their longest side at most this "
                        "(default 480; 0: as is)")
    parser.add_argument("--frame-stride", type=int, default=1, metavar="N",
                        help="keep every N-th frame (default 1)")
    parser.add_argument("--memory-mb", type=float, default=4096.0,
                        help="RAM budget for decoded frames (default 4096)")
    parser.add_argument("--images-as", choices=IMAGES_AS_CHOICES, default="auto",
                        help="treat image folders as sequences or stills (default auto: by "
                        "their file names)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even if OUT holds a run of this method")
    parser.add_argument("--list-methods", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--list-methods" in argv:
        print("\n".join(list_methods()))
        return 0
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        overrides = parse_set(args.set)
        model_overrides = parse_set(args.model_set)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        options = TrainOptions(
            method=args.method, data=args.data, out=args.out, topic=args.topic, steps=args.steps,
            max_minutes=args.max_minutes, seed=args.seed, device=args.device,
            overrides=overrides, model_overrides=model_overrides, resume=args.resume,
            init=args.init, features_from=args.features_from, quiet=args.quiet,
            checkpoint_every=args.checkpoint_every, max_side=args.max_side,
            frame_stride=args.frame_stride, memory_mb=args.memory_mb, images_as=args.images_as,
            overwrite=args.overwrite, threads=args.threads, command=shlex.join([PROG] + argv))
        result = train(options)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (DataError, ConfigError, CheckpointError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4g}"
        print(f"{result.steps}/{result.total_steps} steps ({result.stop_reason}), final loss "
              f"{loss}, {result.elapsed_seconds:.1f} s -> {result.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
