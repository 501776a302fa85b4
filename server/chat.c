/*
 * server/chat.c: the chat completions endpoint (see chat.h).
 */
#include "server/chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/echo.h"
#include "providers/ollama.h"
#include "providers/openai_form.h"
#include "providers/request_json.h"
#include "providers/strbuf.h"
#include "server/auth.h"
#include "server/echo.h"
#include "server/reqlog.h"
#include "server/http.h"
#include "server/token_limits.h"
#include "server/log.h"
#include "server/proxy.h"
#include "server/respond.h"
#include "server/route.h"

/* Appends the text of a message's content: a string, or the `text` of each
 * part of an array. */
static void content_text(const cJSON *content, llg_strbuf_t *out)
{
    if (cJSON_IsString(content)) {
        llg_strbuf_appends(out, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text))
            llg_strbuf_appends(out, text->valuestring);
    }
}

/* Whether the request offers a function tool named [name, name + len). */
static bool offers_tool(const cJSON *root, const char *name, size_t len)
{
    const cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(root, "tools"))
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (cJSON_IsString(n) && strlen(n->valuestring) == len && memcmp(n->valuestring, name, len) == 0)
            return true;
    }
    return false;
}

void llg_chat_respond_echo(llg_app_t *app, h2o_req_t *req, int provider, const cJSON *root, const char *model)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *last_user = NULL, *last = NULL, *m;
    llg_strbuf_t all = {0}, answer = {0};
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        content_text(content, &all);
        llg_strbuf_append(&all, " ", 1);
        if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "user") == 0)
            last_user = m;
        last = m;
    }
    /* after a tool result, its text; else the last user message's */
    const cJSON *source =
        last != NULL && strcmp(cJSON_GetObjectItemCaseSensitive(last, "role")->valuestring, "tool") == 0 ? last : last_user;
    if (source != NULL)
        content_text(cJSON_GetObjectItemCaseSensitive(source, "content"), &answer);

    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    llg_echo_params_t p = {
        .render = llg_http_ingress(req)->render,
        .model = model,
        .model_len = strlen(model),
        .text = answer.data != NULL ? answer.data : "",
        .text_len = answer.len,
        .stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")),
        .include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage")),
        .prompt_tokens = llg_estimate_tokens(all.data != NULL ? all.data : "", all.len),
        .delay = app->echo_delay[provider],
        .random = {llg_app_random(app), llg_app_random(app)},
        .request = req->entity,
    };
    /* `call NAME {json}` in the last user message, NAME one of the tools offered */
    const char *name, *args;
    size_t name_len, args_len;
    if (source == last_user && source != NULL && llg_echo_tool_call(p.text, p.text_len, &name, &name_len, &args, &args_len) &&
        offers_tool(root, name, name_len)) {
        p.tool_name = name;
        p.tool_name_len = name_len;
        p.text = args;
        p.text_len = args_len;
    }
    llg_echo_respond(req, &p);
    llg_strbuf_free(&all);
    llg_strbuf_free(&answer);
}

/* A JSON object with an optional string `model`: what /v1/completions,
 * /v1/embeddings and /v1/images/generations need before they are relayed. */
static cJSON *parse_generic(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    param[0] = '\0';
    if (!llg_json_body_bytes_ok(body, len, err, errsize)) {
        /* these endpoints say less about why than the chat endpoint */
        snprintf(err, errsize,
                 len == 0 ? "The request body is empty; expected a JSON object." : "The request body is not valid UTF-8 JSON.");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    const char *p = end;
    while (root != NULL && p < body + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (root == NULL || p != body + len) {
        snprintf(err, errsize, "We could not parse the JSON body of your request.");
        cJSON_Delete(root);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errsize, "The request body must be a JSON object, not %s.", llg_json_type_name(root));
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        snprintf(param, paramsize, "model");
        snprintf(err, errsize, "Invalid type for 'model': expected a string, but got %s.", llg_json_type_name(model));
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static void dispatch(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int provider, int group, int token_index,
                     llg_auth_result_t auth, llg_endpoint_t endpoint);

/* A request between its token's admission and its dispatch (the request's
 * pool owns it: a client gone while it waits frees the parsed body). */
typedef struct chat_admitted {
    llg_app_t *app;
    cJSON *root;
    const char *model; /* in root */
    int provider, group, token_index;
    llg_auth_result_t auth;
    llg_endpoint_t endpoint;
} chat_admitted_t;

static void on_admitted_dispose(void *p)
{
    cJSON_Delete(((chat_admitted_t *)p)->root);
}

static void on_admitted(h2o_req_t *req, void *data)
{
    chat_admitted_t *a = data;
    cJSON *root = a->root;
    a->root = NULL;
    dispatch(a->app, req, root, a->model, a->provider, a->group, a->token_index, a->auth, a->endpoint);
}

/* The record's view of the request (server/reqlog.h): the model asked for,
 * the operation and the sampling parameters given (trace spans). */
static void note_request(h2o_req_t *req, const cJSON *root, const char *model, llg_endpoint_t endpoint)
{
    static const char *const operations[] = {"chat", "text_completion", "embeddings", "generate_content", "count_tokens"};
    llg_reqlog_t *r = llg_reqlog(req);
    if (model != NULL)
        r->model = llg_reqlog_strdup(req, model, strlen(model), 256);
    r->operation = operations[endpoint];
    r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (!cJSON_IsNumber(v))
        v = cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens");
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15) {
        r->has_max_tokens = true;
        r->max_tokens = (int64_t)v->valuedouble;
    }
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(root, "temperature"))) {
        r->has_temperature = true;
        r->temperature = v->valuedouble;
    }
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(root, "top_p"))) {
        r->has_top_p = true;
        r->top_p = v->valuedouble;
    }
}

static void handle(llg_app_t *app, h2o_req_t *req, llg_endpoint_t endpoint)
{
    const llg_ingress_t *in = llg_http_ingress(req);
    const llg_conf_t *conf = app->conf;
    int token_index;
    llg_auth_result_t auth = llg_auth_check(app, req, &token_index);
    /* without a passthrough provider, a bad token is refused before the body is read */
    if (auth != LLG_AUTH_OK && !app->has_passthrough) {
        llg_auth_reject(req, auth);
        return;
    }

    char err[512], param[64];
    /* an endpoint of another protocol relayed as one of these (Ollama's
     * embeddings) reads its requests with its own ingress */
    cJSON *root = endpoint == LLG_ENDPOINT_CHAT || in->whole_answer != NULL
                      ? in->parse(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param))
                  : endpoint == LLG_ENDPOINT_COUNT_TOKENS
                      ? llg_anthropic_parse_count(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param))
                      : parse_generic(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param));
    if (root == NULL) {
        if (auth != LLG_AUTH_OK) {
            llg_auth_reject(req, auth);
        } else {
            if (token_index >= 0)
                llg_limits_headers(app, req, token_index);
            llg_respond_error(req, 400, "invalid_request_error", NULL, param[0] ? param : NULL, "%s", err);
        }
        return;
    }

    const cJSON *model_node = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(model_node) ? model_node->valuestring : conf->defaults.model;
    int provider = -1, group = -1;
    if (model != NULL && model[0] != '\0') {
        /* a model group first; the provider of its first target stands for it until a target is chosen */
        group = llg_route_group(conf, model);
        provider = group >= 0 ? (int)conf->groups[group].targets[0].provider : llg_route(conf, model, NULL);
    }
    if (provider >= 0)
        llg_http_set_provider(app, req, provider);
    note_request(req, root, model, endpoint);

    if (provider >= 0 && conf->providers[provider].auth == LLG_AUTH_PASSTHROUGH) {
        /* the client's bearer token is the upstream key: the access-token check does not apply */
        if (llg_auth_presented(req).base == NULL) {
            llg_auth_reject(req, LLG_AUTH_MISSING);
            goto Exit;
        }
        token_index = -1;
    } else if (auth != LLG_AUTH_OK) {
        llg_auth_reject(req, auth);
        goto Exit;
    }

    llg_reqlog(req)->token = token_index;
    /* refusals below answer a token that may be limited: its headers too */
    if (token_index >= 0 &&
        (model == NULL || model[0] == '\0' || provider < 0 || !llg_token_allows(&conf->tokens[token_index], model)))
        llg_limits_headers(app, req, token_index);
    if (model == NULL || model[0] == '\0') {
        llg_respond_error(req, 400, "invalid_request_error", NULL, "model", "You must provide a model parameter.");
        goto Exit;
    }
    if (provider < 0) {
        llg_respond_error(req, 404, "invalid_request_error", "model_not_found", "model",
                          "The model '%s' does not exist or no provider of this gateway serves it.", model);
        goto Exit;
    }
    if (token_index >= 0 && !llg_token_allows(&conf->tokens[token_index], model)) {
        llg_pool_token_reject(app->pool, app->view, token_index);
        llg_respond_error(req, 403, "permission_error", "model_not_allowed", "model",
                          "This API key is not allowed to use the model '%s'.", model);
        goto Exit;
    }
    if (token_index >= 0) {
        /* the token's quotas and rpm; dispatch() follows, maybe after a wait */
        chat_admitted_t *a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), on_admitted_dispose);
        *a = (chat_admitted_t){app, root, model, provider, group, token_index, auth, endpoint};
        root = NULL;
        llg_limits_admit(app, req, token_index, on_admitted, a);
        return;
    }
    dispatch(app, req, root, model, provider, group, token_index, auth, endpoint);
    return;
Exit:
    cJSON_Delete(root);
}

/* Hands a routed, admitted request to its provider; owns `root`. */
static void dispatch(llg_app_t *app, h2o_req_t *req, cJSON *root, const char *model, int provider, int group, int token_index,
                     llg_auth_result_t auth, llg_endpoint_t endpoint)
{
    const llg_ingress_t *in = llg_http_ingress(req);
    const llg_conf_t *conf = app->conf;
    const llg_conf_provider_t *p = &conf->providers[provider];
    if (group >= 0 && endpoint != LLG_ENDPOINT_COUNT_TOKENS && !(in->whole_answer != NULL && llg_ollama_embed_is_preload(root))) {
        /* the strategy chooses among the targets; each serves what it can (proxy.c) */
        llg_proxy_start_group(app, req, root, model, group, token_index, endpoint);
        return;
    }
    if (endpoint == LLG_ENDPOINT_COUNT_TOKENS && p->type != LLG_PROVIDER_ANTHROPIC) {
        /* only an anthropic upstream counts: elsewhere an estimate (docs/protocols.md) */
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"input_tokens\":%llu}", (unsigned long long)llg_anthropic_estimate_input(root));
        llg_respond_json(req, 200, body, (size_t)n);
        goto Exit;
    }
    switch (p->type) {
    case LLG_PROVIDER_ECHO:
        llg_http_set_provider(app, req, provider);
        if (endpoint != LLG_ENDPOINT_CHAT) {
            llg_respond_error(req, 400, "invalid_request_error", "unsupported_endpoint", "model",
                              "The model '%s' (provider '%s', type echo) only serves chat completions.", model, p->name);
            break;
        }
        llg_chat_respond_echo(app, req, provider, root, model);
        break;
    case LLG_PROVIDER_OPENAI:
        if (in->whole_answer != NULL && llg_ollama_embed_is_preload(root)) {
            /* Ollama's "load the model": nothing to embed, nothing to ask */
            llg_strbuf_t out = {0};
            llg_ollama_embed_preload(model, in == &llg_ingress_ollama_embeddings, &out);
            llg_respond_json(req, 200, out.data, out.len);
            llg_strbuf_free(&out);
            break;
        }
        llg_proxy_start(app, req, root, model, provider, token_index, auth == LLG_AUTH_OK, endpoint);
        root = NULL; /* the proxy owns it */
        break;
    case LLG_PROVIDER_POE:
    case LLG_PROVIDER_PUTER:
    case LLG_PROVIDER_ANTHROPIC:
        if (endpoint != LLG_ENDPOINT_CHAT && !(endpoint == LLG_ENDPOINT_COUNT_TOKENS && p->type == LLG_PROVIDER_ANTHROPIC)) {
            llg_http_set_provider(app, req, provider);
            llg_respond_error(req, 400, "invalid_request_error", "unsupported_endpoint", "model",
                              "The model '%s' (provider '%s', type %s) only serves chat completions.", model, p->name,
                              llg_provider_type_name(p->type));
            break;
        }
        llg_proxy_start(app, req, root, model, provider, token_index, auth == LLG_AUTH_OK, endpoint);
        root = NULL; /* the proxy owns it */
        break;
    }
Exit:
    cJSON_Delete(root);
}

void llg_chat_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_CHAT);
}

void llg_completions_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_COMPLETIONS);
}

void llg_embeddings_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_EMBEDDINGS);
}

void llg_images_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_IMAGES);
}

void llg_messages_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_CHAT);
}

void llg_count_tokens_handle(llg_app_t *app, h2o_req_t *req)
{
    handle(app, req, LLG_ENDPOINT_COUNT_TOKENS);
}
