/*
 * providers/answer.h: the OpenAI-form answer a translator builds, whatever the
 * upstream protocol. While streaming it writes chunks as pieces arrive (the role
 * chunk before the first piece, then content, reasoning and tool-call chunks);
 * otherwise it collects the pieces and writes one `chat.completion` body at the
 * end. It also owns the endings (finish chunk, usage chunk, `[DONE]`, or an
 * error event once committed) and the completion-token estimate.
 *
 * Every string from the upstream is made valid UTF-8 here before it is written,
 * so what the client receives is always valid JSON.
 */
#ifndef LLG_ANSWER_H
#define LLG_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/openai_form.h"
#include "providers/translate.h"

typedef struct llg_answer {
    llg_oai_form_t form;
    bool stream;
    bool include_usage;
    uint64_t prompt_estimate;
    bool role_sent;
    bool committed; /* stream: bytes were appended to the caller's out */
    bool ended;     /* finished or failed: nothing more is written */
    unsigned ntool_calls;
    bool usage_known;
    uint64_t usage_prompt, usage_completion;
    /* incremental llg_estimate_tokens over every piece (content, reasoning, tool arguments) */
    uint64_t est_tokens;
    uint64_t est_bytes;
    bool est_in_word;
    /* non-stream: the pieces collected for the completion body */
    llg_strbuf_t text, reasoning, tool_calls;
    llg_strbuf_t scratch;
} llg_answer_t;

void llg_answer_init(llg_answer_t *a, const llg_xlate_params_t *params);
void llg_answer_dispose(llg_answer_t *a);

/* Pieces of the answer; empty pieces write nothing. */
void llg_answer_content(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len);
void llg_answer_reasoning(llg_answer_t *a, llg_strbuf_t *out, const char *text, size_t len);
void llg_answer_tool_call(llg_answer_t *a, llg_strbuf_t *out, const char *id, size_t id_len, const char *name, size_t name_len,
                          const char *arguments, size_t arguments_len);

/* Usage the upstream reported (replaces the estimate). */
void llg_answer_set_usage(llg_answer_t *a, uint64_t prompt_tokens, uint64_t completion_tokens);

/* The successful end: stream: [role chunk if none yet,] finish chunk, usage
 * chunk when include_usage, `[DONE]`; otherwise the whole completion body.
 * `finish_reason` NULL: "tool_calls" when a tool call was written, else "stop". */
void llg_answer_finish(llg_answer_t *a, llg_strbuf_t *out, const char *finish_reason);

/* The failed end. Once committed (stream with bytes sent): appends the error
 * event of `err` and `[DONE]` and sets err->http_status to 0. Before: appends
 * nothing and leaves `err` as it is. Returns -1. */
int llg_answer_fail(llg_answer_t *a, llg_strbuf_t *out, llg_xlate_error_t *err);

/* The usage of the answer: the upstream's when reported, else the estimates. */
void llg_answer_usage(const llg_answer_t *a, uint64_t *prompt_tokens, uint64_t *completion_tokens, bool *estimated);

#endif
