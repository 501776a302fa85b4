/*
 * providers/answer.c: the OpenAI-form answer of a translator (see answer.h).
 */
#include "providers/answer.h"

#include <ctype.h>
#include <string.h>

void llg_answer_init(llg_answer_t *a, const llg_xlate_params_t *params)
{
    memset(a, 0, sizeof(*a));
    const char *model = params->model != NULL ? params->model : "";
    llg_oai_form_init(&a->form, model, strlen(model), params->stream && params->include_usage, params->random[0],
                      params->random[1]);
    a->stream = params->stream;
    a->include_usage = params->include_usage;
    a->prompt_estimate = params->prompt_tokens_estimate;
}

void llg_answer_dispose(llg_answer_t *a)
{
    llg_oai_form_dispose(&a->form);
    llg_strbuf_free(&a->text);
    llg_strbuf_free(&a->reasoning);
    llg_strbuf_free(&a->tool_calls);
    llg_strbuf_free(&a->scratch);
}

/* the same count as llg_estimate_tokens over the concatenation of every piece */
static void estimate(llg_answer_t *a, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            a->est_in_word = false;
        } else if (c < 0x80 && ispunct(c)) {
            a->est_tokens++;
            a->est_in_word = false;
        } else if (!a->est_in_word) {
            a->est_tokens++;
            a->est_in_word = true;
        }
    }
    a->est_bytes += n;
}

/* `s` itself when valid UTF-8, else a sanitised copy in a->scratch */
static const char *clean(llg_answer_t *a, const char *s, size_t n, size_t *len)
{
    *len = n;
    if (llg_utf8_valid(s, n))
        return s;
    llg_strbuf_reset(&a->scratch);
    llg_utf8_append_sanitized(&a->scratch, s, n);
    *len = a->scratch.len;
    return a->scratch.data;
}

static void begin(llg_answer_t *a, llg_strbuf_t *out)
{
    if (!a->role_sent) {
        llg_oai_chunk_role(out, &a->form);
        a->role_sent = true;
        a->committed = true;
    }
}

void llg_answer_content(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len)
{
    if (a->ended || len == 0)
        return;
    text = clean(a, text, len, &len);
    estimate(a, text, len);
    if (!a->stream) {
        llg_strbuf_append(&a->text, text, len);
        return;
    }
    begin(a, out);
    llg_oai_chunk_content(out, &a->form, text, len);
}

void llg_answer_reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len)
{
    if (a->ended || len == 0)
        return;
    text = clean(a, text, len, &len);
    estimate(a, text, len);
    if (!a->stream) {
        llg_strbuf_append(&a->reasoning, text, len);
        return;
    }
    begin(a, out);
    llg_oai_chunk_reasoning(out, &a->form, text, len);
}

void llg_answer_tool_call(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                          const char *arguments, size_t arguments_len)
{
    if (a->ended)
        return;
    /* three strings to clean: copy each into one scratch buffer, then point into it */
    llg_strbuf_t s = {0};
    llg_utf8_append_sanitized(&s, id, id_len);
    size_t id_n = s.len;
    llg_utf8_append_sanitized(&s, name, name_len);
    size_t name_n = s.len - id_n;
    llg_utf8_append_sanitized(&s, arguments, arguments_len);
    size_t args_n = s.len - id_n - name_n;
    const char *p = s.data != NULL ? s.data : "";
    estimate(a, p + id_n, name_n + args_n);
    if (!a->stream) {
        if (a->ntool_calls > 0)
            llg_strbuf_append(&a->tool_calls, ",", 1);
        llg_oai_tool_call_object(&a->tool_calls, p, id_n, p + id_n, name_n, p + id_n + name_n, args_n);
    } else {
        begin(a, out);
        llg_oai_chunk_tool_call(out, &a->form, a->ntool_calls, p, id_n, p + id_n, name_n, p + id_n + name_n, args_n);
    }
    a->ntool_calls++;
    llg_strbuf_free(&s);
}

void llg_answer_set_usage(llg_answer_t *a, uint64_t prompt_tokens, uint64_t completion_tokens)
{
    a->usage_known = true;
    a->usage_prompt = prompt_tokens;
    a->usage_completion = completion_tokens;
}

void llg_answer_usage(const llg_answer_t *a, uint64_t *prompt_tokens, uint64_t *completion_tokens, bool *estimated)
{
    uint64_t est = a->est_tokens == 0 && a->est_bytes > 0 ? 1 : a->est_tokens;
    if (prompt_tokens != NULL)
        *prompt_tokens = a->usage_known ? a->usage_prompt : a->prompt_estimate;
    if (completion_tokens != NULL)
        *completion_tokens = a->usage_known ? a->usage_completion : est;
    if (estimated != NULL)
        *estimated = !a->usage_known;
}

void llg_answer_finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason)
{
    if (a->ended)
        return;
    a->ended = true;
    if (finish_reason == NULL)
        finish_reason = a->ntool_calls > 0 ? "tool_calls" : "stop";
    uint64_t prompt, completion;
    llg_answer_usage(a, &prompt, &completion, NULL);
    if (a->stream) {
        begin(a, out);
        llg_oai_chunk_finish(out, &a->form, finish_reason);
        if (a->include_usage)
            llg_oai_chunk_usage(out, &a->form, prompt, completion);
        llg_oai_done(out);
        return;
    }
    if (a->ntool_calls == 0 && a->reasoning.len == 0) {
        llg_oai_completion(out, &a->form, a->text.data != NULL ? a->text.data : "", a->text.len, finish_reason, prompt, completion);
        return;
    }
    llg_oai_message_t m = {
        .content = a->text.len > 0 || a->ntool_calls == 0 ? (a->text.data != NULL ? a->text.data : "") : NULL,
        .content_len = a->text.len,
        .reasoning = a->reasoning.data,
        .reasoning_len = a->reasoning.len,
        .tool_calls = a->ntool_calls > 0 ? a->tool_calls.data : NULL,
        .tool_calls_len = a->tool_calls.len,
    };
    llg_oai_completion_message(out, &a->form, &m, finish_reason, prompt, completion);
}

int llg_answer_fail(llg_answer_t *a, llg_strbuf_t *out, llg_xlate_error_t *err)
{
    if (a->ended && a->committed) {
        err->http_status = 0;
        return -1;
    }
    a->ended = true;
    if (a->stream && a->committed) {
        err->http_status = 0;
        llg_xlate_error_event(err, out);
    }
    return -1;
}
