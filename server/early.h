/*
 * server/early.h: what is decided at a request's head, before h2o reads its
 * body (docs/security.md "Memory before authentication").
 *
 * For a request that has a body, in this order:
 *   1. a declared length over max_body_bytes: 413;
 *   2. access tokens configured (and no passthrough provider, whose callers
 *      bring their own credential): a body over LLG_EARLY_AUTH_BODY_BYTES, or
 *      of unknown length, without a valid token: 401;
 *   3. the head and the body's length are reserved against the worker's and
 *      the client address's budgets (server/admission.h): 503 when the
 *      worker's is spent, 429 when the address's is; given back when the
 *      request ends (h2o_dispose_request). A body of unknown length reserves
 *      max_body_bytes on HTTP/1.1 (chunked: nothing holds the client back),
 *      and on HTTP/2 one frame at first, then grows as its DATA arrive
 *      (h2o_buffer_reserve() of the stream's body buffer is interposed); one
 *      that does not fit is answered 429/503 mid-body.
 * A smaller body without a token is read and refused by its handler as
 * before, keeping the connection.
 *
 * HTTP/1.x: server/h1_framing.c calls llg_early_h1() from its
 * phr_parse_request(); a refusal is written in place of h2o's 400 and the
 * connection closed after a linger that reads and discards what the client
 * is still sending (server/linger.h), so that the client reads the answer
 * instead of a reset. HTTP/2: this module stands in front of libh2o's
 * h2o_hpack_parse_headers() (server/interpose.h) and refuses the stream by
 * h2o's "invalid header" path, which answers at once without reading the
 * body; server/http.c's filter gives that answer the refusal's status and
 * body. The client's DATA frames that were already on their way are dropped
 * without resetting the stream (h2o 2.2.5 would reset it, losing the answer):
 * h2o_http2__encode_rst_stream_frame() is skipped for them here and
 * server/h2_reset.c skips the reset that follows.
 */
#ifndef LLG_EARLY_H
#define LLG_EARLY_H

#include <stddef.h>

#include "h2o.h"
#include "h2o/http2.h"
#include "h2o/http2_internal.h"
#include "server/admission.h"
#include "server/app.h"
#include "server/phr.h"
#include "server/refusal.h"

#define LLG_EARLY_AUTH_BODY_BYTES 65536 /* a larger body needs a valid token before it is read */
#define LLG_EARLY_REQUEST_BYTES   4096  /* reserved per request on top of its head and body */
#define LLG_EARLY_FRAME_BYTES     16384 /* first reservation of an HTTP/2 body of unknown length */

/* Sets up the worker's admission state from app->conf; aborts without memory. */
void llg_early_init(llg_app_t *app);

/* The worker's admission state (server/worker.c counts connections in it). */
llg_admission_t *llg_early_admission(void);

/* Decides on a complete HTTP/1.x head: 1 and *out filled to refuse it, 0 to
 * go on. head_len: the head's bytes; buffered: the bytes after it already
 * read. */
int llg_early_h1(h2o_req_t *req, const struct phr_header *headers, size_t n, size_t head_len, size_t buffered, llg_refusal_t *out);

/* The refusal of an HTTP/2 request refused at its head, or NULL. */
const llg_refusal_t *llg_early_refusal_of(const h2o_req_t *req);

/* 1 once when the reset of this stream is to be skipped (see above). */
int llg_early_take_skipped_reset(const h2o_http2_stream_t *stream);

#endif
