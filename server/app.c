/*
 * server/app.c: per-worker state set-up (see app.h).
 */
#include "server/app.h"
#include "server/access_log.h"
#include "server/otel.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "server/curl_loop.h"
#include "server/early.h"
#include "server/h1_client.h"
#include "server/log.h"
#include "server/token_limits.h"
#include "server/models.h"

/* max_header_bytes must stay below what h2o reads of a request head, with
 * room for the framing it does not count (conf/conf.h) */
_Static_assert(LLG_CONF_MAX_HEADER_BYTES + 8192 <= H2O_MAX_REQLEN, "max_header_bytes bound exceeds h2o's H2O_MAX_REQLEN");

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t llg_app_random(llg_app_t *app)
{
    /* xorshift128+: fast and good enough for ids; never used for secrets */
    uint64_t s1 = app->_rng[0];
    const uint64_t s0 = app->_rng[1];
    app->_rng[0] = s0;
    s1 ^= s1 << 23;
    app->_rng[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return app->_rng[1] + s0;
}

void llg_app_init(llg_app_t *app, const llg_conf_t *conf, llg_pool_t *pool, const llg_pool_view_t *view)
{
    memset(app, 0, sizeof(*app));
    app->conf = conf;
    app->pool = pool;
    app->view = view;

    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    app->_rng[0] = splitmix(&seed);
    app->_rng[1] = splitmix(&seed);
    app->reqid_salt = llg_app_random(app);

    for (size_t i = 0; i < conf->provider_count; i++)
        if (conf->providers[i].auth == LLG_AUTH_PASSTHROUGH)
            app->has_passthrough = true;
    const char *h2 = getenv("LLMGATE_UPSTREAM_HTTP2");
    app->upstream_http2 = h2 != NULL && strcmp(h2, "1") == 0;

    h2o_config_init(&app->h2o);
    app->h2o.server_name = h2o_iovec_init(H2O_STRLIT("llmgate"));
    /* Bodies over max_body_bytes: a declared length is refused at the head
     * with 413 (server/early.c); h2o stops reading one of unknown length one
     * byte past the limit (HTTP/1.1 chunked: 413; HTTP/2 without
     * content-length: REFUSED_STREAM), and the handler refuses that last
     * byte. So no body occupies more than server/admission.c reserved. */
    app->h2o.max_request_entity_size =
        (size_t)(conf->max_body_bytes < ((uint64_t)1 << 40) ? conf->max_body_bytes + 1 : ((uint64_t)1 << 40));
    /* Client timeouts (docs/security.md "Slow clients"). h2o 2.2.5 has one
     * HTTP/1.1 timer, http1.req_timeout: armed when a connection starts
     * waiting for a request (accept, or the end of the previous response) and
     * stopped once the request's headers and body are in. The keep-alive wait
     * and a slowloris share it, so it runs for the shorter of client_idle and
     * client_header; neither is then exceeded. handshake_timeout bounds the
     * TLS handshake, before that timer starts. http2.idle_timeout closes an
     * HTTP/2 connection without an open request, restarted by every frame. The
     * context copies these in h2o_context_init; a draining worker lowers its
     * copy of req_timeout (server/worker.c). */
    uint64_t client_header = conf->timeouts.client_header_ms, client_idle = conf->timeouts.client_idle_ms;
    app->h2o.handshake_timeout = client_header;
    app->h2o.http1.req_timeout = client_header < client_idle ? client_header : client_idle;
    app->h2o.http2.idle_timeout = client_idle;
    llg_app_register_handlers(app);
    llg_early_init(app);
}

static h2o_timeout_t *new_timeout(llg_app_t *app, uint64_t ms)
{
    if (ms == 0)
        return NULL;
    h2o_timeout_t *t = malloc(sizeof(*t));
    if (t == NULL)
        abort();
    h2o_timeout_init(app->ctx.loop, t, ms);
    return t;
}

void llg_app_context_init(llg_app_t *app)
{
    const llg_conf_t *conf = app->conf;
    app->request_timeout = new_timeout(app, conf->timeouts.request_ms);
    app->idle_timeout = new_timeout(app, conf->timeouts.idle_ms);
    app->ping_timeout = new_timeout(app, conf->timeouts.ping_ms);
    app->gone_check = new_timeout(app, LLG_GONE_CHECK_MS);
    app->limit_poll = new_timeout(app, LLG_LIMITS_POLL_MS);
    if ((app->curl = llg_curl_create(app->ctx.loop)) == NULL)
        abort();
    llg_curl_use_tls(app->curl, conf);
    const char *client = getenv("LLMGATE_UPSTREAM_CLIENT");
    if ((client == NULL || strcmp(client, "curl") != 0) &&
        (app->h1 = llg_h1_create(app->ctx.loop, conf->timeouts.connect_ms)) == NULL)
        abort();
    app->h1_tls = calloc(conf->provider_count ? conf->provider_count : 1, sizeof(*app->h1_tls));
    if (app->h1_tls == NULL)
        abort();
    for (size_t i = 0; app->h1 != NULL && !app->upstream_http2 && i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        if (p->base_url == NULL || strncmp(p->base_url, "https://", 8) != 0 || !llg_h1_takes(app->h1, p->base_url))
            continue;
        char err[256];
        if ((app->h1_tls[i] = llg_h1_add_tls(app->h1, p->base_url, &p->tls, p->name, err, sizeof(err))) == NULL)
            llg_error("provider %s: TLS for llmgate's HTTP/1.1 client: %s; libcurl serves it", p->name, err);
    }
    app->models = llg_models_create(app);
    app->access_log = llg_access_log_new(conf, app->pool, app->ctx.loop);
    app->otel = llg_otel_new(conf, app->pool, app->curl, app->ctx.loop);
    app->echo_delay = calloc(conf->provider_count ? conf->provider_count : 1, sizeof(*app->echo_delay));
    if (app->echo_delay == NULL)
        abort();
    for (size_t i = 0; i < conf->provider_count; i++) {
        if (conf->providers[i].type != LLG_PROVIDER_ECHO || conf->providers[i].delay_ms == 0)
            continue;
        app->echo_delay[i] = new_timeout(app, conf->providers[i].delay_ms);
    }
    /* max_connections is the gateway's total: each worker takes its share */
    app->caps = calloc(conf->provider_count ? conf->provider_count : 1, sizeof(*app->caps));
    app->queue_timeout = calloc(conf->provider_count ? conf->provider_count : 1, sizeof(*app->queue_timeout));
    if (app->caps == NULL || app->queue_timeout == NULL)
        abort();
    for (size_t i = 0; i < conf->provider_count; i++) {
        app->caps[i].max = llg_cap_share(conf->providers[i].max_connections, conf->workers);
        app->caps[i].gauge = llg_pool_queued_gauge(app->pool, app->view, (int)i);
        if (app->caps[i].max > 0 && conf->providers[i].queue_timeout_ms > 0)
            app->queue_timeout[i] = new_timeout(app, conf->providers[i].queue_timeout_ms);
    }
}
