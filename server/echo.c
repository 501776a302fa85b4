/*
 * server/echo.c: the echo model's answers (see echo.h), written through the
 * canonical answer (providers/answer.h), so in the client's protocol. The
 * stream is an h2o generator: one event is sent, and the next is produced
 * only when h2o's proceed callback says the previous one left, so a slow
 * client holds at most one chunk in memory.
 */
#include "server/echo.h"

#include <string.h>

#include "providers/answer.h"
#include "providers/echo.h"
#include "server/respond.h"

enum echo_phase {
    ECHO_START,
    ECHO_CONTENT,
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
    char tool_id[LLG_ECHO_TOOL_ID_MAX];
    size_t tool_id_len;
    llg_answer_t answer;
    llg_strbuf_t out; /* the event in flight; reused only after proceed */
} echo_stream_t;

static void emit(echo_stream_t *s)
{
    llg_strbuf_reset(&s->out);
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    switch (s->phase) {
    case ECHO_START:
        if (s->tool_name != NULL) {
            /* the whole call at once: valid for every client (docs/providers/echo.md) */
            llg_answer_tool_call(&s->answer, &s->out, s->tool_id, s->tool_id_len, s->tool_name, s->tool_name_len, s->text, s->len);
            s->phase = ECHO_END;
            break;
        }
        s->phase = s->len > 0 ? ECHO_CONTENT : ECHO_END;
        emit(s);
        return;
    case ECHO_CONTENT: {
        size_t end = llg_echo_next_word(s->text, s->len, s->pos);
        llg_answer_content(&s->answer, &s->out, s->text + s->pos, end - s->pos);
        s->pos = end;
        if (s->pos >= s->len)
            s->phase = ECHO_END;
        break;
    }
    case ECHO_END:
        llg_answer_set_usage(&s->answer, s->prompt_tokens, llg_estimate_tokens(s->text, s->len));
        llg_answer_finish(&s->answer, &s->out, s->tool_name != NULL ? "tool_calls" : "stop");
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
    llg_answer_dispose(&s->answer);
}

/* call_ (toolu_ for Anthropic's clients) and 24 hex digits, from the
 * request's randomness; returns the length */
static size_t tool_id(const llg_echo_params_t *p, char out[LLG_ECHO_TOOL_ID_MAX])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = p->random[0] ^ UINT64_C(0x5bd1e9955bd1e995), b = p->random[1];
    const char *prefix = p->render == &llg_render_anthropic ? "toolu_" : "call_";
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    for (int k = 0; k < 16; k++)
        out[n + k] = hex[(a >> (60 - 4 * k)) & 15];
    for (int k = 0; k < 8; k++)
        out[n + 16 + k] = hex[(b >> (60 - 4 * k)) & 15];
    return n + 24;
}

static void answer_init(llg_answer_t *a, const llg_echo_params_t *p)
{
    char model[256];
    size_t n = p->model_len < sizeof(model) - 1 ? p->model_len : sizeof(model) - 1;
    memcpy(model, p->model, n);
    model[n] = '\0';
    llg_xlate_params_t xp = {
        .render = p->render,
        .model = model,
        .stream = p->stream,
        .include_usage = p->include_usage,
        .prompt_tokens_estimate = p->prompt_tokens,
        .random = {p->random[0], p->random[1]},
        .request = p->request.base,
        .request_len = p->request.len,
    };
    llg_answer_init(a, &xp);
}

static void respond_whole(h2o_req_t *req, const llg_echo_params_t *p)
{
    llg_answer_t a;
    answer_init(&a, p);
    llg_strbuf_t body = {0};
    if (p->tool_name != NULL) {
        char id[LLG_ECHO_TOOL_ID_MAX];
        size_t id_len = tool_id(p, id);
        llg_answer_tool_call(&a, &body, id, id_len, p->tool_name, p->tool_name_len, p->text, p->text_len);
    } else {
        llg_answer_content(&a, &body, p->text, p->text_len);
    }
    llg_answer_set_usage(&a, p->prompt_tokens, llg_estimate_tokens(p->text, p->text_len));
    llg_answer_finish(&a, &body, p->tool_name != NULL ? "tool_calls" : "stop");
    llg_respond_json(req, 200, body.data, body.len);
    llg_strbuf_free(&body);
    llg_answer_dispose(&a);
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
        s->tool_id_len = tool_id(p, s->tool_id);
    }
    s->phase = ECHO_START;
    answer_init(&s->answer, p);

    llg_set_sse_headers(req);
    h2o_start_response(req, &s->super);
    emit(s);
}
