/*
 * tests/mock/anthropic.c: Anthropic's Messages API as llmgate-mock speaks it
 * (shapes from shared/fixtures/anthropic). POST /v1/messages answers a
 * message object, or with "stream": true the SSE events message_start,
 * content_block_start / content_block_delta / content_block_stop for a
 * thinking block (thinking=1), the text block and one tool_use block per
 * tool call (tools=N), ping, message_delta and message_stop; error_midstream
 * sends `event: error` (overloaded_error). Also POST
 * /v1/messages/count_tokens, the model list, the response headers
 * (request-id, anthropic-ratelimit-*) and the error bodies
 * {"type":"error","error":{"type","message"},"request_id"}.
 */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* a fixed fake signature of the thinking block */
#define AN_SIGNATURE "EqQBCgIYAhIMbW9jay1zaWduYXR1cmUaDG1vY2std2hhdGV2ZXIiMG1vY2s="

static void jstr(struct mbuf *o, const char *s)
{
    mbuf_add_json_str(o, s, strlen(s));
}

/* the OpenAI finish reasons mapped to Anthropic's stop reasons; others as given */
static const char *stop_reason(struct mock_conn *c)
{
    const char *f = c->sc.finish;
    if (f[0] == '\0')
        return c->sc.tools > 0 ? "tool_use" : "end_turn";
    if (strcmp(f, "stop") == 0)
        return "end_turn";
    if (strcmp(f, "length") == 0)
        return "max_tokens";
    if (strcmp(f, "tool_calls") == 0)
        return "tool_use";
    if (strcmp(f, "content_filter") == 0)
        return "refusal";
    return f;
}

static void tool_id(struct mock_conn *c, struct mbuf *o, uint32_t t)
{
    mbuf_addf(o, "\"toolu_mock%llu_%u\"", (unsigned long long)c->seq, t);
}

/* ---- headers ---- */

static void rfc3339(char *out, size_t cap, int64_t epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void mock_anthropic_headers(struct mock_conn *c, struct mbuf *o)
{
    const struct mock_scenario *sc = &c->sc;
    bool limited = c->st.status == 429;
    int64_t now = (int64_t)time(NULL), ahead = 0;
    char reset[40];
    const char *rr = sc->reset_requests;
    bool digits = rr[0] != '\0' && strspn(rr, "0123456789") == strlen(rr);
    if (limited && digits)
        ahead = (int64_t)strtoll(rr, NULL, 10);
    else if (limited && sc->retry_after >= 0)
        ahead = sc->retry_after;
    else if (limited && sc->retry_after_ms >= 0)
        ahead = (sc->retry_after_ms + 999) / 1000;
    else if (limited && sc->retry_after_date >= 0)
        ahead = sc->retry_after_date;
    if (limited && rr[0] != '\0' && !digits)
        snprintf(reset, sizeof(reset), "%s", rr);
    else
        rfc3339(reset, sizeof(reset), now + ahead);
    mbuf_addf(o,
              "request-id: req_mock%llu\r\nanthropic-organization-id: 5e1f0c2a-6d3b-4c8e-9f7a-000000000000\r\n"
              "anthropic-ratelimit-requests-limit: 50\r\nanthropic-ratelimit-requests-remaining: %d\r\n"
              "anthropic-ratelimit-requests-reset: %s\r\n",
              (unsigned long long)c->seq, limited ? 0 : 49, reset);
    if (!limited)
        mbuf_addf(o,
                  "anthropic-ratelimit-input-tokens-limit: 30000\r\nanthropic-ratelimit-input-tokens-remaining: 30000\r\n"
                  "anthropic-ratelimit-input-tokens-reset: %s\r\nanthropic-ratelimit-output-tokens-limit: 8000\r\n"
                  "anthropic-ratelimit-output-tokens-remaining: 8000\r\nanthropic-ratelimit-output-tokens-reset: %s\r\n",
                  reset, reset);
    mbuf_addf(o,
              "via: 1.1 google\r\ncf-cache-status: DYNAMIC\r\nx-robots-tag: none\r\nserver: cloudflare\r\ncf-ray: 9a%llx-SJC\r\n",
              (unsigned long long)c->seq);
}

/* ---- the stream ---- */

static void ping(struct mock_conn *c, struct mbuf *o)
{
    mock_sse_event(c, o, "ping");
    mbuf_adds(o, "{\"type\": \"ping\"}");
    mock_sse_end(c, o);
}

static void block_start(struct mock_conn *c, struct mbuf *o, unsigned idx, const char *block)
{
    mock_sse_event(c, o, "content_block_start");
    mbuf_addf(o, "{\"type\":\"content_block_start\",\"index\":%u,\"content_block\":%s}", idx, block);
    mock_sse_end(c, o);
}

/* a content_block_delta of type dtype whose field is the JSON string s */
static void block_delta(struct mock_conn *c, struct mbuf *o, unsigned idx, const char *dtype, const char *field, const char *s,
                        size_t n)
{
    mock_sse_event(c, o, "content_block_delta");
    mbuf_addf(o, "{\"type\":\"content_block_delta\",\"index\":%u,\"delta\":{\"type\":\"%s\",\"%s\":", idx, dtype, field);
    mbuf_add_json_str(o, s, n);
    mbuf_adds(o, "}}");
    mock_sse_end(c, o);
}

static void block_stop(struct mock_conn *c, struct mbuf *o, unsigned idx)
{
    mock_sse_event(c, o, "content_block_stop");
    mbuf_addf(o, "{\"type\":\"content_block_stop\",\"index\":%u}", idx);
    mock_sse_end(c, o);
}

static void text_start(struct mock_conn *c, struct mbuf *o)
{
    block_start(c, o, mock_text_index(c), "{\"type\":\"text\",\"text\":\"\"}");
}

/* message_start; with thinking=1 the thinking block (its start, a ping, the
 * thinking pieces, the signature, its stop); the text block's start and a
 * ping when the ping did not come yet */
static int an_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    struct mock_stream *st = &c->st;
    if (k == 0) {
        mock_sse_event(c, o, "message_start");
        mbuf_adds(o, "{\"type\":\"message_start\",\"message\":{\"id\":");
        jstr(o, st->id);
        mbuf_adds(o, ",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":");
        jstr(o, st->model);
        mbuf_addf(o, ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":%u,\"output_tokens\":1",
                  st->prompt_tokens);
        if (c->sc.cached >= 0) /* cached=N: the cache read, as Anthropic reports it in message_start */
            mbuf_addf(o, ",\"cache_read_input_tokens\":%lld", (long long)c->sc.cached);
        mbuf_adds(o, "}}}");
        mock_sse_end(c, o);
        return 1;
    }
    k--;
    if (c->sc.thinking) {
        if (k == 0) {
            block_start(c, o, 0, "{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}");
        } else if (k == 1) {
            ping(c, o);
        } else if (k < 2 + MOCK_THINK_PIECES) {
            const char *p = mock_think_pieces[k - 2];
            block_delta(c, o, 0, "thinking_delta", "thinking", p, strlen(p));
        } else if (k == 2 + MOCK_THINK_PIECES) {
            block_delta(c, o, 0, "signature_delta", "signature", AN_SIGNATURE, sizeof(AN_SIGNATURE) - 1);
        } else if (k == 3 + MOCK_THINK_PIECES) {
            block_stop(c, o, 0);
        } else if (k == 4 + MOCK_THINK_PIECES && mock_has_text(c)) {
            text_start(c, o);
        } else {
            return 0;
        }
        return 1;
    }
    if (!mock_has_text(c) || k > 1)
        return 0;
    if (k == 0)
        text_start(c, o);
    else
        ping(c, o);
    return 1;
}

static void an_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    block_delta(c, o, mock_text_index(c), "text_delta", "text", s, n);
}

static void an_error(struct mock_conn *c, struct mbuf *o)
{
    mock_sse_event(c, o, "error");
    mbuf_adds(o, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":");
    jstr(o, c->sc.message[0] ? c->sc.message : "Overloaded");
    mbuf_adds(o, "}}");
    mock_sse_end(c, o);
}

/* event k of tool call t: its block's start (then a ping when it is the
 * first block), an empty input_json_delta, the arguments in pieces, the stop */
static void tool_event(struct mock_conn *c, struct mbuf *o, uint32_t t, unsigned k, bool with_ping)
{
    unsigned idx = mock_tool_index(c, t);
    if (k == 0) {
        struct mbuf b = {0};
        mbuf_adds(&b, "{\"type\":\"tool_use\",\"id\":");
        tool_id(c, &b, t);
        mbuf_adds(&b, ",\"name\":");
        jstr(&b, mock_tool_name(c, t));
        mbuf_adds(&b, ",\"input\":{}}");
        mbuf_addc(&b, '\0');
        block_start(c, o, idx, b.p);
        mbuf_free(&b);
        return;
    }
    if (with_ping && k == 1) {
        ping(c, o);
        return;
    }
    k -= with_ping ? 2 : 1;
    if (k == 0) {
        block_delta(c, o, idx, "input_json_delta", "partial_json", "", 0);
    } else if (k <= MOCK_ARG_PIECES) {
        struct mbuf a = {0};
        mock_tool_args(c, &a, t, (int)k - 1);
        block_delta(c, o, idx, "input_json_delta", "partial_json", a.p, a.len);
        mbuf_free(&a);
    } else {
        block_stop(c, o, idx);
    }
}

/* the text block's stop, the tool_use blocks, message_delta, message_stop */
static int an_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (mock_has_text(c)) {
        if (k == 0) {
            block_stop(c, o, mock_text_index(c));
            return 1;
        }
        k--;
    }
    for (uint32_t t = 0; t < c->sc.tools; t++) {
        bool with_ping = t == 0 && !c->sc.thinking && !mock_has_text(c);
        unsigned events = 3 + MOCK_ARG_PIECES + (with_ping ? 1 : 0);
        if (k < events) {
            tool_event(c, o, t, k, with_ping);
            return 1;
        }
        k -= events;
    }
    if (k == 0) {
        mock_sse_event(c, o, "message_delta");
        mbuf_adds(o, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
        jstr(o, stop_reason(c));
        mbuf_adds(o, ",\"stop_sequence\":null}");
        if (c->st.include_usage)
            mbuf_addf(o, ",\"usage\":{\"output_tokens\":%u}", c->st.n);
        mbuf_addc(o, '}');
        mock_sse_end(c, o);
        return 1;
    }
    if (k == 1) {
        mock_sse_event(c, o, "message_stop");
        mbuf_adds(o, "{\"type\":\"message_stop\"}");
        mock_sse_end(c, o);
        return 1;
    }
    return 0;
}

const struct mock_wire mock_wire_anthropic = {mock_sse_head, an_prelude, an_chunk, ping, an_error, an_tail};

/* ---- whole bodies ---- */

void mock_anthropic_whole(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0}, t = {0};
    struct mock_stream *st = &c->st;
    bool first = true;
    mbuf_adds(&b, "{\"id\":");
    jstr(&b, st->id);
    mbuf_adds(&b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    jstr(&b, st->model);
    mbuf_adds(&b, ",\"content\":[");
    if (c->sc.thinking) {
        mock_think_whole(&t);
        mbuf_adds(&b, "{\"type\":\"thinking\",\"thinking\":");
        mbuf_add_json_str(&b, t.p, t.len);
        mbuf_adds(&b, ",\"signature\":\"" AN_SIGNATURE "\"}");
        first = false;
    }
    if (mock_has_text(c)) {
        t.len = 0;
        mock_text_whole(c, &t);
        mbuf_adds(&b, first ? "{\"type\":\"text\",\"text\":" : ",{\"type\":\"text\",\"text\":");
        mbuf_add_json_str(&b, t.p ? t.p : "", t.len);
        mbuf_addc(&b, '}');
        first = false;
    }
    for (uint32_t k = 0; k < c->sc.tools; k++) {
        mbuf_adds(&b, first ? "{\"type\":\"tool_use\",\"id\":" : ",{\"type\":\"tool_use\",\"id\":");
        first = false;
        tool_id(c, &b, k);
        mbuf_adds(&b, ",\"name\":");
        jstr(&b, mock_tool_name(c, k));
        mbuf_adds(&b, ",\"input\":");
        mock_tool_args(c, &b, k, -1);
        mbuf_addc(&b, '}');
    }
    mbuf_adds(&b, "],\"stop_reason\":");
    jstr(&b, stop_reason(c));
    mbuf_adds(&b, ",\"stop_sequence\":null");
    if (st->include_usage)
        mbuf_addf(&b,
                  ",\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u,\"cache_creation_input_tokens\":0,"
                  "\"cache_read_input_tokens\":%lld}",
                  st->prompt_tokens, st->n, (long long)(c->sc.cached >= 0 ? c->sc.cached : 0));
    mbuf_addc(&b, '}');
    mock_whole(c, o, 200, "application/json", b.p, b.len);
    mbuf_free(&b);
    mbuf_free(&t);
}

void mock_anthropic_count(struct mock_conn *c, struct mbuf *o)
{
    char body[48];
    int n = snprintf(body, sizeof(body), "{\"input_tokens\":%u}", c->st.prompt_tokens);
    mock_whole(c, o, 200, "application/json", body, (size_t)n);
}

/* ---- the model list ---- */

void mock_anthropic_models(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    const char *ids = c->sc.models;
    if (ids[0] == '\0') {
        mbuf_adds(&b, "{\"data\":[{\"type\":\"model\",\"id\":\"claude-sonnet-4-5\",\"display_name\":\"Claude Sonnet 4.5\","
                      "\"created_at\":\"2025-09-29T00:00:00Z\"},{\"type\":\"model\",\"id\":\"claude-opus-4-1-20250805\","
                      "\"display_name\":\"Claude Opus 4.1\",\"created_at\":\"2025-08-05T00:00:00Z\"},{\"type\":\"model\","
                      "\"id\":\"claude-3-5-haiku-20241022\",\"display_name\":\"Claude Haiku 3.5\",\"created_at\":"
                      "\"2024-10-22T00:00:00Z\"}],\"has_more\":false,\"first_id\":\"claude-sonnet-4-5\",\"last_id\":"
                      "\"claude-3-5-haiku-20241022\"}");
        mock_whole(c, o, 200, "application/json", b.p, b.len);
        mbuf_free(&b);
        return;
    }
    const char *p = ids, *first = NULL, *last = NULL;
    size_t first_n = 0, last_n = 0;
    mbuf_adds(&b, "{\"data\":[");
    while (*p) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            if (first != NULL)
                mbuf_addc(&b, ',');
            else
                first = p, first_n = n;
            last = p, last_n = n;
            mbuf_adds(&b, "{\"type\":\"model\",\"id\":");
            mbuf_add_json_str(&b, p, n);
            mbuf_adds(&b, ",\"display_name\":");
            mbuf_add_json_str(&b, p, n);
            mbuf_adds(&b, ",\"created_at\":\"2025-01-01T00:00:00Z\"}");
        }
        p += n;
        if (*p == '|')
            p++;
    }
    mbuf_adds(&b, "],\"has_more\":false,\"first_id\":");
    if (first != NULL)
        mbuf_add_json_str(&b, first, first_n);
    else
        mbuf_adds(&b, "null");
    mbuf_adds(&b, ",\"last_id\":");
    if (last != NULL)
        mbuf_add_json_str(&b, last, last_n);
    else
        mbuf_adds(&b, "null");
    mbuf_addc(&b, '}');
    mock_whole(c, o, 200, "application/json", b.p, b.len);
    mbuf_free(&b);
}

/* ---- errors ---- */

void mock_anthropic_error_body(struct mock_conn *c, struct mbuf *b, int status, const char *what)
{
    const char *type = "invalid_request_error", *msg;
    struct mbuf tmp = {0};
    bool is_mock = what != NULL && strcmp(what, "mock") == 0;
    if (is_mock) {
        type = "mock_error";
        msg = c->sc.error;
    } else if (what != NULL && strcmp(what, "json") == 0) {
        msg = "There was an error parsing the body of your request. Please ensure it is valid JSON.";
    } else if (what != NULL && strcmp(what, "messages") == 0) {
        msg = "messages: Field required";
    } else if (what != NULL && strcmp(what, "max_tokens") == 0) {
        msg = "max_tokens: Field required";
    } else if (what != NULL && strcmp(what, "route") == 0) {
        type = "not_found_error";
        msg = "Not Found";
    } else if (what != NULL && strcmp(what, "method") == 0) {
        msg = "Method Not Allowed";
    } else if (what != NULL && strcmp(what, "insufficient_quota") == 0) {
        msg = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
              "purchase credits.";
    } else {
        switch (status) {
        case 401:
            type = "authentication_error";
            msg = "invalid x-api-key";
            break;
        case 402:
            msg = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
                  "purchase credits.";
            break;
        case 403:
            type = "permission_error";
            msg = "Your API key does not have permission to use the specified resource.";
            break;
        case 404:
            type = "not_found_error";
            mbuf_addf(&tmp, "model: %s", c->st.model);
            mbuf_addc(&tmp, '\0');
            msg = tmp.p;
            break;
        case 413:
            type = "request_too_large";
            msg = "Request exceeds the maximum allowed number of bytes.";
            break;
        case 429:
            type = "rate_limit_error";
            msg = "Number of request tokens has exceeded your per-minute rate limit";
            break;
        case 529:
            type = "overloaded_error";
            msg = "Overloaded";
            break;
        default:
            if (status >= 500) {
                type = "api_error";
                msg = "Internal server error";
            } else {
                msg = "Invalid request";
            }
        }
    }
    if (c->sc.message[0] && !is_mock)
        msg = c->sc.message;
    mbuf_adds(b, "{\"type\":\"error\",\"error\":{\"type\":");
    jstr(b, type);
    mbuf_adds(b, ",\"message\":");
    jstr(b, msg);
    mbuf_addf(b, "},\"request_id\":\"req_mock%llu\"}", (unsigned long long)c->seq);
    mbuf_free(&tmp);
}
