#!/usr/bin/env bash
# Fetches OpenCV's digits.png (a 2000x1000 sheet: 50 rows x 100 columns of
# 20x20 handwritten digits, 500 per digit in blocks of 5 rows) into data/.
# It comes from Debian's opencv-doc package: the .deb is downloaded into a
# temporary folder with `apt-get download` (no root, nothing installed) and
# only examples/data/digits.png is extracted. Idempotent: does nothing when
# data/digits.png already exists; a system copy from an installed opencv-doc
# is used when present.
#   scripts/data/get-digits.sh [OUT]      default OUT: <repo>/data/digits.png
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/data/digits.png}
member=usr/share/doc/opencv-doc/examples/data/digits.png

if [ -s "$out" ]; then
  echo "get-digits.sh: $out already present" >&2
  exit 0
fi
mkdir -p "$(dirname "$out")"

# Installed opencv-doc: copy it (Debian may compress docs, but keeps PNGs as-is).
if [ -s "/$member" ]; then
  cp "/$member" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
  echo "get-digits.sh: copied /$member to $out" >&2
  exit 0
fi

command -v apt-get >/dev/null || { echo "get-digits.sh: needs apt-get (Debian/Ubuntu)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "get-digits.sh: downloading opencv-doc (about 270 MB, not installed) ..." >&2
# apt's "download is performed unsandboxed" notice (root, private temp folder) is noise: the log is shown on failure only.
if ! (cd "$tmp" && apt-get download -q opencv-doc >"$tmp/apt.log" 2>&1); then
  cat "$tmp/apt.log" >&2
  echo "get-digits.sh: 'apt-get download opencv-doc' failed (run 'sudo apt-get update' first?)" >&2
  exit 1
fi
deb=$(ls "$tmp"/opencv-doc_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "get-digits.sh: no opencv-doc .deb was downloaded" >&2; exit 1; }
mkdir "$tmp/x"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" "./$member"
[ -s "$tmp/x/$member" ] || { echo "get-digits.sh: $member not found in $(basename "$deb")" >&2; exit 1; }
cp "$tmp/x/$member" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
echo "get-digits.sh: wrote $out ($(stat -c %s "$out") bytes)" >&2
