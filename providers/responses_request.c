/*
 * providers/responses_request.c: a Responses API request read into the
 * canonical request (see responses.h; docs/protocols.md):
 * - `instructions` → a leading system message; `input` a string → one user
 *   message; `input` items: messages (with or without "type":"message"; roles
 *   user, assistant, system, developer; content a string or parts:
 *   input_text and output_text → text, input_image → image_url) as they are;
 *   function_call → an assistant tool call (consecutive calls, and a call
 *   right after an assistant message, join that message); function_call_output
 *   → a tool message; custom_tool_call and local_shell_call items become
 *   tool calls of the functions below (their outputs tool messages);
 *   reasoning items are left out (no counterpart);
 * - tools of type function → chat function tools; a custom tool (Codex's
 *   apply_patch: free text, maybe in a grammar) → a function taking one
 *   string, `input`, whose description holds the grammar; local_shell → a
 *   function `local_shell` taking the command's argv, workdir and timeout_ms
 *   (the renderer turns calls of them back into custom_tool_call and
 *   local_shell_call items: responses_answer.c); other types (hosted tools,
 *   namespace, tool_search) are left out; tool_choice, parallel_tool_calls,
 *   temperature, top_p, user kept; max_output_tokens → max_tokens;
 *   reasoning.effort → reasoning_effort; text.format json_schema / json_object
 *   → response_format; stream kept;
 * - previous_response_id, store: true, background: true, conversation and
 *   item_reference items need a response store llmgate does not keep: 400
 *   naming the field. metadata, include, prompt_cache_key, service_tier and
 *   truncation are ignored.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "providers/request_json.h"
#include "providers/responses.h"
#include "providers/strbuf.h"

static bool type_is(const cJSON *o, const char *type)
{
    const char *t = llg_json_str(o, "type");
    return t != NULL && strcmp(t, type) == 0;
}

/* message content: a string, or parts into OpenAI chat parts (or one string
 * when there are only text parts) */
static int content(const cJSON *in, cJSON *m, llg_req_error_t *e, const char *at)
{
    if (cJSON_IsString(in)) {
        cJSON_AddStringToObject(m, "content", in->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(in))
        return llg_req_fail(e, at, "Invalid content: expected a string or an array of content parts.");
    cJSON *parts = cJSON_CreateArray();
    bool only_text = true;
    llg_strbuf_t text = {0};
    const cJSON *p;
    cJSON_ArrayForEach(p, in)
    {
        const char *t = llg_json_str(p, "text");
        if ((type_is(p, "input_text") || type_is(p, "output_text") || type_is(p, "text")) && t != NULL) {
            llg_strbuf_appends(&text, t);
            cJSON *q = cJSON_CreateObject();
            cJSON_AddStringToObject(q, "type", "text");
            cJSON_AddStringToObject(q, "text", t);
            cJSON_AddItemToArray(parts, q);
        } else if (type_is(p, "input_image")) {
            const char *url = llg_json_str(p, "image_url");
            if (url == NULL)
                continue; /* file_id: no store of files here */
            only_text = false;
            cJSON *q = cJSON_CreateObject();
            cJSON_AddStringToObject(q, "type", "image_url");
            cJSON *iu = cJSON_AddObjectToObject(q, "image_url");
            cJSON_AddStringToObject(iu, "url", url);
            const char *detail = llg_json_str(p, "detail");
            if (detail != NULL)
                cJSON_AddStringToObject(iu, "detail", detail);
            cJSON_AddItemToArray(parts, q);
        }
        /* input_file, refusal, ...: no counterpart */
    }
    if (only_text) {
        cJSON_Delete(parts);
        cJSON_AddStringToObject(m, "content", text.data != NULL ? text.data : "");
    } else {
        cJSON_AddItemToObject(m, "content", parts);
    }
    llg_strbuf_free(&text);
    return 0;
}

/* The assistant message a function call joins: the last message when it is
 * an assistant's, else a new one. */
static cJSON *assistant_for_call(cJSON *msgs)
{
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    const char *role = llg_json_str(last, "role");
    if (role != NULL && strcmp(role, "assistant") == 0)
        return last;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddNullToObject(m, "content");
    cJSON_AddItemToArray(msgs, m);
    return m;
}

/* An assistant tool call of function `name` with `args` (a JSON text). */
static void add_call(cJSON *msgs, const char *call_id, const char *name, const char *args)
{
    cJSON *m = assistant_for_call(msgs);
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (calls == NULL)
        calls = cJSON_AddArrayToObject(m, "tool_calls");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", call_id);
    cJSON_AddStringToObject(c, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(c, "function");
    cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", args);
    cJSON_AddItemToArray(calls, c);
}

static int function_call(const cJSON *item, cJSON *msgs, llg_req_error_t *e, const char *at)
{
    const char *call_id = llg_json_str(item, "call_id"), *name = llg_json_str(item, "name");
    const char *args = llg_json_str(item, "arguments");
    if (call_id == NULL || name == NULL)
        return llg_req_fail(e, at, "Invalid function_call item: call_id and name are required.");
    add_call(msgs, call_id, name, args != NULL ? args : "{}");
    return 0;
}

/* custom_tool_call {call_id, name, input} → a call with {"input": input};
 * local_shell_call {call_id, action: {command, working_directory,
 * timeout_ms}} → a call of local_shell with {command, workdir, timeout_ms}.
 * The arguments are those the functions of custom_tool() and
 * local_shell_tool() take. */
static int special_call(const cJSON *item, bool custom, cJSON *msgs, llg_req_error_t *e, const char *at)
{
    const char *call_id = llg_json_str(item, "call_id");
    const char *name = custom ? llg_json_str(item, "name") : "local_shell";
    const cJSON *action = llg_json_get(item, "action");
    if (call_id == NULL || name == NULL)
        return llg_req_fail(e, at,
                            custom ? "Invalid custom_tool_call item: call_id and name are required."
                                   : "Invalid local_shell_call item: call_id is required.");
    cJSON *args = cJSON_CreateObject();
    if (custom) {
        const char *input = llg_json_str(item, "input");
        cJSON_AddStringToObject(args, "input", input != NULL ? input : "");
    } else {
        const cJSON *cmd = llg_json_get(action, "command"), *wd = llg_json_get(action, "working_directory"),
                    *tmo = llg_json_get(action, "timeout_ms");
        cJSON_AddItemToObject(args, "command", cJSON_IsArray(cmd) ? cJSON_Duplicate(cmd, 1) : cJSON_CreateArray());
        if (cJSON_IsString(wd))
            cJSON_AddStringToObject(args, "workdir", wd->valuestring);
        if (cJSON_IsNumber(tmo))
            cJSON_AddNumberToObject(args, "timeout_ms", tmo->valuedouble);
    }
    char *text = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    if (text == NULL)
        return llg_req_fail(e, at, "Out of memory.");
    add_call(msgs, call_id, name, text);
    cJSON_free(text);
    return 0;
}

/* function_call_output, custom_tool_call_output, local_shell_call_output
 * (whose call id may be in `id`) → a tool message */
static int function_output(const cJSON *item, cJSON *msgs, llg_req_error_t *e, const char *at)
{
    const char *call_id = llg_json_str(item, "call_id");
    const cJSON *output = llg_json_get(item, "output");
    if (call_id == NULL && type_is(item, "local_shell_call_output"))
        call_id = llg_json_str(item, "id");
    if (call_id == NULL)
        return llg_req_fail(e, at, "Invalid tool output item: call_id is required.");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", call_id);
    cJSON_AddItemToArray(msgs, m);
    if (cJSON_IsString(output)) {
        cJSON_AddStringToObject(m, "content", output->valuestring);
        return 0;
    }
    if (cJSON_IsArray(output))
        return content(output, m, e, at);
    return llg_req_fail(e, at, "Invalid tool output item: output must be a string or content parts.");
}

static int input_items(const cJSON *input, cJSON *msgs, llg_req_error_t *e)
{
    if (cJSON_IsString(input)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", input->valuestring);
        cJSON_AddItemToArray(msgs, m);
        return 0;
    }
    if (!cJSON_IsArray(input))
        return llg_req_fail(e, "input", "Invalid type for 'input': expected a string or an array of input items.");
    int i = 0;
    const cJSON *item;
    char at[48];
    cJSON_ArrayForEach(item, input)
    {
        snprintf(at, sizeof(at), "input[%d]", i++);
        const char *role = llg_json_str(item, "role");
        if (!cJSON_IsObject(item))
            return llg_req_fail(e, at, "Invalid input item: expected an object.");
        if (type_is(item, "function_call")) {
            if (function_call(item, msgs, e, at) != 0)
                return -1;
        } else if (type_is(item, "custom_tool_call") || type_is(item, "local_shell_call")) {
            if (special_call(item, type_is(item, "custom_tool_call"), msgs, e, at) != 0)
                return -1;
        } else if (type_is(item, "function_call_output") || type_is(item, "custom_tool_call_output") ||
                   type_is(item, "local_shell_call_output")) {
            if (function_output(item, msgs, e, at) != 0)
                return -1;
        } else if (type_is(item, "item_reference")) {
            return llg_req_fail(e, at,
                                "Item references need stored responses, which llmgate does not keep; send the items themselves.");
        } else if (role != NULL && (llg_json_get(item, "type") == NULL || type_is(item, "message"))) {
            if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0 && strcmp(role, "system") != 0 &&
                strcmp(role, "developer") != 0)
                return llg_req_fail(e, at, "Invalid 'role': expected user, assistant, system or developer.");
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", role);
            cJSON_AddItemToArray(msgs, m);
            if (content(llg_json_get(item, "content"), m, e, at) != 0)
                return -1;
        }
        /* reasoning, web_search_call and other items: no counterpart */
    }
    return 0;
}

/* A chat function tool named `name`; returns its `function` object. */
static cJSON *add_function(cJSON *arr, const char *name, const char *desc)
{
    cJSON *tool = cJSON_CreateObject();
    cJSON_AddStringToObject(tool, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tool, "function");
    cJSON_AddStringToObject(fn, "name", name);
    if (desc != NULL)
        cJSON_AddStringToObject(fn, "description", desc);
    cJSON_AddItemToArray(arr, tool);
    return fn;
}

/* A custom tool takes free text (in a grammar, or any): a function whose one
 * parameter, `input`, is that text, the grammar in its description so that
 * the model can follow it. */
static void custom_tool(const cJSON *t, const char *name, cJSON *arr)
{
    cJSON *fn = add_function(arr, name, llg_json_str(t, "description"));
    const cJSON *format = llg_json_get(t, "format");
    const char *syntax = llg_json_str(format, "syntax"), *def = llg_json_str(format, "definition");
    llg_strbuf_t desc = {0};
    llg_strbuf_appends(&desc, "The tool's input, as free text");
    if (type_is(format, "grammar") && def != NULL)
        llg_strbuf_appendf(&desc, ", which must follow this %s grammar:\n%s", syntax != NULL ? syntax : "", def);
    else
        llg_strbuf_appends(&desc, ".");
    cJSON *params = cJSON_AddObjectToObject(fn, "parameters");
    cJSON_AddStringToObject(params, "type", "object");
    cJSON *input = cJSON_AddObjectToObject(cJSON_AddObjectToObject(params, "properties"), "input");
    cJSON_AddStringToObject(input, "type", "string");
    cJSON_AddStringToObject(input, "description", desc.data);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(params, "required"), cJSON_CreateString("input"));
    cJSON_AddFalseToObject(params, "additionalProperties");
    llg_strbuf_free(&desc);
}

/* OpenAI's local_shell tool: the model asks for a command's argv. */
static void local_shell_tool(cJSON *arr)
{
    static const char params[] =
        "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
        "\"description\":\"The command to run and its arguments.\"},\"workdir\":{\"type\":\"string\",\"description\":"
        "\"The directory to run it in.\"},\"timeout_ms\":{\"type\":\"integer\",\"description\":\"How long it may run.\"}},"
        "\"required\":[\"command\"],\"additionalProperties\":false}";
    cJSON *fn = add_function(arr, "local_shell", "Runs a command on the user's machine and returns its output.");
    cJSON_AddItemToObject(fn, "parameters", cJSON_Parse(params));
}

static int tools(const cJSON *root, cJSON *out)
{
    const cJSON *t;
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(t, llg_json_get(root, "tools"))
    {
        const char *name = llg_json_str(t, "name");
        if (type_is(t, "local_shell")) {
            local_shell_tool(arr);
            continue;
        }
        if (name == NULL)
            continue;
        if (type_is(t, "custom")) {
            custom_tool(t, name, arr);
            continue;
        }
        if (!type_is(t, "function"))
            continue;
        cJSON *fn = add_function(arr, name, llg_json_str(t, "description"));
        const cJSON *params = llg_json_get(t, "parameters");
        cJSON_AddItemToObject(fn, "parameters", cJSON_IsObject(params) ? cJSON_Duplicate(params, 1) : cJSON_CreateObject());
        if (cJSON_IsBool(llg_json_get(t, "strict")))
            cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(llg_json_get(t, "strict")));
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return 0;
    }
    cJSON_AddItemToObject(out, "tools", arr);
    const cJSON *choice = llg_json_get(root, "tool_choice");
    const char *choice_name = type_is(choice, "local_shell") ? "local_shell" : llg_json_str(choice, "name");
    if (cJSON_IsString(choice)) {
        cJSON_AddStringToObject(out, "tool_choice", choice->valuestring);
    } else if ((type_is(choice, "function") || type_is(choice, "custom") || type_is(choice, "local_shell")) &&
               choice_name != NULL) {
        cJSON *tc = cJSON_AddObjectToObject(out, "tool_choice");
        cJSON_AddStringToObject(tc, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(tc, "function"), "name", choice_name);
    }
    const cJSON *ptc = llg_json_get(root, "parallel_tool_calls");
    if (cJSON_IsBool(ptc))
        cJSON_AddBoolToObject(out, "parallel_tool_calls", cJSON_IsTrue(ptc));
    return 0;
}

static int params(const cJSON *root, cJSON *out, llg_req_error_t *e)
{
    static const char *const same[] = {"temperature", "top_p"};
    for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++) {
        const cJSON *v = llg_json_get(root, same[k]);
        if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsNumber(v))
            return llg_req_fail(e, same[k], "Invalid type: expected a number.");
        if (cJSON_IsNumber(v))
            cJSON_AddNumberToObject(out, same[k], v->valuedouble);
    }
    const cJSON *mot = llg_json_get(root, "max_output_tokens");
    if (mot != NULL && !cJSON_IsNull(mot)) {
        int64_t n = llg_json_count(root, "max_output_tokens", 1e9);
        if (n < 1)
            return llg_req_fail(e, "max_output_tokens", "Invalid 'max_output_tokens': expected an integer of at least 1.");
        cJSON_AddNumberToObject(out, "max_tokens", (double)n);
    }
    const char *effort = llg_json_str(llg_json_get(root, "reasoning"), "effort");
    if (effort != NULL)
        cJSON_AddStringToObject(out, "reasoning_effort", effort);
    const cJSON *format = llg_json_get(llg_json_get(root, "text"), "format");
    if (type_is(format, "json_object")) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "response_format"), "type", "json_object");
    } else if (type_is(format, "json_schema")) {
        cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        const char *name = llg_json_str(format, "name");
        cJSON_AddStringToObject(js, "name", name != NULL ? name : "response");
        const cJSON *schema = llg_json_get(format, "schema");
        if (cJSON_IsObject(schema))
            cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(schema, 1));
        if (cJSON_IsBool(llg_json_get(format, "strict")))
            cJSON_AddBoolToObject(js, "strict", cJSON_IsTrue(llg_json_get(format, "strict")));
    }
    const char *user = llg_json_str(root, "user");
    if (user != NULL)
        cJSON_AddStringToObject(out, "user", user);
    const cJSON *stream = llg_json_get(root, "stream");
    if (stream != NULL && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return llg_req_fail(e, "stream", "Invalid type for 'stream': expected a boolean.");
    if (cJSON_IsTrue(stream))
        cJSON_AddTrueToObject(out, "stream");
    return 0;
}

/* What needs a stored response: refused, never silently ignored. */
static int stateful(const cJSON *root, llg_req_error_t *e)
{
    const cJSON *prev = llg_json_get(root, "previous_response_id");
    if (prev != NULL && !cJSON_IsNull(prev))
        return llg_req_fail(e, "previous_response_id",
                            "previous_response_id is not supported: llmgate keeps no responses; send the whole conversation in "
                            "'input'.");
    if (cJSON_IsTrue(llg_json_get(root, "store")))
        return llg_req_fail(e, "store",
                            "store: true is not supported: llmgate keeps no responses; send store: false (or leave it out).");
    if (cJSON_IsTrue(llg_json_get(root, "background")))
        return llg_req_fail(e, "background", "background: true is not supported: llmgate answers while the request is open.");
    const cJSON *conv = llg_json_get(root, "conversation");
    if (conv != NULL && !cJSON_IsNull(conv))
        return llg_req_fail(e, "conversation",
                            "conversation is not supported: llmgate keeps no conversations; send the items in 'input'.");
    return 0;
}

cJSON *llg_responses_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    cJSON *root = llg_request_json(body, len, err, errsize, param, paramsize);
    if (root == NULL)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    const cJSON *model = llg_json_get(root, "model");
    if (model != NULL && !cJSON_IsString(model)) {
        llg_req_fail(&e, "model", "Invalid type for 'model': expected a string.");
        goto Error;
    }
    if (cJSON_IsString(model))
        cJSON_AddStringToObject(out, "model", model->valuestring);
    if (stateful(root, &e) != 0)
        goto Error;
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    const char *instructions = llg_json_str(root, "instructions");
    if (instructions != NULL && instructions[0] != '\0') {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", instructions);
        cJSON_AddItemToArray(msgs, m);
    }
    const cJSON *input = llg_json_get(root, "input");
    if (input == NULL) {
        llg_req_fail(&e, "input", "Missing required parameter: 'input'.");
        goto Error;
    }
    if (input_items(input, msgs, &e) != 0 || params(root, out, &e) != 0 || tools(root, out) != 0)
        goto Error;
    cJSON_Delete(root);
    return out;
Error:
    cJSON_Delete(root);
    cJSON_Delete(out);
    return NULL;
}
