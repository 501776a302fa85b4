#!/usr/bin/env bash
# Builds the llmgate binary for installation. This is the one build the
# Dockerfile runs (its build stage), and CI runs it too
# (tests/integration/container.test.mjs builds with it and runs the result).
#
#   bash scripts/build.sh [BUILD_DIR [DESTDIR]]
#
#   BUILD_DIR   meson build directory, configured when it has no build.ninja
#               (else reconfigured with the options below); also
#               $LLMGATE_BUILD_DIR; default: build-release
#   DESTDIR     when given, `meson install --destdir DESTDIR`: the binary lands
#               in DESTDIR$LLMGATE_PREFIX/bin/llmgate (stripped); also
#               $LLMGATE_DESTDIR; default: none (nothing is installed)
#   LLMGATE_PREFIX=/usr/local     the install prefix
#   LLMGATE_BUILDTYPE=release     the meson build type
#
# Relative paths are relative to the current directory. Only the llmgate
# target is built (not the unit tests, the mock upstream or the fuzzers), so
# the build needs exactly the packages of `scripts/install-deps.sh build`.
# The last line printed is `llmgate binary: PATH` (the installed binary when
# DESTDIR is given, else the one in BUILD_DIR).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-${LLMGATE_BUILD_DIR:-build-release}}
destdir=${2:-${LLMGATE_DESTDIR:-}}
prefix=${LLMGATE_PREFIX:-/usr/local}
buildtype=${LLMGATE_BUILDTYPE:-release}

build_dir=$(realpath -m -- "$build_dir")
[ -z "$destdir" ] || destdir=$(realpath -m -- "$destdir")

setup=(meson setup "$build_dir" "$src" "--buildtype=$buildtype" "--prefix=$prefix")
if [ -f "$build_dir/build.ninja" ]; then
    setup+=(--reconfigure)
fi
echo "+ ${setup[*]}"
"${setup[@]}"

echo "+ ninja -C $build_dir llmgate"
ninja -C "$build_dir" llmgate
bin="$build_dir/llmgate"

if [ -n "$destdir" ]; then
    echo "+ meson install -C $build_dir --no-rebuild --strip --destdir $destdir"
    meson install -C "$build_dir" --no-rebuild --strip --destdir "$destdir"
    bin="$destdir$prefix/bin/llmgate"
fi

"$bin" --version >/dev/null
echo "llmgate binary: $bin"
