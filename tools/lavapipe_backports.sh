#!/usr/bin/env bash
# A newer lavapipe beside the installed one, for side-by-side measurements on Debian 12: fetches
# mesa-vulkan-drivers (Mesa 25) and the libdrm it needs from bookworm-backports and unpacks
# them under DIR, without installing anything or touching the system's apt sources. Run by
# hand (not by CI); needs apt-get and network access to deb.debian.org.
#
#   tools/lavapipe_backports.sh [DIR]        # default target/lavapipe-backports
#   eval "$(tools/lavapipe_backports.sh)"    # then every Vulkan program here uses it
#
# Prints the two variables that select it: VK_ICD_FILENAMES (an ICD file naming the unpacked
# libvulkan_lvp.so) and LD_LIBRARY_PATH (its libdrm).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-target/lavapipe-backports}")
mkdir -p "$dir/debs" "$dir/lists/partial" "$dir/root"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$dir/sources.list"
apt=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$dir/lists" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${apt[@]}" update -qq >&2
(cd "$dir/debs" && apt-get "${apt[@]}" download \
  mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports \
  libdrm-amdgpu1/bookworm-backports >&2)
for deb in "$dir"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dir/root"
done
lib="$dir/root/usr/lib/x86_64-linux-gnu"
sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"$lib/libvulkan_lvp.so\"#" \
  "$dir/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$dir/lvp_icd.json"
echo "export VK_ICD_FILENAMES=$dir/lvp_icd.json"
echo "export LD_LIBRARY_PATH=$lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
