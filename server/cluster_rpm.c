/*
 * server/cluster_rpm.c: access-token rpm shared through Redis (docs/cluster.md
 * "Access-token rpm"), in the cluster link process. Redis holds one GCRA per
 * token (its theoretical arrival time, in Redis' own clock, so hosts' clocks
 * need not agree); a Lua script takes n cells at once. At every poll, for each
 * token in use, the link asks for what the requests waiting on this instance
 * need plus a small lead (RPM_LEAD_DIV), gives back credits unused after
 * LLG_CREDIT_TTL_MS, and adds what the host's own limit admitted while Redis
 * was away. Requests never wait on this unless their instance has no credit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cluster_link.h"

#define RPM_ACTIVE_MS 2000 /* a token used this recently keeps a lead of credits */
/* The lead: credits an instance holds ahead of demand, rpm / 150 (none
 * below 150 rpm: each request then takes its credit as it comes). What the
 * instances hold when a window starts is all a window can admit above the
 * cluster's GCRA: 3 instances hold at most 2% of rpm (docs/cluster.md). */
#define RPM_LEAD_DIV 150
#define RPM_LEAD_MAX 10000

/* KEYS[1] the token's GCRA; ARGV: interval us, tau us, n, mode (0 take up
 * to n, 1 add n without a limit, 2 give n back). Returns {taken, ms until the
 * next cell when fewer than n were taken, ms until the burst is whole}. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T, tau, n, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local k = n\n"
    "if mode == 0 then\n"
    "  k = math.floor((now + tau - tat) / T) + 1\n"
    "  if k < 0 then k = 0 end\n"
    "  if k > n then k = n end\n"
    "  tat = tat + k * T\n"
    "elseif mode == 1 then\n"
    "  tat = tat + n * T\n"
    "else\n"
    "  tat = math.max(now, tat - n * T)\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)\n"
    "local wait = 0\n"
    "if k < n then wait = math.ceil((tat - tau - now) / 1000) end\n"
    "return {k, wait, math.ceil((tat - now) / 1000)}\n";

typedef struct rpm_ent {
    int token;
    uint32_t rpm;
    uint64_t asked;
    bool pending;
    char key[200];
} rpm_ent_t;

static struct {
    llg_pool_t *pool;
    const llg_pool_view_t *view;
    rpm_ent_t *e;
    size_t n;
} R;

int link_rpm_init(const llg_conf_t *conf, const llg_pool_view_t *view, llg_pool_t *pool)
{
    R.pool = pool;
    R.view = view;
    R.e = calloc(conf->token_count + 1, sizeof(*R.e));
    if (R.e == NULL)
        return -1;
    for (size_t i = 0; i < conf->token_count; i++) {
        if (conf->tokens[i].rpm == 0 || llg_pool_token_label(view, (int)i) == NULL)
            continue;
        rpm_ent_t *e = &R.e[R.n++];
        char id[2 * LINK_ID_BYTES + 1];
        link_id("token", conf->tokens[i].token, id);
        e->token = (int)i;
        e->rpm = conf->tokens[i].rpm;
        snprintf(e->key, sizeof(e->key), "%srpm:%s", link_prefix(), id);
    }
    return 0;
}

void link_rpm_down(void)
{
    for (size_t i = 0; i < R.n; i++)
        R.e[i].pending = false;
}

size_t link_rpm_count(void)
{
    return R.n;
}

static void taken(rpm_ent_t *e, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    long long v[3];
    for (int i = 0; i < 3; i++) {
        const redisReply *x = reply->element[i];
        v[i] = x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
        if (v[i] < 0)
            v[i] = 0;
    }
    /* never more than asked; a cell is at most 60 s away, the burst whole within 60 s */
    if ((uint64_t)v[0] > e->asked)
        v[0] = (long long)e->asked;
    for (int i = 1; i < 3; i++)
        if (v[i] > 60000)
            v[i] = 60000;
    llg_pool_lease_grant(R.pool, R.view, e->token, (uint64_t)v[0], (uint64_t)v[0] < e->asked, (uint64_t)v[1], (uint64_t)v[2],
                         llg_pool_now_ms());
}

void link_rpm_taken(size_t i, const redisReply *reply)
{
    if (i < R.n)
        taken(&R.e[i], reply);
}

static void on_taken(redisAsyncContext *ac, void *r, void *priv)
{
    rpm_ent_t *e = priv;
    bool was = e->pending;
    e->pending = false;
    if (was && link_reply_ok(ac, r, "EVAL rpm"))
        taken(e, r);
}

static void on_done(redisAsyncContext *ac, void *r, void *priv)
{
    link_reply_ok(ac, r, priv);
}

static void eval(redisAsyncContext *ac, rpm_ent_t *e, uint64_t n, int mode)
{
    uint64_t interval = 60000000u / e->rpm, tau = (uint64_t)(e->rpm - 1) * interval;
    if (interval == 0)
        interval = 1;
    char a[4][24];
    snprintf(a[0], sizeof(a[0]), "%llu", (unsigned long long)interval);
    snprintf(a[1], sizeof(a[1]), "%llu", (unsigned long long)tau);
    snprintf(a[2], sizeof(a[2]), "%llu", (unsigned long long)n);
    snprintf(a[3], sizeof(a[3]), "%d", mode);
    const char *argv[] = {"EVAL", gcra_lua, "1", e->key, a[0], a[1], a[2], a[3]};
    if (mode == 0) {
        e->pending = true;
        e->asked = n;
        redisAsyncCommandArgv(ac, on_taken, e, 8, argv, NULL);
    } else {
        redisAsyncCommandArgv(ac, on_done, "EVAL rpm", 8, argv, NULL);
    }
}

void link_rpm_poll(uint64_t now_ms)
{
    redisAsyncContext *ac = link_cmd();
    if (ac == NULL)
        return;
    for (size_t i = 0; i < R.n; i++) {
        rpm_ent_t *e = &R.e[i];
        if (e->pending)
            continue;
        uint64_t back = llg_pool_lease_expire(R.pool, R.view, e->token, now_ms);
        if (back > 0)
            eval(ac, e, back, 2);
        uint64_t down = llg_pool_lease_take_down_admits(R.pool, R.view, e->token);
        if (down > 0)
            eval(ac, e, down, 1);
        uint64_t waiting;
        int64_t credits;
        bool active;
        if (llg_pool_lease_state(R.pool, R.view, e->token, now_ms, RPM_ACTIVE_MS, &waiting, &credits, &active) != 0)
            continue;
        if (waiting == 0 && !active)
            continue;
        uint64_t lead = e->rpm / RPM_LEAD_DIV > RPM_LEAD_MAX ? RPM_LEAD_MAX : e->rpm / RPM_LEAD_DIV;
        uint64_t have = (uint64_t)credits;
        if (have >= waiting + (lead + 1) / 2)
            continue;
        if (waiting == 0 && llg_pool_lease_denied(R.pool, R.view, e->token, now_ms))
            continue; /* nobody waits and Redis said no: ask again when it said */
        eval(ac, e, waiting + lead - have, 0);
    }
}
