#!/usr/bin/env bash
# Create <repo>/.venv with everything the tests and the local stack need (requirements-dev.txt).
#
# pip runs again only when a requirements file changes: a hash of all of them is kept in a stamp
# file inside the venv. A hash rather than file times, because a fresh `git clone` gives every
# file a new time.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
stamp="$venv/.requirements.sha256"

# requirements-dev.txt includes each service's requirements.txt, so all of them count, and so
# does the shared library's pyproject.toml.
requirements_hash() {
    (cd "$repo" && sha256sum requirements-dev.txt ./*/requirements.txt common/pyproject.toml) | sha256sum | cut -d' ' -f1
}

wanted="$(requirements_hash)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "venv: $venv is up to date"
    exit 0
fi

# mysqlclient has no Linux wheel: pip compiles it against MariaDB Connector/C, found through
# pkg-config. Say so plainly instead of letting pip print a page of compiler output.
if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then
    echo "venv: libmariadb-dev and pkg-config are needed to build mysqlclient;" \
        "run 'scripts/stack.sh deps' (as root) or 'make deps' first" >&2
    exit 1
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "venv: creating $venv"
    python3 -m venv "$venv"
fi

echo "venv: installing requirements-dev.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$repo/requirements-dev.txt"

# The shared library, from the same folder the images build their wheel from; editable, so an
# edit to it is what the services and tests run, with no reinstall. --no-deps: its packages
# are pinned in the services' requirements above.
echo "venv: installing common/ (mp3common, editable)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --editable "$repo/common"

# Written last, so an interrupted install is retried next time.
echo "$wanted" >"$stamp"
echo "venv: ready"
