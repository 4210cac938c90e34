# Shell helpers shared by tools/setup.sh and tools/data.sh (sourced, not run; the caller sets
# TAG, the log prefix). Sourcing it changes to the repository root and sets ROOT, VENV, PY (the
# venv's python) and STAMPS (the step stamps).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMPS="$VENV/.stamps"
export PIP_DISABLE_PIP_VERSION_CHECK=1
T0=$(date +%s)
log() { printf '[%s %3ss] %s\n' "$TAG" "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$TAG" "$*" >&2; exit 1; }
hash_of() { # hash_of <strings/paths...>: content hash of files (recursively) and literal strings
  local a
  for a in "$@"; do
    if [ -d "$a" ]; then
      find "$a" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z \
        | xargs -0 -r sha256sum
    elif [ -f "$a" ]; then sha256sum "$a"
    else printf '%s\n' "$a"
    fi
  done | sha256sum | cut -c1-16
}
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }
pip() { # quiet pip; drops the warnings about this machine's absent local index dirs
  "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
apt_missing() { # apt_missing <packages...>: print those not installed, one a line
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || echo "$pkg"
  done
}
apt_install() { # apt_install <what for> <packages...>: install the missing ones; 1 if it cannot
  local why=$1 missing
  shift
  mapfile -t missing < <(apt_missing "$@")
  [ "${#missing[@]}" -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    log "WARNING: ${missing[*]} not installed and apt-get is unavailable (or not root):"
    log "WARNING:   sudo apt-get install --no-install-recommends ${missing[*]}   # $why"
    return 1
  fi
  log "apt: installing Debian's ${missing[*]} ($why)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
      log "WARNING: apt-get install ${missing[*]} failed ($why)"; return 1; }
  fi
}
