#!/usr/bin/env bash
# Set up lmmpy on a fresh Debian/Ubuntu machine and run the test suite and the linter.
#
#   bash scripts/run-tests.sh [pytest arguments...]
#
# 1. Installs the system packages scikit-sparse needs to build (SuiteSparse headers)
#    and OpenBLAS (with Debian's reference BLAS CHOLMOD is 3-4x slower), if missing.
# 2. Creates .venv at the repository root and installs lmmpy into it (editable, with
#    the test extras) when it is not there yet or pyproject.toml changed, with the
#    scikit-sparse release that builds against the system's SuiteSparse (<0.5 for
#    SuiteSparse 5/6, >=0.5 for 7).
# 3. Runs: python -m pytest -q "$@", then ruff check lmmpy tests, then mkdocs build --strict
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/_setup.sh

.venv/bin/python -m pytest -q "$@"
.venv/bin/ruff check lmmpy tests
# The documentation site (mkdocs.yml: user guide, API reference from the docstrings);
# --strict makes every warning (a broken link, a bad docstring) an error.
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
