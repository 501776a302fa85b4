/*
 * pool/balance_view.c: the process-local part of model groups, built by the
 * master from the config at every sync (see balance.h): each target's slot in
 * the shared mapping (found by its id, so that a target kept by a reload keeps
 * its state), the targets by priority tier, and per tier the smooth weighted
 * round-robin sequence and the consistent-hash ring. Everything is computed
 * here once, so that choosing a target allocates nothing and reads no config.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Ring points of the heaviest target of a tier; lighter ones get fewer, in
 * proportion (at least one). 160 points keep the share of each of 64 equal
 * targets within a few percent of 1/64. */
#define RING_POINTS 160u

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A 64-bit id that is never 0 (0 marks a free slot). */
static uint64_t slot_id(const unsigned char id[16])
{
    uint64_t v;
    memcpy(&v, id, sizeof(v));
    return v != 0 ? v : 1;
}

static void target_id(const llg_conf_group_t *g, const llg_conf_t *conf, const llg_conf_target_t *t, unsigned char out[16])
{
    const char *pname = conf->providers[t->provider].name;
    const char *model = t->model != NULL ? t->model : "";
    uint64_t h = llg_balance_hash(g->name, strlen(g->name) + 1, 0x6c6c6d67617465ULL);
    h = llg_balance_hash(pname, strlen(pname) + 1, h);
    uint64_t a = llg_balance_hash(model, strlen(model), h);
    uint64_t b = llg_balance_hash(model, strlen(model), h ^ 0x9e3779b97f4a7c15ULL);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
}

/* A slot for `id` among `cap` slots whose ids are `stride` bytes apart;
 * `planned` marks the slots this build already gave away. `exact`: the slot
 * that holds id, else -1. Otherwise a free one (id 0) first, else one whose
 * target the new config no longer has (every kept one was planned in the
 * exact pass): its state is zeroed at commit. -1 when none is left. */
static int64_t find_slot(const _Atomic uint64_t *ids, size_t stride, uint32_t cap, uint64_t id, const bool *planned, bool exact)
{
    int64_t stale = -1;
    for (uint32_t i = 0, s = (uint32_t)(id % cap); i < cap; i++, s = s + 1 == cap ? 0 : s + 1) {
        if (planned[s])
            continue;
        uint64_t cur =
            atomic_load_explicit((const _Atomic uint64_t *)((const char *)ids + (size_t)s * stride), memory_order_relaxed);
        if (exact ? cur == id : cur == 0)
            return s;
        if (!exact && stale < 0)
            stale = s;
    }
    return stale;
}

/* (hash, target) pairs by hash, then target: the ring's order is the same
 * on every instance */
static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

static int build_tier(bal_vgroup_t *vg, bal_vtier_t *tier)
{
    uint64_t g = 0, maxw = 0;
    for (uint32_t i = 0; i < tier->count; i++) {
        uint32_t w = vg->targets[vg->order[tier->first + i]].weight;
        tier->weight_sum += w;
        g = gcd64(g, w);
        if (w > maxw)
            maxw = w;
    }
    /* nginx's smooth weighted round robin, run for one period */
    tier->period = (uint32_t)(tier->weight_sum / g);
    tier->seq = malloc(tier->period);
    int64_t *cur = calloc(tier->count, sizeof(*cur));
    if (tier->seq == NULL || cur == NULL) {
        free(cur);
        return -1;
    }
    for (uint32_t n = 0; n < tier->period; n++) {
        uint32_t best = 0;
        for (uint32_t i = 0; i < tier->count; i++) {
            cur[i] += vg->targets[vg->order[tier->first + i]].weight / (int64_t)g;
            if (cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (int64_t)(tier->weight_sum / g);
        tier->seq[n] = vg->order[tier->first + best];
    }
    free(cur);

    /* the ring: points in proportion to the weights, sorted by hash */
    uint32_t len = 0;
    for (uint32_t i = 0; i < tier->count; i++) {
        uint64_t pts = RING_POINTS * vg->targets[vg->order[tier->first + i]].weight / maxw;
        len += pts == 0 ? 1 : (uint32_t)pts;
    }
    uint64_t *pairs = malloc((size_t)len * sizeof(*pairs) * 2);
    tier->ring_hash = malloc((size_t)len * sizeof(*tier->ring_hash));
    tier->ring_target = malloc(len);
    if (pairs == NULL || tier->ring_hash == NULL || tier->ring_target == NULL) {
        free(pairs);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < tier->count; i++) {
        uint8_t t = vg->order[tier->first + i];
        uint64_t pts = RING_POINTS * vg->targets[t].weight / maxw;
        for (uint64_t p = 0; p < (pts == 0 ? 1 : pts); p++, n++) {
            pairs[2 * n] = llg_balance_hash(vg->targets[t].id, 16, p + 1);
            pairs[2 * n + 1] = t;
        }
    }
    qsort(pairs, len, 2 * sizeof(uint64_t), cmp_pair);
    for (uint32_t i = 0; i < len; i++) {
        tier->ring_hash[i] = pairs[2 * i];
        tier->ring_target[i] = (uint8_t)pairs[2 * i + 1];
    }
    tier->ring_len = len;
    free(pairs);
    return 0;
}

static int build_group(const llg_conf_t *conf, size_t gi, bal_vgroup_t *vg)
{
    const llg_conf_group_t *g = &conf->groups[gi];
    vg->strategy = (int)g->strategy;
    vg->failures = g->breaker.failures;
    vg->cooldown_ms = g->breaker.cooldown_ms;
    vg->decay_ms = g->latency.decay_ms;
    vg->penalty_us = g->latency.error_penalty_ms * 1000;
    vg->load_factor = g->affinity.load_factor;
    vg->ntargets = g->target_count;
    vg->targets = calloc(g->target_count + 1, sizeof(*vg->targets));
    vg->order = calloc(g->target_count + 1, 1);
    vg->tiers = calloc(g->target_count + 1, sizeof(*vg->tiers));
    if (vg->targets == NULL || vg->order == NULL || vg->tiers == NULL)
        return -1;
    for (size_t i = 0; i < g->target_count; i++) {
        const llg_conf_target_t *t = &g->targets[i];
        const llg_conf_provider_t *p = &conf->providers[t->provider];
        vg->targets[i].weight = t->weight;
        vg->targets[i].provider = t->provider;
        vg->targets[i].keyed = p->auth == LLG_AUTH_POOL && p->type != LLG_PROVIDER_ECHO;
        target_id(g, conf, t, vg->targets[i].id);
        vg->order[i] = (uint8_t)i;
    }
    /* stable sort by priority (at most 64: insertion sort) */
    for (size_t i = 1; i < g->target_count; i++) {
        uint8_t v = vg->order[i];
        size_t j = i;
        while (j > 0 && g->targets[vg->order[j - 1]].priority > g->targets[v].priority) {
            vg->order[j] = vg->order[j - 1];
            j--;
        }
        vg->order[j] = v;
    }
    for (size_t i = 0; i < g->target_count;) {
        bal_vtier_t *tier = &vg->tiers[vg->ntiers++];
        tier->first = (uint32_t)i;
        uint32_t prio = g->targets[vg->order[i]].priority;
        while (i < g->target_count && g->targets[vg->order[i]].priority == prio)
            i++;
        tier->count = (uint32_t)i - tier->first;
        if (build_tier(vg, tier) != 0)
            return -1;
    }
    return 0;
}

bal_view_t *pool_balance_view_build(const bal_region_t *r, const llg_conf_t *conf)
{
    bal_view_t *v = calloc(1, sizeof(*v));
    bool *planned = calloc(LLG_BALANCE_SLOTS, sizeof(bool));
    bool *gplanned = calloc(BAL_GROUP_SLOTS, sizeof(bool));
    if (v == NULL || planned == NULL || gplanned == NULL)
        goto fail;
    size_t total = 0;
    for (size_t i = 0; i < conf->group_count; i++)
        total += conf->groups[i].target_count;
    v->groups = calloc(conf->group_count + 1, sizeof(*v->groups));
    v->flat = calloc(total + 1, sizeof(*v->flat));
    if (v->groups == NULL || v->flat == NULL)
        goto fail;
    if (total > LLG_BALANCE_SLOTS || conf->group_count > BAL_GROUP_SLOTS) {
        goto fail;
    }
    for (size_t i = 0; i < conf->group_count; i++) {
        bal_vgroup_t *vg = &v->groups[v->group_count++];
        if (build_group(conf, i, vg) != 0)
            goto fail;
        uint64_t gid = llg_balance_hash(conf->groups[i].name, strlen(conf->groups[i].name), 0x67726f7570ULL);
        vg->gid = gid != 0 ? gid : 1;
        for (size_t t = 0; t < vg->ntargets; t++) {
            v->flat[v->flat_count].group = (uint32_t)i;
            v->flat[v->flat_count++].target = (uint32_t)t;
        }
    }
    /* the slots of what the config keeps first, so that a slot of something
     * it dropped can go to something new */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < v->group_count; i++) {
            bal_vgroup_t *vg = &v->groups[i];
            int64_t gs = vg->gid_planned
                             ? -1
                             : find_slot(&r->gslots[0].id, sizeof(bal_gslot_t), BAL_GROUP_SLOTS, vg->gid, gplanned, pass == 0);
            if (gs >= 0) {
                gplanned[gs] = true;
                vg->gslot = (uint32_t)gs;
                vg->gid_planned = true;
            } else if (pass == 1 && !vg->gid_planned) {
                goto fail; /* cannot be: the config has at most BAL_GROUP_SLOTS groups */
            }
        }
        for (size_t f = 0; f < v->flat_count; f++) {
            bal_vtarget_t *vt = &v->groups[v->flat[f].group].targets[v->flat[f].target];
            if (vt->planned)
                continue;
            int64_t s = find_slot(&r->slots[0].id, sizeof(bal_slot_t), LLG_BALANCE_SLOTS, slot_id(vt->id), planned, pass == 0);
            if (s >= 0) {
                planned[s] = true;
                vt->slot = (uint32_t)s;
                vt->planned = true;
            } else if (pass == 1) {
                goto fail; /* cannot be: the config has at most LLG_BALANCE_SLOTS targets */
            }
        }
    }
    free(planned);
    free(gplanned);
    return v;
fail:
    free(planned);
    free(gplanned);
    pool_balance_view_free(v);
    return NULL;
}

static void zero_slot(bal_slot_t *s)
{
    atomic_store_explicit(&s->in_flight, 0, memory_order_relaxed);
    atomic_store_explicit(&s->consecutive, 0, memory_order_relaxed);
    atomic_store_explicit(&s->breaker, 0, memory_order_relaxed);
    atomic_store_explicit(&s->ewma, 0, memory_order_relaxed);
    atomic_store_explicit(&s->ewma_at_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&s->changes, 0, memory_order_relaxed);
    atomic_store_explicit(&s->requests, 0, memory_order_relaxed);
    for (unsigned i = 0; i < LLG_OUTCOME_COUNT; i++)
        atomic_store_explicit(&s->outcomes[i], 0, memory_order_relaxed);
}

void pool_balance_view_commit(bal_region_t *r, const bal_view_t *v)
{
    bool *used = calloc(LLG_BALANCE_SLOTS + BAL_GROUP_SLOTS, sizeof(bool));
    for (size_t i = 0; i < v->group_count; i++) {
        const bal_vgroup_t *vg = &v->groups[i];
        bal_gslot_t *gs = &r->gslots[vg->gslot];
        if (atomic_load_explicit(&gs->id, memory_order_relaxed) != vg->gid) {
            atomic_store_explicit(&gs->cursor, 0, memory_order_relaxed);
            atomic_store_explicit(&gs->in_flight, 0, memory_order_relaxed);
            atomic_store_explicit(&gs->id, vg->gid, memory_order_release);
        }
        if (used != NULL)
            used[LLG_BALANCE_SLOTS + vg->gslot] = true;
        for (size_t t = 0; t < vg->ntargets; t++) {
            bal_slot_t *s = &r->slots[vg->targets[t].slot];
            uint64_t id = slot_id(vg->targets[t].id);
            if (atomic_load_explicit(&s->id, memory_order_relaxed) != id) {
                zero_slot(s);
                atomic_store_explicit(&s->id, id, memory_order_release);
            }
            if (used != NULL)
                used[vg->targets[t].slot] = true;
        }
    }
    /* slots of targets the config no longer has are freed (a draining worker
     * of the old generation may still count on one for a moment: harmless) */
    if (used == NULL)
        return; /* out of memory: they stay taken until a later sync */
    for (uint32_t s = 0; s < LLG_BALANCE_SLOTS; s++)
        if (!used[s] && atomic_load_explicit(&r->slots[s].id, memory_order_relaxed) != 0)
            atomic_store_explicit(&r->slots[s].id, 0, memory_order_release);
    for (uint32_t s = 0; s < BAL_GROUP_SLOTS; s++) {
        if (!used[LLG_BALANCE_SLOTS + s] && atomic_load_explicit(&r->gslots[s].id, memory_order_relaxed) != 0) {
            atomic_store_explicit(&r->gslots[s].cursor, 0, memory_order_relaxed);
            atomic_store_explicit(&r->gslots[s].in_flight, 0, memory_order_relaxed);
            atomic_store_explicit(&r->gslots[s].id, 0, memory_order_release);
        }
    }
    free(used);
}

void pool_balance_view_free(bal_view_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->group_count; i++) {
        bal_vgroup_t *vg = &v->groups[i];
        for (size_t t = 0; t < vg->ntiers; t++) {
            free(vg->tiers[t].seq);
            free(vg->tiers[t].ring_hash);
            free(vg->tiers[t].ring_target);
        }
        free(vg->tiers);
        free(vg->targets);
        free(vg->order);
    }
    free(v->groups);
    free(v->flat);
    free(v);
}
