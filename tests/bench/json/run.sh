#!/usr/bin/env bash
# Build and run the JSON library benchmark; prints a markdown report.
# Usage: bash tests/bench/json/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
cc -O2 -std=c11 -D_GNU_SOURCE jsonbench.c $(pkg-config --cflags --libs jansson libcjson json-c) -o /tmp/jsonbench

echo "# JSON library benchmark"
echo
echo "Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPU(s), $(uname -sr)," \
     "$(cc --version | head -1), glibc $(ldd --version | head -1 | awk '{print $NF}')."
echo "Packages: $(dpkg-query -W -f='${Package} ${Version}; ' libjansson4 libcjson1 libjson-c5 2>/dev/null || echo n/a)"
echo
/tmp/jsonbench
