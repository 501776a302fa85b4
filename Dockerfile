# llmgate container image (docs/containers.md).
#
#   docker build -t llmgate .
#   docker run --rm -p 8080:8080 --stop-timeout 35 -e OPENAI_API_KEY=sk-... llmgate
#
# Every RUN step is a script that CI runs too: scripts/install-deps.sh (CI runs
# its `all` mode, a superset of `build` and `runtime`) and scripts/build.sh
# (tests/integration/container.test.mjs builds with it and checks this file).

# ---- build stage: compiler, meson and the -dev packages only -----------------
FROM debian:12-slim AS build
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN bash /src/scripts/install-deps.sh build
COPY . /src
WORKDIR /src
# the binary lands in /out/usr/local/bin/llmgate
RUN bash scripts/build.sh /tmp/llmgate-build /out

# ---- runtime stage: the shared libraries, the CA bundle, curl ----------------
FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh runtime \
    && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --system --gid 10001 llmgate \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin llmgate \
    && mkdir -p /etc/llmgate
COPY --from=build /out/usr/local/bin/llmgate /usr/local/bin/llmgate

# The config: `-c FILE` (arguments after the image name), else $LLMGATE_CONFIG,
# else ./llmgate.yaml, that is /etc/llmgate/llmgate.yaml when one is mounted
# there, else the embedded default config driven by the environment
# (OPENAI_API_KEY, OPENROUTER_API_KEY, DEEPINFRA_API_KEY, POE_APIKEYS,
# API_ACCESS_TOKENS, TOKEN, PORT, LLMGATE_WORKERS). Logs go to stderr.
WORKDIR /etc/llmgate
# user llmgate; numeric, so that Kubernetes' runAsNonRoot can check it
USER 10001:10001
EXPOSE 8080
# llmgate is PID 1: it reaps every child (orphans too), SIGTERM drains for up
# to timeouts.drain (default 30s: give `docker stop` a longer --time), SIGHUP
# reloads the config
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${PORT:-8080}/health" || exit 1
ENTRYPOINT ["/usr/local/bin/llmgate"]
