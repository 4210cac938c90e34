#!/usr/bin/env bash
# Reproduce a shipped checkpoint: tools/train_shipped.sh METHOD [OUT_DIR] [extra unsup-tracker-train args]
#
# Data: only Debian's opencv-doc footage (installed by `make setup`), never real_dev or the
# development benchmark's sequences. Photos used as devbench targets, occluders and backgrounds
# are left out of the still-image set so the benchmark stays unseen. The resulting checkpoint
# records this exact command, the data manifest (file names, sizes, sha256) and the time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
method=${1:?usage: tools/train_shipped.sh udt|s2siamfc|pul [OUT_DIR] [args...]}
out=${2:-runs/$method}
shift $(( $# >= 2 ? 2 : 1 ))
py=.venv/bin/python
doc=/usr/share/doc/opencv-doc
videos=(
  "$doc/examples/data/Megamind.avi" "$doc/examples/data/vtest.avi" "$doc/examples/data/tree.avi"
  "$doc/opencv4/html/box.mp4.gz" "$doc/opencv4/html/cup.mp4.gz"
)
for v in "${videos[@]}"; do [ -f "$v" ] || { echo "missing $v: run make setup" >&2; exit 2; }; done
# Still photos minus every photo the development benchmark uses, linked into one folder.
photos=$($py - <<'PY'
import pathlib
from unsup_tracker.evaluation import devbench
from unsup_tracker.sample_data import cache_dir
used = {t.photo for t in devbench.TARGET_PHOTOS} | set(devbench.OCCLUDER_PHOTOS) \
    | set(devbench.BACKGROUND_PHOTOS)
src = pathlib.Path("/usr/share/doc/opencv-doc/examples/data")
dst = pathlib.Path(cache_dir()) / "train_photos"
dst.mkdir(parents=True, exist_ok=True)
for old in dst.iterdir():
    old.unlink()
for f in sorted(src.iterdir()):
    if f.suffix.lower() in (".jpg", ".png") and f.name not in used:
        (dst / f.name).symlink_to(f)
print(dst)
PY
)
case "$method" in
  udt)      # video only: UDT's forward-backward cycle needs frame windows
    args=(--steps 400 --max-minutes 35) ; data=("${videos[@]}") ;;
  s2siamfc) # single images: photos plus every 5th video frame
    args=(--steps 900 --max-minutes 30 --frame-stride 5 --images-as stills) ; data=("$photos" "${videos[@]}") ;;
  pul)      # video only: PUL mines temporal correspondences
    args=(--steps 600 --max-minutes 30) ; data=("${videos[@]}") ;;
  *) echo "unknown method $method" >&2; exit 2 ;;
esac
dargs=(); for d in "${data[@]}"; do dargs+=(--data "$d"); done
set -x
exec .venv/bin/unsup-tracker-train --method "$method" "${dargs[@]}" --out "$out" --seed 0 --quiet \
  "${args[@]}" "$@"
