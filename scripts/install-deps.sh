#!/usr/bin/env bash
# Installs the Debian 12 packages qkv builds, tests and demos with; idempotent:
# it asks apt only for what is missing. Through sudo when not root.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --demo   also the demo data packages
#   scripts/install-deps.sh --bench  also what the benchmarks compare against
#   scripts/install-deps.sh --fuzz   also clang and libFuzzer (make fuzz-targets)
set -euo pipefail

# OpenMPI is optional for building qkv (data-parallel qkv-train); installed so
# that `make test` runs the MPI tests. Never libhdf5-openmpi-dev: qkv uses the
# serial HDF5.
pkgs=(build-essential cmake pkg-config libhdf5-dev libopenblas-dev libopencv-dev libspdlog-dev
      libcli11-dev libgtest-dev libgmock-dev python3-h5py python3-numpy openmpi-bin libopenmpi-dev
      slurmctld slurmd slurm-client munge  # SLURM + munge: tests/slurm/check.sh runs a one-node cluster
      time)  # /usr/bin/time: tests that bound a tool's peak memory
for arg in "$@"; do
  case "$arg" in
    --demo) pkgs+=(festlex-cmu dataset-fashion-mnist) ;;
    --bench) pkgs+=(sentencepiece python3-torch festlex-cmu dataset-fashion-mnist time) ;;
    # clang's -fsanitize=fuzzer links libclang_rt.fuzzer from libclang-rt-14-dev.
    --fuzz) pkgs+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps.sh: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
