#!/usr/bin/env bash
# Installs, builds and runs the main job: train v3-tiny on the CPU with the default corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
"${BUILD_DIR:-build}"/bin/ds-train models/configs/v3-tiny.json "$@"
