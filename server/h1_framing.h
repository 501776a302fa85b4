/*
 * server/h1_framing.h: the request-framing rules of RFC 9112 section 6.3 that
 * h2o 2.2.5's HTTP/1.x server does not enforce.
 *
 * h2o keeps the first of two Content-Length fields and lets
 * Transfer-Encoding win over Content-Length silently; the rest of the bytes
 * are then read as the next request. Behind a front proxy that frames the
 * same bytes otherwise (the last Content-Length, or Content-Length over
 * Transfer-Encoding), that is request smuggling. This module defines
 * phr_parse_request() in the executable: by ELF symbol interposition (as
 * server/bad_request.c does for h2o_socket_write) it takes the place of the
 * copy inside libh2o, calls it (server/interpose.h), and refuses a parsed head
 * that has
 *   - more than one Content-Length field (conflicting or not),
 *   - more than one Transfer-Encoding field, or
 *   - both Content-Length and Transfer-Encoding,
 * by returning -1 (a parse error). h2o then answers with its fixed
 * "400 Bad Request" and closes the connection before any of the body is read;
 * server/bad_request.c turns that answer into the OpenAI shape, with the
 * reason given here. HTTP/2 has its own framing and is not concerned.
 */
#ifndef LLG_H1_FRAMING_H
#define LLG_H1_FRAMING_H

#include "server/refusal.h"

/* The answer to the last head refused here, once: copied to *out and
 * forgotten; 0 (and *out untouched) when the last refusal was h2o's own. A
 * complete head with clear framing then goes through server/early.c, whose
 * refusals (401, 413, 429, 503 before the body) come out here too. The worker
 * is one thread, and h2o writes its 400 in the same call that parsed the
 * head, so the answer cannot belong to another connection. */
int llg_h1_refusal_take(llg_refusal_t *out);

#endif
