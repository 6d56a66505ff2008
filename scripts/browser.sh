#!/usr/bin/env bash
# What the browser tests (tests/web) need beyond the venv, installed only when missing:
#
# - Debian's Chromium, with apt as root. Playwright drives it through executable_path; its own
#   browser download is not used (it fetches builds from a host of its own, which not every
#   machine can reach, and Debian's is patched with the rest of the system).
# - axe-core, the accessibility checker the tests inject into the page: the npm registry's
#   tarball of one pinned version, checked against its sha256, unpacked into .cache/axe-core/
#   (git-ignored). Fetched rather than vendored: 500 kB of minified code in the history for each
#   upgrade, where a version and a hash say the same.
#
# Usage: scripts/browser.sh        (`make browser`; `make test` runs it)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

CHROMIUM=/usr/bin/chromium
AXE_VERSION=4.14.1
AXE_SHA256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745
AXE_TARBALL_URL="https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz"
axe_dir="$repo/.cache/axe-core/$AXE_VERSION"

log() { echo "browser: $*"; }
die() { echo "browser: $*" >&2; exit 1; }

# The Debian packages this script needs and does not find: the browser, and what fetches axe-core.
missing_packages() {
    [[ -x "$CHROMIUM" ]] || echo chromium
    command -v curl >/dev/null || echo curl
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] || echo ca-certificates
    return 0
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        return
    fi
    ((EUID == 0)) || die "missing system packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    log "installing: ${missing[*]} (apt)"
    apt-get update -qq
    # Waits for another apt run to finish instead of failing on its lock.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}"
}

fetch_axe() {
    if [[ -f "$axe_dir/axe.min.js" ]]; then
        return
    fi
    log "fetching axe-core $AXE_VERSION"
    local scratch
    scratch="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: the variable is local to this function
    trap "rm -rf '$scratch'" RETURN
    curl --silent --show-error --fail --location --retry 3 -o "$scratch/axe-core.tgz" "$AXE_TARBALL_URL"
    echo "$AXE_SHA256  $scratch/axe-core.tgz" | sha256sum --check --quiet ||
        die "axe-core-$AXE_VERSION.tgz does not have the pinned sha256; refusing to use it"
    tar -xzf "$scratch/axe-core.tgz" -C "$scratch" package/axe.min.js package/LICENSE
    mkdir -p "$axe_dir"
    # Moved into place last, so an interrupted fetch is retried next time.
    mv "$scratch/package/LICENSE" "$axe_dir/LICENSE"
    mv "$scratch/package/axe.min.js" "$axe_dir/axe.min.js"
}

install_packages
fetch_axe
log "ready: $("$CHROMIUM" --version 2>/dev/null), axe-core $AXE_VERSION"
