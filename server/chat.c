/*
 * server/chat.c: the chat completions endpoint (see chat.h).
 */
#include "server/chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/echo.h"
#include "providers/openai_form.h"
#include "providers/strbuf.h"
#include "server/auth.h"
#include "server/echo.h"
#include "server/http.h"
#include "server/log.h"
#include "server/proxy.h"
#include "server/respond.h"
#include "server/route.h"

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

/* 1 when a JSON string escape \u0000 occurs (a backslash preceded by an even
 * number of backslashes, then u0000), or a \u not followed by four hex digits:
 * cJSON reads "\uZZZZ" as U+0000 too (found by tests/fuzz/fuzz_json_edit: a
 * key "model\uZZZZjunk" read as "model"), where any other parser refuses it. */
static int has_escaped_nul(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while ((p = memmem(p, (size_t)(end - p), "\\u", 2)) != NULL) {
        size_t run = 0;
        while (p - run > body && p[-(ptrdiff_t)run - 1] == '\\')
            run++;
        if (run % 2 == 0) {
            if (end - p < 6 || memcmp(p + 2, "0000", 4) == 0)
                return 1;
            for (int i = 2; i < 6; i++)
                if (strchr("0123456789abcdefABCDEF", p[i]) == NULL || p[i] == '\0')
                    return 1;
        }
        p += 2;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A top-level key that appears twice, or NULL. Sorted, so that a body with
 * many keys costs n log n, not n squared. */
static const char *duplicate_key(const cJSON *root)
{
    size_t n = 0;
    for (const cJSON *a = root->child; a != NULL; a = a->next)
        n++;
    if (n < 2)
        return NULL;
    const char **names = malloc(n * sizeof(*names));
    if (names == NULL)
        return NULL;
    size_t i = 0;
    for (const cJSON *a = root->child; a != NULL; a = a->next)
        names[i++] = a->string;
    qsort(names, n, sizeof(*names), cmp_names);
    const char *dup = NULL;
    for (i = 1; i < n && dup == NULL; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            dup = names[i];
    free(names);
    return dup;
}

/* Copies the longest prefix of `s` (valid UTF-8) that fits in size - 1 bytes
 * and ends on a whole character: a key is echoed in the JSON error body, and a
 * cut inside a character would make that body invalid UTF-8. */
static void copy_utf8_prefix(char *dst, size_t size, const char *s)
{
    size_t n = 0, len = strlen(s);
    while (n < len) {
        size_t q = llg_utf8_seq(s + n, len - n);
        if (q == 0 || n + q >= size)
            break;
        n += q;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The offset of the first control byte JSON forbids (RFC 8259: none inside a
 * string, only tab, LF and CR between tokens), or len. cJSON takes any byte
 * up to 0x20 for whitespace and copies raw controls into strings, while an
 * upstream parser refuses both, so they are refused here. */
static size_t bad_control_byte(const char *body, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte is checked by cJSON */
            else if (c == '"')
                in_string = 0;
            else if (c < 0x20)
                return i;
        } else if (c == '"') {
            in_string = 1;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return i;
        }
    }
    return len;
}

/* 1 when an optional sampling parameter is neither absent, JSON null nor of
 * its type; integer: a whole number of at least 1 (max_tokens, n). */
static int bad_number(const cJSON *v, int integer)
{
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return 1;
    double d = v->valuedouble;
    return integer && (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(long long)d);
}

/* The byte-level checks every JSON body passes before cJSON reads it, for the
 * ways cJSON would read it differently from an upstream parser. 1 when the
 * body passes; else 0, with the reason in err. */
static int body_bytes_ok(const char *body, size_t len, char *err, size_t errsize)
{
    if (len == 0) {
        snprintf(err, errsize, "The request body is empty; expected a JSON object.");
        return 0;
    }
    if (!llg_utf8_valid(body, len)) {
        snprintf(err, errsize, "The request body is not valid UTF-8.");
        return 0;
    }
    /* cJSON skips a byte order mark, but the body goes upstream as sent */
    if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
        snprintf(err, errsize, "The request body starts with a UTF-8 byte order mark; send the JSON without it.");
        return 0;
    }
    /* cJSON ends strings at a NUL, raw or escaped; refuse it rather than read
     * a different string than the upstream would */
    if (memchr(body, '\0', len) != NULL || has_escaped_nul(body, len)) {
        snprintf(err, errsize,
                 "The request body contains an escaped NUL character (\\u0000) or an invalid \\u escape, which is not "
                 "supported.");
        return 0;
    }
    size_t ctl = bad_control_byte(body, len);
    if (ctl < len) {
        snprintf(err, errsize, "We could not parse the JSON body of your request (unescaped control character 0x%02x at byte %zu).",
                 (unsigned)(unsigned char)body[ctl], ctl);
        return 0;
    }
    return 1;
}

cJSON *llg_chat_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    param[0] = '\0';
    if (!body_bytes_ok(body, len, err, errsize))
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(err, errsize, "We could not parse the JSON body of your request (error near byte %zu).", at);
        return NULL;
    }
    /* only whitespace may follow the value */
    const char *p = end;
    while (p < body + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p != body + len) {
        snprintf(err, errsize, "We could not parse the JSON body of your request (unexpected data at byte %zu).",
                 (size_t)(p - body));
        goto Error;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errsize, "The request body must be a JSON object, not %s.", json_type_name(root));
        goto Error;
    }
    /* the body is forwarded as sent: a duplicate key could be read one way here
     * and another way upstream, so it is refused */
    const char *dup = duplicate_key(root);
    if (dup != NULL) {
        char shown[65];
        copy_utf8_prefix(param, paramsize, dup);
        copy_utf8_prefix(shown, sizeof(shown), dup);
        snprintf(err, errsize, "Duplicate key '%s' in the request body.", shown);
        goto Error;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        snprintf(param, paramsize, "model");
        snprintf(err, errsize, "Invalid type for 'model': expected a string, but got %s.", json_type_name(model));
        goto Error;
    }
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (messages == NULL) {
        snprintf(param, paramsize, "messages");
        snprintf(err, errsize, "Missing required parameter: 'messages'.");
        goto Error;
    }
    if (!cJSON_IsArray(messages)) {
        snprintf(param, paramsize, "messages");
        snprintf(err, errsize, "Invalid type for 'messages': expected an array, but got %s.", json_type_name(messages));
        goto Error;
    }
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (!cJSON_IsObject(m)) {
            snprintf(param, paramsize, "messages[%d]", i);
            snprintf(err, errsize, "Invalid type for 'messages[%d]': expected an object, but got %s.", i, json_type_name(m));
            goto Error;
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role)) {
            snprintf(param, paramsize, "messages[%d].role", i);
            snprintf(err, errsize,
                     role == NULL ? "Missing required parameter: 'messages[%d].role'."
                                  : "Invalid type for 'messages[%d].role': expected a string.",
                     i);
            goto Error;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content != NULL && !cJSON_IsString(content) && !cJSON_IsArray(content) && !cJSON_IsNull(content)) {
            snprintf(param, paramsize, "messages[%d].content", i);
            snprintf(err, errsize, "Invalid type for 'messages[%d].content': expected a string or an array, but got %s.", i,
                     json_type_name(content));
            goto Error;
        }
        i++;
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        snprintf(param, paramsize, "stream");
        snprintf(err, errsize, "Invalid type for 'stream': expected a boolean, but got %s.", json_type_name(stream));
        goto Error;
    }
    /* sampling parameters: a wrong type is refused here rather than dropped by
     * a translating provider or refused by only some upstreams */
    static const struct {
        const char *name;
        int integer;
    } numeric[] = {
        {"temperature", 0}, {"top_p", 0}, {"presence_penalty", 0}, {"frequency_penalty", 0}, {"max_completion_tokens", 1},
        {"max_tokens", 1},  {"n", 1},
    };
    for (size_t k = 0; k < sizeof(numeric) / sizeof(numeric[0]); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, numeric[k].name);
        if (bad_number(v, numeric[k].integer)) {
            snprintf(param, paramsize, "%s", numeric[k].name);
            if (cJSON_IsNumber(v))
                snprintf(err, errsize, "Invalid value for '%s': expected an integer of at least 1, but got %.17g.", numeric[k].name,
                         v->valuedouble);
            else
                snprintf(err, errsize, "Invalid type for '%s': expected %s, but got %s.", numeric[k].name,
                         numeric[k].integer ? "an integer" : "a number", json_type_name(v));
            goto Error;
        }
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop != NULL && !cJSON_IsNull(stop) && !cJSON_IsString(stop)) {
        int ok = cJSON_IsArray(stop);
        const cJSON *s;
        cJSON_ArrayForEach(s, stop) ok = ok && cJSON_IsString(s);
        if (!ok) {
            snprintf(param, paramsize, "stop");
            snprintf(err, errsize, "Invalid type for 'stop': expected a string or an array of strings, but got %s.",
                     cJSON_IsArray(stop) ? "an array with a non-string" : json_type_name(stop));
            goto Error;
        }
    }
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (opts != NULL && !cJSON_IsNull(opts)) {
        if (!cJSON_IsObject(opts)) {
            snprintf(param, paramsize, "stream_options");
            snprintf(err, errsize, "Invalid type for 'stream_options': expected an object, but got %s.", json_type_name(opts));
            goto Error;
        }
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(opts, "include_usage");
        if (iu != NULL && !cJSON_IsBool(iu) && !cJSON_IsNull(iu)) {
            snprintf(param, paramsize, "stream_options.include_usage");
            snprintf(err, errsize, "Invalid type for 'stream_options.include_usage': expected a boolean, but got %s.",
                     json_type_name(iu));
            goto Error;
        }
    }
    return root;
Error:
    cJSON_Delete(root);
    return NULL;
}

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
        .model = model,
        .model_len = strlen(model),
        .text = answer.data != NULL ? answer.data : "",
        .text_len = answer.len,
        .stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")),
        .include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage")),
        .prompt_tokens = llg_estimate_tokens(all.data != NULL ? all.data : "", all.len),
        .delay = app->echo_delay[provider],
        .random = {llg_app_random(app), llg_app_random(app)},
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
    if (!body_bytes_ok(body, len, err, errsize)) {
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
        snprintf(err, errsize, "The request body must be a JSON object, not %s.", json_type_name(root));
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        snprintf(param, paramsize, "model");
        snprintf(err, errsize, "Invalid type for 'model': expected a string, but got %s.", json_type_name(model));
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static void handle(llg_app_t *app, h2o_req_t *req, llg_endpoint_t endpoint)
{
    const llg_conf_t *conf = app->conf;
    int token_index;
    llg_auth_result_t auth = llg_auth_check(app, req, &token_index);
    /* without a passthrough provider, a bad token is refused before the body is read */
    if (auth != LLG_AUTH_OK && !app->has_passthrough) {
        llg_auth_reject(req, auth);
        return;
    }

    char err[512], param[64];
    cJSON *root = endpoint == LLG_ENDPOINT_CHAT
                      ? llg_chat_parse(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param))
                      : parse_generic(req->entity.base, req->entity.len, err, sizeof(err), param, sizeof(param));
    if (root == NULL) {
        if (auth != LLG_AUTH_OK)
            llg_auth_reject(req, auth);
        else
            llg_respond_error(req, 400, "invalid_request_error", NULL, param[0] ? param : NULL, "%s", err);
        return;
    }

    const cJSON *model_node = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(model_node) ? model_node->valuestring : conf->defaults.model;
    int provider = -1;
    if (model != NULL && model[0] != '\0')
        provider = llg_route(conf, model, NULL);
    if (provider >= 0)
        llg_http_set_provider(app, req, provider);

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
        uint64_t retry_ms;
        if (llg_pool_token_admit(app->pool, app->view, token_index, llg_pool_now_ms(), &retry_ms) != 0) {
            char secs[32];
            snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((retry_ms + 999) / 1000));
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, secs, strlen(secs));
            llg_respond_error(req, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                              "Rate limit reached for this API key (%u requests per minute); retry after %s seconds.",
                              conf->tokens[token_index].rpm, secs);
            goto Exit;
        }
    }

    const llg_conf_provider_t *p = &conf->providers[provider];
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
        llg_proxy_start(app, req, root, model, provider, token_index, auth == LLG_AUTH_OK, endpoint);
        root = NULL; /* the proxy owns it */
        break;
    case LLG_PROVIDER_POE:
    case LLG_PROVIDER_PUTER:
        if (endpoint != LLG_ENDPOINT_CHAT) {
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
