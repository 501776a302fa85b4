/*
 * pool/model_metrics.c: the per-model series (docs/metrics.md "Per model"):
 * requests by status class, tokens by kind, the time-to-first-token and the
 * gateway-overhead histograms, by (model, provider).
 *
 * The series live in a shared mapping of their own and of fixed size
 * (model_region_t), so that a sync that grows the pool's region never moves
 * them: an open-addressing table of LLG_MODEL_SLOTS slots keyed by a 64-bit
 * hash of (provider name, model label). A worker claims a slot with one CAS
 * the first time it sees a series, so that no string of the config is
 * compared per request: the view (built at sync) maps a model name to its
 * label hash with one lookup, and /metrics maps hashes back to labels. The
 * master alone retires slots, at sync, for series the new config no longer
 * has: a retired slot becomes a tombstone that probes walk over and nobody
 * claims again (reusing it could let two processes claim one series twice),
 * so that the table holds at most LLG_MODEL_SERIES live series plus one
 * `other` per provider and a long run of reloads only fills it slowly (see
 * docs/observability.md "Metrics": a restart starts it afresh).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Overhead bounds: the gateway's own time is sub-millisecond when all is well. */
const uint64_t pool_overhead_us[POOL_BUCKETS - 1] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};
static const char *const overhead_label[POOL_BUCKETS - 1] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
};

static const char *const class_label[MODEL_CLASSES] = {"2xx", "3xx", "4xx", "5xx"};
static const char *const kind_label[LLG_MODEL_KINDS] = {"prompt", "completion", "cached", "reasoning"};

#define OTHER_LABEL "other"
#define HASH_SEED   0x6d6f64656c6d6574ULL /* "modelmet" */
#define MAX_PROBE   64u                   /* a longer chain: the provider's `other` */

uint64_t pool_model_hash(const char *s)
{
    uint64_t h = llg_balance_hash(s, strlen(s), HASH_SEED);
    return h > MODEL_TOMB ? h : h + MODEL_TOMB + 1; /* never free or a tombstone */
}

/* The slot id of (provider hash, model hash): never 0 or a tombstone. */
static uint64_t series_id(uint64_t ph, uint64_t mh)
{
    uint64_t pair[2] = {ph, mh};
    uint64_t h = llg_balance_hash(pair, sizeof(pair), HASH_SEED);
    return h > MODEL_TOMB ? h : h + MODEL_TOMB + 1;
}

/* ---- the view's names ------------------------------------------------------------ */

static bool is_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Adds `name` to the view's table unless it is there (or a glob, or empty). */
static int add_name(llg_pool_view_t *nv, const char *name)
{
    if (name == NULL || *name == '\0' || is_glob(name))
        return 0;
    uint64_t h = pool_model_hash(name);
    size_t i = (size_t)h & nv->model_mask;
    for (; nv->models[i].name != NULL; i = (i + 1) & nv->model_mask)
        if (nv->models[i].hash == h && strcmp(nv->models[i].name, name) == 0)
            return 0;
    if ((nv->models[i].name = strdup(name)) == NULL)
        return -1;
    nv->models[i].hash = h;
    return 0;
}

int pool_model_view_build(llg_pool_view_t *nv, const llg_conf_t *conf)
{
    size_t n = 2; /* defaults.model and `other` */
    for (size_t p = 0; p < conf->provider_count; p++) {
        const llg_conf_provider_t *cp = &conf->providers[p];
        n += cp->models.count + cp->model_map.count + cp->list_models.count;
    }
    n += conf->group_count;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    nv->models = calloc(cap, sizeof(*nv->models));
    if (nv->models == NULL)
        return -1;
    nv->model_mask = cap - 1;
    nv->model_other = pool_model_hash(OTHER_LABEL);
    if (add_name(nv, OTHER_LABEL) != 0 || add_name(nv, conf->defaults.model) != 0)
        return -1;
    for (size_t g = 0; g < conf->group_count; g++)
        if (add_name(nv, conf->groups[g].name) != 0)
            return -1;
    for (size_t p = 0; p < conf->provider_count; p++) {
        const llg_conf_provider_t *cp = &conf->providers[p];
        for (size_t i = 0; i < cp->model_map.count; i++)
            if (add_name(nv, cp->model_map.items[i].key) != 0)
                return -1;
        for (size_t i = 0; i < cp->models.count; i++)
            if (add_name(nv, cp->models.items[i]) != 0)
                return -1;
        for (size_t i = 0; i < cp->list_models.count; i++)
            if (add_name(nv, cp->list_models.items[i]) != 0)
                return -1;
        nv->providers[p].model_hash = pool_model_hash(cp->name);
    }
    return 0;
}

void pool_model_view_free(llg_pool_view_t *v)
{
    for (size_t i = 0; v->models != NULL && i <= v->model_mask; i++)
        free(v->models[i].name);
    free(v->models);
}

/* The label of model hash `h` in the view, or NULL. */
static const char *model_name(const llg_pool_view_t *v, uint64_t h)
{
    for (size_t i = (size_t)h & v->model_mask; v->models[i].name != NULL; i = (i + 1) & v->model_mask)
        if (v->models[i].hash == h)
            return v->models[i].name;
    return NULL;
}

/* The label hash of the model asked for: its own when the config knows it,
 * else `other`. One hash and, on a hit, one compare. */
static uint64_t model_label_hash(const llg_pool_view_t *v, const char *model)
{
    uint64_t h = pool_model_hash(model);
    for (size_t i = (size_t)h & v->model_mask; v->models[i].name != NULL; i = (i + 1) & v->model_mask)
        if (v->models[i].hash == h && strcmp(v->models[i].name, model) == 0)
            return h;
    return v->model_other;
}

static int provider_of_hash(const llg_pool_view_t *v, uint64_t h)
{
    for (size_t p = 0; p < v->provider_count; p++)
        if (v->providers[p].model_hash == h)
            return (int)p;
    return -1;
}

/* ---- the shared table ------------------------------------------------------------ */

/* The slot of series (ph, mh), claimed if it has none yet; -1 when the table
 * has no room for it (the cap, or a probe chain too long). `other` is not
 * counted against the cap. */
static int64_t find_series(model_region_t *r, uint64_t ph, uint64_t mh, bool other)
{
    uint64_t id = series_id(ph, mh);
    uint32_t s = (uint32_t)(id & (LLG_MODEL_SLOTS - 1));
    for (unsigned n = 0; n < MAX_PROBE; n++, s = (s + 1) & (LLG_MODEL_SLOTS - 1)) {
        uint64_t cur = atomic_load_explicit(&r->ids[s], memory_order_acquire);
        if (cur == id)
            return s;
        if (cur != 0)
            continue; /* another series, or a tombstone */
        /* the cap counts live series other than `other`, so that every
         * provider always has room for its own `other` */
        if (!other && atomic_fetch_add_explicit(&r->live, 1, memory_order_relaxed) >= LLG_MODEL_SERIES) {
            atomic_fetch_sub_explicit(&r->live, 1, memory_order_relaxed);
            return -1;
        }
        /* the labels follow the id: a reader checks that they hash to it */
        if (atomic_compare_exchange_strong_explicit(&r->ids[s], &cur, id, memory_order_acq_rel, memory_order_acquire)) {
            atomic_store_explicit(&r->slots[s].provider_hash, ph, memory_order_relaxed);
            atomic_store_explicit(&r->slots[s].model_hash, mh, memory_order_release);
            return s;
        }
        if (!other)
            atomic_fetch_sub_explicit(&r->live, 1, memory_order_relaxed);
        if (cur == id)
            return s; /* another process claimed it just now */
    }
    return -1;
}

static unsigned status_class(int status)
{
    return status < 300 ? 0 : status < 400 ? 1 : status < 500 ? 2 : 3; /* 499 (client gone): 4xx */
}

void llg_pool_count_model(llg_pool_t *pool, const llg_pool_view_t *view, const llg_pool_model_obs_t *o)
{
    model_region_t *r = pool->models;
    if (r == NULL || o->model == NULL || o->provider < 0 || (size_t)o->provider >= view->provider_count)
        return;
    uint64_t ph = view->providers[o->provider].model_hash;
    uint64_t mh = model_label_hash(view, o->model);
    int64_t s = find_series(r, ph, mh, mh == view->model_other);
    if (s < 0 && mh != view->model_other)
        s = find_series(r, ph, view->model_other, true);
    if (s < 0)
        return; /* a chain longer than MAX_PROBE even for `other`: not counted */
    model_slot_t *m = &r->slots[s];
    pool_add(&m->requests[status_class(o->status)], 1);
    for (unsigned k = 0; k < LLG_MODEL_KINDS; k++)
        if (o->has_tokens[k])
            pool_add(&m->tokens[k], o->tokens[k]);
    if (o->has_ttft)
        pool_observe(&m->ttft, pool_bucket_us, o->ttft_us);
    if (o->has_overhead)
        pool_observe(&m->overhead, pool_overhead_us, o->overhead_us);
}

static void zero_slot(model_slot_t *m)
{
    _Atomic uint64_t *w = (_Atomic uint64_t *)m;
    for (size_t i = 0; i < sizeof(*m) / sizeof(*w); i++)
        atomic_store_explicit(&w[i], 0, memory_order_relaxed);
}

void pool_model_retire(llg_pool_t *pool, const llg_pool_view_t *view)
{
    model_region_t *r = pool->models;
    if (r == NULL)
        return;
    for (uint32_t s = 0; s < LLG_MODEL_SLOTS; s++) {
        uint64_t id = atomic_load_explicit(&r->ids[s], memory_order_acquire);
        if (id <= MODEL_TOMB)
            continue;
        model_slot_t *m = &r->slots[s];
        uint64_t ph = atomic_load_explicit(&m->provider_hash, memory_order_relaxed);
        uint64_t mh = atomic_load_explicit(&m->model_hash, memory_order_acquire);
        if (series_id(ph, mh) != id)
            continue; /* being claimed right now: a series of the view that claims it */
        if (provider_of_hash(view, ph) >= 0 && model_name(view, mh) != NULL)
            continue;
        atomic_store_explicit(&r->ids[s], MODEL_TOMB, memory_order_release);
        zero_slot(m);
        if (mh != view->model_other)
            atomic_fetch_sub_explicit(&r->live, 1, memory_order_relaxed);
    }
}

/* ---- exposition ------------------------------------------------------------------ */

typedef struct series {
    const char *provider, *model;
    model_slot_t *m;
} series_t;

/* The next live series of the view from slot *s on, or false at the end. */
static bool next_series(llg_pool_t *pool, const llg_pool_view_t *view, uint32_t *s, series_t *out)
{
    model_region_t *r = pool->models;
    for (; *s < LLG_MODEL_SLOTS; (*s)++) {
        uint64_t id = atomic_load_explicit(&r->ids[*s], memory_order_acquire);
        if (id <= MODEL_TOMB)
            continue;
        model_slot_t *m = &r->slots[*s];
        uint64_t ph = atomic_load_explicit(&m->provider_hash, memory_order_relaxed);
        uint64_t mh = atomic_load_explicit(&m->model_hash, memory_order_acquire);
        int p = series_id(ph, mh) == id ? provider_of_hash(view, ph) : -1;
        const char *name = p >= 0 ? model_name(view, mh) : NULL;
        if (name == NULL)
            continue; /* not a series of this config (retired at the next sync) */
        *out = (series_t){view->providers[p].name, name, m};
        (*s)++;
        return true;
    }
    return false;
}

static void labels(FILE *out, const char *family, const series_t *x)
{
    fprintf(out, "%s{model=\"", family);
    pool_metric_label(out, x->model);
    fputs("\",provider=\"", out);
    pool_metric_label(out, x->provider);
    fputc('"', out);
}

static void hist(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view, const char *name, bool overhead)
{
    char fam[96];
    series_t x;
    for (uint32_t s = 0; next_series(pool, view, &s, &x);) {
        pool_hist_t *h = overhead ? &x.m->overhead : &x.m->ttft;
        uint64_t cum = 0;
        snprintf(fam, sizeof(fam), "%s_bucket", name);
        for (unsigned b = 0; b < POOL_BUCKETS; b++) {
            cum += pool_load(&h->bucket[b]);
            labels(out, fam, &x);
            const char *le = b == POOL_BUCKETS - 1 ? "+Inf" : overhead ? overhead_label[b] : pool_bucket_label[b];
            fprintf(out, ",le=\"%s\"} %llu\n", le, (unsigned long long)cum);
        }
        uint64_t sum = pool_load(&h->sum_us);
        snprintf(fam, sizeof(fam), "%s_sum", name);
        labels(out, fam, &x);
        fprintf(out, "} %llu.%06llu\n", (unsigned long long)(sum / 1000000u), (unsigned long long)(sum % 1000000u));
        snprintf(fam, sizeof(fam), "%s_count", name);
        labels(out, fam, &x);
        fprintf(out, "} %llu\n", (unsigned long long)cum);
    }
}

void pool_write_model_metrics(FILE *out, llg_pool_t *pool, const llg_pool_view_t *view)
{
    if (pool->models == NULL)
        return;
    series_t x;
    fputs("# HELP llmgate_model_requests_total Client requests by the model asked for (a name the config knows, else "
          "other), the provider that served them and the class of the status sent (499, client gone: 4xx).\n"
          "# TYPE llmgate_model_requests_total counter\n",
          out);
    for (uint32_t s = 0; next_series(pool, view, &s, &x);)
        for (unsigned c = 0; c < MODEL_CLASSES; c++) {
            uint64_t n = pool_load(&x.m->requests[c]);
            if (n == 0)
                continue;
            labels(out, "llmgate_model_requests_total", &x);
            fprintf(out, ",status_class=\"%s\"} %llu\n", class_label[c], (unsigned long long)n);
        }
    fputs("# HELP llmgate_model_tokens_total Tokens reported by upstream usage, by model, provider and kind (prompt, "
          "completion, cached, reasoning).\n"
          "# TYPE llmgate_model_tokens_total counter\n",
          out);
    for (uint32_t s = 0; next_series(pool, view, &s, &x);)
        for (unsigned k = 0; k < LLG_MODEL_KINDS; k++) {
            labels(out, "llmgate_model_tokens_total", &x);
            fprintf(out, ",kind=\"%s\"} %llu\n", kind_label[k], (unsigned long long)pool_load(&x.m->tokens[k]));
        }
    fputs("# HELP llmgate_model_ttft_seconds Time from the request's arrival to the first byte of the answer, by model and "
          "provider (requests with an upstream attempt and a status below 400).\n"
          "# TYPE llmgate_model_ttft_seconds histogram\n",
          out);
    hist(out, pool, view, "llmgate_model_ttft_seconds", false);
    fputs("# HELP llmgate_gateway_overhead_seconds Time of a request not spent in upstream attempts (total minus "
          "upstream), by model and provider.\n"
          "# TYPE llmgate_gateway_overhead_seconds histogram\n",
          out);
    hist(out, pool, view, "llmgate_gateway_overhead_seconds", true);
    fputs("# HELP llmgate_model_series Per-model series in use, and their bound (other excluded).\n"
          "# TYPE llmgate_model_series gauge\n",
          out);
    fprintf(out, "llmgate_model_series{kind=\"live\"} %llu\n",
            (unsigned long long)atomic_load_explicit(&pool->models->live, memory_order_relaxed));
    fprintf(out, "llmgate_model_series{kind=\"limit\"} %u\n", (unsigned)LLG_MODEL_SERIES);
}

/* For tests: the slot-level numbers of one series, by labels. */
int llg_pool_model_stats(const llg_pool_t *pool, const llg_pool_view_t *view, const char *provider, const char *model,
                         llg_pool_model_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pool->models == NULL)
        return -1;
    int p = -1;
    for (size_t i = 0; i < view->provider_count; i++)
        if (strcmp(view->providers[i].name, provider) == 0)
            p = (int)i;
    if (p < 0)
        return -1;
    uint64_t id = series_id(view->providers[p].model_hash, pool_model_hash(model));
    model_region_t *r = pool->models;
    uint32_t s = (uint32_t)(id & (LLG_MODEL_SLOTS - 1));
    for (unsigned n = 0; n < MAX_PROBE; n++, s = (s + 1) & (LLG_MODEL_SLOTS - 1)) {
        uint64_t cur = atomic_load_explicit(&r->ids[s], memory_order_acquire);
        if (cur == 0)
            return -1;
        if (cur != id)
            continue;
        model_slot_t *m = &r->slots[s];
        for (unsigned c = 0; c < MODEL_CLASSES; c++)
            out->requests[c] = pool_load(&m->requests[c]);
        for (unsigned k = 0; k < LLG_MODEL_KINDS; k++)
            out->tokens[k] = pool_load(&m->tokens[k]);
        for (unsigned b = 0; b < POOL_BUCKETS; b++) {
            out->ttft_count += pool_load(&m->ttft.bucket[b]);
            out->overhead_count += pool_load(&m->overhead.bucket[b]);
        }
        return 0;
    }
    return -1;
}
