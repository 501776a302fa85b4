/*
 * server/proxy_group.c: the proxy's side of model groups (see proxy.h and
 * pool/balance.h): a group's targets go on the chain one at a time, as its
 * strategy chooses them, each held until the chain moves on; the time to
 * first byte of each attempt feeds the latency EWMA.
 */
#include <string.h>

#include "pool/balance.h"
#include "server/http.h"
#include "server/proxy_internal.h"
#include "server/route.h"

void proxy_first_byte(proxy_t *x)
{
    if (!x->has_bpick || x->attempt_start_us == 0)
        return;
    uint64_t now = llg_http_now_us();
    llg_balance_observe(x->app->pool, &x->bpick, now > x->attempt_start_us ? now - x->attempt_start_us : 0, now / 1000);
    x->attempt_start_us = 0;
}

/* The chain moves on from a group's target: its choice ends. */
void proxy_group_release(proxy_t *x)
{
    if (x->has_bpick) {
        llg_balance_release(x->app->pool, &x->bpick);
        x->has_bpick = false;
    }
    x->target = -1;
    x->target_model = NULL;
}

/* The next target of the group, chosen by its strategy among those not tried
 * yet, goes on the chain; when none is left, the group's fallbacks do. */
void proxy_group_next(proxy_t *x)
{
    llg_app_t *app = x->app;
    const llg_conf_t *conf = app->conf;
    const llg_conf_group_t *g = &conf->groups[x->group];
    llg_balance_pick_t pick;
    if (x->nchain < MAX_CHAIN && llg_balance_choose(app->pool, app->view, (unsigned)x->group, x->group_tried, x->affinity_key,
                                                    llg_pool_now_ms(), &pick) == 0) {
        const llg_conf_target_t *t = &g->targets[pick.target];
        x->group_tried |= UINT64_C(1) << pick.target;
        x->bpick = pick;
        x->has_bpick = true;
        x->target = pick.target;
        x->target_model = t->model;
        x->chain[x->nchain++] = (int)t->provider;
        if (x->req != NULL)
            llg_http_set_target(x->req, x->group, pick.target);
        return;
    }
    x->group_done = true;
    for (size_t i = 0; i < g->fallback.count && x->nchain < MAX_CHAIN; i++)
        for (size_t j = 0; j < conf->provider_count; j++)
            if (strcmp(conf->providers[j].name, g->fallback.items[i]) == 0)
                x->chain[x->nchain++] = (int)j;
}

void llg_proxy_start_group(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int group, int token,
                           llg_endpoint_t endpoint)
{
    const llg_conf_group_t *g = &app->conf->groups[group];
    proxy_t *x = proxy_new(app, req, root, model, token, true, endpoint);
    if (x == NULL)
        return;
    x->group = group;
    x->max_attempts = g->attempts;
    if (g->strategy == LLG_STRATEGY_AFFINITY)
        x->affinity_key = llg_route_affinity_key(g, req, root);
    x->provider = (int)g->targets[0].provider; /* named by errors until a target is chosen */
    proxy_go(x);
}
