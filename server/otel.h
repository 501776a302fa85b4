/*
 * server/otel.h: OpenTelemetry traces (docs/observability.md, "Traces"): the
 * request's trace context, its spans (one SERVER span per AI request, one
 * CLIENT span per upstream attempt) and the worker's OTLP/HTTP exporter.
 *
 * otel_span.c owns the trace context and the spans; otel.c owns the
 * exporter: a bounded queue of encoded spans per worker, exported in batches
 * by libcurl on the worker's loop, one request in flight at a time, never on
 * a client request's path.
 */
#ifndef LLG_OTEL_H
#define LLG_OTEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/conf.h"
#include "h2o.h"
#include "pool/pool.h"
#include "providers/strbuf.h"

struct llg_app;
struct llg_curl;
struct llg_access;

/* A provider's upstream as server.address / server.port (from base_url,
 * read once at startup). */
typedef struct llg_otel_peer {
    char *host; /* NULL: none (echo) */
    int port;
} llg_otel_peer_t;

typedef struct llg_otel llg_otel_t;

/* The worker's exporter, or NULL when `otel:` is absent. */
llg_otel_t *llg_otel_new(const llg_conf_t *conf, llg_pool_t *pool, struct llg_curl *curl, uv_loop_t *loop);

/* The peer of provider `i`. */
const llg_otel_peer_t *llg_otel_peer(const llg_otel_t *o, int provider);

/* The exporter's protocol and scratch buffer (one span is encoded at a time). */
llg_otel_protocol_t llg_otel_protocol(const llg_otel_t *o);
llg_strbuf_t *llg_otel_scratch(llg_otel_t *o);

/* Queues the span in llg_otel_scratch() (copied); a full queue drops it
 * and counts it. */
void llg_otel_enqueue(llg_otel_t *o);

/* The worker's exit (the loop has stopped): exports what waits, for up to
 * `wait_ms` in all, and counts what could not be sent as dropped. */
void llg_otel_finish(llg_otel_t *o, unsigned wait_ms);

/* ---- otel_span.c --------------------------------------------------------- */

/* The request's trace context, in its record (on_req, with otel on): the
 * client's valid traceparent is continued (its sampled flag decides), else a
 * new trace, sampled by trace id ratio. A new span id for the SERVER span. */
void llg_otel_request_start(struct llg_app *app, h2o_req_t *req);

/* A new random span id (never all zero). */
void llg_otel_span_id(struct llg_app *app, uint8_t id[8]);

/* The request is done (the logger): its spans, when sampled, are queued. */
void llg_otel_request_end(struct llg_app *app, h2o_req_t *req, const struct llg_access *a);

#endif
