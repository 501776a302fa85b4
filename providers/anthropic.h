/*
 * providers/anthropic.h: Anthropic's Messages API (POST /v1/messages), both
 * as a client protocol (its requests read into the canonical request, its
 * answers written by llg_render_anthropic, providers/answer.h) and as an
 * upstream protocol (its request built from the canonical one, its answers
 * read into canonical events). The field-by-field mapping, and what has no
 * counterpart, is docs/protocols.md.
 */
#ifndef LLG_ANTHROPIC_H
#define LLG_ANTHROPIC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/strbuf.h"
#include "providers/translate.h"

/* The anthropic-version sent upstream when the client sent none. */
#define LLG_ANTHROPIC_VERSION "2023-06-01"

/* ---- the client side (anthropic_request.c) ----------------------------- */

/* Reads and validates a Messages request body into the canonical request (an
 * OpenAI chat body tree, providers/openai_request.h; the caller deletes it).
 * On failure NULL, a message in `err` and the offending field in `param`
 * (or ""), both in Anthropic's words. */
cJSON *llg_anthropic_parse(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* The body of /v1/messages/count_tokens read the same way, except that
 * max_tokens is not required. */
cJSON *llg_anthropic_parse_count(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* ---- shared words (anthropic_wire.c) ----------------------------------- */

/* Anthropic's stop_reason for an OpenAI finish_reason: stop → end_turn,
 * length → max_tokens, tool_calls and function_call → tool_use,
 * content_filter → refusal; an Anthropic value is kept; else end_turn. */
const char *llg_anthropic_stop_reason(const char *finish_reason);

/* The OpenAI finish_reason for an Anthropic stop_reason (the reverse; pause_turn
 * and unknown values → stop). */
const char *llg_anthropic_finish_reason(const char *stop_reason);

/* Anthropic's error type for an HTTP status, or for `type` when it already is
 * one of Anthropic's (a status of 0: an error inside a stream). */
const char *llg_anthropic_error_type(int status, const char *type);

/* {"type":"error","error":{"type","message"}}; `code` and `param` have no
 * place in Anthropic's shape and are left out. */
void llg_anthropic_error_body(llg_strbuf_t *out, int status, const char *type, const char *code, const char *param,
                              const char *message);

/* ---- the upstream side (anthropic_call.c, anthropic_stream.c) ---------- */

/* The URL of `path` ("/messages", "/messages/count_tokens") on an anthropic
 * upstream: base_url + "/v1" + path, or base_url + path when base_url already
 * ends in /v1 (both spellings are in use). Returns 0, or -1 when it does not
 * fit. */
int llg_anthropic_url(const char *base_url, const char *path, char *url, size_t urlsize);

/* The Messages request for the canonical request `root` (messages as the
 * message mode left them), asking for `model`. Returns 0, or -1 when the
 * messages are malformed. */
int llg_anthropic_build(const cJSON *root, const char *model, bool stream, llg_strbuf_t *out);

typedef struct llg_anthropic_stream llg_anthropic_stream_t;

llg_anthropic_stream_t *llg_anthropic_stream_new(const llg_xlate_params_t *params);
void llg_anthropic_stream_free(llg_anthropic_stream_t *s);
/* Feeds body bytes of a 2xx answer (SSE events when streaming, else one
 * message JSON), per providers/translate.h. */
int llg_anthropic_feed(llg_anthropic_stream_t *s, const char *p, size_t n, llg_strbuf_t *out, llg_xlate_error_t *err);
int llg_anthropic_end(llg_anthropic_stream_t *s, llg_strbuf_t *out, llg_xlate_error_t *err);
void llg_anthropic_usage(const llg_anthropic_stream_t *s, uint64_t *prompt, uint64_t *completion, bool *estimated);

/* The error for a non-2xx answer: 401 → 502 upstream_auth_failed (AUTH);
 * 403 → 502 (AUTH); 402 or a billing_error → 402 insufficient_quota
 * (PAYMENT); 429 → 429 rate_limit_exceeded (RATE_LIMITED); 529 or an
 * overloaded_error → 503 overloaded (SERVER: another key may answer); 404 →
 * 404 model_not_found (CLIENT); 413 → 413 (CLIENT); other 4xx → that status
 * (CLIENT); 5xx → 502 upstream_error (SERVER). The message is Anthropic's,
 * except for the key's own errors (auth, billing, rate limits: Anthropic's
 * text names the key's organisation), which get llmgate's words. */
void llg_anthropic_http_error(int status, const char *body, size_t len, llg_xlate_error_t *err);

/* An estimate of the input tokens of a canonical request (count_tokens when
 * no anthropic upstream can count): llg_estimate_tokens over the system
 * text, every message's text and tool call, and the tools' names,
 * descriptions and schemas. */
uint64_t llg_anthropic_estimate_input(const cJSON *root);

#endif
