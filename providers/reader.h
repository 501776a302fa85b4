/*
 * providers/reader.h: what the readers of an upstream's answer share when the
 * answer is SSE events while streaming and one JSON body otherwise (the
 * openai and anthropic egress readers): the canonical answer they feed, the
 * SSE reader, the collected body (up to 16 MiB), the failure repeated to
 * every later call, and the contract of providers/translate.h (feed bytes
 * split anywhere; end). A reader embeds llg_reader_t first and supplies its
 * protocol in llg_reader_ops_t.
 */
#ifndef LLG_READER_H
#define LLG_READER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "providers/answer.h"
#include "providers/request_json.h"
#include "providers/sse.h"
#include "providers/translate.h"

typedef struct llg_reader llg_reader_t;

typedef struct llg_reader_ops {
    /* One stream event with data; 0, or -1 after llg_reader_fail(). */
    int (*event)(llg_reader_t *r, const llg_sse_event_t *ev);
    /* The non-stream body, a JSON object; 0 or -1. */
    int (*whole)(llg_reader_t *r, const cJSON *body);
    /* A stream that ends with a finish reason but without its end marker is
     * complete (OpenAI-compatible servers that never send [DONE]). */
    bool finish_ends;
} llg_reader_ops_t;

struct llg_reader {
    llg_answer_t a;
    const llg_reader_ops_t *ops;
    llg_sse_reader_t sse;
    llg_strbuf_t body; /* not streaming: the answer so far */
    bool done;         /* the end marker was read */
    bool failed;
    char finish[32]; /* the end's reason in OpenAI's words; "" none yet */
    llg_xlate_error_t err;
    llg_strbuf_t *out;                                                                       /* during a feed or the end */
    void (*tap)(void *ctx, const char *name, size_t name_len, const char *data, size_t len); /* params' */
    void *tap_ctx;
};

void llg_reader_init(llg_reader_t *r, const llg_xlate_params_t *params, const llg_reader_ops_t *ops);
void llg_reader_dispose(llg_reader_t *r);

/* Fails the answer (see llg_answer_fail); returns -1. */
int llg_reader_fail(llg_reader_t *r, int status, const char *type, const char *code, llg_outcome_t outcome, const char *message);

int llg_reader_feed(llg_reader_t *r, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
int llg_reader_end(llg_reader_t *r, llg_strbuf_t *out, llg_xlate_error_t *err);

#endif
