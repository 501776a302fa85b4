/*
 * providers/messages.c: message modes and message flattening (see
 * messages.h for every rule).
 */
#include "providers/messages.h"

#include <string.h>

static int is_text_part(const cJSON *part, const char **text)
{
    if (cJSON_IsString(part)) {
        *text = part->valuestring;
        return 1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (!cJSON_IsObject(part) || !cJSON_IsString(type) || !cJSON_IsString(t))
        return 0;
    const char *ty = type->valuestring;
    if (strcmp(ty, "text") != 0 && strcmp(ty, "input_text") != 0 && strcmp(ty, "output_text") != 0)
        return 0;
    *text = t->valuestring;
    return 1;
}

int llg_message_content_text(const cJSON *content, llg_strbuf_t *out)
{
    if (content == NULL || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content)) {
        llg_strbuf_appends(out, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content))
        return -1;
    int n = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *text;
        if (!is_text_part(part, &text))
            continue;
        if (n++ > 0)
            llg_strbuf_append(out, "\n", 1);
        llg_strbuf_appends(out, text);
    }
    return 0;
}

static void tool_call_line(llg_strbuf_t *out, const cJSON *fn)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    if (out->len > 0)
        llg_strbuf_append(out, "\n", 1);
    llg_strbuf_appends(out, "[tool call] ");
    llg_strbuf_appends(out, cJSON_IsString(name) ? name->valuestring : "function");
    llg_strbuf_append(out, "(", 1);
    if (cJSON_IsString(args)) {
        llg_strbuf_appends(out, args->valuestring);
    } else if (args != NULL && !cJSON_IsNull(args)) {
        char *s = cJSON_PrintUnformatted(args);
        if (s != NULL)
            llg_strbuf_appends(out, s);
        cJSON_free(s);
    }
    llg_strbuf_append(out, ")", 1);
}

static int has_tool_calls(const cJSON *msg)
{
    return cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls")) ||
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "function_call"));
}

int llg_message_text(const cJSON *msg, llg_strbuf_t *out)
{
    llg_strbuf_t b = {0};
    if (llg_message_content_text(cJSON_GetObjectItemCaseSensitive(msg, "content"), &b) != 0) {
        llg_strbuf_free(&b);
        return -1;
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    const cJSON *call;
    if (cJSON_IsArray(calls))
        cJSON_ArrayForEach(call, calls)
        {
            tool_call_line(&b, cJSON_GetObjectItemCaseSensitive(call, "function"));
        }
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(msg, "function_call");
    if (cJSON_IsObject(fc))
        tool_call_line(&b, fc);
    if (b.len > 0)
        llg_strbuf_append(out, b.data, b.len);
    llg_strbuf_free(&b);
    return 0;
}

/* every element an object with a string role, every content well-typed */
static int well_formed(const cJSON *messages)
{
    if (!cJSON_IsArray(messages))
        return 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (!cJSON_IsObject(m) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "role")))
            return 0;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (c != NULL && !cJSON_IsNull(c) && !cJSON_IsString(c) && !cJSON_IsArray(c))
            return 0;
    }
    return 1;
}

static const char *role_of(const cJSON *m)
{
    return cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
}

static cJSON *text_message(const char *role, const char *text)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", text);
    return m;
}

/* sets obj[key] = value, replacing or adding */
static void set_member(cJSON *obj, const char *key, cJSON *value)
{
    if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value);
    else
        cJSON_AddItemToObject(obj, key, value);
}

typedef enum { TURN_NONE, TURN_USER, TURN_ASSISTANT } turn_t;

static cJSON *apply_standard(const cJSON *messages)
{
    llg_strbuf_t system = {0}, text = {0};
    cJSON *turns = cJSON_CreateArray();
    turn_t last = TURN_NONE;
    const cJSON *m = messages->child;
    while (m != NULL) {
        const char *role = role_of(m);
        cJSON *kept = NULL;
        turn_t turn = TURN_USER;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            llg_strbuf_reset(&text);
            llg_message_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &text);
            if (text.len > 0) {
                if (system.len > 0)
                    llg_strbuf_appends(&system, "\n\n");
                llg_strbuf_append(&system, text.data, text.len);
            }
            m = m->next;
            continue;
        }
        if (strcmp(role, "tool") == 0 || strcmp(role, "function") == 0) {
            /* a run of results: one user message */
            llg_strbuf_reset(&text);
            int n = 0;
            for (; m != NULL && (strcmp(role_of(m), "tool") == 0 || strcmp(role_of(m), "function") == 0); m = m->next) {
                if (n++ > 0)
                    llg_strbuf_appends(&text, "\n\n");
                llg_strbuf_appends(&text, "[tool result] ");
                llg_message_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &text);
            }
            kept = text_message("user", text.data);
        } else {
            kept = cJSON_Duplicate(m, 1);
            if (strcmp(role, "assistant") == 0) {
                turn = TURN_ASSISTANT;
                if (has_tool_calls(m)) {
                    llg_strbuf_reset(&text);
                    llg_message_text(m, &text);
                    cJSON_DeleteItemFromObjectCaseSensitive(kept, "tool_calls");
                    cJSON_DeleteItemFromObjectCaseSensitive(kept, "function_call");
                    set_member(kept, "content", cJSON_CreateString(text.data != NULL ? text.data : ""));
                }
            } else if (strcmp(role, "user") != 0) {
                set_member(kept, "role", cJSON_CreateString("user"));
            }
            m = m->next;
        }
        if ((last == TURN_NONE && turn == TURN_ASSISTANT) || turn == last) {
            cJSON_Delete(kept);
            continue;
        }
        cJSON_AddItemToArray(turns, kept);
        last = turn;
    }
    if (last == TURN_ASSISTANT)
        cJSON_DeleteItemFromArray(turns, cJSON_GetArraySize(turns) - 1);
    cJSON *out = turns;
    if (system.len > 0) {
        out = cJSON_CreateArray();
        cJSON_AddItemToArray(out, text_message("system", system.data));
        cJSON *t = turns->child;
        while (t != NULL) {
            cJSON *next = t->next;
            cJSON_AddItemToArray(out, cJSON_DetachItemViaPointer(turns, t));
            t = next;
        }
        cJSON_Delete(turns);
    }
    llg_strbuf_free(&system);
    llg_strbuf_free(&text);
    return out;
}

static cJSON *apply_full(const cJSON *messages)
{
    llg_strbuf_t all = {0}, text = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        llg_strbuf_reset(&text);
        llg_message_text(m, &text);
        if (text.len == 0)
            continue;
        if (all.len > 0)
            llg_strbuf_appends(&all, "\n\n");
        llg_strbuf_appendf(&all, "[%s] ", role_of(m));
        llg_strbuf_append(&all, text.data, text.len);
    }
    cJSON *out = cJSON_CreateArray();
    if (all.len > 0)
        cJSON_AddItemToArray(out, text_message("user", all.data));
    llg_strbuf_free(&all);
    llg_strbuf_free(&text);
    return out;
}

cJSON *llg_messages_apply(llg_message_mode_t mode, const cJSON *messages)
{
    switch (mode) {
    case LLG_MESSAGES_RAW:
        return cJSON_IsArray(messages) ? cJSON_Duplicate(messages, 1) : NULL;
    case LLG_MESSAGES_STANDARD:
        return well_formed(messages) ? apply_standard(messages) : NULL;
    case LLG_MESSAGES_FULL:
        return well_formed(messages) ? apply_full(messages) : NULL;
    }
    return NULL;
}
