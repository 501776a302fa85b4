/*
 * server/respond.h: whole (non-streamed) responses: JSON bodies and the
 * OpenAI-shaped error body that every error of llmgate uses:
 *   {"error":{"message":"...","type":"...","param":null,"code":"..."}}
 */
#ifndef LLG_RESPOND_H
#define LLG_RESPOND_H

#include <stddef.h>

#include "h2o.h"
#include "providers/strbuf.h"

/* The reason phrase of an HTTP status ("Not Found"); "" when unknown. */
const char *llg_status_reason(int status);

/* Sends `body` (copied into the request's pool) as application/json. */
void llg_respond_json(h2o_req_t *req, int status, const char *body, size_t len);

/* Renders an OpenAI-shaped error body into `out`. `param` and `code` may be NULL (JSON null). */
void llg_render_error(llg_strbuf_t *out, const char *type, const char *code, const char *param, const char *message);

/* Sends an error in the shape of the request's protocol (server/http.h
 * llg_http_ingress: OpenAI's, or Anthropic's on /v1/messages). The message
 * is formatted like printf. */
void llg_respond_error(h2o_req_t *req, int status, const char *type, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Sets status 200 and the headers of a stream: its Content-Type (the
 * request's protocol's: text/event-stream, or application/x-ndjson for
 * Ollama's), Cache-Control: no-cache, X-Accel-Buffering: no. */
void llg_set_sse_headers(h2o_req_t *req);

/* The `type` OpenAI uses for a status: invalid_request_error, authentication_error, ... */
const char *llg_error_type_for_status(int status);

#endif
