#!/usr/bin/env bash
# Fetches OpenCV's digits.png (a 2000x1000 sheet: 50 rows x 100 columns of
# 20x20 handwritten digits, 500 per digit in blocks of 5 rows) into data/,
# from Debian's opencv-doc package (see get-opencv-data.sh: nothing is
# installed). Idempotent: does nothing when OUT already exists.
#   scripts/data/get-digits.sh [OUT]      default OUT: <repo>/data/digits.png
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$(cd "$here/../.." && pwd)/data/digits.png}
if [ -s "$out" ]; then
  echo "get-digits.sh: $out already present" >&2
  exit 0
fi
if [ "$(basename "$out")" = digits.png ]; then
  exec "$here/get-opencv-data.sh" "$(dirname "$out")" digits.png
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/get-opencv-data.sh" "$tmp" digits.png
mkdir -p "$(dirname "$out")"
cp "$tmp/digits.png" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
