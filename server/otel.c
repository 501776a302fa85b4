/*
 * server/otel.c: the worker's OTLP/HTTP trace exporter. Spans arrive encoded
 * (server/otel_encode.c) and wait in a bounded ring; a batch of at most
 * batch_size leaves when the ring holds that many or when the interval timer
 * fires, as one POST by libcurl on the worker's loop, one at a time so that
 * a slow collector costs one connection, not one per batch. A failed export
 * drops its batch (counted): retrying would only grow the backlog of a
 * collector that is down, and the client requests never wait on any of it.
 */
#include "server/otel.h"

#include <stdlib.h>
#include <string.h>

#include "server/curl_loop.h"
#include "server/h1_url.h"
#include "server/log.h"
#include "server/otel_encode.h"

typedef struct blob {
    char *data;
    size_t len;
} blob_t;

struct llg_otel {
    const llg_conf_otel_t *cf;
    llg_pool_t *pool;
    _Atomic int64_t *gauge; /* llmgate_otel_queue_spans, all workers */
    struct llg_curl *curl;
    uv_timer_t timer;       /* the interval */
    uv_timer_t kick;        /* a full batch: export on the next loop turn */
    llg_otel_peer_t *peers; /* per provider */
    size_t npeers;
    llg_strbuf_t scratch;

    blob_t *ring; /* cf->queue slots */
    size_t head, count;

    /* the export in flight */
    CURL *easy;
    size_t sending;           /* its spans */
    llg_strbuf_t body;        /* its body, alive until it ends */
    struct curl_slist *hlist; /* Content-Type and the config's headers (built once) */
    bool failing;             /* a failure streak: logged once */
};

/* A provider's host and port (server.address, server.port), from the
 * base_url split as the upstream client splits it; none when it is not of
 * that form. */
static void parse_peer(const char *url, llg_otel_peer_t *peer)
{
    char host[LLG_H1_HOST_MAX + 1];
    bool https;
    uint16_t port;
    const char *path;
    peer->host = NULL;
    peer->port = 0;
    if (url == NULL || llg_h1_split_url(url, &https, host, &port, &path) != 0)
        return;
    peer->host = strdup(host);
    peer->port = port;
}

static void export_batch(llg_otel_t *o);

static void on_timer(uv_timer_t *t)
{
    llg_otel_t *o = t->data;
    if (o->easy == NULL && o->count > 0)
        export_batch(o);
}

llg_otel_t *llg_otel_new(const llg_conf_t *conf, llg_pool_t *pool, struct llg_curl *curl, uv_loop_t *loop)
{
    if (!conf->otel.enabled)
        return NULL;
    llg_otel_t *o = calloc(1, sizeof(*o));
    if (o == NULL)
        abort();
    o->cf = &conf->otel;
    o->pool = pool;
    o->gauge = llg_pool_otel_queue_gauge(pool);
    o->curl = curl;
    o->ring = calloc(o->cf->queue ? o->cf->queue : 1, sizeof(*o->ring));
    o->npeers = conf->provider_count;
    o->peers = calloc(o->npeers ? o->npeers : 1, sizeof(*o->peers));
    if (o->ring == NULL || o->peers == NULL)
        abort();
    for (size_t i = 0; i < o->npeers; i++)
        parse_peer(conf->providers[i].base_url, &o->peers[i]);
    o->hlist = curl_slist_append(NULL, "Expect:");
    o->hlist = curl_slist_append(o->hlist, o->cf->protocol == LLG_OTEL_JSON ? "Content-Type: application/json"
                                                                            : "Content-Type: application/x-protobuf");
    for (size_t k = 0; k < o->cf->headers.count; k++) {
        llg_strbuf_t line = {0};
        llg_strbuf_appendf(&line, "%s: %s", o->cf->headers.items[k].key, o->cf->headers.items[k].value);
        llg_strbuf_append(&line, "", 1);
        o->hlist = curl_slist_append(o->hlist, line.data);
        llg_strbuf_free(&line);
    }
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    uint64_t every = o->cf->interval_ms ? o->cf->interval_ms : 1000;
    uv_timer_start(&o->timer, on_timer, every, every);
    uv_unref((uv_handle_t *)&o->timer); /* it never keeps a draining worker alive */
    uv_timer_init(loop, &o->kick);
    o->kick.data = o;
    uv_unref((uv_handle_t *)&o->kick);
    return o;
}

const llg_otel_peer_t *llg_otel_peer(const llg_otel_t *o, int provider)
{
    static const llg_otel_peer_t none = {NULL, 0};
    return provider >= 0 && (size_t)provider < o->npeers ? &o->peers[provider] : &none;
}

llg_otel_protocol_t llg_otel_protocol(const llg_otel_t *o)
{
    return o->cf->protocol;
}

llg_strbuf_t *llg_otel_scratch(llg_otel_t *o)
{
    return &o->scratch;
}

void llg_otel_enqueue(llg_otel_t *o)
{
    size_t cap = o->cf->queue;
    if (o->count >= cap) {
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_DROPPED_QUEUE, 1);
        return;
    }
    blob_t *b = &o->ring[(o->head + o->count) % cap];
    b->data = malloc(o->scratch.len ? o->scratch.len : 1);
    if (b->data == NULL)
        abort();
    memcpy(b->data, o->scratch.data, o->scratch.len);
    b->len = o->scratch.len;
    o->count++;
    atomic_fetch_add(o->gauge, 1);
    /* not from here: the logger may run inside a curl callback, where the
     * multi handle takes no new transfer */
    if (o->easy == NULL && o->count >= o->cf->batch_size && !uv_is_active((uv_handle_t *)&o->kick))
        uv_timer_start(&o->kick, on_timer, 0, 0);
}

/* Takes the oldest n spans out of the ring into one request body. */
static size_t take_batch(llg_otel_t *o, llg_strbuf_t *body)
{
    size_t n = o->count < o->cf->batch_size ? o->count : o->cf->batch_size;
    const char **spans = calloc(n ? n : 1, sizeof(*spans));
    size_t *lens = calloc(n ? n : 1, sizeof(*lens));
    if (spans == NULL || lens == NULL)
        abort();
    size_t cap = o->cf->queue;
    for (size_t i = 0; i < n; i++) {
        spans[i] = o->ring[(o->head + i) % cap].data;
        lens[i] = o->ring[(o->head + i) % cap].len;
    }
    body->len = 0;
    llg_otel_encode_request(body, o->cf->protocol, o->cf->service_name, spans, lens, n);
    for (size_t i = 0; i < n; i++) {
        free(o->ring[(o->head + i) % cap].data);
        o->ring[(o->head + i) % cap].data = NULL;
    }
    free(spans);
    free(lens);
    o->head = (o->head + n) % cap;
    o->count -= n;
    atomic_fetch_sub(o->gauge, (int64_t)n);
    return n;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

/* One failure or success of the export in flight: counters, the streak. */
static void export_result(llg_otel_t *o, bool ok, const char *why, long status)
{
    if (ok) {
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_EXPORTS_OK, 1);
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_SPANS_EXPORTED, o->sending);
        if (o->failing)
            llg_info("otel: exports to the collector work again");
        o->failing = false;
    } else {
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_EXPORTS_FAILED, 1);
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_DROPPED_EXPORT, o->sending);
        /* never the URL's query nor the headers: they may hold credentials */
        if (!o->failing) {
            if (status != 0)
                llg_warn("otel: the collector answered an export with HTTP %ld; %zu span(s) dropped (further "
                         "failures are not logged until an export succeeds)",
                         status, o->sending);
            else
                llg_warn("otel: an export failed (%s); %zu span(s) dropped (further failures are not logged until "
                         "an export succeeds)",
                         why, o->sending);
        }
        o->failing = true;
    }
    o->sending = 0;
}

static void on_exported(CURL *easy, CURLcode result, void *data)
{
    llg_otel_t *o = data;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    o->easy = NULL;
    llg_curl_easy_put(o->curl, easy);
    if (result != CURLE_OK)
        export_result(o, false, curl_easy_strerror(result), 0);
    else
        export_result(o, status >= 200 && status < 300, "no HTTP status", status);
    if (o->count >= o->cf->batch_size)
        export_batch(o);
}

/* Starts the next export; `timeout_ms` 0: the config's. */
static void export_with_timeout(llg_otel_t *o, uint64_t timeout_ms)
{
    o->sending = take_batch(o, &o->body);
    CURL *easy = llg_curl_easy_get(o->curl);
    if (easy == NULL) {
        export_result(o, false, "out of memory", 0);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_URL, o->cf->traces_url);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, o->body.data);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body.len);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, o->hlist);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : o->cf->timeout_ms));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "llmgate/" LLG_VERSION);
    o->easy = easy;
    if (llg_curl_add(o->curl, easy, NULL, on_exported, o) != 0) {
        o->easy = NULL;
        llg_curl_easy_put(o->curl, easy);
        export_result(o, false, "the transfer could not start", 0);
    }
}

static void export_batch(llg_otel_t *o)
{
    export_with_timeout(o, 0);
}

void llg_otel_finish(llg_otel_t *o, unsigned wait_ms)
{
    if (o == NULL)
        return;
    uv_timer_stop(&o->timer);
    uv_timer_stop(&o->kick);
    uint64_t until = uv_now(o->timer.loop) + wait_ms;
    /* a few rounds of the loop, for the export in flight and what waits */
    for (;;) {
        uv_update_time(o->timer.loop);
        uint64_t now = uv_now(o->timer.loop);
        if (now >= until)
            break;
        if (o->easy == NULL && o->count == 0)
            break;
        if (o->easy == NULL)
            export_with_timeout(o, until - now);
        if (o->easy != NULL)
            uv_run(o->timer.loop, UV_RUN_ONCE);
    }
    if (o->easy != NULL) {
        llg_curl_cancel_and_free(o->curl, o->easy);
        o->easy = NULL;
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_DROPPED_EXPORT, o->sending);
        o->sending = 0;
    }
    if (o->count > 0) {
        llg_pool_obs_add(o->pool, LLG_OBS_OTEL_DROPPED_EXPORT, o->count);
        atomic_fetch_sub(o->gauge, (int64_t)o->count);
        for (size_t i = 0; i < o->count; i++)
            free(o->ring[(o->head + i) % o->cf->queue].data);
        o->count = 0;
    }
}
