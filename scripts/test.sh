#!/usr/bin/env bash
# The test command: sets up what the GPU tests need on a fresh Debian machine, then runs
# every test with a missing adapter made a failure (never a silent skip).
#
#   scripts/test.sh [extra cargo test args]
#
# Where no adapter is found it installs Mesa's CPU Vulkan driver (lavapipe, package
# mesa-vulkan-drivers; needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Lavapipe complains without a valid runtime dir; give it a private one.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
  export XDG_RUNTIME_DIR
fi

if ! cargo run --quiet --example adapter; then
  echo "test.sh: no GPU adapter; installing mesa-vulkan-drivers (lavapipe)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  cargo run --quiet --example adapter
fi

export SOFTDICE_REQUIRE_GPU=1
cargo test "$@"
