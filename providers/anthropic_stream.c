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
#include "providers/reader.h"

#define MAX_BLOCKS 256

struct llg_anthropic_stream {
    llg_reader_t r;
    int tool_of_block[MAX_BLOCKS]; /* the canonical tool number of a tool_use block, -1 */
    uint64_t prompt, completion;
    bool have_prompt, have_completion;
};

static const llg_reader_ops_t ops;

llg_anthropic_stream_t *llg_anthropic_stream_new(const llg_xlate_params_t *params)
{
    llg_anthropic_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    llg_reader_init(&s->r, params, &ops);
    for (int i = 0; i < MAX_BLOCKS; i++)
        s->tool_of_block[i] = -1;
    return s;
}

void llg_anthropic_stream_free(llg_anthropic_stream_t *s)
{
    if (s == NULL)
        return;
    llg_reader_dispose(&s->r);
    free(s);
}

static void take_usage(llg_anthropic_stream_t *s, const cJSON *usage)
{
    const double lim = LLG_TOKEN_COUNT_LIMIT;
    int64_t in = llg_json_count(usage, "input_tokens", lim), out = llg_json_count(usage, "output_tokens", lim);
    if (in >= 0) {
        int64_t cc = llg_json_count(usage, "cache_creation_input_tokens", lim);
        int64_t cr = llg_json_count(usage, "cache_read_input_tokens", lim);
        s->prompt = (uint64_t)in + (cc > 0 ? (uint64_t)cc : 0) + (cr > 0 ? (uint64_t)cr : 0);
        s->have_prompt = true;
    }
    if (out >= 0) {
        s->completion = (uint64_t)out;
        s->have_completion = true;
    }
    if (s->have_prompt && s->have_completion)
        llg_answer_set_usage(&s->r.a, s->prompt, s->completion);
}

/* An error object ({"type","message"}) of the stream or the message. */
static int error_object(llg_anthropic_stream_t *s, const cJSON *e)
{
    const char *type = llg_json_str(e, "type"), *msg = llg_json_str(e, "message");
    if (type != NULL && type[0] == '\0')
        type = NULL;
    if (msg == NULL || msg[0] == '\0')
        msg = "The upstream provider reported an error.";
    if (type != NULL && strcmp(type, "overloaded_error") == 0)
        return llg_reader_fail(&s->r, 503, "overloaded_error", "overloaded", LLG_OUTCOME_SERVER, msg);
    if (type != NULL && strcmp(type, "rate_limit_error") == 0)
        return llg_reader_fail(&s->r, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED, msg);
    return llg_reader_fail(&s->r, 502, "server_error", type != NULL ? type : "upstream_error", LLG_OUTCOME_SERVER, msg);
}

static int tool_start(llg_anthropic_stream_t *s, long index, const cJSON *block)
{
    const char *id = llg_json_str(block, "id"), *name = llg_json_str(block, "name");
    if (id == NULL)
        id = "";
    if (name == NULL)
        name = "";
    unsigned tool = llg_answer_tool_start(&s->r.a, s->r.out, id, strlen(id), name, strlen(name));
    if (index >= 0 && index < MAX_BLOCKS)
        s->tool_of_block[index] = (int)tool;
    /* a start with a non-empty input (not Anthropic's own streams) carries it whole */
    const cJSON *input = llg_json_get(block, "input");
    if (cJSON_IsObject(input) && input->child != NULL) {
        char *args = cJSON_PrintUnformatted(input);
        if (args != NULL)
            llg_answer_tool_args(&s->r.a, s->r.out, tool, args, strlen(args));
        cJSON_free(args);
    }
    return 0;
}

static int on_delta(llg_anthropic_stream_t *s, long index, const cJSON *d)
{
    const char *type = llg_json_str(d, "type");
    if (type == NULL)
        return 0;
    const char *v;
    if (strcmp(type, "text_delta") == 0 && (v = llg_json_str(d, "text")) != NULL)
        llg_answer_content(&s->r.a, s->r.out, v, strlen(v));
    else if (strcmp(type, "thinking_delta") == 0 && (v = llg_json_str(d, "thinking")) != NULL)
        llg_answer_reasoning(&s->r.a, s->r.out, v, strlen(v));
    else if (strcmp(type, "input_json_delta") == 0 && (v = llg_json_str(d, "partial_json")) != NULL && index >= 0 &&
             index < MAX_BLOCKS && s->tool_of_block[index] >= 0)
        llg_answer_tool_args(&s->r.a, s->r.out, (unsigned)s->tool_of_block[index], v, strlen(v));
    return 0;
}

/* the reason in OpenAI's words, as the canonical end takes it */
static void take_stop(llg_anthropic_stream_t *s, const char *stop)
{
    if (stop != NULL)
        snprintf(s->r.finish, sizeof(s->r.finish), "%s", llg_anthropic_finish_reason(stop));
}

static int on_event(llg_reader_t *r, const llg_sse_event_t *ev)
{
    llg_anthropic_stream_t *s = (llg_anthropic_stream_t *)r;
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    const char *type = llg_json_str(j, "type");
    int rc = 0;
    if (type == NULL) {
        rc = cJSON_IsObject(j) ? 0
                               : llg_reader_fail(&s->r, 502, "server_error", "upstream_protocol_error", LLG_OUTCOME_SERVER,
                                                 "The upstream provider sent an event that is not JSON.");
    } else if (strcmp(type, "message_start") == 0) {
        take_usage(s, llg_json_get(llg_json_get(j, "message"), "usage"));
    } else if (strcmp(type, "content_block_start") == 0) {
        const cJSON *block = llg_json_get(j, "content_block");
        long index = (long)llg_json_count(j, "index", MAX_BLOCKS);
        const char *bt = llg_json_str(block, "type");
        if (bt != NULL && (strcmp(bt, "tool_use") == 0 || strcmp(bt, "server_tool_use") == 0))
            rc = tool_start(s, index, block);
        else if (bt != NULL && strcmp(bt, "text") == 0 && llg_json_str(block, "text") != NULL)
            llg_answer_content(&s->r.a, s->r.out, llg_json_str(block, "text"), strlen(llg_json_str(block, "text")));
    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = on_delta(s, (long)llg_json_count(j, "index", MAX_BLOCKS), llg_json_get(j, "delta"));
    } else if (strcmp(type, "message_delta") == 0) {
        take_stop(s, llg_json_str(llg_json_get(j, "delta"), "stop_reason"));
        take_usage(s, llg_json_get(j, "usage"));
    } else if (strcmp(type, "message_stop") == 0) {
        r->done = true;
    } else if (strcmp(type, "error") == 0) {
        rc = error_object(s, llg_json_get(j, "error"));
    }
    cJSON_Delete(j);
    return rc;
}

/* A whole message (a non-stream answer). */
static int on_whole(llg_reader_t *r, const cJSON *j)
{
    llg_anthropic_stream_t *s = (llg_anthropic_stream_t *)r;
    if (cJSON_IsObject(llg_json_get(j, "error")))
        return error_object(s, llg_json_get(j, "error"));
    const cJSON *block;
    cJSON_ArrayForEach(block, llg_json_get(j, "content"))
    {
        const char *bt = llg_json_str(block, "type"), *v;
        if (bt == NULL)
            continue;
        if (strcmp(bt, "text") == 0 && (v = llg_json_str(block, "text")) != NULL) {
            llg_answer_content(&s->r.a, s->r.out, v, strlen(v));
        } else if (strcmp(bt, "thinking") == 0 && (v = llg_json_str(block, "thinking")) != NULL) {
            llg_answer_reasoning(&s->r.a, s->r.out, v, strlen(v));
        } else if (strcmp(bt, "tool_use") == 0) {
            const char *id = llg_json_str(block, "id"), *name = llg_json_str(block, "name");
            char *args = llg_json_get(block, "input") != NULL ? cJSON_PrintUnformatted(llg_json_get(block, "input")) : NULL;
            llg_answer_tool_call(&s->r.a, s->r.out, id != NULL ? id : "", id != NULL ? strlen(id) : 0, name != NULL ? name : "",
                                 name != NULL ? strlen(name) : 0, args != NULL ? args : "{}", args != NULL ? strlen(args) : 2);
            cJSON_free(args);
        }
    }
    take_stop(s, llg_json_str(j, "stop_reason"));
    take_usage(s, llg_json_get(j, "usage"));
    r->done = true;
    return 0;
}

/* only message_stop ends a stream */
static const llg_reader_ops_t ops = {on_event, on_whole, false};

int llg_anthropic_feed(llg_anthropic_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_reader_feed(&s->r, p, n, out, err);
}

int llg_anthropic_end(llg_anthropic_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    return llg_reader_end(&s->r, out, err);
}

void llg_anthropic_usage(const llg_anthropic_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated)
{
    llg_answer_usage(&s->r.a, prompt, completion, estimated);
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
        llg_xlate_set_error(err, 402, "insufficient_quota", "insufficient_quota", LLG_OUTCOME_PAYMENT,
                            "The upstream provider's quota or credit is exhausted.");
    else if (status == 429) /* Anthropic's text names the organisation of the key */
        llg_xlate_set_error(err, 429, "rate_limit_error", "rate_limit_exceeded", LLG_OUTCOME_RATE_LIMITED,
                            "The upstream provider's rate limit was reached.");
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
