/*
 * providers/ollama_request.c: Ollama's /api/chat and /api/generate requests
 * read into the canonical request (see ollama.h; docs/protocols.md):
 * - messages: role and content as they are; `images` (base64, no media
 *   type) → image_url parts with a data: URL (PNG, JPEG, GIF or WebP by
 *   their first bytes, else PNG); assistant `tool_calls` ({function: {name,
 *   arguments: object}}) → OpenAI tool calls with ids `call_<message>_<n>`
 *   and the arguments as JSON text; `tool` messages → tool results answering
 *   the oldest unanswered call (of `tool_name` when given);
 * - `tools` (OpenAI's own shape) kept; `format` "json" → response_format
 *   json_object, a schema → json_schema; options temperature, top_p, seed
 *   kept, num_predict → max_tokens, stop → stop; `stream` true unless false;
 * - think, keep_alive, raw, template, context, suffix and the other options
 *   are ignored.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "providers/ollama.h"
#include "providers/request_json.h"

/* The media type of base64 image data, by the encoding of its first bytes. */
static const char *image_type(const char *b64)
{
    if (strncmp(b64, "/9j/", 4) == 0)
        return "image/jpeg";
    if (strncmp(b64, "R0lGOD", 6) == 0)
        return "image/gif";
    if (strncmp(b64, "UklGR", 5) == 0)
        return "image/webp";
    return "image/png";
}

/* content (+ images) as OpenAI content: a string, or parts with images. */
static int add_content(cJSON *m, const cJSON *in)
{
    const cJSON *content = llg_json_get(in, "content"), *images = llg_json_get(in, "images");
    if (content != NULL && !cJSON_IsString(content) && !cJSON_IsNull(content))
        return -1;
    const char *text = cJSON_IsString(content) ? content->valuestring : "";
    if (!cJSON_IsArray(images) || cJSON_GetArraySize(images) == 0) {
        cJSON_AddStringToObject(m, "content", text);
        return 0;
    }
    cJSON *parts = cJSON_AddArrayToObject(m, "content");
    if (text[0] != '\0') {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "text");
        cJSON_AddStringToObject(p, "text", text);
        cJSON_AddItemToArray(parts, p);
    }
    const cJSON *img;
    cJSON_ArrayForEach(img, images)
    {
        if (!cJSON_IsString(img))
            return -1;
        llg_strbuf_t url = {0};
        llg_strbuf_appendf(&url, "data:%s;base64,", image_type(img->valuestring));
        llg_strbuf_appends(&url, img->valuestring);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "image_url"), "url", url.data);
        cJSON_AddItemToArray(parts, p);
        llg_strbuf_free(&url);
    }
    return 0;
}

/* Tool calls of an assistant message; their ids and names go to `pending`
 * (an array of [id, name] pairs) for the tool messages that answer them. */
static int add_tool_calls(cJSON *m, const cJSON *calls, int index, cJSON *pending)
{
    if (calls == NULL || cJSON_IsNull(calls))
        return 0;
    if (!cJSON_IsArray(calls))
        return -1;
    cJSON *out = cJSON_AddArrayToObject(m, "tool_calls");
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, calls)
    {
        const cJSON *fn = llg_json_get(c, "function");
        const char *name = llg_json_str(fn, "name");
        if (name == NULL)
            return -1;
        const cJSON *args = llg_json_get(fn, "arguments");
        char *text = args != NULL && !cJSON_IsNull(args) ? cJSON_PrintUnformatted(args) : NULL;
        char id[48];
        const char *given = llg_json_str(c, "id");
        if (given != NULL && given[0] != '\0')
            snprintf(id, sizeof(id), "%.40s", given);
        else
            snprintf(id, sizeof(id), "call_%d_%d", index, k);
        k++;
        cJSON *tc = cJSON_CreateObject();
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
        cJSON *f = cJSON_AddObjectToObject(tc, "function");
        cJSON_AddStringToObject(f, "name", name);
        cJSON_AddStringToObject(f, "arguments", text != NULL ? text : "{}");
        cJSON_free(text);
        cJSON_AddItemToArray(out, tc);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(id));
        cJSON_AddItemToArray(pair, cJSON_CreateString(name));
        cJSON_AddItemToArray(pending, pair);
    }
    return 0;
}

/* The id a tool message answers: the oldest pending call (of `name` when
 * given), which it then removes; "call_0" when none is pending. */
static void answer_id(cJSON *pending, const char *name, char *id, size_t size)
{
    int i = 0, pick = -1;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, pending)
    {
        const cJSON *n = cJSON_GetArrayItem(pair, 1);
        if (pick < 0 && (name == NULL || (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)))
            pick = i;
        i++;
    }
    if (pick < 0 && name != NULL && cJSON_GetArraySize(pending) > 0)
        pick = 0;
    if (pick < 0) {
        snprintf(id, size, "call_0");
        return;
    }
    snprintf(id, size, "%s", cJSON_GetArrayItem(cJSON_GetArrayItem(pending, pick), 0)->valuestring);
    cJSON_DeleteItemFromArray(pending, pick);
}

static int messages(const cJSON *in, cJSON *out, llg_req_error_t *e)
{
    cJSON *pending = cJSON_CreateArray();
    int i = 0, rc = 0;
    const cJSON *m;
    char at[64];
    cJSON_ArrayForEach(m, in)
    {
        snprintf(at, sizeof(at), "messages[%d]", i);
        const char *role = llg_json_str(m, "role");
        if (!cJSON_IsObject(m) || role == NULL) {
            llg_req_fail(e, at, "invalid message: every message needs a string role");
            rc = -1;
            break;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role);
        cJSON_AddItemToArray(out, o);
        if (add_content(o, m) != 0) {
            llg_req_fail(e, at, "invalid message content: expected a string, and images as base64 strings");
            rc = -1;
            break;
        }
        if (strcmp(role, "assistant") == 0 && add_tool_calls(o, llg_json_get(m, "tool_calls"), i, pending) != 0) {
            llg_req_fail(e, at, "invalid tool_calls: each needs a function with a name");
            rc = -1;
            break;
        }
        if (strcmp(role, "tool") == 0) {
            char id[48];
            answer_id(pending, llg_json_str(m, "tool_name"), id, sizeof(id));
            cJSON_AddStringToObject(o, "tool_call_id", id);
        }
        i++;
    }
    cJSON_Delete(pending);
    return rc;
}

/* stream, format, options and tools: what both endpoints share. */
static int common(const cJSON *root, cJSON *out, llg_req_error_t *e)
{
    const cJSON *stream = llg_json_get(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
        llg_req_fail(e, "stream", "invalid stream: expected a boolean");
        return -1;
    }
    if (!cJSON_IsFalse(stream))
        cJSON_AddTrueToObject(out, "stream");
    const cJSON *format = llg_json_get(root, "format");
    if (cJSON_IsString(format) && strcmp(format->valuestring, "json") == 0) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "response_format"), "type", "json_object");
    } else if (cJSON_IsObject(format)) {
        cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", "response");
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(format, 1));
    } else if (format != NULL && !cJSON_IsNull(format) && !(cJSON_IsString(format) && format->valuestring[0] == '\0')) {
        llg_req_fail(e, "format", "invalid format: expected \"json\" or a JSON schema");
        return -1;
    }
    const cJSON *opts = llg_json_get(root, "options");
    static const char *const same[] = {"temperature", "top_p", "seed", "frequency_penalty", "presence_penalty"};
    for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++) {
        const cJSON *v = llg_json_get(opts, same[k]);
        if (cJSON_IsNumber(v))
            cJSON_AddNumberToObject(out, same[k], v->valuedouble);
    }
    int64_t np = llg_json_count(opts, "num_predict", 1e9);
    if (np > 0)
        cJSON_AddNumberToObject(out, "max_tokens", (double)np);
    const cJSON *stop = llg_json_get(opts, "stop");
    if (cJSON_IsString(stop) || (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0)) {
        const cJSON *s;
        bool ok = true;
        if (cJSON_IsArray(stop))
            cJSON_ArrayForEach(s, stop) ok = ok && cJSON_IsString(s);
        if (ok)
            cJSON_AddItemToObject(out, "stop", cJSON_Duplicate(stop, 1));
    }
    const cJSON *tools = llg_json_get(root, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0)
        cJSON_AddItemToObject(out, "tools", cJSON_Duplicate(tools, 1));
    return 0;
}

cJSON *llg_ollama_request_begin(const char *body, size_t len, llg_req_error_t *e, cJSON **out)
{
    cJSON *root = llg_request_json(body, len, e->err, e->errsize, e->param, e->paramsize);
    if (root == NULL)
        return NULL;
    const char *model = llg_json_str(root, "model");
    if (model == NULL || model[0] == '\0') {
        cJSON_Delete(root);
        llg_req_fail(e, "model", "model is required");
        return NULL;
    }
    *out = cJSON_CreateObject();
    char name[256];
    llg_ollama_model(model, name, sizeof(name));
    cJSON_AddStringToObject(*out, "model", name);
    return root;
}

cJSON *llg_ollama_parse_chat(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    cJSON *out = NULL, *root = llg_ollama_request_begin(body, len, &e, &out);
    if (root == NULL)
        return NULL;
    const cJSON *msgs = llg_json_get(root, "messages");
    cJSON *list = cJSON_AddArrayToObject(out, "messages");
    if (msgs != NULL && !cJSON_IsNull(msgs) && !cJSON_IsArray(msgs)) {
        llg_req_fail(&e, "messages", "invalid messages: expected an array");
        goto Error;
    }
    if (messages(msgs, list, &e) != 0 || common(root, out, &e) != 0)
        goto Error;
    cJSON_Delete(root);
    return out;
Error:
    cJSON_Delete(root);
    cJSON_Delete(out);
    return NULL;
}

cJSON *llg_ollama_parse_generate(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    cJSON *out = NULL, *root = llg_ollama_request_begin(body, len, &e, &out);
    if (root == NULL)
        return NULL;
    cJSON *list = cJSON_AddArrayToObject(out, "messages");
    const cJSON *prompt = llg_json_get(root, "prompt"), *system = llg_json_get(root, "system");
    bool bad_prompt = prompt != NULL && !cJSON_IsString(prompt) && !cJSON_IsNull(prompt),
         bad_system = system != NULL && !cJSON_IsString(system) && !cJSON_IsNull(system);
    if (bad_prompt || bad_system) {
        llg_req_fail(&e, bad_prompt ? "prompt" : "system", "invalid prompt or system: expected a string");
        goto Error;
    }
    if (cJSON_IsString(system) && system->valuestring[0] != '\0') {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "role", "system");
        cJSON_AddStringToObject(s, "content", system->valuestring);
        cJSON_AddItemToArray(list, s);
    }
    /* the prompt (and images) as one user message */
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddItemToArray(list, u);
    cJSON *shaped = cJSON_CreateObject();
    cJSON_AddStringToObject(shaped, "content", cJSON_IsString(prompt) ? prompt->valuestring : "");
    const cJSON *images = llg_json_get(root, "images");
    if (images != NULL)
        cJSON_AddItemToObject(shaped, "images", cJSON_Duplicate(images, 1));
    int rc = add_content(u, shaped);
    cJSON_Delete(shaped);
    if (rc != 0) {
        llg_req_fail(&e, "images", "invalid images: expected base64 strings");
        goto Error;
    }
    if (common(root, out, &e) != 0)
        goto Error;
    cJSON_Delete(root);
    return out;
Error:
    cJSON_Delete(root);
    cJSON_Delete(out);
    return NULL;
}

void llg_ollama_model(const char *model, char *out, size_t size)
{
    size_t n = strlen(model);
    if (n > 7 && strcmp(model + n - 7, ":latest") == 0)
        n -= 7;
    if (n >= size)
        n = size - 1;
    memcpy(out, model, n);
    out[n] = '\0';
}
