# Shared set-up of scripts/run-example.sh and scripts/run-tests.sh (sourced, not run):
# installs the system packages scikit-sparse needs (SuiteSparse headers, OpenBLAS) when
# missing, creates .venv at the repository root and installs lmmpy into it (editable,
# with the test extras) when it is not there yet or pyproject.toml changed, with the
# scikit-sparse that builds against the system's SuiteSparse: 0.4.x for SuiteSparse 5
# and 6 (Debian 12), 0.5.x for 7 (Ubuntu 24.04, Debian 13, Homebrew).
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

# SuiteSparse's major version from SuiteSparse_config.h (SUITESPARSE_INCLUDE_DIR, the
# usual prefixes, Homebrew's, conda's), else pkg-config; empty when none is found.
suitesparse_major_version() {
    local dir header brew_prefix=""
    command -v brew >/dev/null 2>&1 && brew_prefix="$(brew --prefix suite-sparse 2>/dev/null || true)"
    for dir in "${SUITESPARSE_INCLUDE_DIR:-}" /usr/include/suitesparse /usr/local/include/suitesparse \
        "${brew_prefix:+$brew_prefix/include/suitesparse}" \
        "${CONDA_PREFIX:+$CONDA_PREFIX/include/suitesparse}"; do
        header="$dir/SuiteSparse_config.h"
        if [ -n "$dir" ] && [ -f "$header" ]; then
            sed -n 's/^#define[[:space:]]*SUITESPARSE_MAIN_VERSION[[:space:]]*\([0-9]*\).*/\1/p' \
                "$header" | head -n 1
            return 0
        fi
    done
    if command -v pkg-config >/dev/null 2>&1; then
        pkg-config --modversion SuiteSparse_config 2>/dev/null | cut -d. -f1
    fi
}

# The scikit-sparse releases that build against the system's SuiteSparse: 0.5 needs
# SuiteSparse 7 (it wraps 7's API); 0.4.x builds against 5 and 6, and not against 7.
scikit_sparse_requirement() {
    local major
    major="$(suitesparse_major_version)"
    if [ -z "$major" ]; then
        say "SuiteSparse_config.h not found; letting pip choose the scikit-sparse version"
        echo "scikit-sparse"
    elif [ "$major" -ge 7 ]; then
        echo "scikit-sparse>=0.5"
    else
        echo "scikit-sparse<0.5"
    fi
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
    local stamp=.venv/.lmmpy-installed sksparse
    sksparse="$(scikit_sparse_requirement)"
    # The stamp holds the scikit-sparse requirement it was installed with: a system
    # upgrade from SuiteSparse 5 to 7 changes it, and scikit-sparse is then rebuilt.
    if [ -x .venv/bin/lmmpy ] && [ ! pyproject.toml -nt "$stamp" ] \
        && [ "$(cat "$stamp" 2>/dev/null)" = "$sksparse" ] \
        && .venv/bin/python -c 'import importlib.metadata as m; m.version("lmmpy")' 2>/dev/null
    then
        return 0
    fi
    say "SuiteSparse $(suitesparse_major_version || true): installing $sksparse"
    say "+ .venv/bin/pip install -q -e \".[test]\" \"$sksparse\"  (builds scikit-sparse: a minute or two)"
    .venv/bin/pip install -q -e ".[test]" "$sksparse"
    printf '%s\n' "$sksparse" > "$stamp"
}

install_system_packages
install_lmmpy
