/*
 * tests/mock/formats.c: the OpenAI-shaped wire formats of llmgate-mock, as
 * OpenAI, OpenRouter, DeepInfra and Poe's OpenAI-compatible API send them
 * (shapes from shared/fixtures): the response headers of each provider
 * (rate-limit headers, Set-Cookie, CORS), chat completion chunks and bodies
 * (with tool calls for tools=N and reasoning deltas for thinking=1), legacy
 * completions, model lists, and each provider's error bodies. Also the SSE
 * framing the other SSE formats share (anthropic.c).
 */
#include "mock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- SSE framing, shared by the SSE formats ---- */

void mock_sse_end(const struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, c->sc.crlf ? "\r\n\r\n" : "\n\n");
}

void mock_sse_event(const struct mock_conn *c, struct mbuf *o, const char *name)
{
    mbuf_adds(o, "event: ");
    mbuf_adds(o, name);
    mbuf_adds(o, c->sc.crlf ? "\r\ndata: " : "\ndata: ");
}

static void jstr(struct mbuf *o, const char *s)
{
    mbuf_add_json_str(o, s, strlen(s));
}

static void add_cost(struct mbuf *o, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), "%.10f", v);
    while (n > 1 && tmp[n - 1] == '0' && tmp[n - 2] != '.')
        n--;
    mbuf_add(o, tmp, (size_t)n);
}

const char *mock_finish(struct mock_conn *c)
{
    return c->sc.finish[0] ? c->sc.finish : c->sc.tools > 0 ? "tool_calls" : "stop";
}

/* "prompt_tokens":..,"completion_tokens":..,"total_tokens":.. */
static void usage_counts(struct mock_conn *c, struct mbuf *o)
{
    uint32_t p = c->st.prompt_tokens, n = c->st.n;
    mbuf_addf(o, "\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u", p, n, p + n);
}

void mock_fmt_usage(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "\"usage\":{");
    usage_counts(c, o);
    uint32_t p = c->st.prompt_tokens, n = c->st.n;
    /* cached=N, reasoning=N: OpenAI's details objects (absent by default, as
     * most OpenAI-compatible upstreams send none) */
    if (c->sc.cached >= 0)
        mbuf_addf(o, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}", (long long)c->sc.cached);
    if (c->sc.reasoning >= 0)
        mbuf_addf(o, ",\"completion_tokens_details\":{\"reasoning_tokens\":%lld}", (long long)c->sc.reasoning);
    if (c->sc.format == MOCK_FMT_OPENROUTER) {
        mbuf_adds(o, ",\"cost\":");
        add_cost(o, (p * 2.5 + n * 10.0) / 1e6);
    } else if (c->sc.format == MOCK_FMT_DEEPINFRA) {
        mbuf_adds(o, ",\"estimated_cost\":");
        add_cost(o, (p * 0.27 + n * 1.1) / 1e6);
    }
    mbuf_addc(o, '}');
}

/* ---- headers ---- */

void mock_fmt_headers(struct mock_conn *c, struct mbuf *o)
{
    unsigned long long seq = (unsigned long long)c->seq;
    bool limited = c->st.status == 429;
    switch (c->sc.format) {
    case MOCK_FMT_OPENAI:
    case MOCK_FMT_RESPONSES:
        mbuf_addf(o,
                  "openai-organization: user-mock\r\nopenai-processing-ms: 3\r\nopenai-version: 2020-10-01\r\n"
                  "x-request-id: req_mock%llu\r\n",
                  seq);
        if (limited) {
            mbuf_adds(o, "x-ratelimit-limit-requests: 500\r\nx-ratelimit-remaining-requests: 0\r\n");
        } else {
            mbuf_adds(o, "x-ratelimit-limit-requests: 10000\r\nx-ratelimit-remaining-requests: 9999\r\n"
                         "x-ratelimit-reset-requests: 6ms\r\nx-ratelimit-limit-tokens: 30000000\r\n"
                         "x-ratelimit-remaining-tokens: 29999990\r\nx-ratelimit-reset-tokens: 0s\r\n");
        }
        mbuf_addf(o,
                  "set-cookie: __cf_bm=mock%llu; path=/; expires=Thu, 01 Jan 2099 00:00:00 GMT; domain=.api.openai.com; "
                  "HttpOnly; Secure; SameSite=None\r\nset-cookie: _cfuvid=mock%llu; path=/; domain=.api.openai.com; HttpOnly; "
                  "Secure; SameSite=None\r\nstrict-transport-security: max-age=31536000; includeSubDomains; preload\r\n"
                  "cf-cache-status: DYNAMIC\r\nserver: cloudflare\r\ncf-ray: 8f%llx-AMS\r\nalt-svc: h3=\":443\"; ma=86400\r\n",
                  seq, seq, seq);
        break;
    case MOCK_FMT_OPENROUTER:
        mbuf_addf(o,
                  "access-control-allow-origin: *\r\nvary: Accept-Encoding\r\nx-clerk-auth-status: signed-out\r\n"
                  "server: cloudflare\r\ncf-ray: 8e%llx-FRA\r\n",
                  seq);
        if (limited)
            mbuf_adds(o, "x-ratelimit-limit: 20\r\nx-ratelimit-remaining: 0\r\n");
        break;
    case MOCK_FMT_DEEPINFRA:
        mbuf_addf(o, "x-robots-tag: noindex\r\nx-request-id: di-mock%llu\r\nserver: uvicorn\r\n", seq);
        break;
    case MOCK_FMT_POE:
        mbuf_addf(o, "x-request-id: poe-mock%llu\r\nserver: cloudflare\r\nset-cookie: p-b=mock%llu; Path=/; Secure; HttpOnly\r\n",
                  seq, seq);
        break;
    case MOCK_FMT_PUTER:
        mbuf_addf(o,
                  "x-powered-by: Express\r\naccess-control-allow-origin: *\r\nset-cookie: puter_auth_token=mock%llu; Path=/; "
                  "HttpOnly\r\netag: W/\"mock%llu\"\r\n",
                  seq, seq);
        break;
    case MOCK_FMT_ANTHROPIC:
        mock_anthropic_headers(c, o);
        break;
    }
    const struct mock_scenario *sc = &c->sc;
    if (limited) {
        if (sc->retry_after >= 0)
            mbuf_addf(o, "retry-after: %lld\r\n", (long long)sc->retry_after);
        if (sc->retry_after_ms >= 0)
            mbuf_addf(o, "retry-after-ms: %lld\r\n", (long long)sc->retry_after_ms);
        if (sc->retry_after_date >= 0) {
            char d[40];
            mock_http_date_fmt(d, sizeof(d), (int64_t)time(NULL) + sc->retry_after_date);
            mbuf_addf(o, "retry-after: %s\r\n", d);
        }
        if (sc->reset_requests[0] && sc->format != MOCK_FMT_ANTHROPIC)
            mbuf_addf(o, "x-ratelimit-reset-requests: %s\r\n", sc->reset_requests);
    }
}

static void stream_head(struct mock_conn *c, struct mbuf *o, const char *ctype)
{
    c->st.status = 200;
    mock_head(c, o, 200, ctype, -1);
    mbuf_adds(o, "Cache-Control: no-cache\r\n");
    mock_fmt_headers(c, o);
    mbuf_adds(o, "\r\n");
}

void mock_sse_head(struct mock_conn *c, struct mbuf *o)
{
    stream_head(c, o, "text/event-stream; charset=utf-8");
}

/* ---- OpenAI (and Poe's OpenAI-compatible API) ---- */

static void oa_begin(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"id\":");
    jstr(o, c->st.id);
    mbuf_adds(o, ",\"object\":\"chat.completion.chunk\",\"created\":");
    mbuf_addu(o, c->st.created);
    mbuf_adds(o, ",\"model\":");
    jstr(o, c->st.model);
    mbuf_adds(o, ",\"choices\":[");
}

static void oa_end(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, c->st.include_usage ? "],\"usage\":null}" : "]}");
    mock_sse_end(c, o);
}

static void plain_end(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "]}");
    mock_sse_end(c, o);
}

/* the shape of one OpenAI-like stream: its chunk start and end, and what
 * follows a delta in a choice */
struct oa_like {
    void (*begin)(struct mock_conn *c, struct mbuf *o);
    void (*end)(struct mock_conn *c, struct mbuf *o);
    const char *after_delta;  /* the rest of the choice: "},\"finish_reason\":null}" ... */
    const char *reasoning;    /* the delta's field of thinking=1 */
    const char *delta_prefix; /* what a content delta starts with */
};

/* thinking=1: reasoning piece k (0 when none is left) */
static int reasoning_event(struct mock_conn *c, struct mbuf *o, unsigned k, const struct oa_like *w)
{
    if (!c->sc.thinking || k >= MOCK_THINK_PIECES)
        return 0;
    w->begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{");
    mbuf_adds(o, w->delta_prefix);
    mbuf_addc(o, '"');
    mbuf_adds(o, w->reasoning);
    mbuf_adds(o, "\":");
    jstr(o, mock_think_pieces[k]);
    mbuf_adds(o, w->after_delta);
    w->end(c, o);
    return 1;
}

/* tools=N: event k of the tool calls (0 when none is left): per call, its
 * id, type and name with empty arguments, then the arguments in pieces */
static int tool_call_event(struct mock_conn *c, struct mbuf *o, unsigned k, const struct oa_like *w)
{
    uint32_t t = k / (1 + MOCK_ARG_PIECES), part = k % (1 + MOCK_ARG_PIECES);
    if (t >= c->sc.tools)
        return 0;
    w->begin(c, o);
    mbuf_addf(o, "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":%u,", t);
    if (part == 0) {
        mbuf_addf(o, "\"id\":\"call_mock%llu_%u\",\"type\":\"function\",\"function\":{\"name\":", (unsigned long long)c->seq, t);
        jstr(o, mock_tool_name(c, t));
        mbuf_adds(o, ",\"arguments\":\"\"}}]");
    } else {
        struct mbuf a = {0};
        mock_tool_args(c, &a, t, (int)part - 1);
        mbuf_adds(o, "\"function\":{\"arguments\":");
        mbuf_add_json_str(o, a.p, a.len);
        mbuf_adds(o, "}}]");
        mbuf_free(&a);
    }
    mbuf_adds(o, w->after_delta);
    w->end(c, o);
    return 1;
}

static const struct oa_like oa_shape = {oa_begin, oa_end, "},\"logprobs\":null,\"finish_reason\":null}", "reasoning_content", ""};

static int oa_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k > 0)
        return reasoning_event(c, o, k - 1, &oa_shape);
    oa_begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                 "\"logprobs\":null,\"finish_reason\":null}");
    oa_end(c, o);
    return 1;
}

static void oa_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    oa_begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{\"content\":");
    mbuf_add_json_str(o, s, n);
    mbuf_adds(o, "},\"logprobs\":null,\"finish_reason\":null}");
    oa_end(c, o);
}

void mock_sse_comment(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, ": keep-alive");
    mock_sse_end(c, o);
}

static void oa_error(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"error\":{\"message\":");
    jstr(o, c->sc.message[0] ? c->sc.message : "The server had an error while processing your request. Sorry about that!");
    mbuf_adds(o, ",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
    mock_sse_end(c, o);
}

static void done_event(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: [DONE]");
    mock_sse_end(c, o);
}

/* tail events 1 and on: a usage chunk when wanted, then [DONE] */
static int usage_then_done(struct mock_conn *c, struct mbuf *o, unsigned k, void (*begin)(struct mock_conn *, struct mbuf *))
{
    unsigned last = c->st.include_usage ? 2 : 1;
    if (k < last) {
        begin(c, o);
        mbuf_adds(o, "],");
        mock_fmt_usage(c, o);
        mbuf_addc(o, '}');
        mock_sse_end(c, o);
        return 1;
    }
    if (k == last) {
        done_event(c, o);
        return 1;
    }
    return 0;
}

static int oa_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    unsigned tk = c->sc.tools * (1 + MOCK_ARG_PIECES);
    if (k < tk)
        return tool_call_event(c, o, k, &oa_shape);
    k -= tk;
    if (k == 0) {
        oa_begin(c, o);
        mbuf_adds(o, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":");
        jstr(o, mock_finish(c));
        mbuf_addc(o, '}');
        oa_end(c, o);
        return 1;
    }
    return usage_then_done(c, o, k, oa_begin);
}

const struct mock_wire mock_wire_openai = {mock_sse_head, oa_prelude, oa_chunk, mock_sse_comment, oa_error, oa_tail};

/* ---- OpenRouter ---- */

static void or_begin(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"id\":");
    jstr(o, c->st.id);
    mbuf_adds(o, ",\"provider\":\"OpenAI\",\"model\":");
    jstr(o, c->st.model);
    mbuf_adds(o, ",\"object\":\"chat.completion.chunk\",\"created\":");
    mbuf_addu(o, c->st.created);
    mbuf_adds(o, ",\"choices\":[");
}

static void or_comment(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, ": OPENROUTER PROCESSING");
    mock_sse_end(c, o);
}

static const struct oa_like or_shape = {or_begin, plain_end, "},\"finish_reason\":null,\"native_finish_reason\":null}", "reasoning",
                                        "\"role\":\"assistant\",\"content\":\"\","};

static int or_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k > 0)
        return reasoning_event(c, o, k - 1, &or_shape);
    or_comment(c, o);
    return 1;
}

static void or_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    or_begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":");
    mbuf_add_json_str(o, s, n);
    mbuf_adds(o, "},\"finish_reason\":null,\"native_finish_reason\":null}]}");
    mock_sse_end(c, o);
}

static void or_error(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"id\":");
    jstr(o, c->st.id);
    mbuf_adds(o, ",\"object\":\"chat.completion.chunk\",\"created\":");
    mbuf_addu(o, c->st.created);
    mbuf_adds(o, ",\"model\":");
    jstr(o, c->st.model);
    mbuf_adds(o, ",\"provider\":\"openai\",\"error\":{\"code\":\"server_error\",\"message\":");
    jstr(o, c->sc.message[0] ? c->sc.message : "Provider disconnected unexpectedly");
    mbuf_adds(o, "},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}");
    mock_sse_end(c, o);
}

static int or_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    unsigned tk = c->sc.tools * (1 + MOCK_ARG_PIECES);
    if (k < tk)
        return tool_call_event(c, o, k, &or_shape);
    k -= tk;
    if (k == 0) {
        or_begin(c, o);
        mbuf_adds(o, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":");
        jstr(o, mock_finish(c));
        mbuf_adds(o, ",\"native_finish_reason\":");
        jstr(o, mock_finish(c));
        mbuf_adds(o, "}]}");
        mock_sse_end(c, o);
        return 1;
    }
    return usage_then_done(c, o, k, or_begin);
}

const struct mock_wire mock_wire_openrouter = {mock_sse_head, or_prelude, or_chunk, or_comment, or_error, or_tail};

/* ---- DeepInfra ---- */

static void di_begin(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"id\":");
    jstr(o, c->st.id);
    mbuf_adds(o, ",\"object\":\"chat.completion.chunk\",\"created\":");
    mbuf_addu(o, c->st.created);
    mbuf_adds(o, ",\"model\":");
    jstr(o, c->st.model);
    mbuf_adds(o, ",\"choices\":[");
}

static const struct oa_like di_shape = {di_begin, plain_end, "},\"finish_reason\":null}", "reasoning_content", ""};

static int di_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k > 0)
        return reasoning_event(c, o, k - 1, &di_shape);
    di_begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}");
    mock_sse_end(c, o);
    return 1;
}

static void di_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    di_begin(c, o);
    mbuf_adds(o, "{\"index\":0,\"delta\":{\"content\":");
    mbuf_add_json_str(o, s, n);
    mbuf_adds(o, "},\"finish_reason\":null}]}");
    mock_sse_end(c, o);
}

static void di_error(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"error\":{\"message\":");
    jstr(o, c->sc.message[0] ? c->sc.message : "Internal server error: inference failed");
    mbuf_adds(o, "}}");
    mock_sse_end(c, o);
}

static int di_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    unsigned tk = c->sc.tools * (1 + MOCK_ARG_PIECES);
    if (k < tk)
        return tool_call_event(c, o, k, &di_shape);
    k -= tk;
    if (k == 0) {
        di_begin(c, o);
        mbuf_adds(o, "{\"index\":0,\"delta\":{},\"finish_reason\":");
        jstr(o, mock_finish(c));
        mbuf_adds(o, "}]");
        if (c->st.include_usage) {
            mbuf_addc(o, ',');
            mock_fmt_usage(c, o);
        }
        mbuf_addc(o, '}');
        mock_sse_end(c, o);
        return 1;
    }
    if (k == 1) {
        done_event(c, o);
        return 1;
    }
    return 0;
}

const struct mock_wire mock_wire_deepinfra = {mock_sse_head, di_prelude, di_chunk, mock_sse_comment, di_error, di_tail};

/* ---- legacy completions (/v1/completions) ---- */

static int no_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    (void)c;
    (void)o;
    (void)k;
    return 0;
}

static void cm_begin(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, "data: {\"id\":");
    jstr(o, c->st.id);
    mbuf_adds(o, ",\"object\":\"text_completion\",\"created\":");
    mbuf_addu(o, c->st.created);
    mbuf_adds(o, ",\"model\":");
    jstr(o, c->st.model);
    mbuf_adds(o, ",\"choices\":[");
}

static void cm_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    cm_begin(c, o);
    mbuf_adds(o, "{\"text\":");
    mbuf_add_json_str(o, s, n);
    mbuf_adds(o, ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}");
    mock_sse_end(c, o);
}

static int cm_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k == 0) {
        cm_begin(c, o);
        mbuf_adds(o, "{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":");
        jstr(o, mock_finish(c));
        mbuf_adds(o, "}]}");
        mock_sse_end(c, o);
        return 1;
    }
    return usage_then_done(c, o, k, cm_begin);
}

const struct mock_wire mock_wire_completion = {mock_sse_head, no_prelude, cm_chunk, mock_sse_comment, oa_error, cm_tail};

/* ---- whole bodies ---- */

static void finish_whole(struct mock_conn *c, struct mbuf *o, struct mbuf *b)
{
    mock_whole(c, o, 200, "application/json", b->p, b->len);
    mbuf_free(b);
}

/* the message's content: null when tool calls come without text */
static void whole_content(struct mock_conn *c, struct mbuf *b)
{
    struct mbuf t = {0};
    if (c->st.n == 0 && c->sc.tools > 0) {
        mbuf_adds(b, "null");
        return;
    }
    mock_text_whole(c, &t);
    mbuf_add_json_str(b, t.p ? t.p : "", t.len);
    mbuf_free(&t);
}

/* thinking=1: ,"<field>":"<reasoning>" */
static void whole_reasoning(struct mock_conn *c, struct mbuf *b, const char *field)
{
    if (!c->sc.thinking)
        return;
    struct mbuf t = {0};
    mock_think_whole(&t);
    mbuf_addf(b, ",\"%s\":", field);
    mbuf_add_json_str(b, t.p, t.len);
    mbuf_free(&t);
}

/* tools=N: the message's tool_calls array */
static void whole_tool_calls(struct mock_conn *c, struct mbuf *b)
{
    struct mbuf a = {0};
    mbuf_addc(b, '[');
    for (uint32_t t = 0; t < c->sc.tools; t++) {
        mbuf_addf(b, "%s{\"id\":\"call_mock%llu_%u\",\"type\":\"function\",\"function\":{\"name\":", t ? "," : "",
                  (unsigned long long)c->seq, t);
        jstr(b, mock_tool_name(c, t));
        mbuf_adds(b, ",\"arguments\":");
        a.len = 0;
        mock_tool_args(c, &a, t, -1);
        mbuf_add_json_str(b, a.p, a.len);
        mbuf_adds(b, "}}");
    }
    mbuf_addc(b, ']');
    mbuf_free(&a);
}

void mock_fmt_chat_whole(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    struct mock_stream *st = &c->st;
    mbuf_adds(&b, "{\"id\":");
    jstr(&b, st->id);
    if (c->sc.format == MOCK_FMT_OPENROUTER) {
        mbuf_adds(&b, ",\"provider\":\"OpenAI\",\"model\":");
        jstr(&b, st->model);
        mbuf_addf(&b, ",\"object\":\"chat.completion\",\"created\":%llu,\"choices\":[{\"logprobs\":null,\"finish_reason\":",
                  (unsigned long long)st->created);
        jstr(&b, mock_finish(c));
        mbuf_adds(&b, ",\"native_finish_reason\":");
        jstr(&b, mock_finish(c));
        mbuf_adds(&b, ",\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        whole_content(c, &b);
        if (c->sc.tools > 0) {
            mbuf_adds(&b, ",\"tool_calls\":");
            whole_tool_calls(c, &b);
        }
        mbuf_adds(&b, ",\"refusal\":null");
        if (c->sc.thinking)
            whole_reasoning(c, &b, "reasoning");
        else
            mbuf_adds(&b, ",\"reasoning\":null");
        mbuf_adds(&b, "}}]");
    } else {
        mbuf_addf(&b, ",\"object\":\"chat.completion\",\"created\":%llu,\"model\":", (unsigned long long)st->created);
        jstr(&b, st->model);
        mbuf_adds(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        whole_content(c, &b);
        whole_reasoning(c, &b, "reasoning_content");
        if (c->sc.format == MOCK_FMT_DEEPINFRA) {
            mbuf_adds(&b, ",\"name\":null,\"tool_calls\":");
            if (c->sc.tools > 0)
                whole_tool_calls(c, &b);
            else
                mbuf_adds(&b, "null");
            mbuf_adds(&b, "},\"finish_reason\":");
        } else {
            if (c->sc.tools > 0) {
                mbuf_adds(&b, ",\"tool_calls\":");
                whole_tool_calls(c, &b);
            }
            mbuf_adds(&b, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":");
        }
        jstr(&b, mock_finish(c));
        mbuf_adds(&b, c->sc.format == MOCK_FMT_DEEPINFRA ? ",\"logprobs\":null}]" : "}]");
    }
    if (st->include_usage) {
        mbuf_addc(&b, ',');
        mock_fmt_usage(c, &b);
    }
    mbuf_addc(&b, '}');
    finish_whole(c, o, &b);
}

void mock_fmt_completion_whole(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    struct mock_stream *st = &c->st;
    mbuf_adds(&b, "{\"id\":");
    jstr(&b, st->id);
    mbuf_addf(&b, ",\"object\":\"text_completion\",\"created\":%llu,\"model\":", (unsigned long long)st->created);
    jstr(&b, st->model);
    mbuf_adds(&b, ",\"choices\":[{\"text\":");
    whole_content(c, &b);
    mbuf_adds(&b, ",\"index\":0,\"logprobs\":null,\"finish_reason\":");
    jstr(&b, mock_finish(c));
    mbuf_adds(&b, "}]");
    if (st->include_usage) {
        mbuf_addc(&b, ',');
        mock_fmt_usage(c, &b);
    }
    mbuf_addc(&b, '}');
    finish_whole(c, o, &b);
}

/* ---- model lists ---- */

static const char deepinfra_models[] =
    "deepseek-ai/DeepSeek-V3.1|deepseek-ai/DeepSeek-R1-0528-Turbo|deepseek-ai/DeepSeek-V3-0324-Turbo|openai/gpt-oss-120b|"
    "zai-org/GLM-4.5|zai-org/GLM-4.5-Air|moonshotai/Kimi-K2-Instruct|meta-llama/Llama-3.3-70B-Instruct|"
    "Qwen/Qwen3-Coder-480B-A35B-Instruct-Turbo|Qwen/Qwen3-Coder-480B-A35B-Instruct|bigcode/starcoder2-15b|"
    "Phind/Phind-CodeLlama-34B-v2|allenai/olmOCR-7B-0725-FP8|openai/whisper-tiny|mistralai/Voxtral-Small-24B-2507|"
    "mistralai/Voxtral-Mini-3B-2507|Qwen/Qwen3-235B-A22B-Thinking-2507|Qwen/Qwen3-235B-A22B-Instruct-2507|Qwen/Qwen3-30B-A3B|"
    "Qwen/Qwen3-32B|Qwen/Qwen3-14B|Gryphe/MythoMax-L2-13b|openchat/openchat_3.5";

void mock_fmt_models(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    enum mock_format f = c->sc.format;
    const char *ids = c->sc.models;
    if (f == MOCK_FMT_ANTHROPIC) {
        mock_anthropic_models(c, o);
        return;
    }
    if (ids[0] == '\0') {
        if (f == MOCK_FMT_OPENROUTER) {
            mbuf_adds(&b,
                      "{\"data\":[{\"id\":\"openai/gpt-4o\",\"canonical_slug\":\"openai/gpt-4o\",\"name\":\"OpenAI: GPT-4o\","
                      "\"created\":1715367049,\"context_length\":128000,\"pricing\":{\"prompt\":\"0.0000025\",\"completion\":"
                      "\"0.00001\"}},{\"id\":\"anthropic/claude-3.5-sonnet\",\"canonical_slug\":\"anthropic/claude-3.5-sonnet\","
                      "\"name\":\"Anthropic: Claude 3.5 Sonnet\",\"created\":1718841600,\"context_length\":200000,\"pricing\":{"
                      "\"prompt\":\"0.000003\",\"completion\":\"0.000015\"}}]}");
            finish_whole(c, o, &b);
            return;
        }
        if (f == MOCK_FMT_POE) {
            mbuf_adds(&b, "{\"object\":\"list\",\"data\":[{\"id\":\"GPT-4o\",\"object\":\"model\",\"created\":1715367049000,"
                          "\"owned_by\":\"OpenAI\"},{\"id\":\"Claude-3.5-Sonnet\",\"object\":\"model\",\"created\":1718841600000,"
                          "\"owned_by\":\"Anthropic\"}]}");
            finish_whole(c, o, &b);
            return;
        }
        ids = f == MOCK_FMT_DEEPINFRA ? deepinfra_models : "gpt-4o-mini|gpt-4o|text-embedding-3-small";
    }
    mbuf_adds(&b, f == MOCK_FMT_OPENROUTER ? "{\"data\":[" : "{\"object\":\"list\",\"data\":[");
    const char *p = ids;
    bool first = true;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            if (!first)
                mbuf_addc(&b, ',');
            first = false;
            mbuf_adds(&b, "{\"id\":");
            mbuf_add_json_str(&b, p, n);
            switch (f) {
            case MOCK_FMT_OPENROUTER:
                mbuf_adds(&b, ",\"canonical_slug\":");
                mbuf_add_json_str(&b, p, n);
                mbuf_adds(&b, ",\"name\":");
                mbuf_add_json_str(&b, p, n);
                mbuf_adds(&b, ",\"created\":1715367049,\"context_length\":128000,\"pricing\":{\"prompt\":\"0.0000025\","
                              "\"completion\":\"0.00001\"}}");
                break;
            case MOCK_FMT_POE:
                mbuf_adds(&b, ",\"object\":\"model\",\"created\":1715367049000,\"owned_by\":\"Poe\"}");
                break;
            case MOCK_FMT_DEEPINFRA:
                mbuf_adds(&b, ",\"object\":\"model\",\"created\":1724000000,\"owned_by\":\"deepinfra\"}");
                break;
            default:
                mbuf_adds(&b, ",\"object\":\"model\",\"created\":1715367049,\"owned_by\":\"system\"}");
            }
        }
        p += n;
        if (*p == '|')
            p++;
    }
    mbuf_adds(&b, "]}");
    finish_whole(c, o, &b);
}

/* ---- errors ---- */

static void mask_key(struct mock_conn *c, struct mbuf *o)
{
    const char *k = c->rbuf.p + c->rpos + c->req.key;
    size_t n = c->req.key_len;
    if (n >= 10) {
        mbuf_add(o, k, 6);
        mbuf_adds(o, "***");
        mbuf_add(o, k + n - 3, 3);
    } else {
        mbuf_adds(o, "***");
    }
}

/* OpenAI's message, type, param and code for a status */
static void openai_error(struct mock_conn *c, struct mbuf *b, int status, const char *what)
{
    const char *msg = NULL, *type = "invalid_request_error", *param = NULL, *code = NULL;
    struct mbuf tmp = {0};
    if (what != NULL && strcmp(what, "insufficient_quota") == 0) {
        msg = "You exceeded your current quota, please check your plan and billing details. For more information on this "
              "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.";
        type = code = "insufficient_quota";
    } else if (what != NULL && strcmp(what, "json") == 0) {
        msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
              "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
    } else if (what != NULL && (strcmp(what, "messages") == 0 || strcmp(what, "input") == 0)) {
        mbuf_addf(&tmp, "Missing required parameter: '%s'.", what);
        mbuf_addc(&tmp, '\0');
        msg = tmp.p;
        param = what;
        code = "missing_required_parameter";
    } else if (what != NULL && strcmp(what, "mock") == 0) {
        msg = c->sc.error;
        type = "mock_error";
    } else if (what != NULL && (strcmp(what, "route") == 0 || strcmp(what, "method") == 0)) {
        const char *base = c->rbuf.p + c->rpos;
        mbuf_addf(&tmp, "Invalid URL (%.*s %.*s)", (int)c->req.method_len, base + c->req.method, (int)c->req.path_len,
                  base + c->req.path);
        mbuf_addc(&tmp, '\0');
        msg = tmp.p;
    } else {
        switch (status) {
        case 400:
            msg = "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.";
            param = "messages";
            code = "empty_array";
            break;
        case 401:
            mbuf_adds(&tmp, "Incorrect API key provided: ");
            mask_key(c, &tmp);
            mbuf_adds(&tmp, ". You can find your API key at https://platform.openai.com/account/api-keys.");
            mbuf_addc(&tmp, '\0');
            msg = tmp.p;
            code = "invalid_api_key";
            break;
        case 402:
            msg = "Payment required: your account has no credit left.";
            type = "billing_error";
            code = "payment_required";
            break;
        case 403:
            msg = "Country, region, or territory not supported";
            type = "request_forbidden";
            code = "unsupported_country_region_territory";
            break;
        case 404:
            mbuf_addf(&tmp, "The model `%s` does not exist or you do not have access to it.", c->st.model);
            mbuf_addc(&tmp, '\0');
            msg = tmp.p;
            code = "model_not_found";
            break;
        case 413:
            msg = "Request too large for model. Please reduce the length of the messages.";
            code = "request_too_large";
            break;
        case 422:
            msg = "Invalid value for 'max_tokens': integer above maximum value.";
            param = "max_tokens";
            code = "invalid_value";
            break;
        case 429:
            msg = "Rate limit reached for requests";
            type = "requests";
            code = "rate_limit_exceeded";
            break;
        case 503:
            msg = "The engine is currently overloaded, please try again later";
            type = "server_error";
            break;
        default:
            if (status >= 500) {
                msg = "The server had an error while processing your request. Sorry about that!";
                type = "server_error";
            } else {
                msg = "The request was rejected by the upstream.";
            }
        }
    }
    if (c->sc.message[0] && (what == NULL || strcmp(what, "mock") != 0))
        msg = c->sc.message;
    mbuf_adds(b, "{\"error\":{\"message\":");
    jstr(b, msg);
    mbuf_adds(b, ",\"type\":");
    jstr(b, type);
    mbuf_adds(b, ",\"param\":");
    if (param)
        jstr(b, param);
    else
        mbuf_adds(b, "null");
    mbuf_adds(b, ",\"code\":");
    if (code)
        jstr(b, code);
    else
        mbuf_adds(b, "null");
    mbuf_adds(b, "}}");
    mbuf_free(&tmp);
}

static const char cf_502[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                             "Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

static const char *generic_message(struct mock_conn *c, int status)
{
    if (c->sc.message[0])
        return c->sc.message;
    switch (status) {
    case 400:
        return "Provider returned error";
    case 401:
        return "No auth credentials found";
    case 402:
        return "Insufficient credits. Add more using https://openrouter.ai/credits";
    case 403:
        return "Key is disabled";
    case 404:
        return "No endpoints found for this model.";
    case 413:
        return "Request too large";
    case 422:
        return "Unprocessable request";
    case 429:
        return "Rate limit exceeded, please retry later";
    case 503:
        return "Service temporarily unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Request rejected";
    }
}

void mock_fmt_error(struct mock_conn *c, struct mbuf *o, int status, const char *what)
{
    struct mbuf b = {0};
    const char *ctype = "application/json";
    c->st.status = status;
    if (what != NULL && strcmp(what, "moderation") == 0) {
        /* OpenRouter's refusal of flagged input, whatever the format */
        mbuf_adds(&b, "{\"error\":{\"code\":403,\"message\":\"Your chosen model requires moderation and your input was "
                      "flagged for \\\"harassment\\\".\",\"metadata\":{\"reasons\":[\"harassment\"],\"flagged_input\":\"...\","
                      "\"provider_name\":\"OpenAI\",\"model_slug\":\"openai/gpt-4o\"}}}");
        mock_whole(c, o, status, ctype, b.p, b.len);
        mbuf_free(&b);
        return;
    }
    bool mine = what != NULL && strcmp(what, "insufficient_quota") != 0; /* not an injected fault */
    if (status == 502 && !mine) {
        mbuf_adds(&b, cf_502);
        ctype = "text/html";
    } else if (c->sc.format == MOCK_FMT_ANTHROPIC) {
        mock_anthropic_error_body(c, &b, status, what);
    } else if (mine || c->sc.format == MOCK_FMT_OPENAI || c->sc.format == MOCK_FMT_RESPONSES || c->sc.format == MOCK_FMT_PUTER ||
               (what != NULL && strcmp(what, "insufficient_quota") == 0)) {
        openai_error(c, &b, status, what);
    } else if (c->sc.format == MOCK_FMT_OPENROUTER) {
        mbuf_addf(&b, "{\"error\":{\"code\":%d,\"message\":", status);
        jstr(&b, generic_message(c, status));
        mbuf_adds(&b, ",\"metadata\":{}}}");
    } else if (c->sc.format == MOCK_FMT_DEEPINFRA) {
        if (status == 422 && !c->sc.message[0]) {
            mbuf_adds(
                &b, "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\",\"type\":\"value_error.missing\"}]}");
        } else {
            mbuf_adds(&b, "{\"error\":{\"message\":");
            jstr(&b, c->sc.message[0] ? c->sc.message : status == 429 ? "Model busy, retry later" : generic_message(c, status));
            mbuf_adds(&b, "}}");
        }
    } else { /* Poe's OpenAI-compatible API */
        const char *type = status == 401   ? "authentication_error"
                           : status == 402 ? "insufficient_credits"
                           : status == 403 ? "moderation_error"
                           : status == 404 ? "not_found_error"
                           : status == 429 ? "rate_limit_error"
                           : status >= 500 ? "provider_error"
                                           : "invalid_request_error";
        mbuf_addf(&b, "{\"error\":{\"code\":%d,\"type\":\"%s\",\"message\":", status, type);
        jstr(&b, generic_message(c, status));
        mbuf_adds(&b, ",\"metadata\":{}}}");
    }
    mock_whole(c, o, status, ctype, b.p, b.len);
    mbuf_free(&b);
}
