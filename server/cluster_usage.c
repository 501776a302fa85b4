/*
 * server/cluster_usage.c: usage shared through Redis (docs/cluster.md
 * "Usage and quotas"), in the cluster link process. Every 100 ms while the
 * link is up it adds what this host counted since (requests, prompt and
 * completion tokens per access token and per key, read from the pool's
 * cumulative counters against marks kept in the pool, so a restarted link
 * neither loses nor repeats them) to two hashes, one per UTC day and one per
 * month, then reads both back and stores the cluster's totals in the pool,
 * where quotas, /admin/usage and /metrics read them. What was counted while
 * Redis was away is added when it is back.
 *
 *   <prefix>usage:<YYYY-MM-DD>  t:<id>:r, t:<id>:p, t:<id>:c, k:<id>:r, ...
 *   <prefix>usage:<YYYY-MM>     t:<id>, k:<id>   (prompt + completion tokens)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/cluster_link.h"

#define USAGE_EVERY_MS 100
#define DAY_TTL_S      (40 * 86400)  /* a day's hash outlives its month's quotas */
#define MONTH_TTL_S    (400 * 86400) /* a month's hash, a year and a bit */

typedef struct usage_ent {
    char kind; /* 't' token, 'k' key */
    char id[2 * LINK_ID_BYTES + 1];
    int token;    /* config index, for 't' */
    int32_t slot; /* for 'k' */
    llg_pool_day_usage_t got;
} usage_ent_t;

static struct {
    llg_pool_t *pool;
    const llg_pool_view_t *view;
    usage_ent_t *e;
    size_t n;
    uint64_t last_ms;
    bool reading;
    uint64_t read_day, read_month;
    char day_key[160], month_key[160];
} U;

static int cmp_ent(const void *a, const void *b)
{
    const usage_ent_t *x = a, *y = b;
    return x->kind != y->kind ? x->kind - y->kind : strcmp(x->id, y->id);
}

int link_usage_init(const llg_conf_t *conf, const llg_pool_view_t *view, llg_pool_t *pool)
{
    size_t nkeys;
    const link_key_t *keys = link_keys(&nkeys);
    U.pool = pool;
    U.view = view;
    U.e = calloc(conf->token_count + nkeys + 1, sizeof(*U.e));
    if (U.e == NULL)
        return -1;
    for (size_t i = 0; i < conf->token_count; i++) {
        usage_ent_t *u = &U.e[U.n++];
        u->kind = 't';
        u->token = (int)i;
        u->slot = -1;
        link_id("token", conf->tokens[i].token, u->id);
    }
    for (size_t i = 0; i < nkeys; i++) {
        usage_ent_t *u = &U.e[U.n++];
        u->kind = 'k';
        u->token = -1;
        u->slot = keys[i].slot;
        memcpy(u->id, keys[i].id, sizeof(u->id));
    }
    qsort(U.e, U.n, sizeof(*U.e), cmp_ent);
    /* a secret listed twice (a file token also in API_ACCESS_TOKENS) is one
     * token: one entry, or its totals would be stored twice, once as zeros */
    size_t n = 0;
    for (size_t i = 0; i < U.n; i++)
        if (n == 0 || cmp_ent(&U.e[n - 1], &U.e[i]) != 0)
            U.e[n++] = U.e[i];
    U.n = n;
    return 0;
}

/* The entry a field "t:<id>..." or "k:<id>..." names, and the rest after the id. */
static usage_ent_t *find(const char *field, size_t len, const char **rest)
{
    usage_ent_t probe;
    if (len < 2 + 2 * LINK_ID_BYTES || field[1] != ':')
        return NULL;
    probe.kind = field[0];
    memcpy(probe.id, field + 2, 2 * LINK_ID_BYTES);
    probe.id[2 * LINK_ID_BYTES] = '\0';
    *rest = field + 2 + 2 * LINK_ID_BYTES;
    return bsearch(&probe, U.e, U.n, sizeof(*U.e), cmp_ent);
}

static uint64_t number(const redisReply *v)
{
    return v->type == REDIS_REPLY_STRING ? strtoull(v->str, NULL, 10) : v->type == REDIS_REPLY_INTEGER ? (uint64_t)v->integer : 0;
}

void link_usage_read(const redisReply *reply, bool month, uint64_t day, uint64_t mon)
{
    if (!month)
        for (size_t i = 0; i < U.n; i++)
            memset(&U.e[i].got, 0, sizeof(U.e[i].got));
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i];
        const char *rest;
        usage_ent_t *u = f->type == REDIS_REPLY_STRING ? find(f->str, f->len, &rest) : NULL;
        if (u == NULL)
            continue;
        uint64_t v = number(reply->element[i + 1]);
        size_t rl = f->len - (size_t)(rest - f->str);
        if (month && rl == 0)
            u->got.month_tokens = v;
        else if (!month && rl == 2 && rest[0] == ':' && rest[1] == 'r')
            u->got.requests = v;
        else if (!month && rl == 2 && rest[0] == ':' && rest[1] == 'p')
            u->got.prompt_tokens = v;
        else if (!month && rl == 2 && rest[0] == ':' && rest[1] == 'c')
            u->got.completion_tokens = v;
    }
    if (!month)
        return;
    for (size_t i = 0; i < U.n; i++) {
        usage_ent_t *u = &U.e[i];
        if (u->kind == 't')
            llg_pool_token_set_totals(U.pool, U.view, u->token, day, mon, &u->got);
        else
            llg_pool_key_set_totals(U.pool, u->slot, day, mon, &u->got);
        memset(&u->got, 0, sizeof(u->got));
    }
}

static void on_day(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    if (!link_reply_ok(ac, r, "HGETALL usage")) {
        U.reading = false;
        return;
    }
    link_usage_read(r, false, U.read_day, U.read_month);
}

static void on_month(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    U.reading = false;
    if (link_reply_ok(ac, r, "HGETALL usage"))
        link_usage_read(r, true, U.read_day, U.read_month);
}

static void send_unsent(redisAsyncContext *ac)
{
    bool sent = false;
    for (size_t i = 0; i < U.n; i++) {
        usage_ent_t *u = &U.e[i];
        llg_pool_unsent_t d;
        if (u->kind == 't' ? llg_pool_token_take_unsent(U.pool, U.view, u->token, &d) != 0
                           : llg_pool_key_take_unsent(U.pool, u->slot, &d) != 0)
            continue;
        if (d.requests == 0 && d.prompt_tokens == 0 && d.completion_tokens == 0)
            continue;
        sent = true;
        const char *what[3] = {"r", "p", "c"};
        uint64_t n[3] = {d.requests, d.prompt_tokens, d.completion_tokens};
        char field[48];
        for (int j = 0; j < 3; j++) {
            if (n[j] == 0)
                continue;
            snprintf(field, sizeof(field), "%c:%s:%s", u->kind, u->id, what[j]);
            redisAsyncCommand(ac, NULL, NULL, "HINCRBY %s %s %llu", U.day_key, field, (unsigned long long)n[j]);
        }
        if (n[1] + n[2] != 0) {
            snprintf(field, sizeof(field), "%c:%s", u->kind, u->id);
            redisAsyncCommand(ac, NULL, NULL, "HINCRBY %s %s %llu", U.month_key, field, (unsigned long long)(n[1] + n[2]));
        }
    }
    if (sent) {
        redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %d", U.day_key, DAY_TTL_S);
        redisAsyncCommand(ac, NULL, NULL, "EXPIRE %s %d", U.month_key, MONTH_TTL_S);
    }
}

void link_usage_poll(uint64_t now_ms)
{
    redisAsyncContext *ac = link_cmd();
    if (ac == NULL || U.n == 0 || now_ms - U.last_ms < USAGE_EVERY_MS)
        return;
    U.last_ms = now_ms;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char day[16], month[16];
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    strftime(month, sizeof(month), "%Y-%m", &tm);
    snprintf(U.day_key, sizeof(U.day_key), "%susage:%s", link_prefix(), day);
    snprintf(U.month_key, sizeof(U.month_key), "%susage:%s", link_prefix(), month);
    send_unsent(ac);
    if (U.reading)
        return;
    U.reading = true;
    U.read_day = llg_pool_utc_day((int64_t)now);
    U.read_month = llg_pool_utc_month((int64_t)now);
    redisAsyncCommand(ac, on_day, NULL, "HGETALL %s", U.day_key);
    redisAsyncCommand(ac, on_month, NULL, "HGETALL %s", U.month_key);
}
