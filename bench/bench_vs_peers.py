"""Our shipped methods beside OpenCV's CSRT and KCF and the supervised NanoTrack v2, in one run.

NanoTrack v2 (OpenCV ``TrackerNano``: ImageNet MobileNetV3 plus GOT-10k labels) is the tracker a
user already has on a CPU, so it is the peer our label-free methods are measured against. Its ONNX
files are not ours and are never shipped or downloaded: put ``nanotrack_backbone_sim.onnx`` and
``nanotrack_head_sim.onnx`` (github.com/HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2/)
in a folder and point ``UNSUP_TRACKER_NANOTRACK_DIR`` (or ``--nanotrack-dir``) at it; without
them the bench says so and runs the rest.

Datasets: devbench, and ``../shared/real_dev`` (or ``--real-dev``) when present. Every tracker
runs with one thread (comparable FPS). Prints one table of AUC / P@20 / FPS per dataset; the
full results (per sequence, curves, plots) stay in ``--out``. Usage::

    python bench/bench_vs_peers.py [--methods udt,s2siamfc,pul,usot,cyclesiam] [--out /tmp/peers]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="udt,s2siamfc,pul,usot,cyclesiam",
                        help="shipped methods, comma-separated (default: %(default)s)")
    parser.add_argument("--baselines", default="csrt,kcf",
                        help="OpenCV baselines besides NanoTrack (default: %(default)s)")
    parser.add_argument("--nanotrack-dir", type=Path,
                        default=os.environ.get("UNSUP_TRACKER_NANOTRACK_DIR"),
                        help="folder with NanoTrack v2's two ONNX files")
    parser.add_argument("--real-dev", type=Path, default=REPO.parent / "shared" / "real_dev",
                        help="OTB-layout folder of real sequences (skipped when absent)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/unsup_tracker_peers"))
    parser.add_argument("--extra", action="append", default=[], metavar="ARG",
                        help="extra argument passed to every `unsup-tracker eval` run")
    return parser.parse_args()


def run_eval(dataset, out_dir, args, env):
    """Run one `unsup-tracker eval` and return its results.json content."""
    baselines = args.baselines
    if "UNSUP_TRACKER_NANOTRACK_DIR" in env:
        baselines = f"{baselines},nanotrack" if baselines else "nanotrack"
    command = [sys.executable, "-m", "unsup_tracker.cli", "eval", "--dataset", str(dataset),
               "--out", str(out_dir), "--threads", "1", "--baselines", baselines or "none"]
    for method in filter(None, args.methods.split(",")):
        command += ["--method", method]
    command += args.extra
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((out_dir / "results.json").read_text())


def summary_rows(results):
    """Yield (tracker, AUC %, P@20 %, FPS) from a results.json document."""
    for name, entry in results["methods"].items():
        overall = entry["overall"]
        yield name, 100 * overall["auc"], 100 * overall["precision_20"], overall["fps"]


def main():
    args = parse_args()
    env = dict(os.environ)
    env.pop("UNSUP_TRACKER_NANOTRACK_DIR", None)
    if args.nanotrack_dir:
        env["UNSUP_TRACKER_NANOTRACK_DIR"] = str(args.nanotrack_dir)
        from unsup_tracker.evaluation.runner import NanoTrackMissingError, nanotrack_files
        os.environ["UNSUP_TRACKER_NANOTRACK_DIR"] = str(args.nanotrack_dir)
        try:
            nanotrack_files()
        except NanoTrackMissingError as exc:
            print(f"NanoTrack skipped: {exc}")
            env.pop("UNSUP_TRACKER_NANOTRACK_DIR")
    else:
        print("NanoTrack skipped: no --nanotrack-dir / UNSUP_TRACKER_NANOTRACK_DIR")
    datasets = [("devbench", "devbench")]
    if args.real_dev.is_dir():
        datasets.append(("real_dev", args.real_dev))
    else:
        print(f"real_dev skipped: {args.real_dev} not found")
    for label, dataset in datasets:
        results = run_eval(dataset, args.out / label, args, env)
        print(f"\n{label}: AUC % / P@20 % / FPS (1 thread)")
        print("| tracker | AUC | P@20 | FPS |\n|---|---:|---:|---:|")
        for name, auc, p20, fps in sorted(summary_rows(results), key=lambda r: -r[1]):
            print(f"| {name} | {auc:.1f} | {p20:.1f} | {fps:.1f} |")
    print(f"\nfull results in {args.out}")


if __name__ == "__main__":
    main()
