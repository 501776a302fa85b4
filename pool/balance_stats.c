/*
 * pool/balance_stats.c: what model groups show and share (see balance.h): a
 * target's state for /admin/groups and /metrics, and the breaker as the
 * cluster link publishes and applies it.
 */
#include "internal.h"

#include <string.h>

static const bal_vtarget_t *vtarget(const llg_pool_view_t *view, unsigned group, unsigned target, const bal_vgroup_t **vg)
{
    if (view->bal == NULL || group >= view->bal->group_count || target >= view->bal->groups[group].ntargets)
        return NULL;
    *vg = &view->bal->groups[group];
    return &(*vg)->targets[target];
}

static llg_breaker_state_t breaker_state(uint64_t w, uint64_t now_ms, uint64_t *remaining_ms)
{
    *remaining_ms = 0;
    if (hw_kind(w) == HW_USABLE)
        return LLG_BREAKER_CLOSED;
    if (!(w & HW_PROBING) && now_ms < hw_time(w)) {
        *remaining_ms = hw_time(w) - now_ms;
        return LLG_BREAKER_OPEN;
    }
    return LLG_BREAKER_HALF_OPEN;
}

int llg_balance_target_stats(const llg_pool_t *pool, const llg_pool_view_t *view, unsigned group, unsigned target, uint64_t now_ms,
                             llg_balance_target_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    const bal_vgroup_t *vg;
    const bal_vtarget_t *vt = vtarget(view, group, target, &vg);
    if (vt == NULL || pool->bal == NULL)
        return -1;
    const bal_slot_t *s = &pool->bal->slots[vt->slot];
    uint64_t w = atomic_load_explicit((_Atomic uint64_t *)&s->breaker, memory_order_acquire);
    out->breaker = breaker_state(w, now_ms, &out->open_remaining_ms);
    out->in_flight = atomic_load_explicit((_Atomic int32_t *)&s->in_flight, memory_order_relaxed);
    if (out->in_flight < 0)
        out->in_flight = 0; /* a slot freed under a draining worker's pick */
    out->requests = pool_load(&s->requests);
    for (unsigned i = 0; i < LLG_OUTCOME_COUNT; i++)
        out->outcomes[i] = pool_load(&s->outcomes[i]);
    out->consecutive_failures = atomic_load_explicit((_Atomic uint32_t *)&s->consecutive, memory_order_relaxed);
    out->latency_ewma_ms = pool_bal_ewma(s, vg->decay_ms, now_ms) / 1000.0;
    /* available as a choice would see it */
    out->available = pool_bal_available(pool, view, vt, now_ms, pool_load(&pool->hdr->probe_timeout_ms));
    return 0;
}

static const char *const strategy_names[] = {"weighted", "least_busy", "latency", "affinity"};

/* A target's upstream model as shown: its `model`, else the group's name
 * (what is asked for). */
static const char *target_model(const llg_conf_group_t *g, const llg_conf_target_t *t)
{
    return t->model != NULL ? t->model : g->name;
}

static void target_labels(FILE *out, const llg_conf_t *conf, const llg_conf_group_t *g, const llg_conf_target_t *t)
{
    fputs("{group=\"", out);
    pool_metric_label(out, g->name);
    fputs("\",provider=\"", out);
    pool_metric_label(out, conf->providers[t->provider].name);
    fputs("\",model=\"", out);
    pool_metric_label(out, target_model(g, t));
    fputc('"', out);
}

int llg_balance_write_metrics(const llg_pool_t *pool, const llg_pool_view_t *view, const llg_conf_t *conf, uint64_t now_ms,
                              FILE *out)
{
    if (conf->group_count == 0)
        return ferror(out) ? -1 : 0;
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"llmgate_target_requests_total", "counter", "Attempts on a model group's target, by outcome."},
        {"llmgate_target_in_flight", "gauge", "Choices of a target in progress (all workers)."},
        {"llmgate_target_latency_ewma_seconds", "gauge", "Peak EWMA of a target's time to first byte, faded to now."},
        {"llmgate_target_breaker_state", "gauge", "A target's circuit breaker: 0 closed, 1 open, 2 half-open."},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t gi = 0; gi < conf->group_count; gi++) {
            const llg_conf_group_t *g = &conf->groups[gi];
            for (size_t ti = 0; ti < g->target_count; ti++) {
                llg_balance_target_stats_t st;
                if (llg_balance_target_stats(pool, view, (unsigned)gi, (unsigned)ti, now_ms, &st) != 0)
                    continue;
                if (f == 0) {
                    for (unsigned o = 0; o < LLG_OUTCOME_COUNT; o++) {
                        fputs(fam[f].name, out);
                        target_labels(out, conf, g, &g->targets[ti]);
                        fprintf(out, ",outcome=\"%s\"} %llu\n", llg_outcome_name((llg_outcome_t)o),
                                (unsigned long long)st.outcomes[o]);
                    }
                    continue;
                }
                fputs(fam[f].name, out);
                target_labels(out, conf, g, &g->targets[ti]);
                if (f == 1)
                    fprintf(out, "} %d\n", (int)st.in_flight);
                else if (f == 2)
                    fprintf(out, "} %.6f\n", st.latency_ewma_ms / 1000.0);
                else
                    fprintf(out, "} %d\n", (int)st.breaker);
            }
        }
    }
    return ferror(out) ? -1 : 0;
}

int llg_balance_write_admin_json(const llg_pool_t *pool, const llg_pool_view_t *view, const llg_conf_t *conf, uint64_t now_ms,
                                 FILE *out)
{
    fputs("{\"groups\":[", out);
    for (size_t gi = 0; gi < conf->group_count; gi++) {
        const llg_conf_group_t *g = &conf->groups[gi];
        fputs(gi == 0 ? "{\"name\":" : ",{\"name\":", out);
        pool_json_string(out, g->name);
        fprintf(out, ",\"strategy\":\"%s\",\"targets\":[", strategy_names[g->strategy]);
        for (size_t ti = 0; ti < g->target_count; ti++) {
            const llg_conf_target_t *t = &g->targets[ti];
            llg_balance_target_stats_t st;
            llg_balance_target_stats(pool, view, (unsigned)gi, (unsigned)ti, now_ms, &st);
            fputs(ti == 0 ? "{\"provider\":" : ",{\"provider\":", out);
            pool_json_string(out, conf->providers[t->provider].name);
            fputs(",\"model\":", out);
            pool_json_string(out, target_model(g, t));
            uint64_t failures = st.outcomes[LLG_OUTCOME_SERVER] + st.outcomes[LLG_OUTCOME_NETWORK];
            fprintf(out,
                    ",\"weight\":%u,\"priority\":%u,\"breaker\":\"%s\",\"open_remaining_ms\":%llu,\"available\":%s,"
                    "\"in_flight\":%d,\"requests\":%llu,\"failures\":%llu,\"consecutive_failures\":%u,\"latency_ewma_ms\":%.3f}",
                    t->weight, t->priority, llg_breaker_state_name(st.breaker), (unsigned long long)st.open_remaining_ms,
                    st.available ? "true" : "false", (int)st.in_flight, (unsigned long long)st.requests,
                    (unsigned long long)failures, st.consecutive_failures, st.latency_ewma_ms);
        }
        fputs("]}", out);
    }
    fputs("]}", out);
    return ferror(out) ? -1 : 0;
}

/* ---- the cluster link's side ------------------------------------------------------- */

uint64_t llg_balance_changes(const llg_pool_t *pool)
{
    return pool->bal != NULL ? pool_load(&pool->bal->changes) : 0;
}

size_t llg_balance_target_count(const llg_pool_view_t *view)
{
    return view->bal != NULL ? view->bal->flat_count : 0;
}

static bal_slot_t *flat_slot(const llg_pool_t *pool, const llg_pool_view_t *view, size_t i)
{
    if (pool->bal == NULL || view->bal == NULL || i >= view->bal->flat_count)
        return NULL;
    const bal_vgroup_t *vg = &view->bal->groups[view->bal->flat[i].group];
    return &pool->bal->slots[vg->targets[view->bal->flat[i].target].slot];
}

void llg_balance_target_id(const llg_pool_view_t *view, size_t i, unsigned char out[16])
{
    memset(out, 0, 16);
    if (view->bal == NULL || i >= view->bal->flat_count)
        return;
    const bal_vgroup_t *vg = &view->bal->groups[view->bal->flat[i].group];
    memcpy(out, vg->targets[view->bal->flat[i].target].id, 16);
}

int llg_balance_share(const llg_pool_t *pool, const llg_pool_view_t *view, size_t i, uint32_t *changes, bool *open,
                      uint64_t *remaining_ms)
{
    bal_slot_t *s = flat_slot(pool, view, i);
    if (s == NULL)
        return -1;
    /* the count first (acquire): a transition after this read is seen by the next poll */
    *changes = atomic_load_explicit(&s->changes, memory_order_acquire);
    uint64_t w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    llg_breaker_state_t st = breaker_state(w, llg_pool_now_ms(), remaining_ms);
    *open = st != LLG_BREAKER_CLOSED;
    return 0;
}

int llg_balance_apply(llg_pool_t *pool, const llg_pool_view_t *view, size_t i, bool open, uint64_t remaining_ms, uint64_t now_ms,
                      bool only_longer)
{
    bal_slot_t *s = flat_slot(pool, view, i);
    if (s == NULL)
        return -1;
    uint64_t w = atomic_load_explicit(&s->breaker, memory_order_acquire);
    for (;;) {
        uint64_t next;
        if (open) {
            uint64_t until = now_ms + remaining_ms;
            if (hw_kind(w) != HW_USABLE && !(w & HW_PROBING) && hw_time(w) >= until)
                return 0; /* already open as long */
            next = hw_next(w, HW_COOLING, false, until);
        } else {
            if (hw_kind(w) == HW_USABLE || only_longer)
                return 0;
            next = hw_next(w, HW_USABLE, false, 0);
        }
        if (atomic_compare_exchange_weak_explicit(&s->breaker, &w, next, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    if (!open)
        atomic_store_explicit(&s->consecutive, 0, memory_order_relaxed);
    return 1;
}
