#!/usr/bin/env bash
# make secrets: create the development secrets in .secrets/ if they are absent.
#   jwt-private.pem    auth signs JWTs with it (Ed25519, PEM PKCS#8)
#   download-link.key  gateway and notification sign download links with it (32 bytes, hex)
# An existing file is never replaced: a new key would invalidate every token and link issued.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly secrets_dir=.secrets

# Everything created from here on is readable by this user only.
umask 077
mkdir -p "$secrets_dir"
chmod 700 "$secrets_dir"

# Write to a temporary file and rename it into place, so an interrupted run can't leave a
# half-written key that the next run would then keep.
create_secret() {
  local name=$1 description=$2
  shift 2
  local path=$secrets_dir/$name
  if [[ -e $path ]]; then
    echo "kept    $path (already exists)"
    return
  fi
  local partial
  partial=$(mktemp "$secrets_dir/.$name.XXXXXX")
  if ! "$@" >"$partial"; then
    rm -f "$partial"
    echo "could not create $path: '$*' failed" >&2
    exit 1
  fi
  chmod 600 "$partial"
  mv "$partial" "$path"
  echo "created $path ($description)"
}

create_secret jwt-private.pem "Ed25519 private key" openssl genpkey -algorithm ed25519
create_secret download-link.key "32 random bytes, hex" openssl rand -hex 32
