/*
 * providers/egress.c: the table of upstream adapters (see egress.h): each
 * entry binds one upstream protocol's request builder and answer reader.
 */
#include "providers/egress.h"

#include <stdio.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/openai_stream.h"
#include "providers/poe.h"
#include "providers/puter.h"

/* ---- openai: for clients of another protocol --------------------------- */

static int openai_build(const llg_egress_request_t *rq, llg_strbuf_t *body, char *url, size_t urlsize)
{
    cJSON *copy = cJSON_Duplicate(rq->root, 1);
    if (copy == NULL)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "model");
    cJSON_AddStringToObject(copy, "model", rq->upstream_model);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "stream_options");
    if (rq->stream) {
        /* the usage chunk: the client's protocol reports usage at the end */
        cJSON *opts = cJSON_AddObjectToObject(copy, "stream_options");
        cJSON_AddTrueToObject(opts, "include_usage");
    }
    char *text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (text == NULL)
        return -1;
    llg_strbuf_appends(body, text);
    cJSON_free(text);
    int n = snprintf(url, urlsize, "%s/chat/completions", rq->provider->base_url);
    return n < 0 || (size_t)n >= urlsize ? -1 : 0;
}

static void *openai_open(const llg_xlate_params_t *p)
{
    return llg_openai_stream_new(p);
}
static void openai_close(void *r)
{
    llg_openai_stream_free(r);
}
static int openai_feed(void *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_openai_stream_feed(r, p, n, out, err);
}
static int openai_end(void *r, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_openai_stream_end(r, out, err);
}
static void openai_usage(const void *r, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_openai_stream_usage(r, prompt, completion, estimated);
}

/* ---- anthropic --------------------------------------------------------- */

/* {base_url}/v1/messages; a base_url that already ends in /v1 gets /messages */
int llg_anthropic_url(const char *base_url, const char *path, char *url, size_t urlsize)
{
    size_t n = strlen(base_url);
    bool has_v1 = n >= 3 && strcmp(base_url + n - 3, "/v1") == 0;
    int w = snprintf(url, urlsize, "%s%s%s", base_url, has_v1 ? "" : "/v1", path);
    return w < 0 || (size_t)w >= urlsize ? -1 : 0;
}

static int anthropic_build(const llg_egress_request_t *rq, llg_strbuf_t *body, char *url, size_t urlsize)
{
    if (llg_anthropic_url(rq->provider->base_url, "/messages", url, urlsize) != 0)
        return -1;
    return llg_anthropic_build(rq->root, rq->upstream_model, rq->stream, body);
}

static void *anthropic_open(const llg_xlate_params_t *p)
{
    return llg_anthropic_stream_new(p);
}
static void anthropic_close(void *r)
{
    llg_anthropic_stream_free(r);
}
static int anthropic_feed(void *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_anthropic_feed(r, p, n, out, err);
}
static int anthropic_end(void *r, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_anthropic_end(r, out, err);
}
static void anthropic_usage(const void *r, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_anthropic_usage(r, prompt, completion, estimated);
}

/* ---- poe --------------------------------------------------------------- */

static int poe_build(const llg_egress_request_t *rq, llg_strbuf_t *body, char *url, size_t urlsize)
{
    const char *bot = llg_poe_bot_name(rq->provider, rq->model);
    if (bot == NULL)
        return -2;
    int n = snprintf(url, urlsize, "%s/bot/%s", rq->provider->base_url, bot);
    if (n < 0 || (size_t)n >= urlsize)
        return -1;
    return llg_poe_build_query(rq->root, body);
}

static void *poe_open(const llg_xlate_params_t *p)
{
    return llg_poe_stream_new(p);
}
static void poe_close(void *r)
{
    llg_poe_stream_free(r);
}
static int poe_feed(void *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_poe_feed(r, p, n, out, err);
}
static int poe_end(void *r, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_poe_end(r, out, err);
}
static void poe_usage(const void *r, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_poe_usage(r, prompt, completion, estimated);
}

/* ---- puter ------------------------------------------------------------- */

static int puter_build(const llg_egress_request_t *rq, llg_strbuf_t *body, char *url, size_t urlsize)
{
    int n = snprintf(url, urlsize, "%s/drivers/call", rq->provider->base_url);
    if (n < 0 || (size_t)n >= urlsize)
        return -1;
    return llg_puter_build_call(rq->root, rq->upstream_model, NULL, rq->stream, body);
}

static void *puter_open(const llg_xlate_params_t *p)
{
    return llg_puter_stream_new(p);
}
static void puter_close(void *r)
{
    llg_puter_stream_free(r);
}
static int puter_feed(void *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_puter_feed(r, p, n, out, err);
}
static int puter_end(void *r, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_puter_end(r, out, err);
}
static void puter_usage(const void *r, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_puter_usage(r, prompt, completion, estimated);
}

static const llg_egress_t adapters[] = {
    [LLG_PROVIDER_OPENAI] = {"openai", openai_build, openai_open, openai_close, openai_feed, openai_end, openai_usage,
                             llg_openai_http_error},
    [LLG_PROVIDER_POE] = {"poe", poe_build, poe_open, poe_close, poe_feed, poe_end, poe_usage, llg_poe_http_error},
    [LLG_PROVIDER_PUTER] = {"puter", puter_build, puter_open, puter_close, puter_feed, puter_end, puter_usage,
                            llg_puter_http_error},
    [LLG_PROVIDER_ANTHROPIC] = {"anthropic", anthropic_build, anthropic_open, anthropic_close, anthropic_feed, anthropic_end,
                                anthropic_usage, llg_anthropic_http_error},
};

const llg_egress_t *llg_egress_for(llg_provider_type_t type)
{
    if ((size_t)type >= sizeof(adapters) / sizeof(adapters[0]) || adapters[type].name == NULL)
        return NULL;
    return &adapters[type];
}
