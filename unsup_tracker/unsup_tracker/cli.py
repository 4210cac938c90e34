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
r"""The ``unsup-tracker`` command.

Subcommands::

    unsup-tracker eval --method udt --checkpoint untrained --baselines mosse,kcf,csrt \\
        --dataset /path/to/otb_root --out results/
    unsup-tracker eval --baselines mosse,kcf,csrt --dataset devbench --out results/
    unsup-tracker devbench --out /tmp/devbench --seed 0 --num-sequences 12 --frames 150

``--dataset devbench`` evaluates on the default development benchmark (seed 0, 12 sequences of
150 frames at 640x480), generated on first use into ``<cache>/devbench/`` where ``<cache>`` is
``$UNSUP_TRACKER_CACHE`` or ``~/.cache/unsup_tracker`` (see :mod:`unsup_tracker.sample_data`).

Adding a subcommand: write ``configure(parser)`` and ``run(args) -> exit code`` and call
:func:`register_subcommand` (here, or from a module imported here). Heavy imports (torch, the
evaluation package) happen inside ``run`` so ``unsup-tracker --help`` stays fast.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional


@dataclasses.dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}


class CommandError(Exception):
    """A user error a subcommand reports as one line (exit code 1)."""


def register_subcommand(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None],
                        run: Callable[[argparse.Namespace], int]) -> Subcommand:
    if name in SUBCOMMANDS:
        raise ValueError(f"subcommand {name!r} registered twice")
    SUBCOMMANDS[name] = Subcommand(name, help, configure, run)
    return SUBCOMMANDS[name]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unsup-tracker", description="Label-free single-object trackers: evaluation tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in SUBCOMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CommandError as exc:
        print(f"unsup-tracker {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _frame_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# ----------------------------------------------------------------------------- eval

def _configure_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", action="append", default=[], metavar="M",
                        help="learned method to evaluate (repeatable), e.g. udt")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="C",
                        help="checkpoint file, or 'untrained' for fresh weights; give it once "
                             "for all methods or once per --method, in order (default: the "
                             "shipped weights)")
    parser.add_argument("--baselines", default="mosse,kcf,csrt",
                        help="OpenCV trackers run in the same evaluation, comma-separated, or "
                             "'none' (available: mosse, kcf, csrt, mil, boosting, medianflow, "
                             "tld, static = the initial box, and nanotrack = OpenCV's supervised "
                             "TrackerNano, whose ONNX files $UNSUP_TRACKER_NANOTRACK_DIR must "
                             "hold; default: %(default)s)")
    parser.add_argument("--dataset", required=True,
                        help="OTB-layout folder, or 'devbench' for the default development "
                             "benchmark (generated into the cache on first use)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides",
                        help="tracker parameter override (repeatable); 'method.key=value' "
                             "applies to one method only")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--max-frames", type=_positive_int, default=None, metavar="N",
                        help="use only the first N frames of every sequence")
    parser.add_argument("--sequences", type=_comma_list, default=None, metavar="A,B",
                        help="evaluate only these sequences")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="limit torch and OpenCV to N threads (comparable FPS figures)")


def _parse_value(text: str):
    # Lists and objects come as JSON; scalars stay strings and the params class coerces them.
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CommandError(f"cannot parse {text!r} as JSON") from exc
    return text


def _overrides_for(methods: list[str], items: list[str]) -> dict[str, dict]:
    per_method: dict[str, dict] = {m: {} for m in methods}
    for item in items:
        if "=" not in item:
            raise CommandError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        target_methods = methods
        if "." in key:
            prefix, key = key.split(".", 1)
            if prefix not in per_method:
                raise CommandError(f"--set {item!r} names method {prefix!r}, which is not "
                                   f"evaluated (methods: {methods})")
            target_methods = [prefix]
        for method in target_methods:
            per_method[method][key] = _parse_value(value)
    return per_method


def _method_factories(args: argparse.Namespace) -> dict[str, Callable]:
    from . import registry
    from .checkpoint import CheckpointError, load_checkpoint
    from .params import UnknownParameterError

    methods = args.method
    checkpoints = args.checkpoint
    if len(checkpoints) not in (0, 1, len(methods)):
        raise CommandError(f"give --checkpoint once or once per --method ({len(methods)}), "
                           f"not {len(checkpoints)} times")
    if len(checkpoints) == 1:
        checkpoints = checkpoints * len(methods)
    if not checkpoints:
        checkpoints = [None] * len(methods)
    overrides = _overrides_for(sorted(set(methods)), args.overrides)
    factories: dict[str, Callable] = {}
    for method, checkpoint in zip(methods, checkpoints):
        try:
            registry.get_method(method)
            if checkpoint is None or checkpoint == registry.UNTRAINED:
                loaded = checkpoint
                label = method if checkpoint is None else f"{method} (untrained)"
            else:
                loaded = load_checkpoint(checkpoint, method)  # read once, shared by sequences
                label = f"{method} ({Path(checkpoint).stem})"
            params = overrides[method]

            def factory(method=method, loaded=loaded, params=params):
                return registry.build_tracker(method, loaded, args.device, **params)

            factory()  # fail now (missing weights, unknown parameter), not after the baselines
        except (CheckpointError, UnknownParameterError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        base, suffix = label, 2
        while label in factories:
            label, suffix = f"{base} #{suffix}", suffix + 1
        factories[label] = factory
    return factories


def _baseline_factories(text: str) -> dict[str, Callable]:
    from .evaluation.runner import baseline

    if text.strip().lower() == "none":
        return {}
    factories = {}
    for kind in _comma_list(text.lower()):
        try:
            name, factory = baseline(kind)
        except (ValueError, RuntimeError) as exc:
            raise CommandError(f"{exc} (or 'none')") from exc
        factories[name] = factory
    return factories


def _run_eval(args: argparse.Namespace) -> int:
    import cv2

    from .evaluation import devbench
    from .evaluation.dataset import DatasetError, load_dataset
    from .evaluation.runner import (attribute_subsets, lost_table, markdown_table, mask_table,
                                    run_benchmark)

    if not args.method and (args.checkpoint or args.overrides):
        raise CommandError("--checkpoint and --set apply to learned methods: add --method")
    if args.threads:
        cv2.setNumThreads(args.threads)
    factories = {}
    if args.method:
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        factories.update(_method_factories(args))
    factories.update(_baseline_factories(args.baselines))
    if not factories:
        raise CommandError("nothing to evaluate: give --method and/or --baselines")

    if args.dataset == "devbench":
        try:
            root = devbench.ensure_devbench()
        except devbench.FootageMissingError as exc:
            raise CommandError(str(exc)) from exc
    else:
        root = Path(args.dataset)
    try:
        sequences = load_dataset(root, args.sequences)
    except DatasetError as exc:
        raise CommandError(str(exc)) from exc
    if args.max_frames:
        sequences = [s.truncated(args.max_frames) for s in sequences]

    started = time.perf_counter()
    results = run_benchmark(factories, sequences, args.out, dataset_label=str(root))
    print(markdown_table(results, [s.name for s in sequences]), end="")
    print("\n" + lost_table(results, attribute_subsets(sequences)), end="")
    masks = mask_table(results)
    if masks:
        print("\nMasks (DAVIS J and F, %; box = the box filled as a mask):\n" + masks, end="")
    print(f"\n{len(sequences)} sequences, {sum(len(s) for s in sequences)} frames, "
          f"{time.perf_counter() - started:.0f} s; wrote {args.out}/results.json, results.md, "
          f"success.png, precision.png{', masks.png' if masks else ''}")
    return 0


# ----------------------------------------------------------------------------- devbench

def _configure_devbench(parser: argparse.ArgumentParser) -> None:
    from .evaluation import devbench

    parser.add_argument("--out", required=True, type=Path, help="output folder (OTB layout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-sequences", type=_positive_int,
                        default=devbench.DEFAULT_NUM_SEQUENCES)
    parser.add_argument("--frames", type=_positive_int, default=devbench.DEFAULT_NUM_FRAMES,
                        help="frames per sequence")
    parser.add_argument("--size", type=_frame_size, default=devbench.DEFAULT_FRAME_SIZE,
                        metavar="WxH", help="frame size (default 640x480)")


def _run_devbench(args: argparse.Namespace) -> int:
    from .evaluation import devbench

    started = time.perf_counter()
    try:
        devbench.generate_devbench(args.out, args.seed, args.num_sequences, args.frames,
                                   args.size)
    except (devbench.FootageMissingError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {args.num_sequences} sequences x {args.frames} frames to {args.out} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


register_subcommand("eval", "one-pass evaluation of trackers and OpenCV baselines",
                    _configure_eval, _run_eval)
register_subcommand("devbench", "generate the development benchmark (OTB layout)",
                    _configure_devbench, _run_devbench)


if __name__ == "__main__":
    sys.exit(main())
