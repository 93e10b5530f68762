#!/usr/bin/env bash
# Installs, builds and runs every test that can run here (lit, unit, end-to-end; the `gpu`
# label reports as skipped where no GPU is present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)"
