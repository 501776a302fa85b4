/*
 * providers/translate.h: what every translator of a non-OpenAI upstream (poe,
 * puter) shares with the request path: the parameters of one translation and
 * the error it reports.
 *
 * The contract of a translator (llg_poe_*, llg_puter_*): the caller feeds the
 * upstream's body bytes as they arrive, split anywhere; each call appends to
 * `out` the OpenAI-form bytes to send to the client now. While streaming these
 * are whole SSE events; otherwise nothing is appended until `end`, which
 * appends the whole `chat.completion` body. The response is committed once
 * `out` received its first byte: until then an error (-1) carries the HTTP
 * status the client should get, and the caller may still retry another key or
 * provider; after it, the translator itself ended the stream with an error
 * event and `data: [DONE]`, and `http_status` is 0.
 *
 * No h2o, libuv or curl here: translators are pure functions of their input,
 * unit-tested and fuzzed on their own.
 */
#ifndef LLG_TRANSLATE_H
#define LLG_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/pool.h"
#include "providers/strbuf.h"

struct llg_render;

typedef struct llg_xlate_params {
    const struct llg_render *render; /* the client's protocol (providers/answer.h); NULL: OpenAI chat */
    const char *model;               /* as the client named it; copied (NULL: "") */
    bool stream;                     /* the client asked for SSE */
    bool include_usage;              /* stream_options.include_usage */
    uint64_t prompt_tokens_estimate; /* used when the upstream reports no usage */
    uint64_t random[2];              /* randomness for the chatcmpl- id */
    /* the client's request as it came (NULL: not known): the Responses
     * renderer reads which of its tools were custom or local_shell */
    const char *request;
    size_t request_len;
    /* Sees what the reader reads, before it reads it: each event of a stream
     * (`name` of `name_len` bytes, "" when unnamed, and its data), or the
     * whole body of an answer that is not streamed (`name` NULL). The proxy's
     * request record takes the upstream's id, model, finish reasons and
     * usage details from it without a second parse. NULL: none. */
    void (*tap)(void *ctx, const char *name, size_t name_len, const char *data, size_t len);
    void *tap_ctx;
} llg_xlate_params_t;

typedef struct llg_xlate_error {
    int http_status;       /* status for the client when nothing was sent yet; 0: already committed */
    char code[64];         /* OpenAI-style error code ("insufficient_quota", "upstream_error", ...) */
    char type[64];         /* OpenAI-style error type ("server_error", ...) */
    char message[512];     /* human-readable, valid UTF-8 */
    llg_outcome_t outcome; /* what the attempt says about the upstream key (for the key pool) */
} llg_xlate_error_t;

/* Fills `err`; the message is formatted like printf, truncated on a UTF-8
 * character boundary, and made valid UTF-8 (invalid bytes become U+FFFD). */
void llg_xlate_set_error(llg_xlate_error_t *err, int http_status, const char *type, const char *code, llg_outcome_t outcome,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Appends `{"error":{"message","type","param":null,"code"}}` for `err`. */
void llg_xlate_error_body(const llg_xlate_error_t *err, llg_strbuf_t *out);

/* Appends the error event then `data: [DONE]`: how a stream the caller already
 * started itself (with `: ping` comments, say) ends on an error the translator
 * returned before committing. */
void llg_xlate_error_event(const llg_xlate_error_t *err, llg_strbuf_t *out);

/* What an upstream error body says, whatever its shape: OpenAI's
 * {"error":{"message","type","code"}}, {"error":"text"}, Puter's
 * {"message","code"} and {"success":false,"error":{"message","code","status"}},
 * FastAPI's {"detail":"..."} or {"detail":[{"msg"}]}, Poe's {"text","error_type"},
 * or plain text (trimmed, first 200 bytes). Fields not found are left "".
 * `status` gets the body's own numeric status (Puter's error.status), else 0. */
typedef struct llg_upstream_error {
    char message[512];
    char code[64]; /* error.code, code, error_type, or error.type when no code */
    int status;
} llg_upstream_error_t;
void llg_xlate_parse_error_body(const char *body, size_t len, llg_upstream_error_t *out);

#endif
