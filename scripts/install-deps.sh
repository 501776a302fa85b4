#!/usr/bin/env bash
# Installs everything llmgate needs to build, run and test (clang for the
# libFuzzer targets), from Debian packages
# only (and the npm registry for the test client, installed by tests/run).
# Run as root (or with sudo available). Used by the README quick start and CI,
# and (with a MODE) by the Dockerfile's two stages.
#
#   bash scripts/install-deps.sh               everything (MODE all): build, run, test
#   bash scripts/install-deps.sh build         only what scripts/build.sh needs
#   bash scripts/install-deps.sh runtime       only what the built binary needs to run,
#                                              plus ca-certificates and curl (the healthcheck)
#   bash scripts/install-deps.sh --list MODE   print MODE's packages, one a line; install nothing
#
# `all` is a superset of `build` and `runtime`, so CI, which runs it, installs
# every package the container image installs.
set -euo pipefail

# what scripts/build.sh needs (compiler, meson, the -dev packages)
BUILD_PKGS=(gcc libc6-dev pkg-config meson ninja-build
    libh2o-dev libuv1-dev libssl-dev libyaml-dev libcurl4-openssl-dev libcjson-dev libhiredis-dev)
# the shared libraries the binary links (libh2o.so.0.13, libuv.so.1,
# libssl.so.3 and libcrypto.so.3, libyaml-0.so.2, libcurl.so.4, libcjson.so.1,
# libhiredis.so.0.14 for the cluster link),
# the CA bundle for TLS upstreams, and curl for the container's HEALTHCHECK
# (it costs little: libcurl4 is needed anyway)
RUNTIME_PKGS=(libh2o0.13 libuv1 libssl3 libyaml-0-2 libcurl4 libcjson1 libhiredis0.14 ca-certificates curl)
# the test suite's tools (tests/run; python3-yaml reads the compose and
# Kubernetes files in container.test.mjs; systemd's systemd-analyze checks
# deploy/systemd/llmgate.service there; redis-server for cluster.test.mjs),
# clang for the fuzz targets
TEST_PKGS=(openssl nghttp2-client procps iproute2 python3-yaml systemd redis-server clang libclang-rt-14-dev)

list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
mode=${1:-all}
case "$mode" in
    all) pkgs=("${BUILD_PKGS[@]}" "${RUNTIME_PKGS[@]}" "${TEST_PKGS[@]}") ;;
    build) pkgs=("${BUILD_PKGS[@]}") ;;
    runtime) pkgs=("${RUNTIME_PKGS[@]}") ;;
    *)
        echo "install-deps: unknown mode \"$mode\" (all, build, runtime)" >&2
        exit 2
        ;;
esac
if [ "$list" = 1 ]; then
    printf '%s\n' "${pkgs[@]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
    SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
# node and npm run the integration tests with the official `openai` client;
# a machine that already has node (from any source) keeps it
if [ "$mode" = all ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
    $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
