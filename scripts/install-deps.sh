#!/usr/bin/env bash
# Installs everything llmgate needs to build, run and test (clang for the
# libFuzzer targets), from Debian packages
# only (and the npm registry for the test client, installed by tests/run).
# Run as root (or with sudo available). Used by the README quick start and CI.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
    SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    gcc libc6-dev pkg-config meson ninja-build \
    libh2o-dev libuv1-dev libssl-dev libyaml-dev libcurl4-openssl-dev libcjson-dev \
    ca-certificates curl openssl nghttp2-client procps iproute2 \
    clang libclang-rt-14-dev
# node and npm run the integration tests with the official `openai` client;
# a machine that already has node (from any source) keeps it
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
