/*
 * server/reqlog.h: the record of one client request, as the access log, the
 * trace spans and the per-model metrics see it once the request is done.
 *
 * One record lives in each request's pool (server/http.c creates it when the
 * handler first sees the request). Whoever learns a fact writes it as it
 * happens: the handlers the model and the access token, the proxy each
 * attempt (provider, key, times, upstream status, tokens), llg_respond_error
 * the error code. h2o calls the logger (server/http.c) before it disposes of
 * the request's pool, so the record is whole and still alive then, even when
 * the client left in the middle of an attempt (`active` is still set).
 *
 * Strings are in the request's pool or in the worker's config (both outlive
 * the logger's call); never a secret: keys appear by their id only.
 */
#ifndef LLG_REQLOG_H
#define LLG_REQLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "h2o.h"

#define LLG_REQLOG_MAX_ATTEMPTS 8 /* attempts described one by one; more are counted */
#define LLG_REQLOG_MAX_REASONS  4 /* finish reasons kept (one per choice) */

/* One upstream attempt (a span of kind CLIENT). */
typedef struct llg_reqlog_attempt {
    int provider;              /* index in conf->providers */
    int32_t key_slot;          /* the pool's key slot, -1: the client's own key or none */
    const char *model;         /* the model sent upstream (config or request pool) */
    uint64_t start_us, end_us; /* monotonic (llg_http_now_us); end 0: still running when logged */
    uint64_t ttfb_us;          /* the final status line arrived, monotonic; 0: not yet */
    int status;                /* the upstream's HTTP status; 0: none (network, timeout) */
    int outcome;               /* llg_outcome_t; -1 while running */
    const char *error;         /* why it failed, a static word (timeout, network, tls, rate_limited, ...), or NULL */
    uint8_t span_id[8];        /* its span id, also the parent id in the upstream's traceparent */
} llg_reqlog_attempt_t;

typedef struct llg_reqlog {
    uint64_t start_us;      /* monotonic: the handler saw the request */
    uint64_t first_byte_us; /* monotonic: the response started; 0 before */
    int64_t start_unix_ns;  /* wall clock at start_us (log time, span times) */
    uint64_t upstream_us;   /* time spent in finished attempts (total minus this: the gateway's own) */

    /* routing */
    int provider;      /* the provider that served (or was last tried), -1: not routed */
    int group, target; /* the model group and its target that served, or -1 */
    int token;         /* the access token's index, -1: none (open gateway, passthrough) */
    const char *model; /* the model the client asked for, NULL: none */
    bool stream;
    bool proxied;          /* the proxy took the request */
    bool active;           /* the proxy still works on it (a client gone now: cancelled) */
    bool client_gone;      /* the proxy saw the client leave before the answer was done */
    const char *operation; /* gen_ai.operation.name: chat, text_completion, embeddings, ... NULL: not an AI request */

    /* the request's sampling parameters (spans), when given */
    bool has_max_tokens, has_temperature, has_top_p;
    int64_t max_tokens;
    double temperature, top_p;

    /* attempts */
    unsigned attempts; /* all of them; att[] holds the first LLG_REQLOG_MAX_ATTEMPTS */
    llg_reqlog_attempt_t att[LLG_REQLOG_MAX_ATTEMPTS];
    int upstream_status; /* the last upstream answer's status, 0: none */

    /* the answer */
    bool have_usage;
    uint64_t prompt_tokens, completion_tokens;
    bool have_cached, have_reasoning;
    uint64_t cached_tokens, reasoning_tokens;
    const char *response_id;    /* the upstream's answer id, NULL: unknown */
    const char *response_model; /* the model that answered, as the upstream named it */
    const char *finish_reasons[LLG_REQLOG_MAX_REASONS];
    unsigned nfinish;

    const char *error_code; /* the error code the client was given, NULL: none */

    /* W3C trace context (server/traceparent.h): the client's, continued */
    bool has_parent; /* the client sent a valid traceparent */
    bool sampled;    /* the request's spans are recorded */
    uint8_t trace_id[16];
    uint8_t parent_span_id[8]; /* the client's span (has_parent) */
    uint8_t span_id[8];        /* the request's own span (kind SERVER) */
    uint8_t trace_flags;
    h2o_iovec_t tracestate; /* the client's, passed on as it is; {NULL,0}: none */
} llg_reqlog_t;

/* The request's record, created on the first call (NULL only when `req` has
 * none and none could be made: out of memory). */
llg_reqlog_t *llg_reqlog(h2o_req_t *req);

/* The record when there is one, else NULL (no allocation). */
llg_reqlog_t *llg_reqlog_find(h2o_req_t *req);

/* A new attempt on `provider` begins now: its entry (NULL past
 * LLG_REQLOG_MAX_ATTEMPTS; the count still grows). */
llg_reqlog_attempt_t *llg_reqlog_attempt_begin(llg_reqlog_t *r, int provider, int32_t key_slot, const char *model, uint64_t now_us);

/* The attempt `a` (may be NULL) ended now with `outcome`, upstream `status` and `error`. */
void llg_reqlog_attempt_end(llg_reqlog_t *r, llg_reqlog_attempt_t *a, int outcome, int status, const char *error, uint64_t now_us);

/* The client was given error `code` (copied): the record keeps the first. */
void llg_reqlog_note_error(h2o_req_t *req, const char *code);

/* Copies `s` into the request's pool, at most `max` bytes. */
const char *llg_reqlog_strdup(h2o_req_t *req, const char *s, size_t len, size_t max);

#endif
