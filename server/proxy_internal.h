/*
 * server/proxy_internal.h: what the files of the proxy share (see proxy.h for
 * what it does). Not a public header: only server/proxy*.c include it.
 *
 * The files, one job each:
 * - proxy.c: the proxy's lifecycle and the attempt/retry state machine;
 * - proxy_relay.c: the client side (the response, its double buffer and
 *   backpressure, errors towards the client);
 * - proxy_upstream.c: one upstream-client interface over libcurl and the own
 *   HTTP/1.1 client, and the reading of the upstream's answer;
 * - proxy_request.c: the upstream request (body and header lines);
 * - proxy_group.c: a model group's targets on the chain.
 *
 * One proxy_t lives for one client request. It is malloc'ed, not in the
 * request's pool, because curl may still hold it for a moment after the
 * client went away; it is freed at a point where neither h2o nor curl can
 * call back into it (llg_curl_defer_free).
 */
#ifndef LLG_PROXY_INTERNAL_H
#define LLG_PROXY_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool/balance.h"
#include "pool/pool.h"
#include "providers/egress.h"
#include "providers/ingress.h"
#include "providers/sse.h"
#include "providers/strbuf.h"
#include "providers/translate.h"
#include "server/h1_client.h"
#include "server/proxy.h"
#include "server/reqlog.h"

#define HIGH_WATER (64 * 1024)                  /* pause the upstream past this much unsent data */
#define MAX_CHAIN  (LLG_GROUP_MAX_TARGETS + 16) /* a group's targets, then fallbacks */
#define MAX_TRIED  16
#define MAX_HNODES 12 /* upstream request header lines without an allocation */

/* The client's wire relayed as it came, when it is not chat completions:
 * the stream's end and usage are read in that wire's words. */
typedef enum proxy_relay {
    PROXY_RELAY_NONE,      /* chat completions, or a translated attempt */
    PROXY_RELAY_ANTHROPIC, /* Anthropic's Messages API (anthropic client and upstream) */
    PROXY_RELAY_RESPONSES, /* OpenAI's Responses API (an openai upstream with responses_api) */
} proxy_relay_t;

typedef struct proxy {
    h2o_generator_t super;
    llg_app_t *app;
    h2o_req_t *req; /* NULL once the client is gone or the response is final */
    llg_endpoint_t endpoint;
    const llg_ingress_t *in; /* the client's protocol */
    cJSON *root;             /* the canonical request */
    h2o_iovec_t client_body;
    char *model;
    bool stream, client_usage, add_usage;
    int token;
    bool authenticated; /* false: the token check was skipped (passthrough) */
    h2o_iovec_t request_id;
    /* the request's record (server/reqlog.h), in the request's pool: NULL
     * once h2o disposed of the request (it logged the record just before) */
    llg_reqlog_t *rec;
    llg_reqlog_attempt_t *ratt; /* the record's entry of the attempt in progress (NULL past its room) */
    bool in_attempt;            /* an attempt was begun in the record and not ended */
    h2o_iovec_t client_key;     /* passthrough bearer, or the client_key_header value */

    int chain[MAX_CHAIN];
    size_t nchain, chain_pos;
    unsigned attempts, max_attempts;

    /* a model group (conf->groups[group]): its targets are chosen one at a
     * time (pool/balance.h), each pushed on the chain as it is chosen; once
     * none is left, the group's fallbacks follow */
    int group;             /* -1: no group */
    bool group_done;       /* no target left: the chain holds the fallbacks */
    uint64_t group_tried;  /* targets chosen so far */
    uint64_t affinity_key; /* the affinity strategy's request key */
    int target;            /* the target of chain[chain_pos], or -1 */
    bool has_bpick;        /* bpick is held (released when the chain moves on) */
    llg_balance_pick_t bpick;
    const char *target_model;  /* the target's `model`, or NULL (model_map, else the name asked) */
    uint64_t attempt_start_us; /* monotonic: the attempt's start, for its time to first byte */

    int32_t tried[MAX_TRIED];
    size_t ntried;
    uint64_t retry_after_ms; /* smallest wait seen when every key was cooling */
    bool all_cooling;
    int last_status;       /* status of the last upstream answer; 0 none */
    bool last_was_timeout; /* the last attempt timed out */
    bool last_tls;         /* the last attempt failed in TLS (server/curl_tls.c) */
    bool last_queued;      /* the last attempt waited queue_timeout for a connection (max_connections) */
    bool via_h1;           /* the attempt went through the own HTTP/1.1 client (its own log lines, no curl error text) */
    bool head_ended;       /* libcurl: the blank line after the final answer's head arrived */
    bool framed;           /* libcurl: the answer has a Content-Length or Transfer-Encoding, or is not HTTP/1.x */
    void *tls_held;        /* libcurl: a close-delimited answer's TLS context (llg_curl_tls_hold) */

    /* the attempt in progress: on libcurl, or on the h1 client (http:// upstreams) */
    CURL *easy;
    llg_h1_transfer_t *h1;
    struct curl_slist *headers; /* hnodes, or hnodes_heap when they do not fit */
    struct curl_slist hnodes[MAX_HNODES];
    struct curl_slist *hnodes_heap;
    llg_strbuf_t hbuf; /* the header lines that are not constant; wiped after the attempt */
    llg_strbuf_t body;
    int provider;
    bool has_pick;
    llg_pool_pick_t pick;
    long status;
    char content_type[128];
    char hint_retry_after[96], hint_retry_after_ms[32], hint_reset_requests[32];
    /* the latest anthropic-ratelimit-*-reset (RFC 3339, UTC: such times
     * compare as strings); read as a time only when a 429 needs it */
    char anthropic_reset[40];
    llg_strbuf_t errbody;

    /* a translated attempt (the client's protocol is not the upstream's):
     * the upstream's adapter and its reader of the answer */
    const llg_egress_t *xl;
    void *xl_reader;
    proxy_relay_t relay; /* a wire other than chat completions relayed as it is */
    bool xl_failed;      /* the translator reported an upstream error (in xl_err) */
    bool has_last_xl;    /* xl_err holds the error of the last translated attempt */
    llg_xlate_error_t xl_err;
    /* a translated stream's upstream events, read again for the answer's id,
     * model, finish reasons and cached/reasoning counts (the translator keeps
     * none of them) */

    /* towards the client */
    bool committed;        /* the response was started */
    bool upstream_started; /* a byte of an upstream answer reached the client buffer */
    llg_strbuf_t out[2];
    int cur;      /* the buffer accumulating; out[1 - cur] is in flight when sending */
    bool sending; /* an h2o_send is waiting for proceed */
    bool paused;  /* curl is paused on backpressure */
    bool upstream_done;
    bool error_end; /* end the response with H2O_SEND_STATE_ERROR */
    llg_sse_reader_t sse;
    bool saw_done;
    bool saw_error;             /* the upstream sent an error event of its own */
    llg_outcome_t last_outcome; /* of the last attempt that ended */
    bool have_usage;
    uint64_t prompt_tokens, completion_tokens;
    llg_strbuf_t copy; /* non-stream body, for usage, once a part of it was sent */
    bool body_sent;    /* a part of the non-stream body was handed to h2o */
    bool stream_counted;

    h2o_timeout_entry_t t_request, t_idle, t_ping, t_gone;
    h2o_timeout_entry_t t_queue; /* the provider's queue_timeout while the attempt waits for a connection */
    /* in the request's pool: tells the proxy when h2o disposes of the request
     * (a client that leaves before the response started gets no stop call) */
    struct proxy **guard;
} proxy_t;

/* ---- proxy.c: lifecycle and attempts ----------------------------------- */

/* Ends the attempt in progress: reports its outcome (unless NONE) and
 * releases its key. The transfer is dropped (cancelled if still running). */
void proxy_end_attempt(proxy_t *x, int report, llg_outcome_t outcome, int status);
/* The proxy is done with h2o and curl: free it once no callback can run. */
void proxy_dispose(proxy_t *x);
/* The client went away: the transfer stops, the key is not blamed, the proxy is done. */
void proxy_client_gone(proxy_t *x);
/* The attempt's transfer ended (on either client), with libcurl's result. */
void proxy_attempt_done(proxy_t *x, CURLcode result);

/* A proxy for `req`, its chain still empty; NULL when the client was already
 * answered (out of memory). */
proxy_t *proxy_new(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int token, bool authenticated,
                   llg_endpoint_t endpoint);
/* The proxy's timers, and its first attempt. */
void proxy_go(proxy_t *x);

/* ---- proxy_group.c: model groups --------------------------------------- */

/* The attempt's answer head arrived (a final status): its time to first byte
 * goes to the group target's latency EWMA. */
void proxy_first_byte(proxy_t *x);
/* The chain moves on from a group's target: its choice ends. */
void proxy_group_release(proxy_t *x);
/* The next target of the group, chosen by its strategy among those not tried
 * yet, goes on the chain; when none is left, the group's fallbacks do. */
void proxy_group_next(proxy_t *x);

/* ---- proxy_relay.c: towards the client --------------------------------- */

/* Sets the generator's callbacks and the client-side timers' (ping, gone check). */
void proxy_relay_init(proxy_t *x);
void proxy_set_provider_env(proxy_t *x, int provider);
/* Appends what ends a stream after an error event the upstream sent itself:
 * `data: [DONE]` for OpenAI's clients, nothing for Anthropic's. */
void proxy_append_end_marker(proxy_t *x);
/* An error response before anything was sent; the proxy is done. */
void proxy_fail(proxy_t *x, int status, const char *code, const char *fmt, const char *arg);
void proxy_append_error_event(proxy_t *x, const char *type, const char *code, const char *param, const char *message);
/* An error the client must see as it is; the proxy is done afterwards. */
void proxy_client_error(proxy_t *x, int status, const char *type, const char *code, const char *param, const char *message);
/* After the first upstream byte: end the response with an error the client can see. */
void proxy_fail_committed(proxy_t *x, const char *code, const char *message);
void proxy_commit(proxy_t *x);
/* Sends the accumulating buffer when no send is in flight. */
void proxy_flush(proxy_t *x);
/* The last send: whatever is buffered, with the final (or error) state. */
void proxy_finish(proxy_t *x);

/* ---- proxy_upstream.c: the upstream clients and their answer ----------- */

/* Starts the attempt's transfer of `body` to `url`, on the h1 client when it
 * takes the URL, else on libcurl. Returns 0 when it runs (proxy_attempt_done
 * follows), 1 when it could not start (the attempt counts: a network failure),
 * -1 when out of memory (nothing was started). */
int proxy_upstream_post(proxy_t *x, const llg_conf_provider_t *p, const char *url, h2o_iovec_t body, const char *key,
                        size_t key_len);
/* Resumes a transfer paused on backpressure; may run any callback before it returns. */
void proxy_upstream_resume(proxy_t *x);
/* Drops the transfer in progress, if any (cancelled if still running). */
void proxy_upstream_cancel(proxy_t *x);
/* Whether the attempt in progress waits for a connection: its provider's
 * connections are all busy at max_connections (server/upstream_cap.h). */
bool proxy_upstream_queued(const proxy_t *x);
/* Whether the attempt in progress goes through a translator (egress adapter). */
bool proxy_translated(const proxy_t *x);
/* The translator's end of the answer, into the accumulating buffer. */
int proxy_xl_end(proxy_t *x, llg_xlate_error_t *err);
/* The translator's token counts become the attempt's. */
void proxy_xl_usage(proxy_t *x);
/* The translator's tap (llg_xlate_params_t.tap, ctx the proxy): the
 * upstream's own events or whole body give the record the answer's id,
 * model, finish reasons and usage details, in the upstream's words. */
void proxy_xl_tap(void *ctx, const char *name, size_t name_len, const char *data, size_t len);
/* Reads `usage` from a JSON text that has one (providers/usage.h). */
void proxy_take_usage(proxy_t *x, const char *json, size_t len);
/* A whole (non-stream) answer's id, model and finish reasons go to the
 * request's record (providers/answer_meta.h); the translated attempts'
 * (from the upstream's own answer) with proxy_xl_usage(). */
void proxy_take_meta(proxy_t *x, const char *json, size_t len);

/* ---- proxy_request.c: the upstream request ----------------------------- */

/* The model the upstream is asked for: the group target's, else the name in
 * the provider's model_map, else the client's (x->model). */
const char *proxy_upstream_model(const proxy_t *x, const llg_conf_provider_t *p);

/* The body of the upstream request for provider `p` into *body (the client's
 * bytes, or x->body), and its URL; for a translated attempt also the reader
 * of the answer. Returns 0, -2 when the model is no valid Poe bot name, -1 when
 * the request cannot be prepared. */
int proxy_build_request(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *body, char *url, size_t urlsize);
/* The upstream request's header lines into x->hbuf (wiped after the
 * attempt: it holds the key). Returns the number of lines. */
size_t proxy_header_lines(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len, bool crlf);
/* The lines as a curl_slist whose nodes live in the proxy. */
struct curl_slist *proxy_build_headers(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len);

#endif
