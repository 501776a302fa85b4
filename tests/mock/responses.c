/*
 * tests/mock/responses.c: OpenAI's Responses API as llmgate-mock speaks it
 * (shapes from shared/fixtures/responses and OpenAI's reference). POST
 * /v1/responses answers a `response` object whose output holds a reasoning
 * item with a summary (thinking=1), a message item with one output_text
 * part, and one function_call item per tool call (tools=N; a
 * custom_tool_call item when the call's name is a custom tool of the
 * request), with the usage and the request's parameters echoed. With
 * "stream": true it sends SSE events, each with its sequence_number:
 * response.created, response.in_progress, every item's events in order,
 * then response.completed (response.incomplete for finish=length or
 * content_filter), and no [DONE]. error_midstream sends an `error` event,
 * then response.failed. Headers and HTTP error bodies are OpenAI's
 * (formats.c).
 */
#include "mock.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void jstr(struct mbuf *o, const char *s)
{
    mbuf_add_json_str(o, s, strlen(s));
}

/* ---- the request ---- */

/* the parameters a response echoes, and their value when the request has none */
static const struct {
    const char *name, *absent;
} echoed[] = {
    {"instructions", "null"},
    {"max_output_tokens", "null"},
    {"parallel_tool_calls", "true"},
    {"previous_response_id", "null"},
    {"reasoning", "{\"effort\":null,\"summary\":null}"},
    {"store", "true"},
    {"temperature", "1.0"},
    {"text", "{\"format\":{\"type\":\"text\"}}"},
    {"tool_choice", "\"auto\""},
    {"tools", "[]"},
    {"top_p", "1.0"},
    {"truncation", "\"disabled\""},
    {"user", "null"},
    {"metadata", "{}"},
};

void mock_responses_prepare(struct mock_conn *c, const cJSON *root)
{
    struct mock_stream *st = &c->st;
    for (size_t i = 0; i < sizeof(echoed) / sizeof(echoed[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, echoed[i].name);
        char *s = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
        mbuf_addf(&st->echo, ",\"%s\":", echoed[i].name);
        mbuf_adds(&st->echo, s != NULL ? s : echoed[i].absent);
        free(s);
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "tools"))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "custom") == 0 && cJSON_IsString(name))
            mbuf_add(&st->custom_tools, name->valuestring, strlen(name->valuestring) + 1);
    }
}

/* tool call t names a custom tool of the request */
static bool is_custom(struct mock_conn *c, uint32_t t)
{
    const struct mbuf *ct = &c->st.custom_tools;
    const char *name = mock_tool_name(c, t);
    for (size_t at = 0; at < ct->len; at += strlen(ct->p + at) + 1)
        if (strcmp(ct->p + at, name) == 0)
            return true;
    return false;
}

/* incomplete_details.reason when the response ends incomplete, else NULL */
static const char *incomplete_reason(const struct mock_conn *c)
{
    const char *f = c->sc.finish;
    if (strcmp(f, "length") == 0 || strcmp(f, "max_output_tokens") == 0)
        return "max_output_tokens";
    if (strcmp(f, "content_filter") == 0)
        return "content_filter";
    return NULL;
}

static const char *error_code(const struct mock_conn *c)
{
    return c->sc.error_type[0] ? c->sc.error_type : "server_error";
}

static const char *error_message(const struct mock_conn *c)
{
    return c->sc.message[0] ? c->sc.message
                            : "An error occurred while processing your request. You can retry your request, or contact us "
                              "through our help center at help.openai.com if the error persists.";
}

/* ---- output items, as in response.output ---- */

enum item { IT_REASONING, IT_MESSAGE, IT_CALL };

static void item_id(struct mock_conn *c, struct mbuf *o, enum item it, uint32_t t)
{
    unsigned long long seq = (unsigned long long)c->seq;
    if (it == IT_REASONING)
        mbuf_addf(o, "\"rs_mock%llu\"", seq);
    else if (it == IT_MESSAGE)
        mbuf_addf(o, "\"msg_mock%llu\"", seq);
    else
        mbuf_addf(o, "\"%s_mock%llu_%u\"", is_custom(c, t) ? "ctc" : "fc", seq, t);
}

/* the reasoning summary (empty until done) as a JSON string */
static void think_json(struct mbuf *o, bool done)
{
    struct mbuf t = {0};
    if (done)
        mock_think_whole(&t);
    mbuf_add_json_str(o, t.p ? t.p : "", t.len);
    mbuf_free(&t);
}

/* the answer's text (empty until done) as a JSON string */
static void text_json(struct mock_conn *c, struct mbuf *o, bool done)
{
    struct mbuf t = {0};
    if (done)
        mock_text_whole(c, &t);
    mbuf_add_json_str(o, t.p ? t.p : "", t.len);
    mbuf_free(&t);
}

/* tool call t's arguments (a custom tool's input) as a JSON string: whole
 * (part -1) or piece part of MOCK_ARG_PIECES */
static void args_json(struct mock_conn *c, struct mbuf *o, uint32_t t, int part)
{
    struct mbuf a = {0};
    mock_tool_args(c, &a, t, part);
    mbuf_add_json_str(o, a.p ? a.p : "", a.len);
    mbuf_free(&a);
}

static void summary_part(struct mbuf *o, bool done)
{
    mbuf_adds(o, "{\"type\":\"summary_text\",\"text\":");
    think_json(o, done);
    mbuf_addc(o, '}');
}

static void text_part(struct mock_conn *c, struct mbuf *o, bool done)
{
    mbuf_adds(o, "{\"type\":\"output_text\",\"text\":");
    text_json(c, o, done);
    mbuf_adds(o, ",\"annotations\":[]}");
}

/* an item as output_item.added (not done) or .done and the response show it */
static void item(struct mock_conn *c, struct mbuf *o, enum item it, uint32_t t, bool done)
{
    mbuf_adds(o, "{\"id\":");
    item_id(c, o, it, t);
    if (it == IT_REASONING) {
        mbuf_adds(o, ",\"type\":\"reasoning\",\"summary\":[");
        if (done)
            summary_part(o, true);
        mbuf_adds(o, "]}");
        return;
    }
    if (it == IT_MESSAGE) {
        const char *status = !done ? "in_progress" : incomplete_reason(c) ? "incomplete" : "completed";
        mbuf_addf(o, ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[", status);
        if (done)
            text_part(c, o, true);
        mbuf_adds(o, "]}");
        return;
    }
    bool custom = is_custom(c, t);
    if (custom)
        mbuf_adds(o, ",\"type\":\"custom_tool_call\"");
    else
        mbuf_addf(o, ",\"type\":\"function_call\",\"status\":\"%s\"", done ? "completed" : "in_progress");
    mbuf_addf(o, ",\"call_id\":\"call_mock%llu_%u\",\"name\":", (unsigned long long)c->seq, t);
    jstr(o, mock_tool_name(c, t));
    mbuf_adds(o, custom ? ",\"input\":" : ",\"arguments\":");
    if (done)
        args_json(c, o, t, -1);
    else
        mbuf_adds(o, "\"\"");
    mbuf_addc(o, '}');
}

static void output_items(struct mock_conn *c, struct mbuf *o)
{
    mbuf_addc(o, '[');
    if (c->sc.thinking)
        item(c, o, IT_REASONING, 0, true);
    if (mock_has_text(c)) {
        if (mock_text_index(c) > 0)
            mbuf_addc(o, ',');
        item(c, o, IT_MESSAGE, 0, true);
    }
    for (uint32_t t = 0; t < c->sc.tools; t++) {
        if (mock_tool_index(c, t) > 0)
            mbuf_addc(o, ',');
        item(c, o, IT_CALL, t, true);
    }
    mbuf_addc(o, ']');
}

/* ---- the response object ---- */

/* as response.created and .in_progress show it, whole, or failed */
enum rstate { R_START, R_DONE, R_FAILED };

static void usage(struct mock_conn *c, struct mbuf *o)
{
    uint32_t p = c->st.prompt_tokens, r = c->sc.thinking ? MOCK_THINK_PIECES : 0;
    if (c->sc.reasoning >= 0) /* reasoning=N: the count as given (capped for the sum) */
        r = c->sc.reasoning < 1000000 ? (uint32_t)c->sc.reasoning : 1000000;
    uint32_t n = c->st.n + r;
    long long cached = c->sc.cached >= 0 ? (long long)c->sc.cached : 0;
    if (!c->st.include_usage) {
        mbuf_adds(o, "null");
        return;
    }
    mbuf_addf(o,
              "{\"input_tokens\":%u,\"input_tokens_details\":{\"cached_tokens\":%lld},\"output_tokens\":%u,"
              "\"output_tokens_details\":{\"reasoning_tokens\":%u},\"total_tokens\":%u}",
              p, cached, n, r, p + n);
}

static void response_obj(struct mock_conn *c, struct mbuf *o, enum rstate s)
{
    struct mock_stream *st = &c->st;
    const char *inc = s == R_DONE ? incomplete_reason(c) : NULL;
    const char *status = s == R_START ? "in_progress" : s == R_FAILED ? "failed" : inc ? "incomplete" : "completed";
    mbuf_adds(o, "{\"id\":");
    jstr(o, st->id);
    mbuf_addf(o, ",\"object\":\"response\",\"created_at\":%llu,\"status\":\"%s\",\"error\":", (unsigned long long)st->created,
              status);
    if (s == R_FAILED) {
        mbuf_adds(o, "{\"code\":");
        jstr(o, error_code(c));
        mbuf_adds(o, ",\"message\":");
        jstr(o, error_message(c));
        mbuf_addc(o, '}');
    } else {
        mbuf_adds(o, "null");
    }
    if (inc != NULL)
        mbuf_addf(o, ",\"incomplete_details\":{\"reason\":\"%s\"}", inc);
    else
        mbuf_adds(o, ",\"incomplete_details\":null");
    mbuf_adds(o, ",\"model\":");
    jstr(o, st->model);
    mbuf_adds(o, ",\"output\":");
    if (s == R_DONE)
        output_items(c, o);
    else
        mbuf_adds(o, "[]");
    if (st->echo.len > 0)
        mbuf_add(o, st->echo.p, st->echo.len);
    mbuf_adds(o, ",\"usage\":");
    if (s == R_DONE)
        usage(c, o);
    else
        mbuf_adds(o, "null");
    mbuf_addc(o, '}');
}

void mock_responses_whole(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    response_obj(c, &b, R_DONE);
    mock_whole(c, o, 200, "application/json", b.p, b.len);
    mbuf_free(&b);
}

/* ---- the stream ---- */

/* "event: TYPE\ndata: {"type":"TYPE","sequence_number":N": the caller adds
 * the event's fields, then ev_close */
static void ev_open(struct mock_conn *c, struct mbuf *o, const char *type)
{
    mock_sse_event(c, o, type);
    mbuf_addf(o, "{\"type\":\"%s\",\"sequence_number\":%u", type, c->st.evseq++);
}

static void ev_close(struct mock_conn *c, struct mbuf *o)
{
    mbuf_addc(o, '}');
    mock_sse_end(c, o);
}

/* response.created, .in_progress, .completed, .incomplete, .failed */
static void response_event(struct mock_conn *c, struct mbuf *o, const char *type, enum rstate s)
{
    ev_open(c, o, type);
    mbuf_adds(o, ",\"response\":");
    response_obj(c, o, s);
    ev_close(c, o);
}

/* response.output_item.added or .done */
static void item_event(struct mock_conn *c, struct mbuf *o, enum item it, uint32_t t, unsigned idx, bool done)
{
    ev_open(c, o, done ? "response.output_item.done" : "response.output_item.added");
    mbuf_addf(o, ",\"output_index\":%u,\"item\":", idx);
    item(c, o, it, t, done);
    ev_close(c, o);
}

/* opens an event about an item: its item_id and output_index */
static void item_ref(struct mock_conn *c, struct mbuf *o, const char *type, enum item it, uint32_t t, unsigned idx)
{
    ev_open(c, o, type);
    mbuf_adds(o, ",\"item_id\":");
    item_id(c, o, it, t);
    mbuf_addf(o, ",\"output_index\":%u", idx);
}

/* opens an event about the message's output_text part */
static void text_ref(struct mock_conn *c, struct mbuf *o, const char *type)
{
    item_ref(c, o, type, IT_MESSAGE, 0, mock_text_index(c));
    mbuf_adds(o, ",\"content_index\":0");
}

#define REASONING_EVENTS (5 + MOCK_THINK_PIECES)

/* event k of the reasoning item: added, summary_part.added, the
 * summary_text deltas, summary_text.done, summary_part.done, done */
static void reasoning_event(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k == 0 || k == REASONING_EVENTS - 1) {
        item_event(c, o, IT_REASONING, 0, 0, k > 0);
        return;
    }
    bool delta = k >= 2 && k < 2 + MOCK_THINK_PIECES;
    const char *type = k == 1                       ? "response.reasoning_summary_part.added"
                       : delta                      ? "response.reasoning_summary_text.delta"
                       : k == 2 + MOCK_THINK_PIECES ? "response.reasoning_summary_text.done"
                                                    : "response.reasoning_summary_part.done";
    item_ref(c, o, type, IT_REASONING, 0, 0);
    mbuf_adds(o, ",\"summary_index\":0");
    if (delta) {
        mbuf_adds(o, ",\"delta\":");
        jstr(o, mock_think_pieces[k - 2]);
    } else if (k == 2 + MOCK_THINK_PIECES) {
        mbuf_adds(o, ",\"text\":");
        think_json(o, true);
    } else {
        mbuf_adds(o, ",\"part\":");
        summary_part(o, k > 1);
    }
    ev_close(c, o);
}

/* response.created, .in_progress; the reasoning item; the message's
 * output_item.added and content_part.added */
static int rs_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k < 2) {
        response_event(c, o, k == 0 ? "response.created" : "response.in_progress", R_START);
        return 1;
    }
    k -= 2;
    if (c->sc.thinking) {
        if (k < REASONING_EVENTS) {
            reasoning_event(c, o, k);
            return 1;
        }
        k -= REASONING_EVENTS;
    }
    if (!mock_has_text(c) || k > 1)
        return 0;
    if (k == 0) {
        item_event(c, o, IT_MESSAGE, 0, mock_text_index(c), false);
        return 1;
    }
    text_ref(c, o, "response.content_part.added");
    mbuf_adds(o, ",\"part\":");
    text_part(c, o, false);
    ev_close(c, o);
    return 1;
}

static void rs_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    text_ref(c, o, "response.output_text.delta");
    mbuf_adds(o, ",\"delta\":");
    mbuf_add_json_str(o, s, n);
    ev_close(c, o);
}

/* an `error` event, then response.failed */
static void rs_error(struct mock_conn *c, struct mbuf *o)
{
    ev_open(c, o, "error");
    mbuf_adds(o, ",\"code\":");
    jstr(o, error_code(c));
    mbuf_adds(o, ",\"message\":");
    jstr(o, error_message(c));
    mbuf_adds(o, ",\"param\":null");
    ev_close(c, o);
    response_event(c, o, "response.failed", R_FAILED);
}

/* event k of the message's end: output_text.done, content_part.done, done */
static void message_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k == 2) {
        item_event(c, o, IT_MESSAGE, 0, mock_text_index(c), true);
        return;
    }
    text_ref(c, o, k == 0 ? "response.output_text.done" : "response.content_part.done");
    if (k == 0) {
        mbuf_adds(o, ",\"text\":");
        text_json(c, o, true);
    } else {
        mbuf_adds(o, ",\"part\":");
        text_part(c, o, true);
    }
    ev_close(c, o);
}

#define CALL_EVENTS (3 + MOCK_ARG_PIECES)

/* event k of tool call t: added, the argument (input) deltas, their done, done */
static void call_event(struct mock_conn *c, struct mbuf *o, uint32_t t, unsigned k)
{
    static const char *const types[2][2] = {
        {"response.function_call_arguments.delta", "response.function_call_arguments.done"},
        {"response.custom_tool_call_input.delta", "response.custom_tool_call_input.done"},
    };
    unsigned idx = mock_tool_index(c, t);
    if (k == 0 || k == CALL_EVENTS - 1) {
        item_event(c, o, IT_CALL, t, idx, k > 0);
        return;
    }
    bool custom = is_custom(c, t), delta = k <= MOCK_ARG_PIECES;
    item_ref(c, o, types[custom][!delta], IT_CALL, t, idx);
    mbuf_adds(o, delta ? ",\"delta\":" : custom ? ",\"input\":" : ",\"arguments\":");
    args_json(c, o, t, delta ? (int)k - 1 : -1);
    ev_close(c, o);
}

/* the message's end, the tool calls, response.completed (.incomplete) */
static int rs_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (mock_has_text(c)) {
        if (k < 3) {
            message_tail(c, o, k);
            return 1;
        }
        k -= 3;
    }
    if (k < c->sc.tools * CALL_EVENTS) {
        call_event(c, o, k / CALL_EVENTS, k % CALL_EVENTS);
        return 1;
    }
    if (k == c->sc.tools * CALL_EVENTS) {
        response_event(c, o, incomplete_reason(c) ? "response.incomplete" : "response.completed", R_DONE);
        return 1;
    }
    return 0;
}

const struct mock_wire mock_wire_responses = {mock_sse_head, rs_prelude, rs_chunk, mock_sse_comment, rs_error, rs_tail};
