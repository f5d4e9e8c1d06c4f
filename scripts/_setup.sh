# Shared set-up of scripts/run-example.sh and scripts/run-tests.sh (sourced, not run):
# installs the system packages scikit-sparse needs (SuiteSparse headers, OpenBLAS) when
# missing, creates .venv at the repository root and installs lmmpy into it (editable,
# with the test extras) when it is not there yet or pyproject.toml changed.
# Expects the caller to have cd'ed to the repository root and set -euo pipefail.
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root to run: $* (and sudo is not installed); run it as root, then retry"
        exit 1
    fi
}

has_openblas() {
    local cache
    cache="$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)"
    [[ "$cache" == *libopenblas* ]] || compgen -G "/usr/lib/*/openblas-pthread" >/dev/null
}

missing_system_packages() {
    local packages=()
    if [ ! -f /usr/include/suitesparse/cholmod.h ]; then
        packages+=(libsuitesparse-dev libopenblas0-pthread)  # headers to build scikit-sparse
    elif ! has_openblas; then
        packages+=(libopenblas0-pthread)  # reference BLAS makes CHOLMOD 3-4x slower
    fi
    if ! .venv/bin/python -c 'import sksparse' 2>/dev/null; then  # pip will build it
        command -v cc >/dev/null 2>&1 || packages+=(build-essential)
        python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(
            os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || packages+=(python3-dev)
    fi
    if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip' 2>/dev/null; then
        packages+=(python3-venv)  # Debian ships venv's pip bootstrap separately
    fi
    [ ${#packages[@]} -eq 0 ] || printf '%s\n' "${packages[@]}"
}

install_system_packages() {
    local packages
    mapfile -t packages < <(missing_system_packages)
    [ ${#packages[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        say "no apt-get: install SuiteSparse (CHOLMOD headers) and OpenBLAS with your package" \
            "manager; continuing, the pip install of scikit-sparse may fail without them"
        return 0
    fi
    say "installing system packages: ${packages[*]}"
    say "+ apt-get update"
    as_root apt-get update -q
    say "+ apt-get install -y ${packages[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
}

install_lmmpy() {
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "lmmpy needs Python >= 3.11; python3 is $(python3 --version 2>&1)"
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        say "+ python3 -m venv .venv"
        python3 -m venv .venv
    fi
    local stamp=.venv/.lmmpy-installed
    if [ -x .venv/bin/lmmpy ] && [ ! pyproject.toml -nt "$stamp" ] \
        && .venv/bin/python -c 'import importlib.metadata as m; m.version("lmmpy")' 2>/dev/null
    then
        return 0
    fi
    say "+ .venv/bin/pip install -q -e \".[test]\"  (builds scikit-sparse: a minute or two)"
    .venv/bin/pip install -q -e ".[test]"
    touch "$stamp"
}

install_system_packages
install_lmmpy
