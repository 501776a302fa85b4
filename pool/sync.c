/*
 * pool/sync.c: building the process-local view of a config over the region,
 * at start and on every reload (llg_pool_sync). Providers are matched by name,
 * keys by a keyed hash of (provider name, secret), tokens by a keyed hash of
 * the secret: an entry present before and after keeps its slot and so all its
 * state; a removed one frees its slot; an added one gets a zeroed slot. Free
 * slots are searched from where the last search stopped (a ring), so a slot
 * just freed is reused last: a draining worker with the old view may still
 * touch it for a while. When the region is too small, a bigger one is made
 * and the state of every retained slot is copied to the same index.
 *
 * Everything that can fail (allocations, hashing, mapping) happens before the
 * first write to a region, so a failed sync changes nothing.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- a table of digests ------------------------------------------------------ */

/* Open addressing over the entries of an array whose element at index i has
 * its digest at base + i * stride. */
typedef struct dtab {
    int32_t *e;
    size_t mask;
    const unsigned char *base;
    size_t stride;
} dtab_t;

static int dtab_init(dtab_t *t, size_t n, const void *base, size_t stride)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    t->e = malloc(cap * sizeof(*t->e));
    if (t->e == NULL)
        return -1;
    memset(t->e, 0xff, cap * sizeof(*t->e)); /* -1 */
    t->mask = cap - 1;
    t->base = base;
    t->stride = stride;
    return 0;
}

static size_t dtab_start(const dtab_t *t, const unsigned char *d)
{
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    return (size_t)h & t->mask;
}

static int32_t dtab_find(const dtab_t *t, const unsigned char *d)
{
    for (size_t i = dtab_start(t, d);; i = (i + 1) & t->mask) {
        if (t->e[i] < 0)
            return -1;
        if (memcmp(t->base + (size_t)t->e[i] * t->stride, d, POOL_DIGEST) == 0)
            return t->e[i];
    }
}

/* Adds index `idx` unless its digest is there: returns the index holding it. */
static int32_t dtab_add(dtab_t *t, int32_t idx)
{
    const unsigned char *d = t->base + (size_t)idx * t->stride;
    for (size_t i = dtab_start(t, d);; i = (i + 1) & t->mask) {
        if (t->e[i] < 0) {
            t->e[i] = idx;
            return idx;
        }
        if (memcmp(t->base + (size_t)t->e[i] * t->stride, d, POOL_DIGEST) == 0)
            return t->e[i];
    }
}

/* ---- labels ------------------------------------------------------------------- */

static char *hex_label(const char *prefix, const unsigned char *d, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    size_t pl = strlen(prefix);
    char *s = malloc(pl + 2 * nbytes + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < nbytes; i++) {
        s[pl + 2 * i] = hex[d[i] >> 4];
        s[pl + 2 * i + 1] = hex[d[i] & 15];
    }
    s[pl + 2 * nbytes] = '\0';
    return s;
}

typedef struct label_ref {
    char **label;
    const unsigned char *digest;
    const char *prefix; /* the long form is <prefix><sep><16 hex>; NULL: the label itself */
    char sep;
} label_ref_t;

static int cmp_label(const void *a, const void *b)
{
    const label_ref_t *x = a, *y = b;
    return strcmp(*x->label, *y->label);
}

/* Labels are metric label values and must be unique: every member of a group
 * of equal ones (two key ids sharing 8 hex digits, two tokens of one name)
 * gets a long form with 16 hex digits instead. */
static int uniquify(label_ref_t *refs, size_t n)
{
    qsort(refs, n, sizeof(*refs), cmp_label);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(*refs[i].label, *refs[j].label) == 0)
            j++;
        for (size_t k = i; j - i > 1 && k < j; k++) {
            const char *prefix = refs[k].prefix != NULL ? refs[k].prefix : *refs[k].label;
            size_t pl = strlen(prefix);
            char *base = malloc(pl + 2);
            if (base == NULL)
                return -1;
            memcpy(base, prefix, pl);
            base[pl] = refs[k].sep;
            base[pl + 1] = '\0';
            char *s = hex_label(base, refs[k].digest, 8);
            free(base);
            if (s == NULL)
                return -1;
            free(*refs[k].label);
            *refs[k].label = s;
        }
        i = j;
    }
    return 0;
}

/* ---- the view ----------------------------------------------------------------- */

void llg_pool_view_free(llg_pool_view_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->provider_count; i++)
        free(v->providers[i].name);
    for (size_t i = 0; i < v->key_count; i++)
        free(v->keys[i].id);
    for (size_t i = 0; i < v->token_count; i++) {
        free(v->tokens[i].label); /* NULL for a duplicate */
        free(v->tokens[i].name);
    }
    free(v->providers);
    free(v->keys);
    free(v->key_by_slot);
    free(v->tokens);
    free(v->token_table);
    pool_mac_free(v->mac);
    pool_balance_view_free(v->bal);
    pool_model_view_free(v);
    free(v);
}

const char *llg_pool_key_id(const llg_pool_view_t *view, int32_t slot)
{
    if (slot < 0 || (uint32_t)slot >= view->key_capacity || view->key_by_slot[slot] < 0)
        return NULL;
    return view->keys[view->key_by_slot[slot]].id;
}

int32_t llg_pool_key_slot(const llg_pool_view_t *view, unsigned provider, unsigned key)
{
    if (provider >= view->provider_count)
        return -1;
    const view_provider_t *vp = &view->providers[provider];
    for (uint32_t i = 0; i < vp->key_count; i++)
        if (view->keys[vp->first_key + i].conf_index == key)
            return (int32_t)view->keys[vp->first_key + i].slot;
    return -1;
}

/* Next free slot at or after *next in a ring of `cap`, marked used. */
static uint32_t take_slot(uint8_t *used, uint32_t cap, uint32_t *next)
{
    uint32_t i = *next < cap ? *next : 0;
    while (used[i])
        i = i + 1 == cap ? 0 : i + 1;
    used[i] = 1;
    *next = i + 1 == cap ? 0 : i + 1;
    return i;
}

static uint32_t grown(uint32_t cap, size_t need)
{
    uint64_t c = (uint64_t)cap * 2;
    if (c < (uint64_t)need * 2)
        c = (uint64_t)need * 2;
    return c > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)c;
}

/* ---- copying state into a grown region -------------------------------------- */

static void copy_atomics(_Atomic uint64_t *dst, _Atomic uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&dst[i], pool_load(&src[i]), memory_order_relaxed);
}

static void copy_hist(pool_hist_t *d, pool_hist_t *s)
{
    copy_atomics(d->bucket, s->bucket, POOL_BUCKETS);
    copy_atomics(&d->sum_us, &s->sum_us, 1);
}

/* `queued` stays with the old region, as the in-flight counts of keys: the
 * waiting requests of the old workers leave the queue there. */
static void copy_provider(pool_prov_t *d, pool_prov_t *s)
{
    copy_atomics(&d->cursor, &s->cursor, 1);
    copy_atomics(d->codes, s->codes, POOL_CODES);
    copy_hist(&d->duration, &s->duration);
    copy_hist(&d->ttfb, &s->ttfb);
    copy_atomics(d->attempts, s->attempts, LLG_OUTCOME_COUNT);
    copy_atomics(&d->prompt_tokens, &s->prompt_tokens, 1);
    copy_atomics(&d->completion_tokens, &s->completion_tokens, 1);
}

/* In-flight counts and probe turns stay with the old region: the attempts
 * they belong to end there. A key that was being probed is left with its rest
 * over, so the next pick probes it in the new region. */
static void copy_key(llg_pool_t *dst, llg_pool_t *src, uint32_t slot)
{
    uint64_t w = pool_load(&src->health[slot]);
    if (w & HW_PROBING)
        w = hw_next(w, hw_kind(w), false, 0);
    atomic_store_explicit(&dst->health[slot], w, memory_order_relaxed);
    pool_key_t *d = &dst->keys[slot], *s = &src->keys[slot];
    copy_atomics(&d->requests, &s->requests, 1);
    copy_atomics(d->outcomes, s->outcomes, LLG_OUTCOME_COUNT);
    copy_atomics(&d->prompt_tokens, &s->prompt_tokens, 1);
    copy_atomics(&d->completion_tokens, &s->completion_tokens, 1);
    copy_atomics(&d->use.day_requests, &s->use.day_requests, sizeof(pool_usage_t) / sizeof(uint64_t));
    atomic_store_explicit(&d->consecutive, atomic_load_explicit(&s->consecutive, memory_order_relaxed), memory_order_relaxed);
    atomic_store_explicit(&d->last_status, atomic_load_explicit(&s->last_status, memory_order_relaxed), memory_order_relaxed);
}

static void copy_token(pool_token_t *d, pool_token_t *s)
{
    copy_atomics(&d->tat, &s->tat, 1);
    copy_atomics(&d->requests, &s->requests, 1);
    copy_atomics(&d->rejected_rate, &s->rejected_rate, 1);
    copy_atomics(&d->rejected_forbidden, &s->rejected_forbidden, 1);
    copy_atomics(&d->prompt_tokens, &s->prompt_tokens, 1);
    copy_atomics(&d->completion_tokens, &s->completion_tokens, 1);
    copy_atomics(&d->admitted, &s->admitted, 1);
    copy_atomics(&d->rejected_quota, &s->rejected_quota, 1);
    copy_atomics(&d->use.day_requests, &s->use.day_requests, sizeof(pool_usage_t) / sizeof(uint64_t));
    /* credits stay behind (they expire); what the link has not sent yet moves */
    copy_atomics(&d->down_admits, &s->down_admits, 1);
    copy_atomics(&d->fl_down_admits, &s->fl_down_admits, 1);
}

static void copy_header(llg_pool_t *dst, llg_pool_t *src)
{
    pool_header_t *d = dst->hdr, *s = src->hdr;
    copy_atomics(&d->generation, &s->generation, 1);
    copy_atomics(&d->reloads_ok, &s->reloads_ok, 1);
    copy_atomics(&d->reloads_failed, &s->reloads_failed, 1);
    copy_atomics(&d->obs[0], &s->obs[0], LLG_OBS_COUNT);
    copy_provider(&d->none, &s->none);
    /* active_streams is not copied: the streams of old workers end in the old
     * region, and the gauge would never come down */
    memcpy(dst->hash_key, src->hash_key, sizeof(dst->hash_key));
}

/* ---- sync ---------------------------------------------------------------------- */

/* What sync works out before touching a region. Index arrays hold, per entry
 * of the new view, the old slot it keeps (or -1 for a new entry). */
typedef struct plan {
    int32_t *key_old;  /* per new key */
    int32_t *tok_old;  /* per new token (a duplicate: -2) */
    int32_t *prov_old; /* per new provider */
    uint8_t *key_used, *tok_used, *prov_used;
    size_t unique_tokens;
} plan_t;

static void plan_free(plan_t *p)
{
    free(p->key_old);
    free(p->tok_old);
    free(p->prov_old);
    free(p->key_used);
    free(p->tok_used);
    free(p->prov_used);
}

/* Fills the view's providers and keys from the config (digests, no slot yet). */
static int build_keys(llg_pool_view_t *nv, const llg_conf_t *conf)
{
    size_t total = 0;
    for (size_t p = 0; p < conf->provider_count; p++)
        total += conf->providers[p].keys.count;
    nv->providers = calloc(conf->provider_count + 1, sizeof(*nv->providers));
    nv->keys = calloc(total + 1, sizeof(*nv->keys));
    if (nv->providers == NULL || nv->keys == NULL)
        return -1;
    nv->provider_count = conf->provider_count;
    dtab_t seen;
    if (dtab_init(&seen, total, nv->keys[0].digest, sizeof(view_key_t)) != 0)
        return -1;
    int rc = -1;
    for (size_t p = 0; p < conf->provider_count; p++) {
        const llg_conf_provider_t *cp = &conf->providers[p];
        view_provider_t *vp = &nv->providers[p];
        vp->name = strdup(cp->name);
        if (vp->name == NULL)
            goto out;
        vp->first_key = (uint32_t)nv->key_count;
        size_t nl = strlen(cp->name);
        for (size_t k = 0; k < cp->keys.count; k++) {
            view_key_t *vk = &nv->keys[nv->key_count];
            /* the provider name is part of the hashed text: the same secret
             * in two providers is two keys */
            size_t sl = strlen(cp->keys.items[k]);
            char *text = malloc(nl + 1 + sl);
            if (text == NULL)
                goto out;
            memcpy(text, cp->name, nl + 1);
            memcpy(text + nl + 1, cp->keys.items[k], sl);
            int drc = pool_digest(nv->mac, 'k', text, nl + 1 + sl, vk->digest);
            OPENSSL_cleanse(text, nl + 1 + sl);
            free(text);
            if (drc != 0)
                goto out;
            if (dtab_add(&seen, (int32_t)nv->key_count) != (int32_t)nv->key_count)
                continue; /* the same key twice: listed once */
            vk->provider = (uint32_t)p;
            vk->conf_index = (uint32_t)k;
            char prefix[256];
            snprintf(prefix, sizeof(prefix), "%s-", cp->name);
            memcpy(vk->id_digest, vk->digest, POOL_DIGEST);
            if (conf->cluster.enabled && llg_pool_cluster_digest(&conf->cluster.redis, cp->name, cp->keys.items[k], vk->id_digest))
                goto out;
            vk->id = hex_label(prefix, vk->id_digest, POOL_ID_HEX / 2);
            if (vk->id == NULL)
                goto out;
            nv->key_count++;
        }
        vp->key_count = (uint32_t)(nv->key_count - vp->first_key);
    }
    rc = 0;
out:
    free(seen.e);
    return rc;
}

static int build_tokens(llg_pool_view_t *nv, const llg_conf_t *conf, plan_t *pl)
{
    nv->tokens = calloc(conf->token_count + 1, sizeof(*nv->tokens));
    pl->tok_old = malloc((conf->token_count + 1) * sizeof(*pl->tok_old));
    if (nv->tokens == NULL || pl->tok_old == NULL)
        return -1;
    nv->token_count = conf->token_count;
    size_t cap = 16;
    while (cap < 2 * conf->token_count)
        cap <<= 1;
    nv->token_table = malloc(cap * sizeof(*nv->token_table));
    if (nv->token_table == NULL)
        return -1;
    memset(nv->token_table, 0xff, cap * sizeof(*nv->token_table));
    nv->token_table_mask = cap - 1;
    dtab_t tab = {nv->token_table, cap - 1, nv->tokens[0].digest, sizeof(view_token_t)};
    for (size_t i = 0; i < conf->token_count; i++) {
        const llg_conf_token_t *ct = &conf->tokens[i];
        view_token_t *vt = &nv->tokens[i];
        if (pool_digest(nv->mac, 't', ct->token, strlen(ct->token), vt->digest) != 0)
            return -1;
        vt->first = dtab_add(&tab, (int32_t)i);
        pl->tok_old[i] = -1;           /* set by the slot plan; -2 marks a duplicate */
        if (vt->first != (int32_t)i) { /* the same secret twice: the first entry is the token */
            pl->tok_old[i] = -2;
            continue;
        }
        pl->unique_tokens++;
        vt->rpm = ct->rpm;
        vt->quota[LLG_QUOTA_REQUESTS_DAY] = ct->quota.requests_per_day;
        vt->quota[LLG_QUOTA_TOKENS_DAY] = ct->quota.tokens_per_day;
        vt->quota[LLG_QUOTA_TOKENS_MONTH] = ct->quota.tokens_per_month;
        memcpy(vt->id_digest, vt->digest, POOL_DIGEST);
        if (conf->cluster.enabled && llg_pool_cluster_digest(&conf->cluster.redis, "token", ct->token, vt->id_digest) != 0)
            return -1;
        vt->label = ct->name != NULL ? strdup(ct->name) : hex_label("token-", vt->id_digest, POOL_ID_HEX / 2);
        if (vt->label == NULL || (ct->name != NULL && (vt->name = strdup(ct->name)) == NULL))
            return -1;
    }
    return 0;
}

/* Matches the new entries with the old view's and marks retained slots used. */
static int match_old(const llg_pool_view_t *nv, const llg_pool_view_t *old, plan_t *pl, uint32_t kcap, uint32_t tcap, uint32_t pcap)
{
    pl->key_old = malloc((nv->key_count + 1) * sizeof(int32_t));
    pl->prov_old = malloc((nv->provider_count + 1) * sizeof(int32_t));
    pl->key_used = calloc(kcap, 1);
    pl->tok_used = calloc(tcap, 1);
    pl->prov_used = calloc(pcap, 1);
    if (pl->key_old == NULL || pl->prov_old == NULL || pl->key_used == NULL || pl->tok_used == NULL || pl->prov_used == NULL)
        return -1;
    for (size_t p = 0; p < nv->provider_count; p++) {
        pl->prov_old[p] = -1;
        for (size_t q = 0; old != NULL && q < old->provider_count; q++) {
            if (strcmp(old->providers[q].name, nv->providers[p].name) == 0) {
                pl->prov_old[p] = (int32_t)old->providers[q].slot;
                pl->prov_used[old->providers[q].slot] = 1;
                break;
            }
        }
    }
    dtab_t kt = {0}, tt = {0};
    if (old != NULL) {
        if (dtab_init(&kt, old->key_count, old->keys[0].digest, sizeof(view_key_t)) != 0)
            return -1;
        for (size_t i = 0; i < old->key_count; i++)
            dtab_add(&kt, (int32_t)i);
        /* the old view's token table already indexes its tokens */
        tt = (dtab_t){old->token_table, old->token_table_mask, old->tokens[0].digest, sizeof(view_token_t)};
    }
    for (size_t i = 0; i < nv->key_count; i++) {
        int32_t o = old != NULL ? dtab_find(&kt, nv->keys[i].digest) : -1;
        pl->key_old[i] = o >= 0 ? (int32_t)old->keys[o].slot : -1;
        if (o >= 0)
            pl->key_used[old->keys[o].slot] = 1;
    }
    for (size_t i = 0; i < nv->token_count; i++) {
        if (pl->tok_old[i] == -2)
            continue;
        int32_t o = old != NULL && old->token_count > 0 ? dtab_find(&tt, nv->tokens[i].digest) : -1;
        pl->tok_old[i] = o >= 0 ? (int32_t)old->tokens[o].slot : -1;
        if (o >= 0)
            pl->tok_used[old->tokens[o].slot] = 1;
    }
    free(kt.e);
    return 0;
}

static int grow_used(uint8_t **used, uint32_t old_cap, uint32_t new_cap)
{
    uint8_t *u = realloc(*used, new_cap);
    if (u == NULL)
        return -1;
    memset(u + old_cap, 0, new_cap - old_cap);
    *used = u;
    return 0;
}

static size_t count_used(const uint8_t *used, uint32_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < cap; i++)
        n += used[i];
    return n;
}

int llg_pool_sync(llg_pool_t **poolp, const llg_conf_t *conf, llg_pool_view_t **viewp)
{
    llg_pool_t *pool = *poolp, *target = pool;
    llg_pool_view_t *old = *viewp;
    plan_t pl = {0};
    label_ref_t *refs = NULL;
    llg_pool_view_t *nv = calloc(1, sizeof(*nv));
    if (nv == NULL)
        return -1;
    if ((nv->mac = pool_mac_new(pool->hash_key)) == NULL || build_keys(nv, conf) != 0 || build_tokens(nv, conf, &pl) != 0)
        goto fail;

    uint32_t kcap = pool->hdr->key_capacity, tcap = pool->hdr->token_capacity, pcap = pool->hdr->provider_capacity;
    if (old != NULL && (old->key_capacity > kcap || old->token_capacity > tcap || old->provider_capacity > pcap))
        goto fail; /* not a view of this region */
    if (match_old(nv, old, &pl, kcap, tcap, pcap) != 0)
        goto fail;

    /* room for the retained slots (at their index) and the new entries? */
    size_t new_keys = 0, new_tokens = 0, new_provs = 0;
    for (size_t i = 0; i < nv->key_count; i++)
        new_keys += pl.key_old[i] < 0;
    for (size_t i = 0; i < nv->token_count; i++)
        new_tokens += pl.tok_old[i] == -1;
    for (size_t i = 0; i < nv->provider_count; i++)
        new_provs += pl.prov_old[i] < 0;
    uint32_t nk = kcap, nt = tcap, np = pcap;
    if (count_used(pl.key_used, kcap) + new_keys > kcap)
        nk = grown(kcap, nv->key_count);
    if (count_used(pl.tok_used, tcap) + new_tokens > tcap)
        nt = grown(tcap, pl.unique_tokens);
    if (count_used(pl.prov_used, pcap) + new_provs > pcap)
        np = grown(pcap, nv->provider_count);
    if (nk < nv->key_count || nt < pl.unique_tokens || np < nv->provider_count)
        goto fail;
    if (nk != kcap || nt != tcap || np != pcap) {
        if (grow_used(&pl.key_used, kcap, nk) != 0 || grow_used(&pl.tok_used, tcap, nt) != 0 ||
            grow_used(&pl.prov_used, pcap, np) != 0 || (target = pool_map(nk, nt, np)) == NULL)
            goto fail;
    }
    nv->key_capacity = nk;
    nv->token_capacity = nt;
    nv->provider_capacity = np;
    nv->key_by_slot = malloc((size_t)nk * sizeof(*nv->key_by_slot));
    refs = malloc((nv->key_count + nv->token_count + 1) * sizeof(*refs));
    if (nv->key_by_slot == NULL || refs == NULL)
        goto fail;
    memset(nv->key_by_slot, 0xff, (size_t)nk * sizeof(*nv->key_by_slot));

    /* slots: retained ones stay where they are, new ones come from the ring */
    nv->next_key = old != NULL ? old->next_key : 0;
    nv->next_token = old != NULL ? old->next_token : 0;
    nv->next_provider = old != NULL ? old->next_provider : 0;
    for (size_t p = 0; p < nv->provider_count; p++)
        nv->providers[p].slot = pl.prov_old[p] >= 0 ? (uint32_t)pl.prov_old[p] : take_slot(pl.prov_used, np, &nv->next_provider);
    for (size_t i = 0; i < nv->key_count; i++) {
        view_key_t *vk = &nv->keys[i];
        vk->slot = pl.key_old[i] >= 0 ? (uint32_t)pl.key_old[i] : take_slot(pl.key_used, nk, &nv->next_key);
        nv->key_by_slot[vk->slot] = (int32_t)i;
    }
    for (size_t i = 0; i < nv->token_count; i++) {
        view_token_t *vt = &nv->tokens[i];
        if (pl.tok_old[i] == -2) { /* a duplicate shares the slot of the first entry */
            vt->slot = nv->tokens[vt->first].slot;
            vt->rpm = nv->tokens[vt->first].rpm;
            memcpy(vt->quota, nv->tokens[vt->first].quota, sizeof(vt->quota));
            continue;
        }
        vt->slot = pl.tok_old[i] >= 0 ? (uint32_t)pl.tok_old[i] : take_slot(pl.tok_used, nt, &nv->next_token);
    }

    /* unique labels */
    size_t nref = 0;
    for (size_t i = 0; i < nv->key_count; i++)
        refs[nref++] = (label_ref_t){&nv->keys[i].id, nv->keys[i].id_digest, nv->providers[nv->keys[i].provider].name, '-'};
    if (uniquify(refs, nref) != 0)
        goto fail;
    nref = 0;
    for (size_t i = 0; i < nv->token_count; i++)
        if (nv->tokens[i].first == (int32_t)i)
            refs[nref++] = (label_ref_t){&nv->tokens[i].label, nv->tokens[i].id_digest, NULL, '#'};
    if (uniquify(refs, nref) != 0)
        goto fail;

    if (pool->bal != NULL && (nv->bal = pool_balance_view_build(pool->bal, conf)) == NULL)
        goto fail; /* out of memory (the config's limits keep the slots enough) */
    if (pool_model_view_build(nv, conf) != 0)
        goto fail;

    /* commit: nothing below can fail */
    if (nv->bal != NULL)
        pool_balance_view_commit(pool->bal, nv->bal);
    if (target != pool) {
        copy_header(target, pool);
        for (size_t p = 0; p < nv->provider_count; p++)
            if (pl.prov_old[p] >= 0)
                copy_provider(&target->provs[pl.prov_old[p]], &pool->provs[pl.prov_old[p]]);
        for (size_t i = 0; i < nv->key_count; i++)
            if (pl.key_old[i] >= 0)
                copy_key(target, pool, (uint32_t)pl.key_old[i]);
        for (size_t i = 0; i < nv->token_count; i++)
            if (pl.tok_old[i] >= 0)
                copy_token(&target->tokens[pl.tok_old[i]], &pool->tokens[pl.tok_old[i]]);
    }
    for (size_t p = 0; p < nv->provider_count; p++)
        if (pl.prov_old[p] < 0)
            pool_zero_provider(target, nv->providers[p].slot);
    for (size_t i = 0; i < nv->key_count; i++) {
        view_key_t *vk = &nv->keys[i];
        if (pl.key_old[i] < 0)
            pool_zero_key(target, vk->slot);
        atomic_store_explicit(&target->keys[vk->slot].provider, nv->providers[vk->provider].slot, memory_order_relaxed);
    }
    for (size_t i = 0; i < nv->token_count; i++)
        if (pl.tok_old[i] == -1)
            pool_zero_token(target, nv->tokens[i].slot);

    pool_header_t *h = target->hdr;
    atomic_store_explicit(&h->cooldown_ms, conf->keys.cooldown_ms, memory_order_relaxed);
    atomic_store_explicit(&h->max_cooldown_ms, conf->keys.max_cooldown_ms, memory_order_relaxed);
    atomic_store_explicit(&h->probe_after_ms, conf->keys.probe_after_ms, memory_order_relaxed);
    /* a probe lasts at most one request (timeouts.request covers every retry) */
    atomic_store_explicit(&h->probe_timeout_ms, conf->timeouts.request_ms + POOL_PROBE_SLACK_MS, memory_order_relaxed);
    /* a new generation, then every provider's hint is made stale: a hint
     * computed from an older view (other keys) is never kept */
    nv->generation = atomic_fetch_add_explicit(&h->generation, 1, memory_order_acq_rel) + 1;
    for (size_t p = 0; p < nv->provider_count; p++)
        pool_unblock(&target->provs[nv->providers[p].slot]);

    if (target != pool) {
        /* the groups' mapping is not resized: the new handle takes it over */
        target->bal = pool->bal;
        pool->bal = NULL;
        target->models = pool->models;
        pool->models = NULL;
        llg_pool_destroy(pool);
        *poolp = target;
    }
    /* after the handle swap: series of the old config only are retired */
    pool_model_retire(*poolp, nv);
    llg_pool_view_free(old);
    *viewp = nv;
    free(refs);
    plan_free(&pl);
    return 0;

fail:
    if (target != pool)
        llg_pool_destroy(target);
    free(refs);
    plan_free(&pl);
    llg_pool_view_free(nv);
    return -1;
}
