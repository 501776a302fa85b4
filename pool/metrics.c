/*
 * pool/metrics.c: the request metrics kept in the region (every worker adds
 * to the same atomics, so a scrape of any worker sees the sum over all of
 * them) and their Prometheus text exposition (docs/metrics.md lists every
 * series). Label values are key ids, token labels and provider names: never a
 * secret.
 */
#include "internal.h"

#include <time.h>

#include <string.h>

const int pool_codes[POOL_CODES - 1] = {200, 400, 401, 403, 404, 405, 408, 413, 422, 429, 499, 500, 502, 503, 504};

const uint64_t pool_bucket_us[POOL_BUCKETS - 1] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};
const char *const pool_bucket_label[POOL_BUCKETS - 1] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
};

/* ---- counting ---------------------------------------------------------------- */

void pool_observe(pool_hist_t *h, const uint64_t *bounds, uint64_t us)
{
    unsigned b = 0;
    while (b < POOL_BUCKETS - 1 && us > bounds[b])
        b++;
    pool_add(&h->bucket[b], 1);
    pool_add(&h->sum_us, us);
}

static unsigned code_index(int status)
{
    for (unsigned i = 0; i < POOL_CODES - 1; i++)
        if (pool_codes[i] == status)
            return i;
    return POOL_CODES - 1;
}

_Atomic int64_t *llg_pool_queued_gauge(llg_pool_t *pool, const llg_pool_view_t *view, int provider)
{
    if (provider < 0 || (size_t)provider >= view->provider_count)
        return NULL;
    return &pool->provs[view->providers[provider].slot].queued;
}

void llg_pool_count_request(llg_pool_t *pool, const llg_pool_view_t *view, int provider, int status, uint64_t duration_us,
                            uint64_t ttfb_us)
{
    pool_prov_t *p =
        provider >= 0 && (size_t)provider < view->provider_count ? &pool->provs[view->providers[provider].slot] : &pool->hdr->none;
    pool_add(&p->codes[code_index(status)], 1);
    pool_observe(&p->duration, pool_bucket_us, duration_us);
    if (ttfb_us > 0)
        pool_observe(&p->ttfb, pool_bucket_us, ttfb_us);
}

void llg_pool_stream_begin(llg_pool_t *pool)
{
    atomic_fetch_add_explicit(&pool->hdr->active_streams, 1, memory_order_relaxed);
}

void llg_pool_stream_end(llg_pool_t *pool)
{
    atomic_fetch_sub_explicit(&pool->hdr->active_streams, 1, memory_order_relaxed);
}

void llg_pool_obs_add(llg_pool_t *pool, llg_obs_counter_t c, uint64_t n)
{
    pool_add(&pool->hdr->obs[c], n);
}

_Atomic int64_t *llg_pool_otel_queue_gauge(llg_pool_t *pool)
{
    return &pool->hdr->otel_queued;
}

void llg_pool_count_reload(llg_pool_t *pool, bool ok)
{
    pool_add(ok ? &pool->hdr->reloads_ok : &pool->hdr->reloads_failed, 1);
}

/* ---- exposition ----------------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped. */
void pool_metric_label(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '"')
            fputs("\\\"", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The provider rows to write: the view's providers, then the unrouted row. */
typedef struct prov_row {
    const char *name;
    pool_prov_t *p;
} prov_row_t;

static const char *none_label(const llg_pool_view_t *view)
{
    for (size_t i = 0; i < view->provider_count; i++)
        if (strcmp(view->providers[i].name, "none") == 0)
            return "(none)"; /* a provider may be called none */
    return "none";
}

static prov_row_t row(llg_pool_t *pool, const llg_pool_view_t *view, size_t i)
{
    if (i < view->provider_count)
        return (prov_row_t){view->providers[i].name, &pool->provs[view->providers[i].slot]};
    return (prov_row_t){none_label(view), &pool->hdr->none};
}

static void histogram(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view, const char *name, size_t field_offset)
{
    for (size_t i = 0; i <= view->provider_count; i++) {
        prov_row_t r = row(pool, view, i);
        pool_hist_t *h = (pool_hist_t *)((char *)r.p + field_offset);
        uint64_t cum = 0;
        for (unsigned b = 0; b < POOL_BUCKETS; b++) {
            cum += pool_load(&h->bucket[b]);
            fprintf(out, "%s_bucket{provider=\"", name);
            pool_metric_label(out, r.name);
            fprintf(out, "\",le=\"%s\"} %llu\n", b < POOL_BUCKETS - 1 ? pool_bucket_label[b] : "+Inf", (unsigned long long)cum);
        }
        uint64_t sum = pool_load(&h->sum_us);
        fprintf(out, "%s_sum{provider=\"", name);
        pool_metric_label(out, r.name);
        fprintf(out, "\"} %llu.%06llu\n", (unsigned long long)(sum / 1000000u), (unsigned long long)(sum % 1000000u));
        fprintf(out, "%s_count{provider=\"", name);
        pool_metric_label(out, r.name);
        fprintf(out, "\"} %llu\n", (unsigned long long)cum);
    }
}

/* `name{provider="..",key=".."` without the closing brace. */
static void key_series(FILE *out, const char *name, const llg_pool_view_t *view, const view_key_t *vk)
{
    fprintf(out, "%s{provider=\"", name);
    pool_metric_label(out, view->providers[vk->provider].name);
    fputs("\",key=\"", out);
    pool_metric_label(out, vk->id);
    fputc('"', out);
}

static void token_series(FILE *out, const char *name, const view_token_t *vt)
{
    fprintf(out, "%s{token=\"", name);
    pool_metric_label(out, vt->label);
    fputc('"', out);
}

static void write_providers(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view)
{
    family(out, "llmgate_requests_total", "counter",
           "Client requests by the provider that served them (none: not routed) and the HTTP status sent (other: a status "
           "not listed).");
    for (size_t i = 0; i <= view->provider_count; i++) {
        prov_row_t r = row(pool, view, i);
        for (unsigned c = 0; c < POOL_CODES; c++) {
            uint64_t n = pool_load(&r.p->codes[c]);
            if (n == 0)
                continue;
            fputs("llmgate_requests_total{provider=\"", out);
            pool_metric_label(out, r.name);
            if (c < POOL_CODES - 1)
                fprintf(out, "\",code=\"%d\"} %llu\n", pool_codes[c], (unsigned long long)n);
            else
                fprintf(out, "\",code=\"other\"} %llu\n", (unsigned long long)n);
        }
    }
    family(out, "llmgate_request_duration_seconds", "histogram",
           "Time from the request's arrival to the end of the response, by provider.");
    histogram(out, pool, view, "llmgate_request_duration_seconds", offsetof(pool_prov_t, duration));
    family(out, "llmgate_time_to_first_byte_seconds", "histogram",
           "Time from the request's arrival to the first byte of the response body, by provider.");
    histogram(out, pool, view, "llmgate_time_to_first_byte_seconds", offsetof(pool_prov_t, ttfb));

    family(out, "llmgate_upstream_attempts_total", "counter", "Upstream attempts with a pool key, by provider and outcome.");
    for (size_t i = 0; i < view->provider_count; i++) {
        prov_row_t r = row(pool, view, i);
        for (unsigned o = 0; o < LLG_OUTCOME_COUNT; o++) {
            uint64_t n = pool_load(&r.p->attempts[o]);
            if (n == 0)
                continue;
            fputs("llmgate_upstream_attempts_total{provider=\"", out);
            pool_metric_label(out, r.name);
            fprintf(out, "\",outcome=\"%s\"} %llu\n", llg_outcome_name((llg_outcome_t)o), (unsigned long long)n);
        }
    }
    family(out, "llmgate_tokens_total", "counter", "Prompt and completion tokens reported by upstream usage, by provider.");
    for (size_t i = 0; i < view->provider_count; i++) {
        prov_row_t r = row(pool, view, i);
        const char *kinds[] = {"prompt", "completion"};
        uint64_t ns[] = {pool_load(&r.p->prompt_tokens), pool_load(&r.p->completion_tokens)};
        for (unsigned k = 0; k < 2; k++) {
            fputs("llmgate_tokens_total{provider=\"", out);
            pool_metric_label(out, r.name);
            fprintf(out, "\",kind=\"%s\"} %llu\n", kinds[k], (unsigned long long)ns[k]);
        }
    }
    family(out, "llmgate_upstream_queued", "gauge",
           "Requests waiting for a connection to their provider (max_connections), by provider.");
    for (size_t i = 0; i < view->provider_count; i++) {
        prov_row_t r = row(pool, view, i);
        int64_t q = atomic_load_explicit(&r.p->queued, memory_order_relaxed);
        fputs("llmgate_upstream_queued{provider=\"", out);
        pool_metric_label(out, r.name);
        fprintf(out, "\"} %lld\n", (long long)(q > 0 ? q : 0));
    }
}

static void write_keys(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view, uint64_t now_ms)
{
    family(out, "llmgate_key_state", "gauge", "Upstream key state: 0 usable, 1 cooling down, 2 disabled (401/402/403).");
    for (size_t i = 0; i < view->key_count; i++) {
        uint64_t w = pool_load(&pool->health[view->keys[i].slot]);
        llg_key_state_t s = pool_key_state(w, now_ms, NULL);
        int v = s == LLG_KEY_USABLE ? 0 : s == LLG_KEY_COOLING ? 1 : s == LLG_KEY_DISABLED ? 2 : hw_kind(w) == HW_DISABLED ? 2 : 1;
        key_series(out, "llmgate_key_state", view, &view->keys[i]);
        fprintf(out, "} %d\n", v);
    }
    family(out, "llmgate_key_cooldown_seconds", "gauge",
           "Seconds until a cooling down or disabled key may be tried again (0 when usable or being probed).");
    for (size_t i = 0; i < view->key_count; i++) {
        uint64_t rem;
        pool_key_state(pool_load(&pool->health[view->keys[i].slot]), now_ms, &rem);
        key_series(out, "llmgate_key_cooldown_seconds", view, &view->keys[i]);
        fprintf(out, "} %llu.%03llu\n", (unsigned long long)(rem / 1000), (unsigned long long)(rem % 1000));
    }
    family(out, "llmgate_key_requests_total", "counter", "Attempts that picked this upstream key.");
    for (size_t i = 0; i < view->key_count; i++) {
        key_series(out, "llmgate_key_requests_total", view, &view->keys[i]);
        fprintf(out, "} %llu\n", (unsigned long long)pool_load(&pool->keys[view->keys[i].slot].requests));
    }
    family(out, "llmgate_key_attempts_total", "counter", "Reported attempts of this upstream key, by outcome.");
    for (size_t i = 0; i < view->key_count; i++) {
        pool_key_t *k = &pool->keys[view->keys[i].slot];
        for (unsigned o = 0; o < LLG_OUTCOME_COUNT; o++) {
            uint64_t n = pool_load(&k->outcomes[o]);
            if (n == 0)
                continue;
            key_series(out, "llmgate_key_attempts_total", view, &view->keys[i]);
            fprintf(out, ",outcome=\"%s\"} %llu\n", llg_outcome_name((llg_outcome_t)o), (unsigned long long)n);
        }
    }
    family(out, "llmgate_key_in_flight", "gauge", "Attempts using this upstream key now.");
    for (size_t i = 0; i < view->key_count; i++) {
        key_series(out, "llmgate_key_in_flight", view, &view->keys[i]);
        fprintf(out, "} %d\n", (int)atomic_load_explicit(&pool->keys[view->keys[i].slot].in_flight, memory_order_relaxed));
    }
    family(out, "llmgate_key_tokens_total", "counter", "Prompt and completion tokens used through this upstream key.");
    for (size_t i = 0; i < view->key_count; i++) {
        pool_key_t *k = &pool->keys[view->keys[i].slot];
        uint64_t p = pool_load(&k->prompt_tokens), c = pool_load(&k->completion_tokens);
        if (p == 0 && c == 0)
            continue;
        key_series(out, "llmgate_key_tokens_total", view, &view->keys[i]);
        fprintf(out, ",kind=\"prompt\"} %llu\n", (unsigned long long)p);
        key_series(out, "llmgate_key_tokens_total", view, &view->keys[i]);
        fprintf(out, ",kind=\"completion\"} %llu\n", (unsigned long long)c);
    }
}

static void write_tokens(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view)
{
    family(out, "llmgate_token_requests_total", "counter",
           "Requests authenticated with this access token (its name, else token-<8 hex>).");
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue;
        token_series(out, "llmgate_token_requests_total", vt);
        fprintf(out, "} %llu\n", (unsigned long long)pool_load(&pool->tokens[vt->slot].requests));
    }
    family(out, "llmgate_token_rejections_total", "counter",
           "Requests of this access token refused: rate_limited (rpm, 429), quota (a quota used up, 429) or forbidden "
           "(model not allowed, 403).");
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue;
        pool_token_t *t = &pool->tokens[vt->slot];
        uint64_t r = pool_load(&t->rejected_rate), f = pool_load(&t->rejected_forbidden);
        if (r != 0) {
            token_series(out, "llmgate_token_rejections_total", vt);
            fprintf(out, ",reason=\"rate_limited\"} %llu\n", (unsigned long long)r);
        }
        if (f != 0) {
            token_series(out, "llmgate_token_rejections_total", vt);
            fprintf(out, ",reason=\"forbidden\"} %llu\n", (unsigned long long)f);
        }
        uint64_t q = pool_load(&t->rejected_quota);
        if (q != 0) {
            token_series(out, "llmgate_token_rejections_total", vt);
            fprintf(out, ",reason=\"quota\"} %llu\n", (unsigned long long)q);
        }
    }
    family(out, "llmgate_token_tokens_total", "counter", "Prompt and completion tokens used by this access token.");
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue;
        pool_token_t *t = &pool->tokens[vt->slot];
        uint64_t p = pool_load(&t->prompt_tokens), c = pool_load(&t->completion_tokens);
        if (p == 0 && c == 0)
            continue;
        token_series(out, "llmgate_token_tokens_total", vt);
        fprintf(out, ",kind=\"prompt\"} %llu\n", (unsigned long long)p);
        token_series(out, "llmgate_token_tokens_total", vt);
        fprintf(out, ",kind=\"completion\"} %llu\n", (unsigned long long)c);
    }
}

/* The day's usage (UTC) and what is left of quotas: scope="cluster" with a
 * cluster (the totals of every instance), else scope="host" (docs/quotas.md). */
static void write_usage(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view)
{
    int64_t now = (int64_t)time(NULL);
    bool cluster = llg_pool_cluster_state(pool) != LLG_CLUSTER_OFF;
    const char *scope = cluster ? "cluster" : "host";
    family(out, "llmgate_token_usage_today", "gauge",
           "Requests admitted and tokens used by this access token in the current UTC day (scope: cluster or host).");
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        llg_pool_day_usage_t u;
        if (vt->first != (int32_t)i || llg_pool_token_day_usage(pool, view, (int)i, now, cluster, &u) != 0)
            continue;
        static const char *const kinds[] = {"requests", "prompt_tokens", "completion_tokens"};
        uint64_t v[] = {u.requests, u.prompt_tokens, u.completion_tokens};
        for (int k = 0; k < 3; k++) {
            token_series(out, "llmgate_token_usage_today", vt);
            fprintf(out, ",kind=\"%s\",scope=\"%s\"} %llu\n", kinds[k], scope, (unsigned long long)v[k]);
        }
    }
    family(out, "llmgate_key_usage_today", "gauge",
           "Attempts and tokens through this upstream key in the current UTC day (scope: cluster or host).");
    for (size_t i = 0; i < view->key_count; i++) {
        llg_pool_day_usage_t u;
        if (llg_pool_key_day_usage(pool, (int32_t)view->keys[i].slot, now, cluster, &u) != 0)
            continue;
        static const char *const kinds[] = {"requests", "prompt_tokens", "completion_tokens"};
        uint64_t v[] = {u.requests, u.prompt_tokens, u.completion_tokens};
        for (int k = 0; k < 3; k++) {
            key_series(out, "llmgate_key_usage_today", view, &view->keys[i]);
            fprintf(out, ",kind=\"%s\",scope=\"%s\"} %llu\n", kinds[k], scope, (unsigned long long)v[k]);
        }
    }
    family(out, "llmgate_token_quota_remaining", "gauge", "What is left of each quota of this access token in its window.");
    for (size_t i = 0; i < view->token_count; i++) {
        const view_token_t *vt = &view->tokens[i];
        if (vt->first != (int32_t)i)
            continue;
        llg_pool_limits_t lim;
        llg_pool_token_limits(pool, view, (int)i, llg_pool_now_ms(), now, &lim);
        for (int q = 0; q < LLG_QUOTA_COUNT; q++) {
            if (lim.quota[q].limit == 0)
                continue;
            token_series(out, "llmgate_token_quota_remaining", vt);
            fprintf(out, ",quota=\"%s\"} %llu\n", llg_quota_name((llg_quota_t)q), (unsigned long long)lim.quota[q].remaining);
        }
    }
}

/* The access log's and the trace exporter's own health. */
static void write_observability(FILE *out, pool_header_t *h)
{
    family(out, "llmgate_access_log_dropped_lines_total", "counter",
           "Access log lines dropped because the output did not take them in time.");
    fprintf(out, "llmgate_access_log_dropped_lines_total %llu\n",
            (unsigned long long)pool_load(&h->obs[LLG_OBS_ACCESS_LOG_DROPPED]));
    family(out, "llmgate_otel_queue_spans", "gauge", "Trace spans waiting for export (otel:), all workers.");
    fprintf(out, "llmgate_otel_queue_spans %lld\n", (long long)atomic_load_explicit(&h->otel_queued, memory_order_relaxed));
    family(out, "llmgate_otel_spans_exported_total", "counter", "Trace spans the collector accepted.");
    fprintf(out, "llmgate_otel_spans_exported_total %llu\n", (unsigned long long)pool_load(&h->obs[LLG_OBS_OTEL_SPANS_EXPORTED]));
    family(out, "llmgate_otel_spans_dropped_total", "counter", "Trace spans dropped, by reason.");
    fprintf(out, "llmgate_otel_spans_dropped_total{reason=\"queue_full\"} %llu\n",
            (unsigned long long)pool_load(&h->obs[LLG_OBS_OTEL_DROPPED_QUEUE]));
    fprintf(out, "llmgate_otel_spans_dropped_total{reason=\"export_failed\"} %llu\n",
            (unsigned long long)pool_load(&h->obs[LLG_OBS_OTEL_DROPPED_EXPORT]));
    family(out, "llmgate_otel_exports_total", "counter", "Export requests to the OTLP collector, by result.");
    fprintf(out, "llmgate_otel_exports_total{result=\"ok\"} %llu\n",
            (unsigned long long)pool_load(&h->obs[LLG_OBS_OTEL_EXPORTS_OK]));
    fprintf(out, "llmgate_otel_exports_total{result=\"failed\"} %llu\n",
            (unsigned long long)pool_load(&h->obs[LLG_OBS_OTEL_EXPORTS_FAILED]));
}

int llg_pool_write_metrics(llg_pool_t *pool, const llg_pool_view_t *view, uint64_t now_ms, FILE *out)
{
    pool_header_t *h = pool->hdr;
    write_providers(out, pool, view);
    family(out, "llmgate_active_streams", "gauge", "Streaming responses being sent now.");
    fprintf(out, "llmgate_active_streams %lld\n", (long long)atomic_load_explicit(&h->active_streams, memory_order_relaxed));
    family(out, "llmgate_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    fprintf(out, "llmgate_config_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)pool_load(&h->reloads_ok));
    fprintf(out, "llmgate_config_reloads_total{result=\"failed\"} %llu\n", (unsigned long long)pool_load(&h->reloads_failed));
    llg_cluster_state_t cs = llg_pool_cluster_state(pool);
    if (cs != LLG_CLUSTER_OFF) {
        family(out, "llmgate_cluster_up", "gauge", "1 when this instance shares key state through Redis (cluster:), 0 when not.");
        fprintf(out, "llmgate_cluster_up %d\n", cs == LLG_CLUSTER_UP ? 1 : 0);
    }
    write_observability(out, h);
    pool_write_model_metrics(out, pool, view);
    write_keys(out, pool, view, now_ms);
    write_tokens(out, pool, view);
    write_usage(out, pool, view);
    family(out, "llmgate_pool_capacity", "gauge", "Slots of the shared key pool region, by kind.");
    fprintf(out, "llmgate_pool_capacity{kind=\"keys\"} %u\n", h->key_capacity);
    fprintf(out, "llmgate_pool_capacity{kind=\"tokens\"} %u\n", h->token_capacity);
    fprintf(out, "llmgate_pool_capacity{kind=\"providers\"} %u\n", h->provider_capacity);
    family(out, "llmgate_pool_region_bytes", "gauge", "Size of the shared-memory region.");
    fprintf(out, "llmgate_pool_region_bytes %zu\n", pool->size);
    return ferror(out) ? -1 : 0;
}
