#!/bin/sh
# Installs the upshift binary of a release for this machine, verified
# against the release's checksums.txt. Nothing is built; nothing but the
# archive and checksums.txt is downloaded.
#
#   curl -fsSL https://github.com/upshift-dev/upshift/releases/latest/download/install.sh | sh
#   curl -fsSL …/install.sh | UPSHIFT_VERSION=v0.9.0 UPSHIFT_INSTALL_DIR=$HOME/bin sh
#
# UPSHIFT_VERSION       a release tag (v0.9.0) or latest (the default)
# UPSHIFT_INSTALL_DIR   where the binary goes: /usr/local/bin when writable, else ~/.local/bin
# UPSHIFT_DOWNLOAD_URL  the folder holding the release's files (a mirror, or a
#                       test's server); by default the GitHub release of UPSHIFT_VERSION
#
# Exit status: 0 installed (or already there, verified), 1 a download or the
# checksum failed (nothing installed), 2 this machine or the input is not
# supported.
set -eu

repo=https://github.com/upshift-dev/upshift
version=${UPSHIFT_VERSION:-latest}
[ -n "$version" ] || version=latest

say() { printf 'upshift install: %s\n' "$*" >&2; }
fail() { code=$1; shift; say "$*"; exit "$code"; }

case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) fail 2 "no release for $(uname -s); build from source: go install github.com/upshift-dev/upshift/cmd/upshift@latest" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail 2 "no release for $(uname -m); build from source: go install github.com/upshift-dev/upshift/cmd/upshift@latest" ;;
esac

if [ -n "${UPSHIFT_DOWNLOAD_URL:-}" ]; then
  base=${UPSHIFT_DOWNLOAD_URL%/}
elif [ "$version" = latest ]; then
  base=$repo/releases/latest/download
else
  case $version in v*) ;; *) version=v$version ;; esac
  base=$repo/releases/download/$version
fi

if [ -n "${UPSHIFT_INSTALL_DIR:-}" ]; then
  dir=$UPSHIFT_INSTALL_DIR
elif [ -w /usr/local/bin ]; then
  dir=/usr/local/bin
else
  dir=$HOME/.local/bin
fi

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail 2 "neither curl nor wget is installed"
  fi
}
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail 2 "neither sha256sum nor shasum is installed: cannot verify the download"
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch "$base/checksums.txt" "$tmp/checksums.txt" || fail 1 "cannot download $base/checksums.txt"
# The archive's name carries the version, so a "latest" checksums.txt also
# says which version it is.
line=$(grep -E "  upshift_[^ ]+_${os}_${arch}\.tar\.gz\$" "$tmp/checksums.txt" || true)
[ -n "$line" ] || fail 1 "$base/checksums.txt lists no archive for ${os}/${arch}"
[ "$(printf '%s\n' "$line" | wc -l)" -eq 1 ] || fail 1 "$base/checksums.txt lists several archives for ${os}/${arch}"
want=${line%% *}
archive=${line##* }
tag=v$(printf '%s' "$archive" | sed -e 's/^upshift_//' -e "s/_${os}_${arch}\.tar\.gz\$//")
if [ "$version" != latest ] && [ "$tag" != "$version" ]; then
  fail 1 "$base/checksums.txt is for $tag, not $version"
fi

if [ -x "$dir/upshift" ] && [ -f "$dir/.upshift.sha256" ] && [ "$(cat "$dir/.upshift.sha256")" = "$want" ] &&
  [ "$(sha256 "$dir/upshift")" = "$(cat "$dir/.upshift.bin.sha256" 2>/dev/null)" ]; then
  say "upshift $tag already in $dir (verified)"
  exit 0
fi

say "downloading $archive"
fetch "$base/$archive" "$tmp/$archive" || fail 1 "cannot download $base/$archive"
got=$(sha256 "$tmp/$archive")
if [ "$got" != "$want" ]; then
  fail 1 "checksum mismatch for $archive: checksums.txt says $want, the download is $got; nothing installed"
fi
mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" upshift || fail 1 "$archive has no upshift binary"

mkdir -p "$dir" || fail 1 "cannot create $dir (set UPSHIFT_INSTALL_DIR)"
# Into place by rename, so a running upshift is never overwritten mid-run.
cp "$tmp/x/upshift" "$dir/.upshift.new" || fail 1 "cannot write to $dir (set UPSHIFT_INSTALL_DIR, or run as a user who may)"
chmod 0755 "$dir/.upshift.new"
mv -f "$dir/.upshift.new" "$dir/upshift"
printf '%s\n' "$want" >"$dir/.upshift.sha256"
sha256 "$dir/upshift" >"$dir/.upshift.bin.sha256"
say "installed upshift $tag to $dir/upshift"
case ":$PATH:" in
  *":$dir:"*) ;;
  *) say "$dir is not on PATH: add it (export PATH=\"$dir:\$PATH\")" ;;
esac
