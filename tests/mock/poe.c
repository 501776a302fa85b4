/*
 * tests/mock/poe.c: Poe's bot query protocol as llmgate-mock speaks it on
 * POST /bot/<BotName> (shapes from shared/fixtures/poe): SSE events meta,
 * text, replace_response, json, ping, suggested_reply, error and done, with
 * Poe's own JSON spacing ({"text": "..."}). Faults: poe_error_before (an
 * error event before any text), poe_error_after (after `after` texts),
 * poe_no_done (the stream ends without done).
 */
#include "mock.h"

#include <string.h>

static void ev(struct mock_conn *c, struct mbuf *o, const char *name)
{
    const char *nl = c->sc.crlf ? "\r\n" : "\n";
    mbuf_adds(o, "event: ");
    mbuf_adds(o, name);
    mbuf_adds(o, nl);
    mbuf_adds(o, "data: ");
}

static void ev_end(struct mock_conn *c, struct mbuf *o)
{
    mbuf_adds(o, c->sc.crlf ? "\r\n\r\n" : "\n\n");
}

static void text_event(struct mock_conn *c, struct mbuf *o, const char *name, const char *s, size_t n)
{
    ev(c, o, name);
    mbuf_adds(o, "{\"text\": ");
    mbuf_add_json_str(o, s, n);
    mbuf_addc(o, '}');
    ev_end(c, o);
}

static void done(struct mock_conn *c, struct mbuf *o)
{
    if (c->sc.fault == MOCK_FAULT_POE_NO_DONE)
        return;
    ev(c, o, "done");
    mbuf_adds(o, "{}");
    ev_end(c, o);
}

static void poe_head(struct mock_conn *c, struct mbuf *o)
{
    c->st.status = 200;
    mock_head(c, o, 200, "text/event-stream; charset=utf-8", -1);
    mbuf_adds(o, "Cache-Control: no-cache\r\n");
    mock_fmt_headers(c, o);
    mbuf_adds(o, "\r\n");
}

static int poe_prelude(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (c->sc.fault == MOCK_FAULT_POE_ERROR_BEFORE)
        return 0;
    if (k == 0) {
        ev(c, o, "meta");
        mbuf_adds(o, "{\"content_type\": \"text/markdown\", \"linkify\": true, \"suggested_replies\": false}");
        ev_end(c, o);
        return 1;
    }
    if (k == 1 && c->sc.poe_replace) {
        text_event(c, o, "text", "Thinking...", 11);
        return 1;
    }
    return 0;
}

static void poe_chunk(struct mock_conn *c, struct mbuf *o, const char *s, size_t n)
{
    text_event(c, o, c->sc.poe_replace && c->st.i == 0 ? "replace_response" : "text", s, n);
}

static void poe_comment(struct mock_conn *c, struct mbuf *o)
{
    ev(c, o, "ping");
    mbuf_adds(o, "{}");
    ev_end(c, o);
}

static void poe_error(struct mock_conn *c, struct mbuf *o)
{
    const char *type = c->sc.error_type;
    const char *msg = c->sc.message[0]                         ? c->sc.message
                      : strcmp(type, "insufficient_fund") == 0 ? "This bot needs more points to answer your request."
                                                               : "The bot encountered an unexpected issue.";
    ev(c, o, "error");
    mbuf_adds(o, c->sc.allow_retry ? "{\"allow_retry\": true, \"text\": " : "{\"allow_retry\": false, \"text\": ");
    mbuf_add_json_str(o, msg, strlen(msg));
    if (type[0]) {
        mbuf_adds(o, ", \"error_type\": ");
        mbuf_add_json_str(o, type, strlen(type));
    }
    mbuf_addc(o, '}');
    ev_end(c, o);
    done(c, o);
}

static int poe_tail(struct mock_conn *c, struct mbuf *o, unsigned k)
{
    if (!c->sc.poe_extras)
        k++;
    switch (k) {
    case 0:
        ev(c, o, "json");
        mbuf_adds(o, "{\"mock\": true, \"chunks\": ");
        mbuf_addu(o, c->st.n);
        mbuf_addc(o, '}');
        ev_end(c, o);
        return 1;
    case 1:
        text_event(c, o, "suggested_reply", "Tell me more.", 13);
        return 1;
    case 2:
        done(c, o);
        return o->len > 0;
    default:
        return 0;
    }
}

const struct mock_wire mock_wire_poe = {poe_head, poe_prelude, poe_chunk, poe_comment, poe_error, poe_tail};

void mock_poe_error_http(struct mock_conn *c, struct mbuf *o, int status)
{
    c->sc.format = MOCK_FMT_POE;
    mock_fmt_error(c, o, status, NULL);
}
