/*
 * providers/openai_stream.h: an openai-type upstream's chat answer (SSE
 * chunks, or one chat.completion) read into canonical events
 * (providers/answer.h), following the contract of providers/translate.h. It
 * is the egress reader for clients that do not speak OpenAI's protocol.
 */
#ifndef LLG_OPENAI_STREAM_H
#define LLG_OPENAI_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/strbuf.h"
#include "providers/translate.h"

typedef struct llg_openai_stream llg_openai_stream_t;

llg_openai_stream_t *llg_openai_stream_new(const llg_xlate_params_t *params);
void llg_openai_stream_free(llg_openai_stream_t *s);
int llg_openai_stream_feed(llg_openai_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
int llg_openai_stream_end(llg_openai_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err);
void llg_openai_stream_usage(const llg_openai_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated);

/* The error for a non-2xx answer: the outcome as for a relayed answer
 * (llg_pool_classify over the status and error code); the client gets the
 * status itself when the request is at fault (CLIENT), 429 when rate
 * limited, 402 for quota, else 502; the upstream's type and code; its message
 * only for the request's own faults and server errors (one about the
 * gateway's key may quote the key or its organisation). */
void llg_openai_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err);

#endif
