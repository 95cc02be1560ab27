# Sourced by the scripts that use the project's own tools (not run by itself): where the cache
# and the virtual environment with the PyPI tools live, and PATH with that environment first.
# scripts/install-deps.sh fills the environment; its python3 is Debian's, with PyYAML.
# shellcheck shell=bash
SYSENG_CACHE=${SYSENG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/syseng_exporter}
SYSENG_VENV=$SYSENG_CACHE/venv
PATH=$SYSENG_VENV/bin:$PATH
export SYSENG_CACHE SYSENG_VENV PATH
