/*
 * server/http.h: what the HTTP surface (server/http.c) offers the other
 * request handlers.
 */
#ifndef LLG_HTTP_H
#define LLG_HTTP_H

#include "h2o.h"
#include "server/app.h"

/* The request's id: the client's x-request-id when it is sane (1-128 of
 * [A-Za-z0-9._:-]), else a new one. The first call also puts it on the
 * response, so upstream and client see the same id. */
h2o_iovec_t llg_request_id(llg_app_t *app, h2o_req_t *req);

#define LLG_REQUEST_ID_LEN 28 /* "req_" and 24 hex digits */

/* Writes a new request id to `out` (no NUL): req_, 16 hex digits of the
 * worker's random salt, 8 of its request counter. */
void llg_request_id_new(llg_app_t *app, char out[LLG_REQUEST_ID_LEN]);

/* Whether a client's x-request-id is echoed (1 to 128 of [A-Za-z0-9-_.:]). */
int llg_request_id_acceptable(h2o_iovec_t v);

/* Records which provider served the request, for metrics and logs. */
void llg_http_set_provider(llg_app_t *app, h2o_req_t *req, int provider);

#endif
