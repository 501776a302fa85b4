/*
 * providers/anthropic_request.c: a Messages request read into the canonical
 * request (see anthropic.h; the mapping is docs/protocols.md):
 * - system (a string or text blocks) → one leading system message;
 * - user content: text → text parts, image (base64 or url) → image_url parts,
 *   document (base64 PDF) → a file part, document (text) → text; each
 *   tool_result → a `tool` message (before the user's other parts: OpenAI
 *   wants tool results right after the call), its content flattened to text,
 *   "[error] " before it when is_error;
 * - assistant content: text → content, tool_use → tool_calls (input as JSON
 *   text); thinking and redacted_thinking have no OpenAI-form counterpart and
 *   are left out (an anthropic upstream gets the client's body untouched);
 * - tools → function tools (input_schema → parameters); tools of a server
 *   type (web_search_..., bash_..., ...) have no counterpart and are left out;
 * - tool_choice auto/any/tool/none → auto/required/{function}/none,
 *   disable_parallel_tool_use → parallel_tool_calls false;
 * - max_tokens, temperature, top_p, stream kept; stop_sequences → stop;
 *   metadata.user_id → user; thinking {type: enabled, budget_tokens} →
 *   reasoning_effort (< 4096 low, < 16384 medium, else high); top_k has no
 *   counterpart;
 * - a `system` message inside the conversation (Claude Code sends one) → a
 *   system message of its text.
 * Other members are ignored, as new API fields should not break old gateways.
 */
#include <stdio.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/request_json.h"

static bool is_type(const cJSON *block, const char *type)
{
    const cJSON *t = llg_json_get(block, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

/* Appends the text of a content (a string, or blocks of which the text ones
 * count) to `out`, joined by "\n". -1 when it is neither. */
static int content_text(const cJSON *content, llg_strbuf_t *out)
{
    if (cJSON_IsString(content)) {
        llg_strbuf_appends(out, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content))
        return -1;
    bool first = true;
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const cJSON *text = llg_json_get(b, "text");
        if (is_type(b, "text") && cJSON_IsString(text)) {
            if (!first)
                llg_strbuf_append(out, "\n", 1);
            llg_strbuf_appends(out, text->valuestring);
            first = false;
        }
    }
    return 0;
}

/* A system message inside the conversation (Claude Code sends its
 * environment that way): a system message of its text. */
static int system_text(const cJSON *content, cJSON *out)
{
    llg_strbuf_t text = {0};
    content_text(content, &text);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", text.data != NULL ? text.data : "");
    cJSON_AddItemToArray(out, m);
    llg_strbuf_free(&text);
    return 0;
}

/* An image or document block as an OpenAI content part, or NULL when it has
 * no counterpart. */
static cJSON *media_part(const cJSON *b)
{
    const cJSON *src = llg_json_get(b, "source");
    const cJSON *type = llg_json_get(src, "type"), *mt = llg_json_get(src, "media_type"), *data = llg_json_get(src, "data"),
                *url = llg_json_get(src, "url");
    if (!cJSON_IsString(type))
        return NULL;
    llg_strbuf_t u = {0};
    cJSON *part = NULL;
    if (strcmp(type->valuestring, "base64") == 0 && cJSON_IsString(mt) && cJSON_IsString(data))
        llg_strbuf_appendf(&u, "data:%s;base64,%s", mt->valuestring, data->valuestring);
    else if (strcmp(type->valuestring, "url") == 0 && cJSON_IsString(url))
        llg_strbuf_appends(&u, url->valuestring);
    else if (strcmp(type->valuestring, "text") == 0 && cJSON_IsString(data)) {
        part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", "text");
        cJSON_AddStringToObject(part, "text", data->valuestring);
        return part;
    }
    if (u.len == 0) {
        llg_strbuf_free(&u);
        return NULL;
    }
    part = cJSON_CreateObject();
    if (is_type(b, "image")) {
        cJSON_AddStringToObject(part, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(part, "image_url");
        cJSON_AddStringToObject(iu, "url", u.data);
    } else {
        cJSON_AddStringToObject(part, "type", "file");
        cJSON *f = cJSON_AddObjectToObject(part, "file");
        const cJSON *title = llg_json_get(b, "title");
        cJSON_AddStringToObject(f, "filename", cJSON_IsString(title) ? title->valuestring : "document.pdf");
        cJSON_AddStringToObject(f, "file_data", u.data);
    }
    llg_strbuf_free(&u);
    return part;
}

/* A tool_result block as a `tool` message. */
static int tool_result(const cJSON *b, cJSON *out, llg_req_error_t *e, const char *where)
{
    const cJSON *id = llg_json_get(b, "tool_use_id"), *content = llg_json_get(b, "content");
    if (!cJSON_IsString(id))
        return llg_req_fail(e, where, "%s.tool_use_id: Field required", where);
    llg_strbuf_t text = {0};
    if (cJSON_IsTrue(llg_json_get(b, "is_error")))
        llg_strbuf_appends(&text, "[error] ");
    if (content != NULL && !cJSON_IsNull(content) && content_text(content, &text) != 0) {
        llg_strbuf_free(&text);
        return llg_req_fail(e, where, "%s.content: Input should be a valid string or a list of content blocks", where);
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", id->valuestring);
    cJSON_AddStringToObject(m, "content", text.data != NULL ? text.data : "");
    cJSON_AddItemToArray(out, m);
    llg_strbuf_free(&text);
    return 0;
}

/* A user message: its tool results as `tool` messages, then the rest as one
 * user message. */
static int user_message(const cJSON *content, cJSON *out, llg_req_error_t *e, const char *where)
{
    if (cJSON_IsString(content)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", content->valuestring);
        cJSON_AddItemToArray(out, m);
        return 0;
    }
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    char at[96];
    int i = 0;
    cJSON_ArrayForEach(b, content)
    {
        snprintf(at, sizeof(at), "%s.%d", where, i++);
        const cJSON *text = llg_json_get(b, "text");
        if (!cJSON_IsObject(b) || !cJSON_IsString(llg_json_get(b, "type"))) {
            cJSON_Delete(parts);
            return llg_req_fail(e, at, "%s.type: Field required", at);
        }
        if (is_type(b, "text")) {
            if (!cJSON_IsString(text)) {
                cJSON_Delete(parts);
                return llg_req_fail(e, at, "%s.text: Field required", at);
            }
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "text");
            cJSON_AddStringToObject(p, "text", text->valuestring);
            cJSON_AddItemToArray(parts, p);
        } else if (is_type(b, "tool_result")) {
            if (tool_result(b, out, e, at) != 0) {
                cJSON_Delete(parts);
                return -1;
            }
        } else if (is_type(b, "image") || is_type(b, "document")) {
            cJSON *p = media_part(b);
            if (p != NULL)
                cJSON_AddItemToArray(parts, p);
        }
        /* other block types (search results, containers, ...) have no counterpart */
    }
    if (cJSON_GetArraySize(parts) > 0) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddItemToObject(m, "content", parts);
        cJSON_AddItemToArray(out, m);
    } else {
        cJSON_Delete(parts);
    }
    return 0;
}

static int assistant_message(const cJSON *content, cJSON *out, llg_req_error_t *e, const char *where)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (cJSON_IsString(content)) {
        cJSON_AddStringToObject(m, "content", content->valuestring);
        cJSON_AddItemToArray(out, m);
        return 0;
    }
    llg_strbuf_t text = {0};
    cJSON *calls = cJSON_CreateArray();
    const cJSON *b;
    char at[96];
    int i = 0;
    cJSON_ArrayForEach(b, content)
    {
        snprintf(at, sizeof(at), "%s.%d", where, i++);
        const cJSON *t = llg_json_get(b, "text");
        if (is_type(b, "text") && cJSON_IsString(t)) {
            llg_strbuf_appends(&text, t->valuestring);
        } else if (is_type(b, "tool_use")) {
            const cJSON *id = llg_json_get(b, "id"), *name = llg_json_get(b, "name"), *input = llg_json_get(b, "input");
            if (!cJSON_IsString(id) || !cJSON_IsString(name)) {
                cJSON_Delete(calls);
                cJSON_Delete(m);
                llg_strbuf_free(&text);
                return llg_req_fail(e, at, "%s: tool_use blocks need an id and a name", at);
            }
            char *args = input != NULL ? cJSON_PrintUnformatted(input) : NULL;
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "id", id->valuestring);
            cJSON_AddStringToObject(c, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(c, "function");
            cJSON_AddStringToObject(fn, "name", name->valuestring);
            cJSON_AddStringToObject(fn, "arguments", args != NULL ? args : "{}");
            cJSON_free(args);
            cJSON_AddItemToArray(calls, c);
        }
    }
    if (text.len > 0 || cJSON_GetArraySize(calls) == 0)
        cJSON_AddStringToObject(m, "content", text.data != NULL ? text.data : "");
    else
        cJSON_AddNullToObject(m, "content");
    if (cJSON_GetArraySize(calls) > 0)
        cJSON_AddItemToObject(m, "tool_calls", calls);
    else
        cJSON_Delete(calls);
    cJSON_AddItemToArray(out, m);
    llg_strbuf_free(&text);
    return 0;
}

static int messages(const cJSON *in, cJSON *out, llg_req_error_t *e)
{
    if (in == NULL)
        return llg_req_fail(e, "messages", "%s: Field required", "messages");
    if (!cJSON_IsArray(in))
        return llg_req_fail(e, "messages", "%s: Input should be a valid list", "messages");
    int i = 0;
    const cJSON *m;
    char at[64];
    cJSON_ArrayForEach(m, in)
    {
        snprintf(at, sizeof(at), "messages.%d", i++);
        const cJSON *role = llg_json_get(m, "role"), *content = llg_json_get(m, "content");
        if (!cJSON_IsObject(m))
            return llg_req_fail(e, at, "%s: Input should be a valid dictionary", at);
        if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") != 0 && strcmp(role->valuestring, "assistant") != 0 &&
                                      strcmp(role->valuestring, "system") != 0))
            return llg_req_fail(e, at, "%s.role: Input should be 'user', 'assistant' or 'system'", at);
        if (!cJSON_IsString(content) && !cJSON_IsArray(content))
            return llg_req_fail(e, at, "%s.content: Input should be a valid string or a list of content blocks", at);
        int rc = role->valuestring[0] == 'u'   ? user_message(content, out, e, at)
                 : role->valuestring[0] == 'a' ? assistant_message(content, out, e, at)
                                               : system_text(content, out);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static cJSON *convert_tool(const cJSON *t)
{
    const cJSON *type = llg_json_get(t, "type"), *name = llg_json_get(t, "name");
    /* server tools (web_search_..., bash_..., text_editor_...) run at Anthropic */
    if ((cJSON_IsString(type) && strcmp(type->valuestring, "custom") != 0) || !cJSON_IsString(name))
        return NULL;
    cJSON *tool = cJSON_CreateObject();
    cJSON_AddStringToObject(tool, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tool, "function");
    cJSON_AddStringToObject(fn, "name", name->valuestring);
    const cJSON *desc = llg_json_get(t, "description"), *schema = llg_json_get(t, "input_schema");
    if (cJSON_IsString(desc))
        cJSON_AddStringToObject(fn, "description", desc->valuestring);
    cJSON_AddItemToObject(fn, "parameters", cJSON_IsObject(schema) ? cJSON_Duplicate(schema, 1) : cJSON_CreateObject());
    return tool;
}

static int tools(const cJSON *root, cJSON *out, llg_req_error_t *e)
{
    const cJSON *in = llg_json_get(root, "tools"), *t;
    if (in == NULL || cJSON_IsNull(in))
        return 0;
    if (!cJSON_IsArray(in))
        return llg_req_fail(e, "tools", "%s: Input should be a valid list", "tools");
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(t, in)
    {
        cJSON *tool = convert_tool(t);
        if (tool != NULL)
            cJSON_AddItemToArray(arr, tool);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return 0;
    }
    cJSON_AddItemToObject(out, "tools", arr);
    const cJSON *choice = llg_json_get(root, "tool_choice");
    const cJSON *ct = llg_json_get(choice, "type");
    if (choice != NULL && !cJSON_IsString(ct))
        return llg_req_fail(e, "tool_choice", "%s.type: Field required", "tool_choice");
    if (choice == NULL)
        return 0;
    const char *c = ct->valuestring;
    if (strcmp(c, "auto") == 0)
        cJSON_AddStringToObject(out, "tool_choice", "auto");
    else if (strcmp(c, "any") == 0)
        cJSON_AddStringToObject(out, "tool_choice", "required");
    else if (strcmp(c, "none") == 0)
        cJSON_AddStringToObject(out, "tool_choice", "none");
    else if (strcmp(c, "tool") == 0) {
        const cJSON *name = llg_json_get(choice, "name");
        if (!cJSON_IsString(name))
            return llg_req_fail(e, "tool_choice", "%s.name: Field required", "tool_choice");
        cJSON *tc = cJSON_AddObjectToObject(out, "tool_choice");
        cJSON_AddStringToObject(tc, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(tc, "function"), "name", name->valuestring);
    } else {
        return llg_req_fail(e, "tool_choice", "%s.type: Input should be 'auto', 'any', 'tool' or 'none'", "tool_choice");
    }
    if (cJSON_IsTrue(llg_json_get(choice, "disable_parallel_tool_use")))
        cJSON_AddFalseToObject(out, "parallel_tool_calls");
    return 0;
}

static int system_message(const cJSON *root, cJSON *msgs, llg_req_error_t *e)
{
    const cJSON *sys = llg_json_get(root, "system");
    if (sys == NULL || cJSON_IsNull(sys))
        return 0;
    llg_strbuf_t text = {0};
    if (content_text(sys, &text) != 0)
        return llg_req_fail(e, "system", "%s: Input should be a valid string or a list of text blocks", "system");
    if (text.len > 0) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", text.data);
        cJSON_AddItemToArray(msgs, m);
    }
    llg_strbuf_free(&text);
    return 0;
}

/* A number member: absent or null is fine; `integer`: a whole number >= 1. */
static int number(const cJSON *root, const char *name, bool integer, bool required, cJSON *out, llg_req_error_t *e)
{
    const cJSON *v = llg_json_get(root, name);
    if (v == NULL || cJSON_IsNull(v))
        return required ? llg_req_fail(e, name, "%s: Field required", name) : 0;
    if (!cJSON_IsNumber(v))
        return llg_req_fail(e, name, integer ? "%s: Input should be a valid integer" : "%s: Input should be a valid number", name);
    double d = v->valuedouble;
    if (integer && (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(long long)d))
        return llg_req_fail(e, name, "%s: Input should be an integer of at least 1", name);
    cJSON_AddNumberToObject(out, name, d);
    return 0;
}

static int params(const cJSON *root, cJSON *out, llg_req_error_t *e, bool need_max_tokens)
{
    if (number(root, "max_tokens", true, need_max_tokens, out, e) != 0 || number(root, "temperature", false, false, out, e) != 0 ||
        number(root, "top_p", false, false, out, e) != 0)
        return -1;
    const cJSON *topk = llg_json_get(root, "top_k");
    if (topk != NULL && !cJSON_IsNull(topk) && !cJSON_IsNumber(topk))
        return llg_req_fail(e, "top_k", "%s: Input should be a valid integer", "top_k");
    const cJSON *stream = llg_json_get(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return llg_req_fail(e, "stream", "%s: Input should be a valid boolean", "stream");
    if (cJSON_IsTrue(stream))
        cJSON_AddTrueToObject(out, "stream");
    const cJSON *stops = llg_json_get(root, "stop_sequences"), *s;
    if (stops != NULL && !cJSON_IsNull(stops)) {
        if (!cJSON_IsArray(stops))
            return llg_req_fail(e, "stop_sequences", "%s: Input should be a valid list", "stop_sequences");
        cJSON_ArrayForEach(s, stops) if (!cJSON_IsString(s)) return llg_req_fail(
            e, "stop_sequences", "%s: Input should be a list of strings", "stop_sequences");
        if (cJSON_GetArraySize(stops) > 0)
            cJSON_AddItemToObject(out, "stop", cJSON_Duplicate(stops, 1));
    }
    const cJSON *user = llg_json_get(llg_json_get(root, "metadata"), "user_id");
    if (cJSON_IsString(user))
        cJSON_AddStringToObject(out, "user", user->valuestring);
    const cJSON *thinking = llg_json_get(root, "thinking");
    if (thinking != NULL && !cJSON_IsNull(thinking) && !cJSON_IsObject(thinking))
        return llg_req_fail(e, "thinking", "%s: Input should be a valid dictionary", "thinking");
    const cJSON *budget = llg_json_get(thinking, "budget_tokens");
    /* only an explicit budget: "adaptive" (what Claude Code sends for models
     * it does not know) leaves the upstream's default, as many OpenAI-form
     * models refuse reasoning_effort */
    if (is_type(thinking, "enabled") && cJSON_IsNumber(budget)) {
        double b = budget->valuedouble;
        cJSON_AddStringToObject(out, "reasoning_effort", b < 4096 ? "low" : b < 16384 ? "medium" : "high");
    }
    return 0;
}

static cJSON *parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize, bool need_max_tokens)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    cJSON *root = llg_request_json(body, len, err, errsize, param, paramsize);
    if (root == NULL)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    const cJSON *model = llg_json_get(root, "model");
    if (model == NULL || cJSON_IsNull(model)) {
        llg_req_fail(&e, "model", "%s: Field required", "model");
        goto Error;
    }
    if (!cJSON_IsString(model)) {
        llg_req_fail(&e, "model", "%s: Input should be a valid string", "model");
        goto Error;
    }
    cJSON_AddStringToObject(out, "model", model->valuestring);
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    if (system_message(root, msgs, &e) != 0 || messages(llg_json_get(root, "messages"), msgs, &e) != 0 ||
        params(root, out, &e, need_max_tokens) != 0 || tools(root, out, &e) != 0)
        goto Error;
    cJSON_Delete(root);
    return out;
Error:
    cJSON_Delete(root);
    cJSON_Delete(out);
    return NULL;
}

cJSON *llg_anthropic_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    return parse(body, len, err, errsize, param, paramsize, true);
}

cJSON *llg_anthropic_parse_count(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    return parse(body, len, err, errsize, param, paramsize, false);
}
