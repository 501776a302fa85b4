#!/bin/sh
# providers/check-layering.sh OUTPUT FILE...: fails (and names the line) when
# a file of providers/ includes a header of server/, h2o, libuv or libcurl;
# writes OUTPUT otherwise. Run by the build (providers/meson.build).
out=$1
shift
if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](server/|h2o|uv\.h|curl/)' "$@"; then
    echo "providers/ must not include server/, h2o, libuv or libcurl headers (layers: conf, pool, providers, server)" >&2
    exit 1
fi
echo ok >"$out"
