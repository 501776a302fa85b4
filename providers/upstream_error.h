/*
 * providers/upstream_error.h: reading an openai-type upstream's error body
 * (the body of a non-2xx answer): what decides the attempt's outcome, and
 * what the client is told when the error is its own. Pure: the body is
 * parsed and freed within each call; the results are copies.
 */
#ifndef LLG_PROVIDERS_UPSTREAM_ERROR_H
#define LLG_PROVIDERS_UPSTREAM_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* What the outcome of the answer depends on, besides its status. */
typedef struct llg_upstream_error_class {
    /* error.code, else error.type, when it is a string (cut to fit); else "".
     * For llg_pool_classify(), which only compares it with short codes. */
    char code[64];
    /* error.metadata has `reasons` or `flagged_input`: OpenRouter's refusal
     * of moderation-flagged input (with 403), a fault of the request, not of
     * the key (docs/key-health.md) */
    bool flagged_input;
} llg_upstream_error_class_t;
void llg_upstream_error_classify(const char *body, size_t len, llg_upstream_error_class_t *out);

/* The error the client is shown, normalised to the OpenAI shape. `type`,
 * `code` and `param` are the upstream's only when each is a short (at most
 * 256 bytes), printable, valid UTF-8 string, else "" (the caller uses its
 * own); a numeric `code` (OpenRouter's) becomes a string; with no code in
 * error.code, the one llg_xlate_parse_error_body() finds. `message` is the
 * upstream's whatever the body's shape, else a fixed text. */
typedef struct llg_upstream_error_fields {
    char type[257], code[257], param[257];
    char message[1024];
} llg_upstream_error_fields_t;
void llg_upstream_error_fields(const char *body, size_t len, llg_upstream_error_fields_t *out);

#endif
