/*
 * server/echo.c: the echo model's answers (see echo.h). The stream is an
 * h2o generator: one event is sent, and the next is produced only when h2o's
 * proceed callback says the previous one left, so a slow client holds at most
 * one chunk in memory.
 */
#include "server/echo.h"

#include <string.h>

#include "providers/echo.h"
#include "providers/openai_form.h"
#include "server/respond.h"

enum echo_phase {
    ECHO_ROLE,
    ECHO_CONTENT,
    ECHO_TOOL,
    ECHO_END,
    ECHO_DONE,
};

typedef struct echo_stream {
    h2o_generator_t super;
    h2o_req_t *req;
    h2o_timeout_t *delay;
    h2o_timeout_entry_t delay_entry;
    const char *text;
    size_t len;
    size_t pos;
    enum echo_phase phase;
    uint64_t prompt_tokens;
    const char *tool_name; /* NULL: a text answer */
    size_t tool_name_len;
    char tool_id[LLG_ECHO_TOOL_ID_LEN];
    llg_oai_form_t form;
    llg_strbuf_t out; /* the event in flight; reused only after proceed */
} echo_stream_t;

static void emit(echo_stream_t *s)
{
    llg_strbuf_reset(&s->out);
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    switch (s->phase) {
    case ECHO_ROLE:
        llg_oai_chunk_role(&s->out, &s->form);
        s->phase = s->tool_name != NULL ? ECHO_TOOL : s->len > 0 ? ECHO_CONTENT : ECHO_END;
        break;
    case ECHO_TOOL:
        /* the whole call in one chunk: valid for every client (docs/providers/echo.md) */
        llg_oai_chunk_tool_call(&s->out, &s->form, 0, s->tool_id, sizeof(s->tool_id), s->tool_name, s->tool_name_len, s->text,
                                s->len);
        s->phase = ECHO_END;
        break;
    case ECHO_CONTENT: {
        size_t end = llg_echo_next_word(s->text, s->len, s->pos);
        llg_oai_chunk_content(&s->out, &s->form, s->text + s->pos, end - s->pos);
        s->pos = end;
        if (s->pos >= s->len)
            s->phase = ECHO_END;
        break;
    }
    case ECHO_END:
        llg_oai_chunk_finish(&s->out, &s->form, s->tool_name != NULL ? "tool_calls" : "stop");
        if (s->form.include_usage)
            llg_oai_chunk_usage(&s->out, &s->form, s->prompt_tokens, llg_estimate_tokens(s->text, s->len));
        llg_oai_done(&s->out);
        s->phase = ECHO_DONE;
        state = H2O_SEND_STATE_FINAL;
        break;
    case ECHO_DONE:
        return;
    }
    h2o_iovec_t buf = h2o_iovec_init(s->out.data, s->out.len);
    /* after a final send the request (and this struct, in its pool) may be gone */
    h2o_send(s->req, &buf, 1, state);
}

static void on_delay(h2o_timeout_entry_t *entry)
{
    echo_stream_t *s = H2O_STRUCT_FROM_MEMBER(echo_stream_t, delay_entry, entry);
    emit(s);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    echo_stream_t *s = (echo_stream_t *)self;
    /* pause between words, not before the first one */
    if (s->delay != NULL && s->phase == ECHO_CONTENT && s->pos > 0) {
        h2o_timeout_link(s->req->conn->ctx->loop, s->delay, &s->delay_entry);
        return;
    }
    emit(s);
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    echo_stream_t *s = (echo_stream_t *)self;
    h2o_timeout_unlink(&s->delay_entry);
    s->phase = ECHO_DONE;
}

static void on_dispose(void *p)
{
    echo_stream_t *s = p;
    h2o_timeout_unlink(&s->delay_entry);
    llg_strbuf_free(&s->out);
    llg_oai_form_dispose(&s->form);
}

/* call_ and 24 hex digits, from the request's randomness */
static void tool_id(const llg_echo_params_t *p, char out[LLG_ECHO_TOOL_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = p->random[0] ^ UINT64_C(0x5bd1e9955bd1e995), b = p->random[1];
    memcpy(out, "call_", 5);
    for (int k = 0; k < 16; k++)
        out[5 + k] = hex[(a >> (60 - 4 * k)) & 15];
    for (int k = 0; k < 8; k++)
        out[21 + k] = hex[(b >> (60 - 4 * k)) & 15];
}

static void respond_whole(h2o_req_t *req, const llg_echo_params_t *p)
{
    llg_oai_form_t form;
    llg_oai_form_init(&form, p->model, p->model_len, false, p->random[0], p->random[1]);
    llg_strbuf_t body = {0};
    uint64_t completion = llg_estimate_tokens(p->text, p->text_len);
    if (p->tool_name != NULL) {
        char id[LLG_ECHO_TOOL_ID_LEN];
        tool_id(p, id);
        llg_strbuf_t call = {0};
        llg_oai_tool_call_object(&call, id, sizeof(id), p->tool_name, p->tool_name_len, p->text, p->text_len);
        llg_oai_message_t m = {.content = NULL, .tool_calls = call.data, .tool_calls_len = call.len};
        llg_oai_completion_message(&body, &form, &m, "tool_calls", p->prompt_tokens, completion);
        llg_strbuf_free(&call);
    } else {
        llg_oai_completion(&body, &form, p->text, p->text_len, "stop", p->prompt_tokens, completion);
    }
    llg_respond_json(req, 200, body.data, body.len);
    llg_strbuf_free(&body);
    llg_oai_form_dispose(&form);
}

void llg_echo_respond(h2o_req_t *req, const llg_echo_params_t *p)
{
    if (!p->stream) {
        respond_whole(req, p);
        return;
    }
    echo_stream_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);
    memset(s, 0, sizeof(*s));
    s->super.proceed = on_proceed;
    s->super.stop = on_stop;
    s->req = req;
    s->delay = p->delay;
    s->delay_entry.cb = on_delay;
    h2o_iovec_t text = h2o_strdup(&req->pool, p->text, p->text_len);
    s->text = text.base;
    s->len = text.len;
    s->prompt_tokens = p->prompt_tokens;
    if (p->tool_name != NULL) {
        h2o_iovec_t name = h2o_strdup(&req->pool, p->tool_name, p->tool_name_len);
        s->tool_name = name.base;
        s->tool_name_len = name.len;
        tool_id(p, s->tool_id);
    }
    s->phase = ECHO_ROLE;
    llg_oai_form_init(&s->form, p->model, p->model_len, p->include_usage, p->random[0], p->random[1]);

    llg_set_sse_headers(req);
    h2o_start_response(req, &s->super);
    emit(s);
}
