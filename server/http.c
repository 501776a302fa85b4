/*
 * server/http.c: the HTTP surface of a worker. One handler receives every
 * request and dispatches on the path; one response filter gives every
 * response, including the errors h2o generates itself (413, malformed
 * requests), an x-request-id, the CORS headers and an OpenAI-shaped body.
 */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/balance.h"
#include "server/app.h"
#include "server/bad_request.h"
#include "server/auth.h"
#include "server/chat.h"
#include "server/ollama.h"
#include "server/early.h"
#include "server/linger.h"
#include "server/http.h"
#include "server/log.h"
#include "server/models.h"
#include "server/reqlog.h"
#include "server/access_log.h"
#include "server/otel.h"
#include "server/respond.h"
#include "providers/strbuf.h"

typedef struct llg_handler {
    h2o_handler_t super;
    llg_app_t *app;
} llg_handler_t;

typedef struct llg_filter {
    h2o_filter_t super;
    llg_app_t *app;
} llg_filter_t;

/* ---- request ids ------------------------------------------------------- */

int llg_request_id_acceptable(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > 128)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.' &&
            c != ':')
            return 0;
    }
    return 1;
}

static void add_header(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 1, NULL, value, value_len);
}

void llg_request_id_new(llg_app_t *app, char out[LLG_REQUEST_ID_LEN])
{
    /* no printf: this runs for every request */
    static const char hex[] = "0123456789abcdef";
    uint64_t salt = app->reqid_salt, seq = ++app->reqid_seq & 0xffffffffull;
    memcpy(out, "req_", 4);
    for (int k = 0; k < 16; k++)
        out[4 + k] = hex[(salt >> (60 - 4 * k)) & 15];
    for (int k = 0; k < 8; k++)
        out[20 + k] = hex[(seq >> (28 - 4 * k)) & 15];
}

h2o_iovec_t llg_request_id(llg_app_t *app, h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
    if (i != -1)
        return req->res.headers.entries[i].value;
    h2o_iovec_t id;
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i != -1 && llg_request_id_acceptable(req->headers.entries[i].value)) {
        id = req->headers.entries[i].value;
    } else {
        char *buf = h2o_mem_alloc_pool(&req->pool, LLG_REQUEST_ID_LEN);
        llg_request_id_new(app, buf);
        id = h2o_iovec_init(buf, LLG_REQUEST_ID_LEN);
    }
    add_header(req, H2O_STRLIT("x-request-id"), id.base, id.len);
    /* Anthropic's clients read `request-id` */
    if (llg_http_ingress(req)->protocol == LLG_PROTOCOL_ANTHROPIC)
        add_header(req, H2O_STRLIT("request-id"), id.base, id.len);
    return id;
}

bool llg_path_is_anthropic(const char *path, size_t len)
{
    static const char prefix[] = "/v1/messages";
    size_t n = sizeof(prefix) - 1;
    return len >= n && memcmp(path, prefix, n) == 0 && (len == n || path[n] == '/' || path[n] == '?');
}

const llg_ingress_t *llg_http_ingress(const h2o_req_t *req)
{
    h2o_iovec_t path = req->path_normalized.base != NULL ? req->path_normalized : req->input.path;
    if (path.base == NULL)
        return &llg_ingress_openai;
    if (llg_path_is_anthropic(path.base, path.len))
        return &llg_ingress_anthropic;
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/v1/responses")))
        return &llg_ingress_responses;
    /* Ollama's API: its error shape for every /api/ path */
    if (path.len >= 5 && memcmp(path.base, "/api/", 5) == 0) {
        if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/generate")))
            return &llg_ingress_ollama_generate;
        if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/embed")))
            return &llg_ingress_ollama_embed;
        if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/embeddings")))
            return &llg_ingress_ollama_embeddings;
        return &llg_ingress_ollama_chat;
    }
    return &llg_ingress_openai;
}

uint64_t llg_http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void llg_http_set_provider(llg_app_t *app, h2o_req_t *req, int provider)
{
    (void)app;
    llg_reqlog(req)->provider = provider;
}

void llg_http_set_target(h2o_req_t *req, int group, int target)
{
    llg_reqlog_t *r = llg_reqlog(req);
    r->group = group;
    r->target = target;
}

/* ---- CORS -------------------------------------------------------------- */

/* The Access-Control-Allow-Origin value for this request, or {NULL,0}. */
static h2o_iovec_t cors_origin(const llg_conf_t *conf, h2o_req_t *req, int *vary)
{
    *vary = 0;
    const llg_conf_strv_t *allowed = &conf->cors_allow_origins;
    for (size_t i = 0; i < allowed->count; i++)
        if (strcmp(allowed->items[i], "*") == 0)
            return h2o_iovec_init(H2O_STRLIT("*"));
    if (allowed->count == 0)
        return h2o_iovec_init(NULL, 0);
    *vary = 1;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
    if (i == -1)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t origin = req->headers.entries[i].value;
    for (size_t j = 0; j < allowed->count; j++)
        if (h2o_memis(origin.base, origin.len, allowed->items[j], strlen(allowed->items[j])))
            return origin;
    return h2o_iovec_init(NULL, 0);
}

static void respond_preflight(llg_app_t *app, h2o_req_t *req)
{
    int vary;
    h2o_iovec_t origin = cors_origin(app->conf, req, &vary);
    if (origin.base != NULL) {
        add_header(req, H2O_STRLIT("access-control-allow-methods"), H2O_STRLIT("GET, POST, OPTIONS"));
        ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-headers"), -1);
        h2o_iovec_t allow_headers = i != -1 ? req->headers.entries[i].value
                                            : h2o_iovec_init(H2O_STRLIT("authorization, content-type, x-api-key, x-request-id"));
        add_header(req, H2O_STRLIT("access-control-allow-headers"), allow_headers.base, allow_headers.len);
        add_header(req, H2O_STRLIT("access-control-max-age"), H2O_STRLIT("86400"));
    }
    req->res.status = 204;
    req->res.reason = "No Content";
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
}

/* ---- informational endpoints ------------------------------------------ */

static void respond_info(llg_app_t *app, h2o_req_t *req)
{
    (void)app;
    static const char body[] =
        "{\"name\":\"llmgate\",\"version\":\"" LLG_VERSION "\",\"endpoints\":["
        "\"POST /v1/chat/completions\",\"POST /chat/completions\",\"POST /\",\"POST /v1/messages\","
        "\"POST /v1/messages/count_tokens\",\"POST /v1/responses\",\"POST /api/chat\",\"POST /api/generate\",\"GET /api/tags\","
        "\"GET /api/version\",\"POST /api/show\",\"POST /api/embed\",\"POST /api/embeddings\",\"GET /v1/models\",\"GET /models\","
        "\"GET /health\",\"GET /\"]}";
    llg_respond_json(req, 200, body, sizeof(body) - 1);
}

static void respond_health(llg_app_t *app, h2o_req_t *req)
{
    const llg_conf_t *conf = app->conf;
    llg_strbuf_t b = {0};
    int degraded = 0;
    uint64_t now = llg_pool_now_ms();
    llg_strbuf_appends(&b, "\"providers\":[");
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        uint32_t total = 0, usable = 0;
        llg_pool_provider_keys(app->pool, app->view, (unsigned)i, &total, &usable, now);
        /* a provider that needs pool keys and has no usable one cannot serve */
        if (p->type != LLG_PROVIDER_ECHO && p->auth == LLG_AUTH_POOL && usable == 0)
            degraded = 1;
        llg_strbuf_appendf(&b, "%s{\"name\":", i ? "," : "");
        llg_strbuf_append_json_string(&b, p->name, strlen(p->name));
        /* tls: {verify: false} is shown where operators look */
        if (p->tls.set && !p->tls.verify)
            llg_strbuf_appends(&b, ",\"tls_verify\":false");
        llg_strbuf_appendf(&b, ",\"type\":\"%s\",\"auth\":\"%s\",\"keys\":{\"total\":%u,\"usable\":%u}}",
                           llg_provider_type_name(p->type),
                           p->auth == LLG_AUTH_POOL          ? "pool"
                           : p->auth == LLG_AUTH_PASSTHROUGH ? "passthrough"
                                                             : "none",
                           total, usable);
    }
    llg_strbuf_appends(&b, "]}");
    llg_strbuf_t out = {0};
    llg_strbuf_appendf(&out, "{\"status\":\"%s\",\"version\":\"%s\",\"draining\":%s,", degraded ? "degraded" : "ok", LLG_VERSION,
                       app->draining ? "true" : "false");
    /* cluster: (docs/cluster.md): "degraded" while Redis is unreachable; the
     * instance serves on its local key state then, so status is not changed */
    llg_cluster_state_t cs = llg_pool_cluster_state(app->pool);
    if (cs != LLG_CLUSTER_OFF)
        llg_strbuf_appendf(&out, "\"cluster\":\"%s\",", cs == LLG_CLUSTER_UP ? "up" : "degraded");
    /* providers whose upstream certificate is not checked (tls.verify: false) */
    const char *sep = "\"tls_verify_off\":[";
    for (size_t i = 0; i < conf->provider_count; i++) {
        if (!conf->providers[i].tls.set || conf->providers[i].tls.verify)
            continue;
        llg_strbuf_appends(&out, sep);
        llg_strbuf_append_json_string(&out, conf->providers[i].name, strlen(conf->providers[i].name));
        sep = ",";
    }
    if (sep[0] == ',')
        llg_strbuf_appends(&out, "],");
    llg_strbuf_append(&out, b.data, b.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    llg_respond_json(req, 200, out.data, out.len);
    llg_strbuf_free(&b);
    llg_strbuf_free(&out);
}

typedef int (*pool_writer_t)(const llg_app_t *, uint64_t, FILE *);

/* Renders a pool report into a malloc'ed text; on failure answers 500 and
 * returns NULL. */
static char *render_pool(llg_app_t *app, h2o_req_t *req, pool_writer_t write, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL || write(app, llg_pool_now_ms(), f) != 0) {
        if (f != NULL)
            fclose(f);
        free(text);
        llg_respond_error(req, 500, NULL, "internal_error", NULL, "The report could not be rendered.");
        return NULL;
    }
    fclose(f);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    return text;
}

/* Whether `secret` (may be NULL: never) equals the presented token, compared
 * in constant time over digests (the lengths leak nothing either). */
static int token_matches(const char *secret, h2o_iovec_t presented)
{
    if (secret == NULL || presented.base == NULL)
        return 0;
    unsigned char a[32], b[32];
    SHA256((const unsigned char *)secret, strlen(secret), a);
    SHA256((const unsigned char *)presented.base, presented.len, b);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

/* the pool's series, then the model groups' */
static int write_metrics(const llg_app_t *app, uint64_t now_ms, FILE *out)
{
    if (llg_pool_write_metrics(app->pool, app->view, now_ms, out) != 0)
        return -1;
    return llg_balance_write_metrics(app->pool, app->view, app->conf, now_ms, out);
}

/* /metrics: open unless metrics_token is set; then that token or the admin
 * token, as a Bearer token (or x-api-key), is needed: the series name access
 * tokens and count their usage. */
static void respond_metrics(llg_app_t *app, h2o_req_t *req)
{
    if (app->conf->metrics_token != NULL) {
        h2o_iovec_t presented = llg_auth_presented(req);
        if (!token_matches(app->conf->metrics_token, presented) && !token_matches(app->conf->admin_token, presented)) {
            llg_auth_reject(req, presented.base == NULL ? LLG_AUTH_MISSING : LLG_AUTH_INVALID);
            return;
        }
    }
    size_t len;
    char *text = render_pool(app, req, write_metrics, &len);
    if (text == NULL)
        return;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_send_inline(req, text, len);
    free(text);
}

/* /admin/usage: the day's and month's usage (docs/quotas.md) */
static int write_usage(const llg_app_t *app, uint64_t now_ms, FILE *out)
{
    (void)now_ms;
    return llg_pool_write_usage_json(app->pool, app->view, (int64_t)time(NULL), out);
}

/* /admin/keys: keys and tokens (docs/key-health.md) */
static int write_keys(const llg_app_t *app, uint64_t now_ms, FILE *out)
{
    return llg_pool_write_admin_json(app->pool, app->view, now_ms, out);
}

/* /admin/groups: the model groups' targets (docs/routing.md) */
static int write_groups(const llg_app_t *app, uint64_t now_ms, FILE *out)
{
    return llg_balance_write_admin_json(app->pool, app->view, app->conf, now_ms, out);
}

/* Paths under /admin/: 404 unless admin_token is set; then the Bearer token must match,
 * compared in constant time. */
static void respond_admin(llg_app_t *app, h2o_req_t *req)
{
    const char *admin = app->conf->admin_token;
    h2o_iovec_t path = req->path_normalized;
    if (admin == NULL) {
        llg_respond_error(req, 404, "invalid_request_error", "not_found", NULL, "Unknown request URL: %.*s.",
                          (int)(path.len > 256 ? 256 : path.len), path.base);
        return;
    }
    h2o_iovec_t presented = llg_auth_presented(req);
    if (!token_matches(admin, presented)) {
        llg_auth_reject(req, presented.base == NULL ? LLG_AUTH_MISSING : LLG_AUTH_INVALID);
        return;
    }
    static const struct {
        const char *path;
        pool_writer_t write;
    } pages[] = {{"/admin/keys", write_keys}, {"/admin/usage", write_usage}, {"/admin/groups", write_groups}};
    size_t pg = 0;
    while (pg < sizeof(pages) / sizeof(pages[0]) && !h2o_memis(path.base, path.len, pages[pg].path, strlen(pages[pg].path)))
        pg++;
    if (pg == sizeof(pages) / sizeof(pages[0])) {
        llg_respond_error(req, 404, "invalid_request_error", "not_found", NULL, "Unknown request URL: %.*s.",
                          (int)(path.len > 256 ? 256 : path.len), path.base);
        return;
    }
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        add_header(req, H2O_STRLIT("allow"), H2O_STRLIT("GET, OPTIONS"));
        llg_respond_error(req, 405, "invalid_request_error", "method_not_allowed", NULL, "Use GET on %s.", pages[pg].path);
        return;
    }
    size_t len;
    char *text = render_pool(app, req, pages[pg].write, &len);
    if (text == NULL)
        return;
    llg_respond_json(req, 200, text, len);
    free(text);
}

/* ---- dispatch ---------------------------------------------------------- */

void llg_too_large_message(const llg_conf_t *conf, char *buf, size_t size)
{
    snprintf(buf, size, "The request body is larger than the limit of %llu bytes (max_body_bytes).",
             (unsigned long long)conf->max_body_bytes);
}

uint64_t llg_request_head_bytes(const h2o_req_t *req)
{
    uint64_t n = (uint64_t)req->input.method.len + req->input.path.len + req->input.authority.len + req->upgrade.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += (uint64_t)req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return n;
}

enum {
    M_GET = 1,
    M_POST = 2,
};

typedef struct route {
    const char *path;
    int methods;
    const char *allow;
    void (*get)(llg_app_t *, h2o_req_t *);
    void (*post)(llg_app_t *, h2o_req_t *);
} route_t;

static const route_t routes[] = {
    {"/v1/chat/completions", M_POST, "POST, OPTIONS", NULL, llg_chat_handle},
    {"/chat/completions", M_POST, "POST, OPTIONS", NULL, llg_chat_handle},
    {"/", M_GET | M_POST, "GET, POST, OPTIONS", respond_info, llg_chat_handle},
    {"/health", M_GET, "GET, HEAD, OPTIONS", respond_health, NULL},
    {"/v1/models", M_GET, "GET, HEAD, OPTIONS", llg_models_handle, NULL},
    {"/models", M_GET, "GET, HEAD, OPTIONS", llg_models_handle, NULL},
    {"/v1/completions", M_POST, "POST, OPTIONS", NULL, llg_completions_handle},
    {"/v1/embeddings", M_POST, "POST, OPTIONS", NULL, llg_embeddings_handle},
    {"/v1/images/generations", M_POST, "POST, OPTIONS", NULL, llg_images_handle},
    {"/v1/messages", M_POST, "POST, OPTIONS", NULL, llg_messages_handle},
    {"/v1/messages/count_tokens", M_POST, "POST, OPTIONS", NULL, llg_count_tokens_handle},
    {"/v1/responses", M_POST, "POST, OPTIONS", NULL, llg_messages_handle},
    {"/api/chat", M_POST, "POST, OPTIONS", NULL, llg_messages_handle},
    {"/api/generate", M_POST, "POST, OPTIONS", NULL, llg_messages_handle},
    {"/api/tags", M_GET, "GET, HEAD, OPTIONS", llg_models_handle, NULL},
    {"/api/version", M_GET, "GET, HEAD, OPTIONS", llg_ollama_version_handle, NULL},
    {"/api/show", M_POST, "POST, OPTIONS", NULL, llg_ollama_show_handle},
    /* relayed to openai-type providers as /embeddings (the ingress reads and answers them) */
    {"/api/embed", M_POST, "POST, OPTIONS", NULL, llg_embeddings_handle},
    {"/api/embeddings", M_POST, "POST, OPTIONS", NULL, llg_embeddings_handle},
    {"/metrics", M_GET, "GET, HEAD, OPTIONS", respond_metrics, NULL},
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    llg_app_t *app = ((llg_handler_t *)self)->app;
    llg_reqlog(req);
    if (app->otel != NULL)
        llg_otel_request_start(app, req);
    h2o_iovec_t path = req->path_normalized;
    h2o_iovec_t method = req->method;

    /* First: a head over the limit is refused whatever the path and method.
     * h2o itself only refuses heads over H2O_MAX_REQLEN (417,792 bytes), with
     * a bare 400 on HTTP/1.1 and REFUSED_STREAM on HTTP/2; the limit is bounded
     * below that (LLG_CONF_MAX_HEADER_BYTES) so that these reach this check.
     * The request was read whole: the connection stays usable. */
    uint64_t head = llg_request_head_bytes(req);
    if (head > app->conf->max_header_bytes) {
        llg_respond_error(req, 431, "invalid_request_error", "request_header_fields_too_large", NULL,
                          "The request line and header fields (%llu bytes) are larger than the limit of %llu bytes "
                          "(max_header_bytes).",
                          (unsigned long long)head, (unsigned long long)app->conf->max_header_bytes);
        return 0;
    }
    if (h2o_memis(method.base, method.len, H2O_STRLIT("OPTIONS"))) {
        respond_preflight(app, req);
        return 0;
    }
    if (req->entity.len > app->conf->max_body_bytes) {
        char message[160];
        llg_too_large_message(app->conf, message, sizeof(message));
        llg_respond_error(req, 413, "invalid_request_error", "request_too_large", NULL, "%s", message);
        return 0;
    }
    if (path.len >= 7 && memcmp(path.base, "/admin/", 7) == 0) {
        respond_admin(app, req);
        return 0;
    }
    int is_get = h2o_memis(method.base, method.len, H2O_STRLIT("GET")) || h2o_memis(method.base, method.len, H2O_STRLIT("HEAD"));
    int is_post = h2o_memis(method.base, method.len, H2O_STRLIT("POST"));
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_t *r = &routes[i];
        if (!h2o_memis(path.base, path.len, r->path, strlen(r->path)))
            continue;
        if (is_get && (r->methods & M_GET)) {
            r->get(app, req);
        } else if (is_post && (r->methods & M_POST)) {
            r->post(app, req);
        } else {
            add_header(req, H2O_STRLIT("allow"), r->allow, strlen(r->allow));
            llg_respond_error(req, 405, "invalid_request_error", "method_not_allowed", NULL,
                              "Method %.*s is not allowed on %s; allowed: %s.", (int)(method.len > 16 ? 16 : method.len),
                              method.base, r->path, r->allow);
        }
        return 0;
    }
    llg_respond_error(req, 404, "invalid_request_error", "not_found", NULL, "Unknown request URL: %.*s %.*s.",
                      (int)(method.len > 16 ? 16 : method.len), method.base, (int)(path.len > 256 ? 256 : path.len), path.base);
    return 0;
}

/* ---- the response filter ---------------------------------------------- */

typedef struct replace_body {
    h2o_ostream_t super;
    h2o_iovec_t body;
} replace_body_t;

static void replace_body_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    replace_body_t *r = (replace_body_t *)self;
    /* h2o's own errors are sent whole by h2o_send_inline: one final send */
    if (h2o_send_state_is_in_progress(state))
        state = H2O_SEND_STATE_FINAL;
    h2o_ostream_send_next(&r->super, req, &r->body, r->body.len ? 1 : 0, state);
}

/* h2o answers some errors itself (413 for a body over max_body_bytes, 400 for
 * a malformed request) with a text/plain body: give those the OpenAI shape.
 * Not all of them pass here: on HTTP/1.1, a request head that is malformed,
 * has more than H2O_MAX_HEADERS (100) fields or exceeds H2O_MAX_REQLEN gets a
 * fixed "400 Bad Request" that lib/http1.c (send_bad_request) writes straight
 * to the socket, before any request or filter exists; it cannot be turned
 * into a 431 from here. max_header_bytes, below H2O_MAX_REQLEN, catches every
 * head that h2o does parse. */
static h2o_ostream_t **rewrite_h2o_error(llg_app_t *app, h2o_req_t *req, h2o_ostream_t **slot)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1 || !h2o_memis(req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len,
                              H2O_STRLIT("text/plain; charset=utf-8")))
        return slot;
    char message[256];
    const char *code = NULL, *type = NULL;
    const llg_refusal_t *refusal = llg_early_refusal_of(req);
    if (refusal != NULL) {
        /* an HTTP/2 stream refused at its head: h2o's 400 becomes the refusal */
        req->res.status = refusal->status;
        req->res.reason = llg_status_reason(refusal->status);
        snprintf(message, sizeof(message), "%s", refusal->message);
        code = refusal->code;
        type = refusal->type;
        if (refusal->www_authenticate)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
        if (refusal->retry_after > 0) {
            char *ra = h2o_mem_alloc_pool(&req->pool, 16);
            int n = snprintf(ra, 16, "%d", refusal->retry_after);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, (size_t)n);
        }
    } else if (req->res.status == 413) {
        /* h2o stopped reading a body of unknown length at the limit: let the
         * client finish sending before the close, so that it reads this */
        if (req->version < 0x200 && req->conn != NULL && req->conn->callbacks->get_socket(req->conn) != NULL)
            llg_linger_mark(req->conn->callbacks->get_socket(req->conn));
        llg_too_large_message(app->conf, message, sizeof(message));
        code = "request_too_large";
    } else {
        snprintf(message, sizeof(message), "%s: the request could not be read.",
                 req->res.reason != NULL ? req->res.reason : "Bad Request");
        code = "invalid_request";
    }
    llg_strbuf_t b = {0};
    llg_http_ingress(req)->render->error_body(&b, req->res.status, type != NULL ? type : llg_error_type_for_status(req->res.status),
                                              code, NULL, message);
    h2o_iovec_t body = h2o_strdup(&req->pool, b.data, b.len);
    llg_strbuf_free(&b);
    req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
    req->res.content_length = body.len;
    replace_body_t *r = (replace_body_t *)h2o_add_ostream(req, sizeof(*r), slot);
    r->super.do_send = replace_body_send;
    r->body = body;
    return &r->super.next;
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    llg_app_t *app = ((llg_filter_t *)self)->app;

    llg_request_id(app, req);
    llg_reqlog_t *rec = llg_reqlog_find(req);
    if (rec != NULL)
        rec->first_byte_us = llg_http_now_us();
    int vary;
    h2o_iovec_t origin = cors_origin(app->conf, req, &vary);
    if (origin.base != NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, origin.base, origin.len);
        add_header(req, H2O_STRLIT("access-control-expose-headers"), H2O_STRLIT("x-request-id"));
    }
    if (vary)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));

    if (req->res.status >= 400)
        slot = rewrite_h2o_error(app, req, slot);
    h2o_setup_next_ostream(req, slot);
}

/* ---- the logger: metrics, the access log, traces ---------------------- */

typedef struct llg_logger {
    h2o_logger_t super;
    llg_app_t *app;
} llg_logger_t;

static uint64_t tv_us(const struct timeval *tv)
{
    return (uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec;
}

/* The per-model series (pool/model_metrics.c): a routed request whose
 * model is known. */
static void count_model(llg_app_t *app, const llg_access_t *a, int provider)
{
    if (a->rec == NULL || provider < 0 || a->rec->model == NULL)
        return;
    const llg_reqlog_t *r = a->rec;
    bool finished = false; /* an attempt that ended: upstream_us holds its time */
    for (unsigned i = 0; i < r->attempts && i < LLG_REQLOG_MAX_ATTEMPTS && !finished; i++)
        finished = r->att[i].end_us != 0;
    llg_pool_count_model(app->pool, app->view,
                         &(llg_pool_model_obs_t){
                             .provider = provider,
                             .model = r->model,
                             .status = a->status,
                             .has_tokens = {r->have_usage, r->have_usage, r->have_cached, r->have_reasoning},
                             .tokens = {r->prompt_tokens, r->completion_tokens, r->cached_tokens, r->reasoning_tokens},
                             .has_ttft = r->attempts > 0 && a->status < 400 && a->ttfb_us > 0,
                             .ttft_us = a->ttfb_us,
                             .has_overhead = finished,
                             .overhead_us = a->duration_us > r->upstream_us ? a->duration_us - r->upstream_us : 0,
                         });
}

/* Runs once per finished request, whatever answered it (h2o's own errors too). */
static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    llg_app_t *app = ((llg_logger_t *)self)->app;
    llg_access_t a = {.rec = llg_reqlog_find(req), .now_us = llg_http_now_us(), .status = req->res.status};
    if (a.rec != NULL) {
        /* precise: h2o's own timestamps are cached once per loop turn */
        a.duration_us = a.now_us - a.rec->start_us;
        a.ttfb_us = a.rec->first_byte_us > a.rec->start_us ? a.rec->first_byte_us - a.rec->start_us : 0;
        if (a.rec->active || a.rec->client_gone) {
            /* the client left while the proxy was still at work: nginx's 499 */
            a.status = 499;
            if (a.rec->error_code == NULL)
                a.rec->error_code = "client_closed_request";
        }
    } else {
        uint64_t begin = tv_us(&req->timestamps.request_begin_at);
        uint64_t end = tv_us(&req->timestamps.response_end_at);
        a.duration_us = end > begin ? end - begin : 0;
        a.ttfb_us = a.duration_us;
    }
    int provider = a.rec != NULL ? a.rec->provider : -1;
    llg_pool_count_request(app->pool, app->view, provider, a.status, a.duration_us, a.ttfb_us);
    count_model(app, &a, provider);
    if (app->access_log != NULL)
        llg_access_log_write(app->access_log, app, req, &a);
    if (app->otel != NULL)
        llg_otel_request_end(app, req, &a);
}

void llg_app_register_handlers(llg_app_t *app)
{
    llg_bad_request_init(app);
    h2o_hostconf_t *host = h2o_config_register_host(&app->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    llg_handler_t *h = (llg_handler_t *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->app = app;
    /* the filter on "/" sees our responses; the one on the fallback path sees
     * the errors h2o sends before a request is routed */
    h2o_pathconf_t *paths[] = {path, &host->fallback_path};
    for (size_t i = 0; i < 2; i++) {
        llg_filter_t *f = (llg_filter_t *)h2o_create_filter(paths[i], sizeof(*f));
        f->super.on_setup_ostream = on_setup_ostream;
        f->app = app;
        llg_logger_t *l = (llg_logger_t *)h2o_create_logger(paths[i], sizeof(*l));
        l->super.log_access = log_access;
        l->app = app;
    }
}
