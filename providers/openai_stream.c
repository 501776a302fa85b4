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

#include "providers/reader.h"
#include "providers/upstream_error.h"

#define MAX_TOOLS 128

struct llg_openai_stream {
    llg_reader_t r;
    int tool_of_index[MAX_TOOLS]; /* canonical tool number of the upstream's tool index, -1 */
};

static const llg_reader_ops_t ops;

llg_openai_stream_t *llg_openai_stream_new(const llg_xlate_params_t *params)
{
    llg_openai_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_reader_init(&s->r, params, &ops);
    for (int i = 0; i < MAX_TOOLS; i++)
        s->tool_of_index[i] = -1;
    return s;
}

void llg_openai_stream_free(llg_openai_stream_t *s)
{
    if (s == NULL)
        return;
    llg_reader_dispose(&s->r);
    free(s);
}

static void take_usage(llg_openai_stream_t *s, const cJSON *usage)
{
    int64_t p = llg_json_count(usage, "prompt_tokens", LLG_TOKEN_COUNT_LIMIT);
    int64_t c = llg_json_count(usage, "completion_tokens", LLG_TOKEN_COUNT_LIMIT);
    if (p >= 0 && c >= 0)
        llg_answer_set_usage(&s->r.a, (uint64_t)p, (uint64_t)c);
}

static void take_finish(llg_openai_stream_t *s, const cJSON *choice)
{
    const char *f = llg_json_str(choice, "finish_reason");
    if (f != NULL && f[0] != '\0')
        snprintf(s->r.finish, sizeof(s->r.finish), "%s", f);
}

static void text_or_parts(llg_openai_stream_t *s, const cJSON *content)
{
    if (cJSON_IsString(content)) {
        llg_answer_content(&s->r.a, s->r.out, content->valuestring, strlen(content->valuestring));
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *t = llg_json_str(part, "text");
        if (t != NULL)
            llg_answer_content(&s->r.a, s->r.out, t, strlen(t));
    }
}

static void reasoning(llg_openai_stream_t *s, const cJSON *m)
{
    const char *r = llg_json_str(m, "reasoning_content");
    if (r == NULL)
        r = llg_json_str(m, "reasoning");
    if (r != NULL)
        llg_answer_reasoning(&s->r.a, s->r.out, r, strlen(r));
}

static void tool_fragment(llg_openai_stream_t *s, const cJSON *tc, int position)
{
    int i = llg_json_get(tc, "index") == NULL ? position : (int)llg_json_count(tc, "index", MAX_TOOLS);
    if (i < 0 || i >= MAX_TOOLS)
        return;
    const cJSON *fn = llg_json_get(tc, "function");
    const char *id = llg_json_str(tc, "id"), *name = llg_json_str(fn, "name"), *args = llg_json_str(fn, "arguments");
    if (s->tool_of_index[i] < 0) {
        if (id == NULL && name == NULL && args == NULL)
            return;
        s->tool_of_index[i] = (int)llg_answer_tool_start(&s->r.a, s->r.out, id != NULL ? id : "", id != NULL ? strlen(id) : 0,
                                                         name != NULL ? name : "", name != NULL ? strlen(name) : 0);
    }
    if (args != NULL)
        llg_answer_tool_args(&s->r.a, s->r.out, (unsigned)s->tool_of_index[i], args, strlen(args));
}

static void tool_calls(llg_openai_stream_t *s, const cJSON *calls)
{
    int position = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, calls) tool_fragment(s, tc, position++);
}

static int error_object(llg_openai_stream_t *s, const cJSON *e)
{
    const char *msg = llg_json_str(e, "message");
    const char *code = llg_json_str(e, "code");
    if (code == NULL || code[0] == '\0')
        code = llg_json_str(e, "type");
    if (code == NULL || code[0] == '\0')
        code = "upstream_error";
    return llg_reader_fail(&s->r, 502, "server_error", code, LLG_OUTCOME_SERVER,
                           msg != NULL && msg[0] != '\0' ? msg : "The upstream provider reported an error.");
}

static int on_event(llg_reader_t *r, const llg_sse_event_t *ev)
{
    llg_openai_stream_t *s = (llg_openai_stream_t *)r;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        r->done = true;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = llg_reader_fail(&s->r, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                             "The upstream provider sent a chunk that is not a JSON object.");
    } else if (llg_json_get(j, "error") != NULL && !cJSON_IsNull(llg_json_get(j, "error"))) {
        const cJSON *e = llg_json_get(j, "error");
        rc = cJSON_IsObject(e)
                 ? error_object(s, e)
                 : llg_reader_fail(&s->r, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER,
                                   cJSON_IsString(e) && e->valuestring[0] != '\0' ? e->valuestring
                                                                                  : "The upstream provider reported an error.");
    } else {
        const cJSON *choice = cJSON_GetArrayItem(llg_json_get(j, "choices"), 0);
        const cJSON *delta = llg_json_get(choice, "delta");
        reasoning(s, delta);
        text_or_parts(s, llg_json_get(delta, "content"));
        tool_calls(s, llg_json_get(delta, "tool_calls"));
        take_finish(s, choice);
        if (cJSON_IsObject(llg_json_get(j, "usage")))
            take_usage(s, llg_json_get(j, "usage"));
    }
    cJSON_Delete(j);
    return rc;
}

static int on_whole(llg_reader_t *r, const cJSON *j)
{
    llg_openai_stream_t *s = (llg_openai_stream_t *)r;
    if (cJSON_IsObject(llg_json_get(j, "error")))
        return error_object(s, llg_json_get(j, "error"));
    const cJSON *choice = cJSON_GetArrayItem(llg_json_get(j, "choices"), 0);
    const cJSON *m = llg_json_get(choice, "message");
    reasoning(s, m);
    text_or_parts(s, llg_json_get(m, "content"));
    int position = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, llg_json_get(m, "tool_calls")) tool_fragment(s, tc, position++);
    take_finish(s, choice);
    take_usage(s, llg_json_get(j, "usage"));
    r->done = true;
    return 0;
}

/* OpenAI-compatible servers that never send [DONE] end with a finish_reason */
static const llg_reader_ops_t ops = {on_event, on_whole, true};

int llg_openai_stream_feed(llg_openai_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_reader_feed(&s->r, p, n, out, err);
}

int llg_openai_stream_end(llg_openai_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_reader_end(&s->r, out, err);
}

void llg_openai_stream_usage(const llg_openai_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->r.a, prompt, completion, estimated);
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
    const char *code = f.code[0]              ? f.code
                       : client_status == 429 ? "rate_limit_exceeded"
                       : client_status == 402 ? "insufficient_quota"
                       : client_status == 502 ? "upstream_error"
                                              : "invalid_request";
    /* an error about the gateway's key may quote it or its organisation: the
     * client gets llmgate's words; only the request's own faults are the
     * upstream's */
    const char *message = outcome == LLG_OUTCOME_CLIENT         ? f.message
                          : outcome == LLG_OUTCOME_AUTH         ? "The upstream provider rejected the gateway's API key."
                          : outcome == LLG_OUTCOME_RATE_LIMITED ? "The upstream provider's rate limit was reached."
                          : outcome == LLG_OUTCOME_PAYMENT      ? "The upstream provider's quota or credit is exhausted."
                                                                : f.message;
    llg_xlate_set_error(err, client_status, type, code, outcome, "%s", message);
}
