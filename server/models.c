/*
 * server/models.c: the model list endpoint and its per-worker cache (see
 * models.h).
 */
#include "server/models.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/anthropic.h"
#include "providers/models.h"
#include "providers/ollama.h"
#include "server/auth.h"
#include "server/curl_loop.h"
#include "server/log.h"
#include "server/respond.h"
#include "server/route.h"

#define MODELS_BODY_MAX (8 * 1024 * 1024)

typedef struct cache {
    llg_models_t *owner;
    int provider;
    llg_strbuf_t items;  /* normalised items, one per line */
    uint64_t fetched_ms; /* last attempt that ended; 0: never */
    bool fetching;
    CURL *easy;
    struct curl_slist *headers;
    llg_strbuf_t body;
    bool has_pick;
    llg_pool_pick_t pick;
} cache_t;

typedef struct waiter {
    llg_models_t *owner;
    h2o_req_t *req;
    int token;
    struct waiter *next, **prev;
    h2o_timeout_entry_t timeout;
} waiter_t;

struct llg_models {
    llg_app_t *app;
    cache_t *caches;
    waiter_t *waiters;
    h2o_timeout_t wait_timeout;
};

llg_models_t *llg_models_create(llg_app_t *app)
{
    llg_models_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    m->app = app;
    m->caches = calloc(app->conf->provider_count ? app->conf->provider_count : 1, sizeof(*m->caches));
    if (m->caches == NULL)
        abort();
    for (size_t i = 0; i < app->conf->provider_count; i++) {
        m->caches[i].owner = m;
        m->caches[i].provider = (int)i;
    }
    h2o_timeout_init(app->ctx.loop, &m->wait_timeout, LLG_MODELS_WAIT_MS);
    return m;
}

/* Whether the provider's list comes from its upstream. */
static bool from_upstream(const llg_conf_provider_t *p)
{
    if (p->list_models_set)
        return false;
    /* Puter's model list needs no key */
    if (p->type == LLG_PROVIDER_PUTER)
        return true;
    return (p->type == LLG_PROVIDER_OPENAI || p->type == LLG_PROVIDER_ANTHROPIC) && p->auth != LLG_AUTH_PASSTHROUGH &&
           (p->auth == LLG_AUTH_NONE || p->keys.count > 0);
}

/* ---- the response ------------------------------------------------------ */

/* FNV-1a, for the set of ids already listed */
static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

typedef struct idset {
    uint64_t *slots;
    size_t cap, count;
} idset_t;

/* Returns 1 when the id was new. A collision of 64-bit hashes would hide one
 * model from the list; nothing else depends on it. */
static int idset_add(idset_t *s, uint64_t h)
{
    if (h == 0)
        h = 1;
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        uint64_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL)
            abort();
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i] == 0)
                continue;
            size_t j = s->slots[i] & (cap - 1);
            while (slots[j] != 0)
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = h & (s->cap - 1);
    while (s->slots[j] != 0) {
        if (s->slots[j] == h)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->count++;
    return 1;
}

/* Appends the items of `lines` (one JSON object per line) that are new and
 * that the token may use. */
static void add_items(llg_strbuf_t *out, idset_t *seen, const llg_strbuf_t *lines, const llg_conf_token_t *token)
{
    size_t off = 0;
    while (off < lines->len) {
        const char *line = lines->data + off;
        const char *nl = memchr(line, '\n', lines->len - off);
        size_t len = nl != NULL ? (size_t)(nl - line) : lines->len - off;
        off += len + 1;
        /* every line starts with {"id":"<escaped id>" */
        const char *id = line + 7;
        const char *end = id;
        while (end < line + len && *end != '"') {
            if (*end == '\\')
                end++;
            end++;
        }
        if (token != NULL && token->models.count > 0) {
            char name[512];
            size_t n = (size_t)(end - id) < sizeof(name) - 1 ? (size_t)(end - id) : sizeof(name) - 1;
            memcpy(name, id, n);
            name[n] = '\0';
            if (!llg_token_allows(token, name))
                continue;
        }
        if (!idset_add(seen, hash_id(id, (size_t)(end - id))))
            continue;
        if (out->data[out->len - 1] != '[')
            llg_strbuf_append(out, ",", 1);
        llg_strbuf_append(out, line, len);
    }
}

static void respond_list(llg_models_t *m, h2o_req_t *req, int token)
{
    const llg_conf_t *conf = m->app->conf;
    const llg_conf_token_t *tok = token >= 0 ? &conf->tokens[token] : NULL;
    llg_strbuf_t out = {0}, lines = {0};
    idset_t seen = {0};
    llg_strbuf_appends(&out, "{\"object\":\"list\",\"data\":[");
    /* model groups' names first (those that are no glob): they are served first */
    llg_strbuf_reset(&lines);
    for (size_t i = 0; i < conf->group_count; i++)
        if (strpbrk(conf->groups[i].name, "*?[") == NULL)
            llg_models_item(&lines, conf->groups[i].name, 0, "llmgate");
    add_items(&out, &seen, &lines, tok);
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        llg_strbuf_reset(&lines);
        if (p->list_models_set || p->type == LLG_PROVIDER_ECHO) {
            const llg_conf_strv_t *ids = p->list_models_set ? &p->list_models : &p->models;
            for (size_t j = 0; j < ids->count; j++)
                if (strpbrk(ids->items[j], "*?[") == NULL)
                    llg_models_item(&lines, ids->items[j], 0, p->name);
            add_items(&out, &seen, &lines, tok);
        } else {
            add_items(&out, &seen, &m->caches[i].items, tok);
        }
    }
    llg_strbuf_appends(&out, "]}");
    if (h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/api/tags"))) {
        /* Ollama's client asks here, for the same models in its shape */
        llg_strbuf_t tags = {0};
        if (llg_ollama_tags(out.data, out.len, &tags) == 0) {
            llg_strbuf_free(&out);
            out = tags;
        } else {
            llg_strbuf_free(&tags);
        }
    }
    llg_respond_json(req, 200, out.data, out.len);
    llg_strbuf_free(&out);
    llg_strbuf_free(&lines);
    free(seen.slots);
}

/* ---- waiting for the first fetch --------------------------------------- */

static void waiter_unlink(waiter_t *w)
{
    if (w->prev == NULL)
        return;
    *w->prev = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = NULL;
    h2o_timeout_unlink(&w->timeout);
}

static void waiter_answer(waiter_t *w)
{
    waiter_unlink(w);
    respond_list(w->owner, w->req, w->token);
}

static void on_waiter_dispose(void *p)
{
    /* the client left: forget it */
    waiter_unlink(p);
}

static void on_waiter_timeout(h2o_timeout_entry_t *entry)
{
    waiter_t *w = H2O_STRUCT_FROM_MEMBER(waiter_t, timeout, entry);
    llg_models_t *m = w->owner;
    /* an upstream that did not answer in time has had its chance: later
     * listings do not wait for it again */
    uint64_t now = llg_pool_now_ms();
    for (size_t i = 0; i < m->app->conf->provider_count; i++)
        if (m->caches[i].fetching && m->caches[i].fetched_ms == 0)
            m->caches[i].fetched_ms = now;
    waiter_answer(w);
}

static bool first_fetch_pending(llg_models_t *m)
{
    for (size_t i = 0; i < m->app->conf->provider_count; i++)
        if (m->caches[i].fetching && m->caches[i].fetched_ms == 0)
            return true;
    return false;
}

static void answer_waiters(llg_models_t *m)
{
    if (first_fetch_pending(m))
        return;
    while (m->waiters != NULL)
        waiter_answer(m->waiters);
}

/* ---- fetching ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    cache_t *c = ud;
    size_t n = size * nmemb;
    if (c->body.len + n > MODELS_BODY_MAX)
        return 0;
    llg_strbuf_append(&c->body, p, n);
    return n;
}

static void on_fetched(CURL *easy, CURLcode result, void *data)
{
    cache_t *c = data;
    llg_models_t *m = c->owner;
    const llg_conf_provider_t *p = &m->app->conf->providers[c->provider];
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    curl_slist_free_all(c->headers);
    c->easy = NULL;
    c->headers = NULL;
    c->fetching = false;
    c->fetched_ms = llg_pool_now_ms();

    llg_outcome_t outcome = result != CURLE_OK ? LLG_OUTCOME_NETWORK : llg_pool_classify((int)status, NULL);
    /* a TLS failure is the upstream's or the config's, not the key's: not reported */
    bool tls = llg_curl_tls_failure(result, llg_curl_error(m->app->curl)) != LLG_TLS_NONE;
    if (result == CURLE_OK && status >= 200 && status < 300) {
        llg_strbuf_t items = {0};
        int n = llg_models_normalize(c->body.data != NULL ? c->body.data : "", c->body.len, p->name, &items);
        if (n >= 0) {
            llg_strbuf_free(&c->items);
            c->items = items;
        } else {
            llg_strbuf_free(&items);
            llg_warn("provider %s: the model list is not in a known shape; keeping the last one", p->name);
        }
    } else if (tls) {
        const char *why = llg_curl_error(m->app->curl);
        llg_warn("provider %s: TLS failure fetching the model list (%s); the key is not blamed; keeping the last one", p->name,
                 why[0] != '\0' ? why : curl_easy_strerror(result));
    } else {
        llg_warn("provider %s: cannot fetch the model list (%s); keeping the last one", p->name,
                 result != CURLE_OK ? curl_easy_strerror(result) : "HTTP error");
    }
    if (c->has_pick) {
        if (!tls)
            llg_pool_report(m->app->pool, &c->pick, outcome, (int)status, NULL, llg_pool_now_ms(), (int64_t)time(NULL));
        llg_pool_release(m->app->pool, &c->pick);
        c->has_pick = false;
    }
    llg_strbuf_free(&c->body);
    answer_waiters(m);
}

static void start_fetch(llg_models_t *m, cache_t *c)
{
    llg_app_t *app = m->app;
    const llg_conf_provider_t *p = &app->conf->providers[c->provider];
    const char *key = NULL;
    if (p->auth == LLG_AUTH_POOL && p->type != LLG_PROVIDER_PUTER) {
        if (llg_pool_pick(app->pool, app->view, (unsigned)c->provider, llg_pool_now_ms(), &c->pick) != 0) {
            c->fetched_ms = llg_pool_now_ms(); /* every key is cooling: try again after the TTL */
            return;
        }
        c->has_pick = true;
        key = p->keys.items[c->pick.key];
    }
    CURL *easy = llg_curl_easy_get(app->curl); /* with the defaults every upstream transfer has */
    if (easy == NULL)
        return;
    char url[2048];
    if (p->type == LLG_PROVIDER_ANTHROPIC)
        llg_anthropic_url(p->base_url, "/models", url, sizeof(url));
    else
        snprintf(url, sizeof(url), "%s%s", p->base_url, p->type == LLG_PROVIDER_PUTER ? "/puterai/chat/models" : "/models");
    c->headers = curl_slist_append(NULL, "Accept: application/json");
    if (p->type == LLG_PROVIDER_ANTHROPIC)
        c->headers = curl_slist_append(c->headers, "anthropic-version: " LLG_ANTHROPIC_VERSION);
    if (key != NULL) {
        size_t n = strlen(key) + 32;
        char *line = malloc(n);
        if (line != NULL) {
            /* Anthropic takes its key in x-api-key */
            snprintf(line, n, p->type == LLG_PROVIDER_ANTHROPIC ? "x-api-key: %s" : "Authorization: Bearer %s", key);
            c->headers = curl_slist_append(c->headers, line);
            memset(line, 0, n);
            free(line);
        }
    }
    for (size_t i = 0; i < p->headers.count; i++) {
        char line[2048];
        snprintf(line, sizeof(line), "%s: %s", p->headers.items[i].key, p->headers.items[i].value);
        c->headers = curl_slist_append(c->headers, line);
    }
    char tls_url[2048]; /* the URL with tls.server_name for its host */
    curl_easy_setopt(easy, CURLOPT_URL, llg_curl_tls_setup(app->curl, easy, c->provider, url, tls_url, sizeof(tls_url)));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)LLG_MODELS_WAIT_MS * 2);
    if (app->conf->timeouts.connect_ms > 0)
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)app->conf->timeouts.connect_ms);
    c->easy = easy;
    c->fetching = true;
    if (llg_curl_add(app->curl, easy, NULL, on_fetched, c) != 0) {
        on_fetched(easy, CURLE_FAILED_INIT, c);
        return;
    }
}

void llg_models_handle(llg_app_t *app, h2o_req_t *req)
{
    llg_models_t *m = app->models;
    int token = -1;
    llg_auth_result_t auth = llg_auth_check(app, req, &token);
    if (auth != LLG_AUTH_OK && !(app->has_passthrough && llg_auth_presented(req).base != NULL)) {
        llg_auth_reject(req, auth);
        return;
    }
    uint64_t now = llg_pool_now_ms();
    for (size_t i = 0; i < app->conf->provider_count; i++) {
        cache_t *c = &m->caches[i];
        if (!from_upstream(&app->conf->providers[i]) || c->fetching)
            continue;
        if (c->fetched_ms == 0 || now - c->fetched_ms >= LLG_MODELS_TTL_MS)
            start_fetch(m, c);
    }
    if (!first_fetch_pending(m)) {
        respond_list(m, req, token);
        return;
    }
    waiter_t *w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), on_waiter_dispose);
    memset(w, 0, sizeof(*w));
    w->owner = m;
    w->req = req;
    w->token = token;
    w->next = m->waiters;
    if (w->next != NULL)
        w->next->prev = &w->next;
    w->prev = &m->waiters;
    m->waiters = w;
    w->timeout.cb = on_waiter_timeout;
    h2o_timeout_link(app->ctx.loop, &m->wait_timeout, &w->timeout);
}
