/*
 * providers/responses_answer.c: the renderer of answers in the Responses
 * API's form (llg_render_responses, providers/answer.h).
 *
 * A stream is what OpenAI sends, every event with its sequence_number:
 * response.created and response.in_progress; then output items in order - a
 * message (output_item.added, content_part.added, output_text.delta...,
 * output_text.done, content_part.done, output_item.done), reasoning as a
 * reasoning item with a summary (reasoning_summary_part.added,
 * reasoning_summary_text.delta..., .done, reasoning_summary_part.done), each
 * tool call a function_call item (function_call_arguments.delta...,
 * .done) - a new item at each change of kind; and response.completed (or
 * response.incomplete for a length stop, with incomplete_details) with
 * every item whole and the usage. A failure after the start is an `error`
 * event then response.failed. A whole answer is the same `response` object.
 *
 * Calls of the functions that stand for the request's custom tools and
 * local_shell (providers/responses_request.c) become custom_tool_call items
 * (their `input` the function's `input` argument; one
 * custom_tool_call_input.delta with all of it, then .done) and
 * local_shell_call items (an exec action; no events before the item is
 * done): the arguments must be whole to be read back.
 *
 * Item ids are the response's own random part with a prefix and the item's
 * index (msg_, rs_, fc_, ctc_, lsh_); a call's call_id is the upstream's id.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "providers/answer.h"
#include "providers/json_edit.h"
#include "providers/openai_form.h"

typedef enum call_kind { CALL_FUNCTION, CALL_CUSTOM, CALL_LOCAL_SHELL } call_kind_t;

/* Which of the request's tools are custom (their names, NUL-ended) and
 * whether it offered local_shell: only the `tools` member is parsed. */
static void read_tools(llg_responses_state_t *r, const char *request, size_t len)
{
    const char *v;
    size_t vlen;
    if (request == NULL || !llg_json_member(request, len, "tools", &v, &vlen))
        return;
    cJSON *tools = cJSON_ParseWithLength(v, vlen);
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type"), *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (!cJSON_IsString(type))
            continue;
        if (strcmp(type->valuestring, "local_shell") == 0)
            r->local_shell = true;
        else if (strcmp(type->valuestring, "custom") == 0 && cJSON_IsString(name))
            llg_strbuf_append(&r->custom, name->valuestring, strlen(name->valuestring) + 1);
    }
    cJSON_Delete(tools);
}

static call_kind_t call_kind(const llg_answer_t *a, const llg_block_t *b)
{
    const llg_responses_state_t *r = &a->resp;
    const char *name = b->name.data != NULL ? b->name.data : "";
    for (size_t o = 0; o < r->custom.len;) {
        const char *c = r->custom.data + o;
        size_t n = strlen(c);
        if (n == b->name.len && memcmp(c, name, n) == 0)
            return CALL_CUSTOM;
        o += n + 1;
    }
    if (r->local_shell && b->name.len == 11 && memcmp(name, "local_shell", 11) == 0)
        return CALL_LOCAL_SHELL;
    return CALL_FUNCTION;
}

/* A custom tool call's input, as a JSON string: the `input` argument of the
 * function that stands for it; else the arguments when they are a string,
 * else their text. */
static void custom_input(llg_strbuf_t *out, const char *args, size_t n)
{
    cJSON *v = cJSON_ParseWithLength(args, n);
    const cJSON *input = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "input") : v;
    if (cJSON_IsString(input))
        llg_strbuf_append_json_string(out, input->valuestring, strlen(input->valuestring));
    else
        llg_strbuf_append_json_string(out, args, n);
    cJSON_Delete(v);
}

/* A local_shell call's exec action from the arguments of the function that
 * stands for it ({command, workdir, timeout_ms}); a command given as one
 * string runs in bash. */
static void shell_action(llg_strbuf_t *out, const char *args, size_t n)
{
    cJSON *v = cJSON_ParseWithLength(args, n);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(v, "command"), *wd = cJSON_GetObjectItemCaseSensitive(v, "workdir"),
                *tmo = cJSON_GetObjectItemCaseSensitive(v, "timeout_ms");
    cJSON *action = cJSON_CreateObject(), *argv;
    cJSON_AddStringToObject(action, "type", "exec");
    if (cJSON_IsString(cmd)) {
        const char *sh[] = {"bash", "-lc", cmd->valuestring};
        argv = cJSON_CreateStringArray(sh, 3);
    } else {
        argv = cJSON_IsArray(cmd) ? cJSON_Duplicate(cmd, 1) : cJSON_CreateArray();
    }
    cJSON_AddItemToObject(action, "command", argv);
    cJSON_AddItemToObject(action, "working_directory",
                          cJSON_IsString(wd) ? cJSON_CreateString(wd->valuestring) : cJSON_CreateNull());
    cJSON_AddItemToObject(action, "timeout_ms", cJSON_IsNumber(tmo) ? cJSON_CreateNumber(tmo->valuedouble) : cJSON_CreateNull());
    cJSON_AddObjectToObject(action, "env");
    cJSON_AddNullToObject(action, "user");
    char *text = cJSON_PrintUnformatted(action);
    llg_strbuf_appends(out, text != NULL ? text : "{}");
    cJSON_free(text);
    cJSON_Delete(action);
    cJSON_Delete(v);
}

static void init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    llg_responses_state_t *r = &a->resp;
    read_tools(r, params->request, params->request_len);
    llg_random_id(r->id, "resp_", params->random[0], params->random[1]);
    const char *model = params->model != NULL ? params->model : "";
    llg_strbuf_append_json_string(&r->model, model, strlen(model));
    r->created = (int64_t)time(NULL);
    r->open = r->tools_from = -1;
}

static void dispose(llg_answer_t *a)
{
    llg_responses_state_t *r = &a->resp;
    llg_strbuf_free(&r->model);
    llg_strbuf_free(&r->custom);
    for (size_t i = 0; i < r->nitems; i++) {
        llg_strbuf_free(&r->items[i].data);
        llg_strbuf_free(&r->items[i].id);
        llg_strbuf_free(&r->items[i].name);
    }
    free(r->items);
}

static void item_id(llg_strbuf_t *out, const llg_answer_t *a, const llg_block_t *b, size_t index)
{
    static const char *const call_prefix[] = {[CALL_FUNCTION] = "fc_", [CALL_CUSTOM] = "ctc_", [CALL_LOCAL_SHELL] = "lsh_"};
    const char *prefix = b->kind == LLG_BLOCK_TEXT ? "msg_" : b->kind == LLG_BLOCK_REASONING ? "rs_" : call_prefix[call_kind(a, b)];
    llg_strbuf_append(out, "\"", 1);
    llg_strbuf_appends(out, prefix);
    llg_strbuf_appends(out, a->resp.id + 5);
    llg_strbuf_append(out, "_", 1);
    llg_strbuf_append_uint(out, index);
    llg_strbuf_append(out, "\"", 1);
}

/* A tool call item's members after its id. */
static void call_item(llg_strbuf_t *out, const llg_answer_t *a, const llg_block_t *b, bool done)
{
    static const char *const types[] = {"function_call", "custom_tool_call", "local_shell_call"};
    const char *d = b->data.data != NULL ? b->data.data : "";
    call_kind_t k = call_kind(a, b);
    llg_strbuf_appendf(out, ",\"type\":\"%s\",\"status\":\"%s\",\"call_id\":", types[k], done ? "completed" : "in_progress");
    llg_strbuf_append_json_string(out, b->id.data != NULL ? b->id.data : "", b->id.len);
    if (k == CALL_LOCAL_SHELL) {
        llg_strbuf_appends(out, ",\"action\":");
        shell_action(out, done ? d : "{}", done ? b->data.len : 2);
        llg_strbuf_appends(out, "}");
        return;
    }
    llg_strbuf_appends(out, ",\"name\":");
    llg_strbuf_append_json_string(out, b->name.data != NULL ? b->name.data : "", b->name.len);
    llg_strbuf_appends(out, k == CALL_CUSTOM ? ",\"input\":" : ",\"arguments\":");
    if (k == CALL_CUSTOM && done)
        custom_input(out, d, b->data.len);
    else
        llg_strbuf_append_json_string(out, done ? d : "", done ? b->data.len : 0);
    llg_strbuf_appends(out, "}");
}

/* One output item whole (its `completed` form). */
static void item(llg_strbuf_t *out, const llg_answer_t *a, const llg_block_t *b, size_t index, bool done)
{
    const char *d = b->data.data != NULL ? b->data.data : "";
    llg_strbuf_appends(out, "{\"id\":");
    item_id(out, a, b, index);
    if (b->kind == LLG_BLOCK_TEXT) {
        llg_strbuf_appendf(out, ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[",
                           done ? "completed" : "in_progress");
        if (done) {
            llg_strbuf_appends(out, "{\"type\":\"output_text\",\"text\":");
            llg_strbuf_append_json_string(out, d, b->data.len);
            llg_strbuf_appends(out, ",\"annotations\":[]}");
        }
        llg_strbuf_appends(out, "]}");
    } else if (b->kind == LLG_BLOCK_REASONING) {
        llg_strbuf_appends(out, ",\"type\":\"reasoning\",\"summary\":[");
        if (done) {
            llg_strbuf_appends(out, "{\"type\":\"summary_text\",\"text\":");
            llg_strbuf_append_json_string(out, d, b->data.len);
            llg_strbuf_appends(out, "}");
        }
        llg_strbuf_appends(out, "]}");
    } else {
        call_item(out, a, b, done);
    }
}

/* `"code":..,"message":..` of an error */
static void error_members(llg_strbuf_t *out, const char *code, const char *message)
{
    llg_strbuf_appends(out, "\"code\":");
    if (code != NULL)
        llg_strbuf_append_json_string(out, code, strlen(code));
    else
        llg_strbuf_appends(out, "null");
    llg_strbuf_appends(out, ",\"message\":");
    llg_strbuf_append_json_text(out, message);
}

/* The response object; `items` NULL: none yet; `error` (code and message
 * members) NULL: none. */
static void response(llg_strbuf_t *out, const llg_answer_t *a, const char *status, const llg_block_t *items, size_t n,
                     const char *finish_reason, bool usage, uint64_t prompt, uint64_t completion, const llg_strbuf_t *error)
{
    const llg_responses_state_t *r = &a->resp;
    llg_strbuf_appendf(out, "{\"id\":\"%s\",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\",\"error\":", r->id,
                       (long long)r->created, status);
    if (error != NULL) {
        llg_strbuf_append(out, "{", 1);
        llg_strbuf_append(out, error->data, error->len);
        llg_strbuf_append(out, "},", 2);
    } else {
        llg_strbuf_appends(out, "null,");
    }
    if (finish_reason != NULL && strcmp(finish_reason, "length") == 0)
        llg_strbuf_appends(out, "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},");
    else if (finish_reason != NULL && strcmp(finish_reason, "content_filter") == 0)
        llg_strbuf_appends(out, "\"incomplete_details\":{\"reason\":\"content_filter\"},");
    else
        llg_strbuf_appends(out, "\"incomplete_details\":null,");
    llg_strbuf_appends(out, "\"model\":");
    llg_strbuf_append(out, r->model.data, r->model.len);
    llg_strbuf_appends(out, ",\"output\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            llg_strbuf_append(out, ",", 1);
        item(out, a, &items[i], i, true);
    }
    llg_strbuf_appends(out, "],\"parallel_tool_calls\":true,\"tool_choice\":\"auto\",\"tools\":[],\"usage\":");
    if (usage)
        llg_strbuf_appendf(out,
                           "{\"input_tokens\":%llu,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":%llu,"
                           "\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":%llu}}",
                           (unsigned long long)prompt, (unsigned long long)completion, (unsigned long long)(prompt + completion));
    else
        llg_strbuf_appends(out, "null}");
}

/* `event: T` and the start of its data, up to the members after the type
 * and sequence number; the caller ends it with "}\n\n" */
static void ev(llg_answer_t *a, llg_strbuf_t *out, const char *type)
{
    llg_strbuf_appends(out, "event: ");
    llg_strbuf_appends(out, type);
    llg_strbuf_appends(out, "\ndata: {\"type\":\"");
    llg_strbuf_appends(out, type);
    llg_strbuf_appends(out, "\",\"sequence_number\":");
    llg_strbuf_append_uint(out, a->resp.seq++);
}

static void begin(llg_answer_t *a, llg_strbuf_t *out)
{
    if (a->begun)
        return;
    a->begun = true;
    static const char *const types[] = {"response.created", "response.in_progress"};
    for (int i = 0; i < 2; i++) {
        ev(a, out, types[i]);
        llg_strbuf_appends(out, ",\"response\":");
        response(out, a, "in_progress", NULL, 0, NULL, false, 0, 0, NULL);
        llg_strbuf_appends(out, "}\n\n");
    }
}

static void item_ref(llg_answer_t *a, llg_strbuf_t *out, size_t index)
{
    llg_strbuf_appends(out, ",\"item_id\":");
    item_id(out, a, &a->resp.items[index], index);
    llg_strbuf_appends(out, ",\"output_index\":");
    llg_strbuf_append_uint(out, index);
}

/* The events that close item i. */
static void close_one(llg_answer_t *a, llg_strbuf_t *out, size_t i)
{
    llg_responses_state_t *r = &a->resp;
    llg_block_t *b = &r->items[i];
    const char *d = b->data.data != NULL ? b->data.data : "";
    call_kind_t k = b->kind == LLG_BLOCK_TOOL ? call_kind(a, b) : CALL_FUNCTION;
    if (b->kind != LLG_BLOCK_TOOL) {
        /* a message's output_text, a reasoning item's summary: its text done,
         * then its part done */
        bool text = b->kind == LLG_BLOCK_TEXT;
        ev(a, out, text ? "response.output_text.done" : "response.reasoning_summary_text.done");
        item_ref(a, out, i);
        llg_strbuf_appends(out, text ? ",\"content_index\":0,\"text\":" : ",\"summary_index\":0,\"text\":");
        llg_strbuf_append_json_string(out, d, b->data.len);
        llg_strbuf_appends(out, "}\n\n");
        ev(a, out, text ? "response.content_part.done" : "response.reasoning_summary_part.done");
        item_ref(a, out, i);
        llg_strbuf_appends(out, text ? ",\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":"
                                     : ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":");
        llg_strbuf_append_json_string(out, d, b->data.len);
        llg_strbuf_appends(out, text ? ",\"annotations\":[]}}\n\n" : "}}\n\n");
    } else if (k == CALL_FUNCTION) {
        ev(a, out, "response.function_call_arguments.done");
        item_ref(a, out, i);
        llg_strbuf_appends(out, ",\"arguments\":");
        llg_strbuf_append_json_string(out, d, b->data.len);
        llg_strbuf_appends(out, "}\n\n");
    } else if (k == CALL_CUSTOM) {
        /* the input is known once the arguments are whole: one delta */
        llg_strbuf_t input = {0};
        custom_input(&input, d, b->data.len);
        ev(a, out, "response.custom_tool_call_input.delta");
        item_ref(a, out, i);
        llg_strbuf_appends(out, ",\"delta\":");
        llg_strbuf_append(out, input.data, input.len);
        llg_strbuf_appends(out, "}\n\n");
        ev(a, out, "response.custom_tool_call_input.done");
        item_ref(a, out, i);
        llg_strbuf_appends(out, ",\"input\":");
        llg_strbuf_append(out, input.data, input.len);
        llg_strbuf_appends(out, "}\n\n");
        llg_strbuf_free(&input);
    }
    ev(a, out, "response.output_item.done");
    llg_strbuf_appendf(out, ",\"output_index\":%zu,\"item\":", i);
    item(out, a, b, i, true);
    llg_strbuf_appends(out, "}\n\n");
}

/* Whether a tool call's arguments are whole: a JSON text. */
static bool args_whole(const llg_block_t *b)
{
    cJSON *v = b->data.len > 0 ? cJSON_ParseWithLength(b->data.data, b->data.len) : NULL;
    cJSON_Delete(v);
    return v != NULL;
}

/* Closes what is open: the text or reasoning item, or the run of tool calls.
 * An upstream may send the arguments of parallel calls interleaved, and an
 * item's events must all come before its output_item.done: a call stays open
 * while a later one starts unless its arguments are whole already (then it
 * closes, in OpenAI's order), and the run closes at a change of kind or the
 * end. */
static void close_item(llg_answer_t *a, llg_strbuf_t *out)
{
    llg_responses_state_t *r = &a->resp;
    if (r->open >= 0)
        close_one(a, out, (size_t)r->open);
    for (size_t i = r->tools_from >= 0 ? (size_t)r->tools_from : r->nitems; i < r->nitems; i++)
        close_one(a, out, i);
    r->open = r->tools_from = -1;
}

/* A new item of `kind` (the open one is closed first); returns its index,
 * or -1 when out of memory. */
static long open_item(llg_answer_t *a, llg_strbuf_t *out, llg_block_kind_t kind, const char *call_id, size_t id_len,
                      const char *name, size_t name_len)
{
    llg_responses_state_t *r = &a->resp;
    begin(a, out);
    if (kind == LLG_BLOCK_TOOL ? r->tools_from < 0 : r->open < 0 || r->items[r->open].kind != kind)
        close_item(a, out);
    else if (kind != LLG_BLOCK_TOOL)
        return r->open;
    /* the calls before the new one whose arguments are whole, in order */
    while (kind == LLG_BLOCK_TOOL && r->tools_from >= 0 && (size_t)r->tools_from < r->nitems &&
           args_whole(&r->items[r->tools_from]))
        close_one(a, out, (size_t)r->tools_from++);
    if (r->tools_from >= 0 && (size_t)r->tools_from == r->nitems)
        r->tools_from = -1;
    if (r->nitems == r->items_cap) {
        size_t cap = r->items_cap ? 2 * r->items_cap : 4;
        llg_block_t *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            return -1;
        r->items = items;
        r->items_cap = cap;
    }
    size_t i = r->nitems++;
    llg_block_t *b = &r->items[i];
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    llg_strbuf_append(&b->id, call_id, id_len);
    llg_strbuf_append(&b->name, name, name_len);
    ev(a, out, "response.output_item.added");
    llg_strbuf_appendf(out, ",\"output_index\":%zu,\"item\":", i);
    item(out, a, b, i, false);
    llg_strbuf_appends(out, "}\n\n");
    if (kind == LLG_BLOCK_TEXT) {
        ev(a, out, "response.content_part.added");
        item_ref(a, out, i);
        llg_strbuf_appends(out, ",\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n");
    } else if (kind == LLG_BLOCK_REASONING) {
        ev(a, out, "response.reasoning_summary_part.added");
        item_ref(a, out, i);
        llg_strbuf_appends(out, ",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}}\n\n");
    }
    if (kind == LLG_BLOCK_TOOL && r->tools_from < 0)
        r->tools_from = (long)i;
    else if (kind != LLG_BLOCK_TOOL)
        r->open = (long)i;
    return (long)i;
}

static void piece(llg_answer_t *a, llg_strbuf_t *out, llg_block_kind_t kind, const char *s, size_t n)
{
    long i = open_item(a, out, kind, "", 0, "", 0);
    if (i < 0)
        return;
    llg_strbuf_append(&a->resp.items[i].data, s, n);
    ev(a, out, kind == LLG_BLOCK_TEXT ? "response.output_text.delta" : "response.reasoning_summary_text.delta");
    item_ref(a, out, (size_t)i);
    llg_strbuf_appends(out, kind == LLG_BLOCK_TEXT ? ",\"content_index\":0,\"delta\":" : ",\"summary_index\":0,\"delta\":");
    llg_strbuf_append_json_string(out, s, n);
    llg_strbuf_appends(out, "}\n\n");
}

static void text(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    piece(a, out, LLG_BLOCK_TEXT, s, n);
}

static void reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *s, size_t n)
{
    piece(a, out, LLG_BLOCK_REASONING, s, n);
}

static void tool_start(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *id, size_t id_len, const char *name,
                       size_t name_len)
{
    long i = open_item(a, out, LLG_BLOCK_TOOL, id, id_len, name, name_len);
    if (i >= 0 && tool < sizeof(a->resp.tool_item) / sizeof(a->resp.tool_item[0]))
        a->resp.tool_item[tool] = (unsigned)i;
}

static void tool_args(llg_answer_t *a, llg_strbuf_t *out, unsigned tool, const char *s, size_t n)
{
    llg_responses_state_t *r = &a->resp;
    size_t i = tool < sizeof(r->tool_item) / sizeof(r->tool_item[0]) ? r->tool_item[tool] : r->nitems - 1;
    if (i >= r->nitems || r->items[i].kind != LLG_BLOCK_TOOL)
        return;
    llg_strbuf_append(&r->items[i].data, s, n);
    /* a custom call's input is read back whole when the item closes; a call
     * closed already (text came between) shows its late arguments only in
     * the final response */
    if (call_kind(a, &r->items[i]) != CALL_FUNCTION || r->tools_from < 0 || i < (size_t)r->tools_from)
        return;
    ev(a, out, "response.function_call_arguments.delta");
    item_ref(a, out, i);
    llg_strbuf_appends(out, ",\"delta\":");
    llg_strbuf_append_json_string(out, s, n);
    llg_strbuf_appends(out, "}\n\n");
}

static bool incomplete(const char *finish_reason)
{
    return strcmp(finish_reason, "length") == 0 || strcmp(finish_reason, "content_filter") == 0;
}

static void finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    begin(a, out);
    close_item(a, out);
    bool inc = incomplete(finish_reason);
    ev(a, out, inc ? "response.incomplete" : "response.completed");
    llg_strbuf_appends(out, ",\"response\":");
    response(out, a, inc ? "incomplete" : "completed", a->resp.items, a->resp.nitems, finish_reason, true, prompt, completion,
             NULL);
    llg_strbuf_appends(out, "}\n\n");
}

static void whole(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason, uint64_t prompt, uint64_t completion)
{
    response(out, a, incomplete(finish_reason) ? "incomplete" : "completed", a->blocks, a->nblocks, finish_reason, true, prompt,
             completion, NULL);
}

/* An error event without the answer's state (the proxy's own, after a
 * relayed or translated stream started): numbered 0. */
static void error_event(llg_strbuf_t *out, int status, const char *type, const char *code, const char *message)
{
    (void)status, (void)type;
    llg_strbuf_appends(out, "event: error\ndata: {\"type\":\"error\",\"sequence_number\":0,");
    error_members(out, code, message);
    llg_strbuf_appends(out, ",\"param\":null}\n\n");
}

/* A failure after the start, as OpenAI ends such a stream: an `error` event,
 * then response.failed with the error and the items so far, numbered on. */
static void fail(llg_answer_t *a, llg_strbuf_t *out, const char *type, const char *code, const char *message)
{
    (void)type;
    llg_strbuf_t err = {0};
    error_members(&err, code != NULL ? code : "server_error", message);
    ev(a, out, "error");
    llg_strbuf_append(out, ",", 1);
    error_members(out, code, message);
    llg_strbuf_appends(out, ",\"param\":null}\n\n");
    ev(a, out, "response.failed");
    llg_strbuf_appends(out, ",\"response\":");
    response(out, a, "failed", a->resp.items, a->resp.nitems, NULL, false, 0, 0, &err);
    llg_strbuf_appends(out, "}\n\n");
    llg_strbuf_free(&err);
}

const llg_render_t llg_render_responses = {
    .init = init,
    .dispose = dispose,
    .text = text,
    .reasoning = reasoning,
    .tool_start = tool_start,
    .tool_args = tool_args,
    .tool_whole = NULL,
    .finish = finish,
    .whole = whole,
    .error_event = error_event,
    .fail = fail,
    .error_body = llg_oai_error_body_full,
};
