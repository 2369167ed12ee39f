#!/usr/bin/env bash
# Fetches files of OpenCV's sample data (examples/data/ of Debian's opencv-doc
# package: digits.png, natural photos such as baboon.jpg or fruits.jpg, ...)
# into OUTDIR. The .deb is downloaded into a temporary folder with
# `apt-get download` (no root, nothing installed) and only the named files are
# extracted; the copies of an installed opencv-doc are used when present.
# Idempotent: files already in OUTDIR are kept and nothing is downloaded when
# all are there. Exit 1 (with one line saying why) when a file cannot be had.
#   scripts/data/get-opencv-data.sh OUTDIR NAME...   e.g. data digits.png
set -euo pipefail
me=$(basename "$0")
[ $# -ge 2 ] || { echo "usage: $me OUTDIR NAME..." >&2; exit 2; }
outdir=$1
shift
dir=usr/share/doc/opencv-doc/examples/data
mkdir -p "$outdir"

# Installs the extracted or system copy $1 as $outdir/$2 atomically.
put() { cp "$1" "$outdir/$2.tmp.$$" && mv "$outdir/$2.tmp.$$" "$outdir/$2"; }

missing=()
for name in "$@"; do
  if [ -s "$outdir/$name" ]; then continue; fi
  # Installed opencv-doc: copy it (Debian may compress docs, but keeps images as-is).
  if [ -s "/$dir/$name" ]; then put "/$dir/$name" "$name"; continue; fi
  missing+=("$name")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$me: $# file(s) present in $outdir" >&2
  exit 0
fi

command -v apt-get >/dev/null || { echo "$me: needs apt-get (Debian/Ubuntu)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "$me: downloading opencv-doc (about 100 MB, not installed) for ${#missing[@]} file(s) ..." >&2
# apt's "download is performed unsandboxed" notice (root, private temp folder) is noise: the log is shown on failure only.
if ! (cd "$tmp" && apt-get download -q opencv-doc >"$tmp/apt.log" 2>&1); then
  cat "$tmp/apt.log" >&2
  echo "$me: 'apt-get download opencv-doc' failed (run 'sudo apt-get update' first?)" >&2
  exit 1
fi
deb=$(ls "$tmp"/opencv-doc_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "$me: no opencv-doc .deb was downloaded" >&2; exit 1; }
mkdir "$tmp/x"
members=()
for name in "${missing[@]}"; do members+=("./$dir/$name"); done
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" "${members[@]}" 2>"$tmp/tar.log" || true
for name in "${missing[@]}"; do
  [ -s "$tmp/x/$dir/$name" ] || { echo "$me: $dir/$name not found in $(basename "$deb")" >&2; exit 1; }
  put "$tmp/x/$dir/$name" "$name"
done
echo "$me: wrote ${#missing[@]} file(s) into $outdir" >&2
