/*
 * providers/openai_form.h: the writer of OpenAI-form answers, shared by every
 * provider that is not OpenAI-shaped itself (echo now; poe and puter later).
 * A stream is: a role chunk, content chunks, a finish chunk, a usage chunk when
 * the client set stream_options.include_usage, then `data: [DONE]`; every chunk
 * of one response carries the same `chatcmpl-` id and epoch `created`.
 * Each function appends whole SSE events (`data: ...\n\n`) to `out`.
 */
#ifndef LLG_OPENAI_FORM_H
#define LLG_OPENAI_FORM_H

#include <stdbool.h>
#include <stdint.h>

#include "server/strbuf.h"

typedef struct llg_oai_form {
    char id[48];     /* "chatcmpl-" + 24 random characters */
    int64_t created; /* epoch seconds */
    llg_strbuf_t prefix; /* private: `{"id":..,"object":..,"created":..,"model":..,` rendered once */
    bool include_usage;  /* adds "usage":null to chunks, as OpenAI does when asked for usage */
} llg_oai_form_t;

/* `random` supplies the id's randomness. */
void llg_oai_form_init(llg_oai_form_t *f, const char *model, size_t model_len, bool include_usage, uint64_t random1,
                       uint64_t random2);
void llg_oai_form_dispose(llg_oai_form_t *f);

void llg_oai_chunk_role(llg_strbuf_t *out, llg_oai_form_t *f);
void llg_oai_chunk_content(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len);
void llg_oai_chunk_finish(llg_strbuf_t *out, llg_oai_form_t *f, const char *finish_reason);
void llg_oai_chunk_usage(llg_strbuf_t *out, llg_oai_form_t *f, uint64_t prompt_tokens, uint64_t completion_tokens);
void llg_oai_done(llg_strbuf_t *out);

/* A whole `chat.completion` body (no SSE framing). */
void llg_oai_completion(llg_strbuf_t *out, llg_oai_form_t *f, const char *text, size_t len, const char *finish_reason,
                        uint64_t prompt_tokens, uint64_t completion_tokens);

/* A rough token count for providers that report none: words and punctuation
 * runs, at least 1 for non-empty text. */
uint64_t llg_estimate_tokens(const char *text, size_t len);

#endif
