/*
 * providers/anthropic_stream.c: the answer of an anthropic upstream read into
 * canonical events (see anthropic.h and providers/answer.h), for clients of
 * another protocol.
 *
 * Stream events: message_start gives the input usage (input_tokens plus the
 * cache_creation and cache_read input tokens: OpenAI's prompt_tokens count
 * cached tokens too); content_block_start of a tool_use starts a tool call,
 * text_delta, thinking_delta and input_json_delta feed the text, the
 * reasoning and the tool call of their block; signature_delta has no
 * counterpart; message_delta gives the stop reason and the output usage;
 * message_stop ends the answer; `error` fails it (overloaded_error: 503,
 * another key may answer; rate_limit_error: 429; else 502); ping and unknown
 * events are skipped. A stream that ends without message_stop failed (502
 * upstream_truncated). A non-stream answer is one message, read the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic.h"
#include "providers/answer.h"
#include "providers/sse.h"

#define BODY_MAX   (16u << 20)
#define MAX_BLOCKS 256

struct llg_anthropic_stream {
    llg_answer_t a;
    llg_sse_reader_t sse;
    llg_strbuf_t body;             /* not streaming: the message */
    int tool_of_block[MAX_BLOCKS]; /* the canonical tool number of a tool_use block, -1 */
    char stop_reason[32];
    bool done, failed;
    uint64_t prompt, completion;
    bool have_prompt, have_completion;
    llg_xlate_error_t err;
    llg_strbuf_t *out; /* during a feed */
};

llg_anthropic_stream_t *llg_anthropic_stream_new(const llg_xlate_params_t *params)
{
    llg_anthropic_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_answer_init(&s->a, params);
    llg_sse_init(&s->sse);
    for (int i = 0; i < MAX_BLOCKS; i++)
        s->tool_of_block[i] = -1;
    return s;
}

void llg_anthropic_stream_free(llg_anthropic_stream_t *s)
{
    if (s == NULL)
        return;
    llg_answer_dispose(&s->a);
    llg_sse_dispose(&s->sse);
    llg_strbuf_free(&s->body);
    free(s);
}

static int fail(llg_anthropic_stream_t *s, int status, const char *type, const char *code, llg_outcome_t outcome,
                const char *message)
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

static void take_usage(llg_anthropic_stream_t *s, const cJSON *usage)
{
    const cJSON *in = get(usage, "input_tokens"), *out = get(usage, "output_tokens");
    if (cJSON_IsNumber(in) && in->valuedouble >= 0) {
        double p = in->valuedouble;
        const cJSON *cc = get(usage, "cache_creation_input_tokens"), *cr = get(usage, "cache_read_input_tokens");
        p += cJSON_IsNumber(cc) && cc->valuedouble > 0 ? cc->valuedouble : 0;
        p += cJSON_IsNumber(cr) && cr->valuedouble > 0 ? cr->valuedouble : 0;
        s->prompt = (uint64_t)p;
        s->have_prompt = true;
    }
    if (cJSON_IsNumber(out) && out->valuedouble >= 0) {
        s->completion = (uint64_t)out->valuedouble;
        s->have_completion = true;
    }
    if (s->have_prompt && s->have_completion)
        llg_answer_set_usage(&s->a, s->prompt, s->completion);
}

/* An error object ({"type","message"}) of the stream or the message. */
static int error_object(llg_anthropic_stream_t *s, const cJSON *e)
{
    const char *type = str(e, "type"), *msg = str(e, "message");
    if (msg == NULL || msg[0] == '\0')
        msg = "The upstream provider reported an error.";
    if (type != NULL && strcmp(type, "overloaded_error") == 0)
        return fail(s, 503, "overloaded_error", "overloaded", LLG_OUTCOME_SERVER, msg);
    if (type != NULL && strcmp(type, "rate_limit_error") == 0)
        return fail(s, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, msg);
    return fail(s, 502, "server_error", type != NULL ? type : "upstream_error", LLG_OUTCOME_SERVER, msg);
}

static int tool_start(llg_anthropic_stream_t *s, long index, const cJSON *block)
{
    const char *id = str(block, "id"), *name = str(block, "name");
    if (id == NULL)
        id = "";
    if (name == NULL)
        name = "";
    unsigned tool = llg_answer_tool_start(&s->a, s->out, id, strlen(id), name, strlen(name));
    if (index >= 0 && index < MAX_BLOCKS)
        s->tool_of_block[index] = (int)tool;
    /* a start with a non-empty input (not Anthropic's own streams) carries it whole */
    const cJSON *input = get(block, "input");
    if (cJSON_IsObject(input) && input->child != NULL) {
        char *args = cJSON_PrintUnformatted(input);
        if (args != NULL)
            llg_answer_tool_args(&s->a, s->out, tool, args, strlen(args));
        cJSON_free(args);
    }
    return 0;
}

static int on_delta(llg_anthropic_stream_t *s, long index, const cJSON *d)
{
    const char *type = str(d, "type");
    if (type == NULL)
        return 0;
    const char *v;
    if (strcmp(type, "text_delta") == 0 && (v = str(d, "text")) != NULL)
        llg_answer_content(&s->a, s->out, v, strlen(v));
    else if (strcmp(type, "thinking_delta") == 0 && (v = str(d, "thinking")) != NULL)
        llg_answer_reasoning(&s->a, s->out, v, strlen(v));
    else if (strcmp(type, "input_json_delta") == 0 && (v = str(d, "partial_json")) != NULL && index >= 0 && index < MAX_BLOCKS &&
             s->tool_of_block[index] >= 0)
        llg_answer_tool_args(&s->a, s->out, (unsigned)s->tool_of_block[index], v, strlen(v));
    return 0;
}

static void take_stop(llg_anthropic_stream_t *s, const char *stop)
{
    if (stop != NULL)
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", stop);
}

static int on_event(void *ctx, const llg_sse_event_t *ev)
{
    llg_anthropic_stream_t *s = ctx;
    if (s->failed || s->done || !ev->has_data)
        return 0;
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    const char *type = str(j, "type");
    int rc = 0;
    if (type == NULL) {
        rc = cJSON_IsObject(j) ? 0
                               : fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                                      "The upstream provider sent an event that is not JSON.");
    } else if (strcmp(type, "message_start") == 0) {
        take_usage(s, get(get(j, "message"), "usage"));
    } else if (strcmp(type, "content_block_start") == 0) {
        const cJSON *block = get(j, "content_block"), *idx = get(j, "index");
        long index = cJSON_IsNumber(idx) ? (long)idx->valuedouble : -1;
        const char *bt = str(block, "type");
        if (bt != NULL && (strcmp(bt, "tool_use") == 0 || strcmp(bt, "server_tool_use") == 0))
            rc = tool_start(s, index, block);
        else if (bt != NULL && strcmp(bt, "text") == 0 && str(block, "text") != NULL)
            llg_answer_content(&s->a, s->out, str(block, "text"), strlen(str(block, "text")));
    } else if (strcmp(type, "content_block_delta") == 0) {
        const cJSON *idx = get(j, "index");
        rc = on_delta(s, cJSON_IsNumber(idx) ? (long)idx->valuedouble : -1, get(j, "delta"));
    } else if (strcmp(type, "message_delta") == 0) {
        take_stop(s, str(get(j, "delta"), "stop_reason"));
        take_usage(s, get(j, "usage"));
    } else if (strcmp(type, "message_stop") == 0) {
        s->done = true;
    } else if (strcmp(type, "error") == 0) {
        rc = error_object(s, get(j, "error"));
    }
    cJSON_Delete(j);
    return rc;
}

/* A whole message (a non-stream answer). */
static int read_message(llg_anthropic_stream_t *s)
{
    cJSON *j = cJSON_ParseWithLength(s->body.data != NULL ? s->body.data : "", s->body.len);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = fail(s, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                  "The upstream provider's answer is not a JSON message.");
        goto Exit;
    }
    if (cJSON_IsObject(get(j, "error"))) {
        rc = error_object(s, get(j, "error"));
        goto Exit;
    }
    const cJSON *block;
    cJSON_ArrayForEach(block, get(j, "content"))
    {
        const char *bt = str(block, "type"), *v;
        if (bt == NULL)
            continue;
        if (strcmp(bt, "text") == 0 && (v = str(block, "text")) != NULL) {
            llg_answer_content(&s->a, s->out, v, strlen(v));
        } else if (strcmp(bt, "thinking") == 0 && (v = str(block, "thinking")) != NULL) {
            llg_answer_reasoning(&s->a, s->out, v, strlen(v));
        } else if (strcmp(bt, "tool_use") == 0) {
            const char *id = str(block, "id"), *name = str(block, "name");
            char *args = get(block, "input") != NULL ? cJSON_PrintUnformatted(get(block, "input")) : NULL;
            llg_answer_tool_call(&s->a, s->out, id != NULL ? id : "", id != NULL ? strlen(id) : 0, name != NULL ? name : "",
                                 name != NULL ? strlen(name) : 0, args != NULL ? args : "{}", args != NULL ? strlen(args) : 2);
            cJSON_free(args);
        }
    }
    take_stop(s, str(j, "stop_reason"));
    take_usage(s, get(j, "usage"));
    s->done = true;
Exit:
    cJSON_Delete(j);
    return rc;
}

int llg_anthropic_feed(llg_anthropic_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
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

int llg_anthropic_end(llg_anthropic_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    s->out = out;
    if (!s->failed && !s->a.stream)
        read_message(s);
    else if (!s->failed && !s->done)
        fail(s, 502, "server_error", "upstream_truncated", LLG_OUTCOME_SERVER, "The upstream provider ended the stream early.");
    if (!s->failed)
        llg_answer_finish(&s->a, out, s->stop_reason[0] ? llg_anthropic_finish_reason(s->stop_reason) : NULL);
    s->out = NULL;
    if (s->failed) {
        *err = s->err;
        return -1;
    }
    return 0;
}

void llg_anthropic_usage(const llg_anthropic_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->a, prompt, completion, estimated);
}

void llg_anthropic_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err)
{
    llg_upstream_error_t u;
    llg_xlate_parse_error_body(body, len, &u);
    const char *msg = u.message[0] ? u.message : "The upstream provider refused the request.";
    if (status == 401 || status == 403)
        llg_xlate_set_error(err, 502, "server_error", "upstream_auth_failed", LLG_OUTCOME_AUTH,
                            "The upstream provider rejected the gateway's API key.");
    else if (status == 402 || strcmp(u.code, "billing_error") == 0)
        llg_xlate_set_error(err, 402, "insufficient_quota", "insufficient_quota", LLG_OUTCOME_PAYMENT, "%s", msg);
    else if (status == 429)
        llg_xlate_set_error(err, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, "%s", msg);
    else if (status == 529 || strcmp(u.code, "overloaded_error") == 0)
        llg_xlate_set_error(err, 503, "overloaded_error", "overloaded", LLG_OUTCOME_SERVER, "%s", msg);
    else if (status == 404)
        llg_xlate_set_error(err, 404, "invalid_request_error", "model_not_found", LLG_OUTCOME_CLIENT, "%s", msg);
    else if (status >= 400 && status < 500)
        llg_xlate_set_error(err, status, "invalid_request_error", u.code[0] ? u.code : "invalid_request_error", LLG_OUTCOME_CLIENT,
                            "%s", msg);
    else
        llg_xlate_set_error(err, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER, "%s", msg);
}
