/*
 * providers/anthropic_call.c: the Messages request built from the canonical
 * request (see anthropic.h; the mapping is docs/protocols.md):
 * - system and developer messages → `system` (joined by a blank line);
 * - user content: text parts → text blocks, image_url → image (a data: URL
 *   as base64, else a url source), file parts with file_data → document;
 *   parts of other types have no counterpart and are left out;
 * - assistant: its text → a text block, tool_calls → tool_use blocks (input:
 *   the arguments when they are a JSON object, else {}); reasoning_content
 *   is left out (Anthropic takes back only its own signed thinking);
 * - tool (and function) results → tool_result blocks in a user turn; turns
 *   of the same role next to each other are merged into one, and empty
 *   assistant turns are left out, as Anthropic requires;
 * - max_tokens: max_completion_tokens, else max_tokens, else 4096 (Anthropic
 *   requires one); temperature (clamped to 1), top_p; stop → stop_sequences;
 *   user → metadata.user_id; tools, tool_choice, parallel_tool_calls false →
 *   disable_parallel_tool_use; reasoning_effort low/medium/high → thinking
 *   with budget_tokens 1024/8192/24576 (max_tokens raised above the budget,
 *   temperature left out, as Anthropic requires with thinking).
 */
#include <string.h>

#include "providers/anthropic.h"
#include "providers/request_json.h"
#include "providers/messages.h"

#define DEFAULT_MAX_TOKENS 4096

static bool role_is(const cJSON *m, const char *role)
{
    const cJSON *r = llg_json_get(m, "role");
    return cJSON_IsString(r) && strcmp(r->valuestring, role) == 0;
}

static void add_text_block(cJSON *blocks, const char *text)
{
    if (text[0] == '\0')
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    cJSON_AddItemToArray(blocks, b);
}

/* A base64 data: URL as a source, else a url source. */
static cJSON *source_of(const char *url)
{
    cJSON *src = cJSON_CreateObject();
    const char *comma = strchr(url, ',');
    const char *semi = strstr(url, ";base64,");
    if (strncmp(url, "data:", 5) == 0 && semi != NULL && comma == semi + 7) {
        cJSON_AddStringToObject(src, "type", "base64");
        char mt[128];
        size_t n = (size_t)(semi - (url + 5));
        if (n >= sizeof(mt))
            n = sizeof(mt) - 1;
        memcpy(mt, url + 5, n);
        mt[n] = '\0';
        cJSON_AddStringToObject(src, "media_type", mt);
        cJSON_AddStringToObject(src, "data", comma + 1);
    } else {
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    }
    return src;
}

/* The user content as blocks. */
static void user_blocks(const cJSON *content, cJSON *blocks)
{
    if (cJSON_IsString(content)) {
        add_text_block(blocks, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = llg_json_get(part, "type"), *text = llg_json_get(part, "text");
        if (cJSON_IsString(part)) {
            add_text_block(blocks, part->valuestring);
        } else if (cJSON_IsString(text)) {
            add_text_block(blocks, text->valuestring);
        } else if (cJSON_IsString(type) && strcmp(type->valuestring, "image_url") == 0) {
            const cJSON *u = llg_json_get(llg_json_get(part, "image_url"), "url");
            if (!cJSON_IsString(u))
                u = llg_json_get(part, "image_url");
            if (cJSON_IsString(u)) {
                cJSON *b = cJSON_CreateObject();
                cJSON_AddStringToObject(b, "type", "image");
                cJSON_AddItemToObject(b, "source", source_of(u->valuestring));
                cJSON_AddItemToArray(blocks, b);
            }
        } else if (cJSON_IsString(type) && strcmp(type->valuestring, "file") == 0) {
            const cJSON *d = llg_json_get(llg_json_get(part, "file"), "file_data");
            if (cJSON_IsString(d)) {
                cJSON *b = cJSON_CreateObject();
                cJSON_AddStringToObject(b, "type", "document");
                cJSON_AddItemToObject(b, "source", source_of(d->valuestring));
                cJSON_AddItemToArray(blocks, b);
            }
        }
    }
}

static void assistant_blocks(const cJSON *m, cJSON *blocks)
{
    llg_strbuf_t text = {0};
    llg_message_content_text(llg_json_get(m, "content"), &text);
    add_text_block(blocks, text.data != NULL ? text.data : "");
    llg_strbuf_free(&text);
    const cJSON *call;
    cJSON_ArrayForEach(call, llg_json_get(m, "tool_calls"))
    {
        const cJSON *fn = llg_json_get(call, "function"), *id = llg_json_get(call, "id");
        const cJSON *name = llg_json_get(fn, "name"), *args = llg_json_get(fn, "arguments");
        if (!cJSON_IsString(name))
            continue;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", cJSON_IsString(id) ? id->valuestring : "toolu_none");
        cJSON_AddStringToObject(b, "name", name->valuestring);
        cJSON *input = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            input = cJSON_CreateObject();
        }
        cJSON_AddItemToObject(b, "input", input);
        cJSON_AddItemToArray(blocks, b);
    }
}

static void tool_result_block(const cJSON *m, cJSON *blocks)
{
    llg_strbuf_t text = {0};
    llg_message_content_text(llg_json_get(m, "content"), &text);
    const cJSON *id = llg_json_get(m, "tool_call_id");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_result");
    cJSON_AddStringToObject(b, "tool_use_id", cJSON_IsString(id) ? id->valuestring : "toolu_none");
    cJSON_AddStringToObject(b, "content", text.data != NULL ? text.data : "");
    cJSON_AddItemToArray(blocks, b);
    llg_strbuf_free(&text);
}

/* Appends the turn `blocks` of `role`, merged into the last turn when that
 * one has the same role. Takes `blocks`. */
static void add_turn(cJSON *msgs, const char *role, cJSON *blocks)
{
    if (cJSON_GetArraySize(blocks) == 0) {
        cJSON_Delete(blocks);
        return;
    }
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    if (last != NULL && role_is(last, role)) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
        while (cJSON_GetArraySize(blocks) > 0)
            cJSON_AddItemToArray(content, cJSON_DetachItemFromArray(blocks, 0));
        cJSON_Delete(blocks);
        return;
    }
    cJSON *turn = cJSON_CreateObject();
    cJSON_AddStringToObject(turn, "role", role);
    cJSON_AddItemToObject(turn, "content", blocks);
    cJSON_AddItemToArray(msgs, turn);
}

static void tools(const cJSON *root, cJSON *out)
{
    const cJSON *t;
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(t, llg_json_get(root, "tools"))
    {
        const cJSON *fn = llg_json_get(t, "function");
        const cJSON *name = llg_json_get(fn, "name"), *desc = llg_json_get(fn, "description"),
                    *params = llg_json_get(fn, "parameters");
        if (!cJSON_IsString(name))
            continue;
        cJSON *tool = cJSON_CreateObject();
        cJSON_AddStringToObject(tool, "name", name->valuestring);
        if (cJSON_IsString(desc))
            cJSON_AddStringToObject(tool, "description", desc->valuestring);
        cJSON *schema = cJSON_IsObject(params) ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
        if (llg_json_get(schema, "type") == NULL)
            cJSON_AddStringToObject(schema, "type", "object");
        cJSON_AddItemToObject(tool, "input_schema", schema);
        cJSON_AddItemToArray(arr, tool);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return;
    }
    cJSON_AddItemToObject(out, "tools", arr);
    const cJSON *choice = llg_json_get(root, "tool_choice");
    bool no_parallel = cJSON_IsFalse(llg_json_get(root, "parallel_tool_calls"));
    cJSON *tc = NULL;
    if (cJSON_IsString(choice)) {
        const char *c = choice->valuestring;
        tc = cJSON_CreateObject();
        cJSON_AddStringToObject(tc, "type", strcmp(c, "required") == 0 ? "any" : strcmp(c, "none") == 0 ? "none" : "auto");
    } else if (cJSON_IsString(llg_json_get(llg_json_get(choice, "function"), "name"))) {
        tc = cJSON_CreateObject();
        cJSON_AddStringToObject(tc, "type", "tool");
        cJSON_AddStringToObject(tc, "name", llg_json_get(llg_json_get(choice, "function"), "name")->valuestring);
    } else if (no_parallel) {
        tc = cJSON_CreateObject();
        cJSON_AddStringToObject(tc, "type", "auto");
    }
    if (tc != NULL && no_parallel && strcmp(llg_json_get(tc, "type")->valuestring, "none") != 0)
        cJSON_AddTrueToObject(tc, "disable_parallel_tool_use");
    if (tc != NULL)
        cJSON_AddItemToObject(out, "tool_choice", tc);
}

static void params(const cJSON *root, cJSON *out)
{
    const cJSON *mt = llg_json_get(root, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = llg_json_get(root, "max_tokens");
    double max_tokens = cJSON_IsNumber(mt) ? mt->valuedouble : DEFAULT_MAX_TOKENS;
    const cJSON *effort = llg_json_get(root, "reasoning_effort");
    double budget = 0;
    if (cJSON_IsString(effort))
        budget = strcmp(effort->valuestring, "low") == 0      ? 1024
                 : strcmp(effort->valuestring, "medium") == 0 ? 8192
                 : strcmp(effort->valuestring, "high") == 0   ? 24576
                                                              : 0;
    if (budget > 0 && max_tokens <= budget)
        max_tokens += budget;
    cJSON_AddNumberToObject(out, "max_tokens", max_tokens);
    if (budget > 0) {
        cJSON *th = cJSON_AddObjectToObject(out, "thinking");
        cJSON_AddStringToObject(th, "type", "enabled");
        cJSON_AddNumberToObject(th, "budget_tokens", budget);
    }
    const cJSON *temp = llg_json_get(root, "temperature"), *top_p = llg_json_get(root, "top_p");
    if (cJSON_IsNumber(temp) && budget == 0)
        cJSON_AddNumberToObject(out, "temperature", temp->valuedouble > 1 ? 1 : temp->valuedouble);
    if (cJSON_IsNumber(top_p))
        cJSON_AddNumberToObject(out, "top_p", top_p->valuedouble);
    const cJSON *stop = llg_json_get(root, "stop");
    if (cJSON_IsString(stop)) {
        cJSON *arr = cJSON_AddArrayToObject(out, "stop_sequences");
        cJSON_AddItemToArray(arr, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) {
        cJSON_AddItemToObject(out, "stop_sequences", cJSON_Duplicate(stop, 1));
    }
    const cJSON *user = llg_json_get(root, "user");
    if (cJSON_IsString(user))
        cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "metadata"), "user_id", user->valuestring);
}

int llg_anthropic_build(const cJSON *root, const char *model, bool stream, llg_strbuf_t *out)
{
    const cJSON *in = llg_json_get(root, "messages"), *m;
    if (!cJSON_IsArray(in))
        return -1;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model);
    llg_strbuf_t system = {0};
    cJSON *msgs = cJSON_CreateArray();
    cJSON_ArrayForEach(m, in)
    {
        cJSON *blocks = cJSON_CreateArray();
        if (role_is(m, "system") || role_is(m, "developer")) {
            size_t before = system.len;
            if (system.len > 0)
                llg_strbuf_appends(&system, "\n\n");
            size_t mark = system.len;
            llg_message_content_text(llg_json_get(m, "content"), &system);
            if (system.len == mark)
                system.len = before;
            cJSON_Delete(blocks);
        } else if (role_is(m, "assistant")) {
            assistant_blocks(m, blocks);
            add_turn(msgs, "assistant", blocks);
        } else if (role_is(m, "tool") || role_is(m, "function")) {
            tool_result_block(m, blocks);
            add_turn(msgs, "user", blocks);
        } else {
            user_blocks(llg_json_get(m, "content"), blocks);
            add_turn(msgs, "user", blocks);
        }
    }
    if (system.len > 0)
        cJSON_AddStringToObject(body, "system", system.data);
    llg_strbuf_free(&system);
    cJSON_AddItemToObject(body, "messages", msgs);
    params(root, body);
    tools(root, body);
    if (stream)
        cJSON_AddTrueToObject(body, "stream");
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL)
        return -1;
    llg_strbuf_appends(out, text);
    cJSON_free(text);
    return 0;
}
