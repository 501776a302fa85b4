/*
 * providers/openai_stream.c: the answer of an openai-type upstream read into
 * canonical events (see openai_stream.h), for clients of another protocol.
 * (An OpenAI client's answer from such an upstream is relayed as it is, in
 * server/proxy_upstream.c.)
 *
 * Stream chunks: choices[0].delta.content → text; delta.reasoning_content (or
 * delta.reasoning, OpenRouter's) → reasoning; delta.tool_calls[] → tool calls
 * by their `index`: the first fragment with an id or a name starts the call,
 * every `function.arguments` piece feeds it (so arguments stream as they come,
 * and a call sent whole in one chunk works too); finish_reason is kept for
 * the end; `usage` replaces the estimate; `{"error":...}` fails the answer;
 * `data: [DONE]` ends it. A stream that ends without [DONE] and without a
 * finish_reason was cut (502 upstream_truncated). A non-stream answer is one
 * chat.completion, read the same way from choices[0].message.
 */
#include "providers/openai_stream.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/answer.h"
#include "providers/sse.h"
#include "providers/upstream_error.h"

#define BODY_MAX  (16u << 20)
#define MAX_TOOLS 128

struct llg_openai_stream {
    llg_answer_t a;
    llg_sse_reader_t sse;
    llg_strbuf_t body;
    int tool_of_index[MAX_TOOLS]; /* canonical tool number of the upstream's tool index, -1 */
    char finish[32];
    bool done, failed;
    llg_xlate_error_t err;
    llg_strbuf_t *out;
};

llg_openai_stream_t *llg_openai_stream_new(const llg_xlate_params_t *params)
{
    llg_openai_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_answer_init(&s->a, params);
    llg_sse_init(&s->sse);
    for (int i = 0; i < MAX_TOOLS; i++)
        s->tool_of_index[i] = -1;
    return s;
}

void llg_openai_stream_free(llg_openai_stream_t *s)
{
    if (s == NULL)
        return;
    llg_answer_dispose(&s->a);
    llg_sse_dispose(&s->sse);
    llg_strbuf_free(&s->body);
    free(s);
}

static int fail(llg_openai_stream_t *s, int status, const char *type, const char *code, llg_outcome_t outcome, const char *message)
{
    llg_xlate_set_error(&s->err, status, type, code, outcome, "%s", message);
    s->failed = true;
    return llg_answer_fail(&s->a, s->out, &s->err);
}

static const cJSON *get(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = get(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void take_usage(llg_openai_stream_t *s, const cJSON *usage)
{
    const cJSON *p = get(usage, "prompt_tokens"), *c = get(usage, "completion_tokens");
    if (cJSON_IsNumber(p) && cJSON_IsNumber(c) && p->valuedouble >= 0 && c->valuedouble >= 0)
        llg_answer_set_usage(&s->a, (uint64_t)p->valuedouble, (uint64_t)c->valuedouble);
}

static void take_finish(llg_openai_stream_t *s, const cJSON *choice)
{
    const char *f = str(choice, "finish_reason");
    if (f != NULL && f[0] != '\0')
        snprintf(s->finish, sizeof(s->finish), "%s", f);
}

static void text_or_parts(llg_openai_stream_t *s, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        llg_answer_content(&s->a, s->out, content->valuestring, strlen(content->valuestring));
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *t = str(part, "text");
        if (t != NULL)
            llg_answer_content(&s->a, s->out, t, strlen(t));
    }
}

static void reasoning(llg_openai_stream_t *s, const cJSON *m)
{
    const char *r = str(m, "reasoning_content");
    if (r == NULL)
        r = str(m, "reasoning");
    if (r != NULL)
        llg_answer_reasoning(&s->a, s->out, r, strlen(r));
}

static void tool_fragment(llg_openai_stream_t *s, const cJSON *tc, int position)
{
    const cJSON *idx = get(tc, "index");
    int i = cJSON_IsNumber(idx) ? (int)idx->valuedouble : position;
    if (i < 0 || i >= MAX_TOOLS)
        return;
    const cJSON *fn = get(tc, "function");
    const char *id = str(tc, "id"), *name = str(fn, "name"), *args = str(fn, "arguments");
    if (s->tool_of_index[i] < 0) {
        if (id == NULL && name == NULL && args == NULL)
            return;
        s->tool_of_index[i] = (int)llg_answer_tool_start(&s->a, s->out, id != NULL ? id : "", id != NULL ? strlen(id) : 0,
                                                         name != NULL ? name : "", name != NULL ? strlen(name) : 0);
    }
    if (args != NULL)
        llg_answer_tool_args(&s->a, s->out, (unsigned)s->tool_of_index[i], args, strlen(args));
}

static void tool_calls(llg_openai_stream_t *s, const cJSON *calls)
{
    int position = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls) tool_fragment(s, tc, position++);
}

static int error_object(llg_openai_stream_t *s, const cJSON *e)
{
    const char *msg = str(e, "message");
    const char *code = str(e, "code");
    if (code == NULL)
        code = str(e, "type");
    return fail(s, 502, "server_error", code != NULL ? code : "upstream_error", LLG_OUTCOME_SERVER,
                msg != NULL && msg[0] != '\0' ? msg : "The upstream provider reported an error.");
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    llg_openai_stream_t *s = ctx;
    if (s->failed || s->done || !ev->has_data)
        return 0;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        s->done = true;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                  "The upstream provider sent a chunk that is not a JSON object.");
    } else if (get(j, "error") != NULL && !cJSON_IsNull(get(j, "error"))) {
        const cJSON *e = get(j, "error");
        rc = cJSON_IsObject(e) ? error_object(s, e)
                               : fail(s, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER,
                                      cJSON_IsString(e) ? e->valuestring : "The upstream provider reported an error.");
    } else {
        const cJSON *choice = cJSON_GetArrayItem(get(j, "choices"), 0);
        const cJSON *delta = get(choice, "delta");
        reasoning(s, delta);
        text_or_parts(s, get(delta, "content"));
        tool_calls(s, get(delta, "tool_calls"));
        take_finish(s, choice);
        if (cJSON_IsObject(get(j, "usage")))
            take_usage(s, get(j, "usage"));
    }
    cJSON_Delete(j);
    return rc;
}

static int read_completion(llg_openai_stream_t *s)
{
    cJSON *j = cJSON_ParseWithLength(s->body.data != NULL ? s->body.data : "", s->body.len);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                  "The upstream provider's answer is not a JSON object.");
    } else if (cJSON_IsObject(get(j, "error"))) {
        rc = error_object(s, get(j, "error"));
    } else {
        const cJSON *choice = cJSON_GetArrayItem(get(j, "choices"), 0);
        const cJSON *m = get(choice, "message");
        reasoning(s, m);
        text_or_parts(s, get(m, "content"));
        int position = 0;
        const cJSON *tc;
        cJSON_ArrayForEach(tc, get(m, "tool_calls")) tool_fragment(s, tc, position++);
        take_finish(s, choice);
        take_usage(s, get(j, "usage"));
        s->done = true;
    }
    cJSON_Delete(j);
    return rc;
}

int llg_openai_stream_feed(llg_openai_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    s->out = out;
    if (!s->failed) {
        if (!s->a.stream) {
            if (s->body.len + n > BODY_MAX)
                fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                     "The upstream provider's answer is larger than 16 MiB.");
            else
                llg_strbuf_append(&s->body, p, n);
        } else if (llg_sse_feed(&s->sse, p, n, on_event, s) != 0 && !s->failed) {
            fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                 "The upstream provider sent an event larger than 1 MiB.");
        }
    }
    s->out = NULL;
    if (s->failed) {
        *err = s->err;
        return -1;
    }
    return 0;
}

int llg_openai_stream_end(llg_openai_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    s->out = out;
    if (!s->failed && !s->a.stream)
        read_completion(s);
    else if (!s->failed && !s->done && s->finish[0] == '\0')
        fail(s, 502, "server_error", "upstream_truncated", LLG_OUTCOME_SERVER, "The upstream provider ended the stream early.");
    if (!s->failed)
        llg_answer_finish(&s->a, out, s->finish[0] ? s->finish : NULL);
    s->out = NULL;
    if (s->failed) {
        *err = s->err;
        return -1;
    }
    return 0;
}

void llg_openai_stream_usage(const llg_openai_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->a, prompt, completion, estimated);
}

void llg_openai_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err)
{
    llg_upstream_error_class_t cls;
    llg_upstream_error_classify(body, len, &cls);
    llg_upstream_error_fields_t f;
    llg_upstream_error_fields(body, len, &f);
    llg_outcome_t outcome = llg_pool_classify(status, cls.code[0] ? cls.code : NULL);
    if (status == 403 && cls.flagged_input)
        outcome = LLG_OUTCOME_CLIENT;
    int client_status = outcome == LLG_OUTCOME_CLIENT         ? status
                        : outcome == LLG_OUTCOME_RATE_LIMITED ? 429
                        : outcome == LLG_OUTCOME_PAYMENT      ? 402
                                                              : 502;
    const char *type = f.type[0] ? f.type : client_status == 502 ? "server_error" : "invalid_request_error";
    const char *code = f.code[0] ? f.code : client_status == 502 ? "upstream_error" : "";
    llg_xlate_set_error(err, client_status, type, code, outcome, "%s", f.message);
}
