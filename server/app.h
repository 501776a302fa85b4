/*
 * server/app.h: the state one worker process serves requests with. There is
 * one app per worker, created after fork() and never shared; the config it
 * points to is the one the worker was forked with and is never edited.
 */
#ifndef LLG_APP_H
#define LLG_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "h2o.h"
#include "pool/pool.h"
#include "server/upstream_cap.h"

struct llg_curl;
struct llg_h1_client;
struct llg_models;
struct llg_access_log;
struct llg_otel;

#define LLG_GONE_CHECK_MS 200

typedef struct llg_app {
    const llg_conf_t *conf;
    h2o_globalconf_t h2o;
    h2o_context_t ctx;
    /* per provider (same index as conf->providers): the echo delay timer, or
     * NULL when the provider has no delay */
    h2o_timeout_t **echo_delay;
    /* the shared key/token pool and this config's view of it (set by the
     * master before fork) */
    llg_pool_t *pool;
    const llg_pool_view_t *view;
    struct llg_curl *curl;    /* upstream transfers on this worker's loop */
    struct llg_h1_client *h1; /* http:// upstreams; NULL with $LLMGATE_UPSTREAM_CLIENT=curl (libcurl for all) */
    /* per provider (same index as conf->providers): its TLS context in h1
     * when its base_url is https:// and h1 serves it; else NULL (libcurl) */
    struct llg_h1_tls **h1_tls;
    /* per provider (same index as conf->providers): its connection cap on
     * this worker (max 0: none), for whichever client carries it, and the
     * timer of queue_timeout (NULL: none) */
    llg_cap_t *caps;
    h2o_timeout_t **queue_timeout;
    struct llg_models *models; /* the /v1/models cache */
    struct llg_access_log *access_log; /* NULL: the access log is off */
    struct llg_otel *otel;             /* the trace exporter; NULL: otel is off */
    /* the config's timeouts as h2o timers; NULL when the timeout is 0 (off) */
    h2o_timeout_t *request_timeout, *idle_timeout, *ping_timeout;
    h2o_timeout_t *gone_check; /* LLG_GONE_CHECK_MS: HTTP/1.1 client hang-up checks */
    h2o_timeout_t *limit_poll; /* LLG_LIMITS_POLL_MS: a request waiting for an rpm credit of the cluster */
    bool has_passthrough;      /* some provider uses auth: passthrough */
    bool upstream_http2;       /* $LLMGATE_UPSTREAM_HTTP2=1: HTTP/2 to TLS upstreams (docs/upstream-http2.md) */
    bool draining;
    /* request ids: a per-process random salt and a counter */
    uint64_t reqid_salt;
    uint64_t reqid_seq;
    /* private: state of the random id generator */
    uint64_t _rng[2];
} llg_app_t;

/* Fills `conf`-derived fields; call once in the worker, after fork(). */
void llg_app_init(llg_app_t *app, const llg_conf_t *conf, llg_pool_t *pool, const llg_pool_view_t *view);

/* Registers the request handler and response filters on app->h2o. */
void llg_app_register_handlers(llg_app_t *app);

/* After h2o_context_init: creates the per-context timers and the curl multi
 * handle. */
void llg_app_context_init(llg_app_t *app);

/* A uniformly random 64-bit value (not for secrets). */
uint64_t llg_app_random(llg_app_t *app);

#endif
