#!/usr/bin/env bash
# Set up lmmpy on a fresh Debian/Ubuntu machine and fit the sleepstudy example.
#
#   bash scripts/run-example.sh
#
# 1. Installs the system packages scikit-sparse needs to build (SuiteSparse headers)
#    and OpenBLAS (with Debian's reference BLAS CHOLMOD is 3-4x slower), if missing.
# 2. Creates .venv at the repository root and installs lmmpy into it (editable, with
#    the test extras) when it is not there yet or pyproject.toml changed, with the
#    scikit-sparse release that builds against the system's SuiteSparse (<0.5 for
#    SuiteSparse 5/6, >=0.5 for 7).
# 3. Runs: lmmpy fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_setup.sh

.venv/bin/lmmpy fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
