/*
 * server/http.h: what the HTTP surface (server/http.c) offers the other
 * request handlers.
 */
#ifndef LLG_HTTP_H
#define LLG_HTTP_H

#include <stdbool.h>

#include "h2o.h"
#include "providers/ingress.h"
#include "server/app.h"

/* The client protocol of a request, by its path: Anthropic's for
 * /v1/messages and below it, else OpenAI's. Errors, refusals and answers
 * take that protocol's shape. */
const llg_ingress_t *llg_http_ingress(const h2o_req_t *req);
bool llg_path_is_anthropic(const char *path, size_t len);

/* The request's id: the client's x-request-id when it is sane (1-128 of
 * [A-Za-z0-9._:-]), else a new one. The first call also puts it on the
 * response, so upstream and client see the same id. */
h2o_iovec_t llg_request_id(llg_app_t *app, h2o_req_t *req);

#define LLG_REQUEST_ID_LEN 28 /* "req_" and 24 hex digits */

/* Writes a new request id to `out` (no NUL): req_, 16 hex digits of the
 * worker's random salt, 8 of its request counter. */
void llg_request_id_new(llg_app_t *app, char out[LLG_REQUEST_ID_LEN]);

/* The 413 message, whoever refused the body (h2o, the handler, server/early.c). */
void llg_too_large_message(const llg_conf_t *conf, char *buf, size_t size);

/* The size of a request's head as max_header_bytes counts it: the method, the
 * target as sent, the authority (Host or :authority) and every header field's
 * name and value that h2o keeps. HTTP/1.1 Host and Upgrade live in their own
 * fields and are counted there; Content-Length, Transfer-Encoding and Expect
 * (and repeats of Host) are dropped by h2o's parser and so cannot be counted:
 * a client repeating them can exceed the limit, but never H2O_MAX_REQLEN,
 * which bounds the head as read. Also what server/early.c reserves for the
 * head of an HTTP/2 request. */
uint64_t llg_request_head_bytes(const h2o_req_t *req);

/* Whether a client's x-request-id is echoed (1 to 128 of [A-Za-z0-9-_.:]). */
int llg_request_id_acceptable(h2o_iovec_t v);

/* Records which provider served the request, for metrics and logs. */
/* CLOCK_MONOTONIC in microseconds: request timings (the access log, a model
 * group target's time to first byte). */
uint64_t llg_http_now_us(void);
void llg_http_set_provider(llg_app_t *app, h2o_req_t *req, int provider);
/* The model group and the target of it that serves the request (the access log names them). */
void llg_http_set_target(h2o_req_t *req, int group, int target);

#endif
