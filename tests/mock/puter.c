/*
 * tests/mock/puter.c: Puter's driver API as llmgate-mock speaks it (shapes
 * from shared/fixtures/puter): POST /drivers/call answers NDJSON lines
 * ({"type":"text"}, "reasoning", "tool_use") when args.stream is true, else
 * {"success":true,"result":{"message":{"content": string or parts}}};
 * {"success":false,...} with HTTP 200 (puter_200_error); the model list of
 * GET /puterai/chat/models. Quirks: blank and hex lines (puter_noise), no
 * final newline (puter_nonl), CRLF (crlf).
 */
#include "mock.h"

#include <string.h>

/* starts a line: with puter_nonl the line end comes before each line but the first */
static void line_begin(struct mock_conn *c, struct mbuf *o)
{
    if (c->sc.puter_nonl && c->st.any_line)
        mbuf_adds(o, c->sc.crlf ? "\r\n" : "\n");
    c->st.any_line = true;
}

static void line_end(struct mock_conn *c, struct mbuf *o)
{
    if (!c->sc.puter_nonl)
        mbuf_adds(o, c->sc.crlf ? "\r\n" : "\n");
}

static void line(struct mock_conn *c, struct mbuf *o, const char *s)
{
    line_begin(c, o);
    mbuf_adds(o, s);
    line_end(c, o);
}

static void puter_head(struct mock_conn *c, struct mbuf *o)
{
    c->st.status = 200;
    mock_head(c, o, 200, "application/x-ndjson", -1);
    mock_fmt_headers(c, o);
    mbuf_adds(o, "\r\n");
}

static int puter_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k == 0 && c->sc.puter_reasoning) {
        line(c, o, "{\"type\":\"reasoning\",\"reasoning\":\"Let me think about that.\"}");
        return 1;
    }
    return 0;
}

static void puter_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    if (c->sc.puter_noise && c->st.i > 0) {
        line(c, o, "");
        if (c->st.i % 2 == 1)
            line(c, o, "1f");
    }
    line_begin(c, o);
    mbuf_adds(o, "{\"type\":\"text\",\"text\":");
    mbuf_add_json_str(o, s, n);
    mbuf_addc(o, '}');
    line_end(c, o);
}

static void puter_comment(struct mock_conn *c, struct mbuf *o)
{
    line(c, o, "");
}

static void puter_error(struct mock_conn *c, struct mbuf *o)
{
    line_begin(c, o);
    mbuf_adds(o, "{\"success\":false,\"error\":{\"code\":\"stream_error\",\"message\":");
    const char *m = c->sc.message[0] ? c->sc.message : "Error from delegate: stream interrupted";
    mbuf_add_json_str(o, m, strlen(m));
    mbuf_adds(o, ",\"status\":500}}");
    line_end(c, o);
}

static int puter_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (k == 0 && c->sc.puter_tools) {
        line(c, o, "{\"type\":\"tool_use\",\"id\":\"toolu_mock1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}");
        return 1;
    }
    return 0;
}

const struct mock_wire mock_wire_puter = {puter_head, puter_prelude, puter_chunk, puter_comment, puter_error, puter_tail};

void mock_puter_whole(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0}, t = {0};
    struct mock_stream *st = &c->st;
    const char *m = st->model;
    if (c->sc.puter_array) {
        mbuf_adds(&b, "{\"success\":true,\"service\":{\"name\":\"claude\"},\"result\":{\"message\":{\"role\":\"assistant\","
                      "\"content\":[");
        for (st->i = 0; st->i < st->n; st->i++) {
            t.len = 0;
            mock_piece(c, &t);
            mbuf_adds(&b, st->i ? ",{\"type\":\"text\",\"text\":" : "{\"type\":\"text\",\"text\":");
            mbuf_add_json_str(&b, t.p ? t.p : "", t.len);
            mbuf_addc(&b, '}');
        }
        mbuf_adds(&b, "]},\"finish_reason\":");
        mbuf_add_json_str(&b, mock_finish(c), strlen(mock_finish(c)));
        mbuf_addf(&b, ",\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u}}}", st->prompt_tokens, st->n);
    } else {
        for (st->i = 0; st->i < st->n; st->i++)
            mock_piece(c, &t);
        mbuf_adds(&b, "{\"success\":true,\"service\":{\"name\":\"openrouter\"},\"result\":{\"index\":0,\"message\":{\"role\":"
                      "\"assistant\",\"content\":");
        mbuf_add_json_str(&b, t.p ? t.p : "", t.len);
        mbuf_adds(&b, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":");
        mbuf_add_json_str(&b, mock_finish(c), strlen(mock_finish(c)));
        mbuf_adds(&b, ",\"usage\":[{\"type\":\"prompt\",\"model\":");
        mbuf_add_json_str(&b, m, strlen(m));
        mbuf_addf(&b, ",\"amount\":%u,\"cost\":0},{\"type\":\"completion\",\"model\":", st->prompt_tokens);
        mbuf_add_json_str(&b, m, strlen(m));
        mbuf_addf(&b, ",\"amount\":%u,\"cost\":0}],\"via_ai_chat_service\":true}}", st->n);
    }
    st->i = 0;
    st->text_pos = 0;
    st->char_pos = 0;
    mock_whole(c, o, 200, "application/json", b.p, b.len);
    mbuf_free(&b);
    mbuf_free(&t);
}

void mock_puter_models(struct mock_conn *c, struct mbuf *o)
{
    struct mbuf b = {0};
    const char *ids = c->sc.models[0]
                          ? c->sc.models
                          : "openrouter:anthropic/claude-3.5-sonnet|openrouter:openai/gpt-4o|gpt-4o-mini|claude-sonnet-4";
    mbuf_adds(&b, "{\"models\":[");
    const char *p = ids;
    bool first = true;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            if (!first)
                mbuf_addc(&b, ',');
            first = false;
            mbuf_add_json_str(&b, p, n);
        }
        p += n;
        if (*p == '|')
            p++;
    }
    mbuf_adds(&b, "]}");
    mock_whole(c, o, 200, "application/json", b.p, b.len);
    mbuf_free(&b);
}

void mock_puter_error(struct mock_conn *c, struct mbuf *o, int status)
{
    struct mbuf b = {0};
    c->sc.format = MOCK_FMT_PUTER;
    if (status == 200) {
        mbuf_adds(&b, "{\"success\":false,\"error\":{\"$\":\"heyputer:api/APIError\",\"code\":\"error_400_from_delegate\","
                      "\"message\":");
        const char *m = c->sc.message[0] ? c->sc.message : "Error 400 from delegate \"openrouter\": model not found";
        mbuf_add_json_str(&b, m, strlen(m));
        mbuf_adds(&b, ",\"status\":400}}");
    } else if (status == 502) {
        mock_fmt_error(c, o, status, NULL);
        return;
    } else {
        const char *code = status == 401   ? "token_auth_failed"
                           : status == 402 ? "insufficient_funds"
                           : status == 403 ? "forbidden"
                           : status == 404 ? "entity_not_found"
                           : status == 429 ? "too_many_requests"
                           : status >= 500 ? "internal_error"
                                           : "bad_request";
        const char *msg = c->sc.message[0] ? c->sc.message
                          : status == 401  ? "Authentication failed."
                          : status == 402  ? "Insufficient funds."
                          : status == 429  ? "Too many requests."
                          : status >= 500  ? "An unexpected error occurred."
                                           : "Invalid request.";
        mbuf_adds(&b, "{\"message\":");
        mbuf_add_json_str(&b, msg, strlen(msg));
        mbuf_adds(&b, ",\"code\":");
        mbuf_add_json_str(&b, code, strlen(code));
        mbuf_addc(&b, '}');
    }
    mock_whole(c, o, status, "application/json", b.p, b.len);
    mbuf_free(&b);
}
