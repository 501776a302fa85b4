/*
 * server/proxy_request.c: the upstream request of an attempt (see
 * proxy_internal.h): its body (the client's bytes with what llmgate must set
 * spliced in; or, when the client's protocol is not the upstream's, the
 * request the upstream's adapter builds from the canonical request), its
 * URL, and its header lines, for curl's list or the h1 client's wire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/json_edit.h"
#include "providers/messages.h"
#include "providers/openai_form.h"
#include "server/app.h"
#include "server/otel.h"
#include "server/traceparent.h"
#include "server/proxy_internal.h"

static const char *const endpoint_paths[] = {"/chat/completions", "/completions", "/embeddings", "/images/generations", ""};

const char *proxy_upstream_model(const proxy_t *x, const llg_conf_provider_t *p)
{
    if (x->target_model != NULL)
        return x->target_model; /* a group's target names its model */
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

    const char *upstream_model = proxy_upstream_model(x, p);
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

/* A wire other than chat completions relayed as it came (an Anthropic
 * client to an anthropic upstream; a Responses client to an openai upstream
 * that serves /responses): the client's bytes, with only the model spliced in
 * when the provider's model_map renames it. */
static int build_wire_relay(proxy_t *x, const llg_conf_provider_t *p, proxy_relay_t relay, h2o_iovec_t *out, char *url,
                            size_t urlsize)
{
    if (relay == PROXY_RELAY_ANTHROPIC) {
        const char *path = x->endpoint == LLG_ENDPOINT_COUNT_TOKENS ? "/messages/count_tokens" : "/messages";
        if (llg_anthropic_url(p->base_url, path, url, urlsize) != 0)
            return -1;
    } else if ((size_t)snprintf(url, urlsize, "%s/responses", p->base_url) >= urlsize) {
        return -1;
    }
    x->relay = relay;
    const char *upstream_model = proxy_upstream_model(x, p);
    if (strcmp(upstream_model, x->model) == 0) {
        *out = x->client_body;
        return 0;
    }
    llg_strbuf_t model_json = {0};
    llg_strbuf_append_json_string(&model_json, upstream_model, strlen(upstream_model));
    llg_json_patch_t patch = {"model", model_json.data};
    llg_strbuf_reset(&x->body);
    int rc = llg_json_patch_object(x->client_body.base, x->client_body.len, &patch, 1, &x->body);
    llg_strbuf_free(&model_json);
    *out = h2o_iovec_init(x->body.data, x->body.len);
    return rc;
}

/* A translated upstream request (the client's protocol is not the
 * upstream's): built by the upstream's adapter from the canonical request,
 * with the reader of its answer. */
static int build_translated(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *out, char *url, size_t urlsize)
{
    int rc = -1;
    const llg_egress_t *eg = llg_egress_for(p->type);
    if (eg == NULL)
        return -1;
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

    llg_strbuf_t text = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        llg_message_text(m, &text);
        llg_strbuf_append(&text, " ", 1);
    }
    llg_xlate_params_t params = {
        .render = x->in->render,
        .model = x->model,
        .stream = x->stream,
        .include_usage = x->client_usage,
        .prompt_tokens_estimate = llg_estimate_tokens(text.data != NULL ? text.data : "", text.len),
        .random = {llg_app_random(x->app), llg_app_random(x->app)},
        .request = x->client_body.base,
        .request_len = x->client_body.len,
        .tap = x->rec != NULL ? proxy_xl_tap : NULL,
        .tap_ctx = x,
    };
    llg_strbuf_free(&text);

    llg_egress_request_t rq = {
        .root = root,
        .provider = p,
        .model = x->model,
        .upstream_model = proxy_upstream_model(x, p),
        .stream = x->stream,
    };
    llg_strbuf_reset(&x->body);
    rc = eg->build(&rq, &x->body, url, urlsize);
    if (rc == 0) {
        x->xl = eg;
        if ((x->xl_reader = eg->open(&params)) == NULL)
            rc = -1;
    }
    *out = h2o_iovec_init(x->body.data, x->body.len);
    cJSON_Delete(copy);
    return rc;
}

int proxy_build_request(proxy_t *x, const llg_conf_provider_t *p, h2o_iovec_t *body, char *url, size_t urlsize)
{
    x->xl = NULL; /* set again by a translated attempt */
    if (p->type == LLG_PROVIDER_ANTHROPIC && x->in->protocol == LLG_PROTOCOL_ANTHROPIC)
        return build_wire_relay(x, p, PROXY_RELAY_ANTHROPIC, body, url, urlsize);
    if (p->type == LLG_PROVIDER_OPENAI && p->responses_api && x->in->protocol == LLG_PROTOCOL_RESPONSES &&
        x->endpoint == LLG_ENDPOINT_CHAT)
        return build_wire_relay(x, p, PROXY_RELAY_RESPONSES, body, url, urlsize);
    if (p->type != LLG_PROVIDER_OPENAI || (x->in->protocol != LLG_PROTOCOL_OPENAI && x->endpoint == LLG_ENDPOINT_CHAT))
        return build_translated(x, p, body, url, urlsize);
    int built = build_body(x, p, body);
    size_t blen = strlen(p->base_url), plen = strlen(endpoint_paths[x->endpoint]);
    if (blen + plen >= urlsize)
        built = -1;
    else
        memcpy(mempcpy(url, p->base_url, blen), endpoint_paths[x->endpoint], plen + 1);
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

/* The upstream's W3C trace context: with otel on, the request's trace with
 * the attempt's span as parent (an attempt past the record's room gets an id
 * that no span reports) and the client's tracestate; with otel off, the
 * client's own traceparent and tracestate, when valid, as they came. */
static void trace_context(proxy_t *x, char buf[LLG_TRACEPARENT_LEN + 1], h2o_iovec_t *tp, h2o_iovec_t *ts)
{
    *tp = *ts = (h2o_iovec_t){NULL, 0};
    if (x->app->otel != NULL) {
        llg_reqlog_t *r = x->rec;
        if (r == NULL)
            return;
        uint8_t span[8];
        if (x->ratt != NULL)
            memcpy(span, x->ratt->span_id, 8);
        else
            llg_otel_span_id(x->app, span);
        uint8_t flags = r->sampled ? r->trace_flags | LLG_TRACE_FLAG_SAMPLED : r->trace_flags & ~LLG_TRACE_FLAG_SAMPLED;
        llg_traceparent_format(buf, r->trace_id, span, flags);
        *tp = h2o_iovec_init(buf, LLG_TRACEPARENT_LEN);
        *ts = r->tracestate;
        return;
    }
    if (x->req == NULL)
        return;
    const h2o_headers_t *h = &x->req->headers;
    llg_traceparent_t parsed;
    ssize_t i = h2o_find_header_by_str(h, H2O_STRLIT("traceparent"), -1);
    if (i == -1 || h2o_find_header_by_str(h, H2O_STRLIT("traceparent"), i) != -1 ||
        !llg_traceparent_parse(h->entries[i].value.base, h->entries[i].value.len, &parsed))
        return;
    *tp = h->entries[i].value;
    ssize_t j = h2o_find_header_by_str(h, H2O_STRLIT("tracestate"), -1);
    if (j != -1 && llg_tracestate_valid(h->entries[j].value.base, h->entries[j].value.len))
        *ts = h->entries[j].value;
}

/* The upstream request's header lines into x->hbuf (wiped after the
 * attempt: it holds the key). Returns the number of lines. */
size_t proxy_header_lines(proxy_t *x, const llg_conf_provider_t *p, const char *key, size_t key_len, bool crlf)
{
    static const char bearer[] = "Authorization: Bearer ",
                      xkey[] = "x-api-key: ", rid[] = "X-Request-Id: ", ct[] = "Content-Type: application/json",
                      ua[] = "User-Agent: llmgate/" LLG_VERSION;
    const char *accept = x->stream ? "Accept: text/event-stream" : "Accept: application/json";
    bool anthropic = p->type == LLG_PROVIDER_ANTHROPIC;
    /* Anthropic's own headers: the client's version and betas when it sent them */
    h2o_iovec_t version = h2o_iovec_init(H2O_STRLIT(LLG_ANTHROPIC_VERSION)), beta = {NULL, 0};
    if (anthropic && x->in->protocol == LLG_PROTOCOL_ANTHROPIC && x->req != NULL) {
        ssize_t i = h2o_find_header_by_str(&x->req->headers, H2O_STRLIT("anthropic-version"), -1);
        if (i != -1)
            version = x->req->headers.entries[i].value;
        if ((i = h2o_find_header_by_str(&x->req->headers, H2O_STRLIT("anthropic-beta"), -1)) != -1)
            beta = x->req->headers.entries[i].value;
    }
    char tpbuf[LLG_TRACEPARENT_LEN + 1];
    h2o_iovec_t tp, ts;
    trace_context(x, tpbuf, &tp, &ts);
    llg_strbuf_t *b = &x->hbuf;
    b->len = 0;
    /* room for every line at once: the key is never left behind in a block
     * that realloc gave up (each line end is at most 2 bytes) */
    size_t need = sizeof(ct) + strlen(accept) + sizeof(ua) + sizeof(bearer) + key_len + sizeof(rid) + x->request_id.len + 5 * 2 +
                  (anthropic ? 40 + version.len + beta.len : 0);
    need += 13 + tp.len + 2 + 12 + ts.len + 2;
    for (size_t k = 0; k < p->headers.count; k++)
        need += strlen(p->headers.items[k].key) + 2 + strlen(p->headers.items[k].value) + 2;
    llg_strbuf_reserve(b, need);
    hbuf_line(b, ct, sizeof(ct) - 1, NULL, 0, crlf);
    hbuf_line(b, accept, strlen(accept), NULL, 0, crlf);
    hbuf_line(b, ua, sizeof(ua) - 1, NULL, 0, crlf);
    size_t lines = 4 + (key != NULL) + p->headers.count;
    if (key != NULL && anthropic)
        hbuf_line(b, xkey, sizeof(xkey) - 1, key, key_len, crlf);
    else if (key != NULL)
        hbuf_line(b, bearer, sizeof(bearer) - 1, key, key_len, crlf);
    hbuf_line(b, rid, sizeof(rid) - 1, x->request_id.base, x->request_id.len, crlf);
    if (anthropic) {
        hbuf_line(b, "anthropic-version: ", 19, version.base, version.len, crlf);
        lines++;
        if (beta.base != NULL) {
            hbuf_line(b, "anthropic-beta: ", 16, beta.base, beta.len, crlf);
            lines++;
        }
    }
    if (tp.base != NULL) {
        hbuf_line(b, "traceparent: ", 13, tp.base, tp.len, crlf);
        lines++;
    }
    if (ts.base != NULL) {
        hbuf_line(b, "tracestate: ", 12, ts.base, ts.len, crlf);
        lines++;
    }
    for (size_t k = 0; k < p->headers.count; k++) {
        const char *name = p->headers.items[k].key, *v = p->headers.items[k].value;
        llg_strbuf_append(b, name, strlen(name));
        hbuf_line(b, ": ", 2, v, strlen(v), crlf);
    }
    return lines;
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
