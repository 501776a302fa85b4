/*
 * server/proxy_request.c: the upstream request of an attempt (see
 * proxy_internal.h): its body (the client's bytes with what llmgate must set
 * spliced in, or the translated request of a poe or puter provider), its URL,
 * and its header lines, for curl's list or the h1 client's wire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/json_edit.h"
#include "providers/messages.h"
#include "providers/openai_form.h"
#include "server/app.h"
#include "server/proxy_internal.h"

static const char *const endpoint_paths[] = {"/chat/completions", "/completions", "/embeddings", "/images/generations"};

/* The model the upstream is asked for: the client's, or its name in the provider's model_map. */
static const char *model_for(const proxy_t *x, const llg_conf_provider_t *p)
{
    const char *upstream_model = x->model;
    for (size_t i = 0; i < p->model_map.count; i++)
        if (strcmp(p->model_map.items[i].key, x->model) == 0)
            upstream_model = p->model_map.items[i].value;
    return upstream_model;
}

/* The upstream body for provider `p`: the client's bytes, with only the
 * members llmgate must set spliced in. */
static int build_body(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *out)
{
    const llg_conf_t *conf = x->app->conf;
    llg_json_patch_t patches[24];
    size_t n = 0;
    llg_strbuf_t model_json = {0};
    char *opts_json = NULL;
    int rc = 0;

    const char *upstream_model = model_for(x, p);
    const cJSON *body_model = cJSON_GetObjectItemCaseSensitive(x->root, "model");
    if (!cJSON_IsString(body_model) || strcmp(body_model->valuestring, upstream_model) != 0) {
        llg_strbuf_append_json_string(&model_json, upstream_model, strlen(upstream_model));
        patches[n++] = (llg_json_patch_t){"model", model_json.data};
    }
    if (x->endpoint == LLG_ENDPOINT_CHAT || x->endpoint == LLG_ENDPOINT_COMPLETIONS) {
        for (size_t i = 0; i < conf->defaults.param_count && n < 20; i++)
            if (cJSON_GetObjectItemCaseSensitive(x->root, conf->defaults.params[i].key) == NULL)
                patches[n++] = (llg_json_patch_t){conf->defaults.params[i].key, conf->defaults.params[i].json};
    }
    char *messages_json = NULL;
    if (p->message_mode != LLG_MESSAGES_RAW && x->endpoint == LLG_ENDPOINT_CHAT) {
        cJSON *m = llg_messages_apply(p->message_mode, cJSON_GetObjectItemCaseSensitive(x->root, "messages"));
        if (m == NULL) {
            rc = -1;
            goto Exit;
        }
        messages_json = cJSON_PrintUnformatted(m);
        cJSON_Delete(m);
        if (messages_json != NULL)
            patches[n++] = (llg_json_patch_t){"messages", messages_json};
    }
    if (x->add_usage) {
        /* ask for usage to count tokens; the extra chunk is hidden from the client */
        cJSON *opts = cJSON_GetObjectItemCaseSensitive(x->root, "stream_options");
        cJSON *copy = cJSON_IsObject(opts) ? cJSON_Duplicate(opts, 1) : cJSON_CreateObject();
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "include_usage");
        cJSON_AddTrueToObject(copy, "include_usage");
        opts_json = cJSON_PrintUnformatted(copy);
        cJSON_Delete(copy);
        if (opts_json != NULL)
            patches[n++] = (llg_json_patch_t){"stream_options", opts_json};
    }
    if (n == 0) {
        *out = x->client_body;
    } else {
        llg_strbuf_reset(&x->body);
        rc = llg_json_patch_object(x->client_body.base, x->client_body.len, patches, n, &x->body);
        *out = h2o_iovec_init(x->body.data, x->body.len);
    }
Exit:
    llg_strbuf_free(&model_json);
    free(opts_json);
    free(messages_json);
    return rc;
}

/* The upstream request of a poe or puter provider, and the translator of its
 * answer. */
static int build_translated(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *out, char *url, size_t urlsize)
{
    int rc = -1;
    const cJSON *root = x->root;
    cJSON *copy = NULL;
    if (p->message_mode != LLG_MESSAGES_RAW) {
        cJSON *m = llg_messages_apply(p->message_mode, cJSON_GetObjectItemCaseSensitive(x->root, "messages"));
        if (m == NULL || (copy = cJSON_Duplicate(x->root, 1)) == NULL) {
            cJSON_Delete(m);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(copy, "messages", m);
        root = copy;
    }
    const char *upstream_model = model_for(x, p);

    llg_strbuf_t text = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        llg_message_text(m, &text);
        llg_strbuf_append(&text, " ", 1);
    }
    llg_xlate_params_t params = {
        .model = x->model,
        .stream = x->stream,
        .include_usage = x->client_usage,
        .prompt_tokens_estimate = llg_estimate_tokens(text.data != NULL ? text.data : "", text.len),
        .random = {llg_app_random(x->app), llg_app_random(x->app)},
    };
    llg_strbuf_free(&text);

    llg_strbuf_reset(&x->body);
    if (p->type == LLG_PROVIDER_POE) {
        const char *bot = llg_poe_bot_name(p, x->model);
        if (bot == NULL) {
            rc = -2;
            goto Exit;
        }
        snprintf(url, urlsize, "%s/bot/%s", p->base_url, bot);
        if (llg_poe_build_query(root, &x->body) != 0 || (x->poe = llg_poe_stream_new(&params)) == NULL)
            goto Exit;
    } else {
        snprintf(url, urlsize, "%s/drivers/call", p->base_url);
        if (llg_puter_build_call(root, upstream_model, NULL, x->stream, &x->body) != 0 ||
            (x->puter = llg_puter_stream_new(&params)) == NULL)
            goto Exit;
    }
    *out = h2o_iovec_init(x->body.data, x->body.len);
    rc = 0;
Exit:
    cJSON_Delete(copy);
    return rc;
}

int proxy_build_request(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *body, char *url, size_t urlsize)
{
    int built = p->type == LLG_PROVIDER_OPENAI ? build_body(x, p, body) : build_translated(x, p, body, url, urlsize);
    if (p->type == LLG_PROVIDER_OPENAI) {
        size_t blen = strlen(p->base_url), plen = strlen(endpoint_paths[x->endpoint]);
        if (blen + plen >= urlsize)
            built = -1;
        else
            memcpy(mempcpy(url, p->base_url, blen), endpoint_paths[x->endpoint], plen + 1);
    }
    return built;
}

/* Appends a line: a, then c, then its end (a NUL for curl's list, CRLF on
 * the wire for the h1 client). */
static void hbuf_line(llg_strbuf_t *b, const char *a, size_t alen, const char *c, size_t clen, bool crlf)
{
    if (alen > 0)
        llg_strbuf_append(b, a, alen);
    if (clen > 0)
        llg_strbuf_append(b, c, clen);
    if (crlf)
        llg_strbuf_append(b, "\r\n", 2);
    else
        llg_strbuf_append(b, "", 1);
}

/* The upstream request's header lines into x->hbuf (wiped after the
 * attempt: it holds the key). Returns the number of lines. */
size_t proxy_header_lines(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len, bool crlf)
{
    static const char bearer[] = "Authorization: Bearer ", rid[] = "X-Request-Id: ", ct[] = "Content-Type: application/json",
                      ua[] = "User-Agent: llmgate/" LLG_VERSION;
    const char *accept = x->stream ? "Accept: text/event-stream" : "Accept: application/json";
    llg_strbuf_t *b = &x->hbuf;
    b->len = 0;
    /* room for every line at once: the key is never left behind in a block
     * that realloc gave up (each line end is at most 2 bytes) */
    size_t need = sizeof(ct) + strlen(accept) + sizeof(ua) + sizeof(bearer) + key_len + sizeof(rid) + x->request_id.len + 5 * 2;
    for (size_t k = 0; k < p->headers.count; k++)
        need += strlen(p->headers.items[k].key) + 2 + strlen(p->headers.items[k].value) + 2;
    llg_strbuf_reserve(b, need);
    hbuf_line(b, ct, sizeof(ct) - 1, NULL, 0, crlf);
    hbuf_line(b, accept, strlen(accept), NULL, 0, crlf);
    hbuf_line(b, ua, sizeof(ua) - 1, NULL, 0, crlf);
    if (key != NULL)
        hbuf_line(b, bearer, sizeof(bearer) - 1, key, key_len, crlf);
    hbuf_line(b, rid, sizeof(rid) - 1, x->request_id.base, x->request_id.len, crlf);
    for (size_t k = 0; k < p->headers.count; k++) {
        const char *name = p->headers.items[k].key, *v = p->headers.items[k].value;
        llg_strbuf_append(b, name, strlen(name));
        hbuf_line(b, ": ", 2, v, strlen(v), crlf);
    }
    return 4 + (key != NULL) + p->headers.count;
}

/* The lines as a curl_slist whose nodes live in the proxy (no allocation per
 * line; curl only reads the list). */
struct curl_slist *proxy_build_headers(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len)
{
    size_t n = proxy_header_lines(x, p, key, key_len, false) + 1;
    struct curl_slist *nodes = x->hnodes;
    if (n > MAX_HNODES) {
        nodes = x->hnodes_heap = calloc(n, sizeof(*nodes));
        if (nodes == NULL)
            return NULL;
    }
    /* never "Expect: 100-continue": it costs a round trip */
    nodes[0].data = (char *)"Expect:";
    char *line = x->hbuf.data;
    for (size_t k = 1; k < n; k++) {
        nodes[k].data = line;
        line += strlen(line) + 1;
    }
    for (size_t k = 0; k < n; k++)
        nodes[k].next = k + 1 < n ? &nodes[k + 1] : NULL;
    return nodes;
}
