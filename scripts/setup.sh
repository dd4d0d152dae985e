#!/usr/bin/env bash
# Installs what digitq needs on a fresh Debian/Ubuntu machine with Node 20+:
# system packages (redis-server, and chromium for the browser tests of the
# page at / and Swagger UI) and npm dependencies from the lockfile. MNIST is
# not fetched here: serving never reads it; the test command and trainings
# fetch it (checksummed) when DATA_DIR lacks it.
#
#   scripts/setup.sh               # redis-server + chromium (with apt) + npm ci
#   scripts/setup.sh --no-browser  # without chromium (serving needs none; `npm test` does)
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests (test/e2e/web.e2e.test.ts) drive Debian's Chromium at this path.
CHROMIUM=/usr/bin/chromium

want_browser=true
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=true ;; # the default; kept for scripts that pass it
    --no-browser) want_browser=false ;;
    *) echo "usage: scripts/setup.sh [--no-browser]" >&2; exit 2 ;;
  esac
done

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if $want_browser && [[ ! -x $CHROMIUM ]]; then missing+=(chromium); fi

if ((${#missing[@]} > 0)); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [[ $EUID -ne 0 ]]; then sudo="sudo"; fi
    echo "setup: installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  elif [[ " ${missing[*]} " == *" redis-server "* ]]; then
    echo "setup: digitq needs ${missing[*]}, and apt-get is not available here." >&2
    echo "setup: install them with your system's package manager (e.g. 'brew install redis'), then run this again." >&2
    exit 1
  else
    # Only the browser is missing: serving works without it, the browser tests do not.
    echo "setup: chromium is not at $CHROMIUM and apt-get is not available to install it." >&2
    echo "setup: the browser tests (test/e2e/web.e2e.test.ts, part of npm test) need it there: install Chromium with your" >&2
    echo "setup: package manager and link it to $CHROMIUM, or run setup with --no-browser if you only serve." >&2
  fi
fi

node -e 'const [major] = process.versions.node.split(".").map(Number); if (major < 20) { console.error(`setup: Node ${process.versions.node} is too old; digitq needs Node 20 or newer`); process.exit(1); }'

# onnxruntime-node's install script downloads a CUDA runtime on Linux x64 unless told not to (.npmrc says so too);
# a GPU machine opts in with ONNXRUNTIME_NODE_INSTALL=cuda12 (see docs/deployment.md).
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
npm ci --no-audit --no-fund --loglevel=error

echo "setup: done" >&2
