/*
 * server/bad_request.h: the OpenAI-shaped answer to an HTTP/1.x request head
 * h2o cannot parse.
 *
 * h2o 2.2.5 answers such a head (noise, a bad version, a header without a
 * colon, more than H2O_MAX_HEADERS fields, more than H2O_MAX_REQLEN bytes)
 * with a fixed text/plain "400 Bad Request" that lib/http1.c
 * send_bad_request() writes straight to the socket, before any request,
 * filter or logger exists, so rewrite_h2o_error() (server/http.c) never sees
 * it. This module defines h2o_socket_write() in the executable: by ELF symbol
 * interposition it takes the place of libh2o's for every caller (libh2o calls
 * it through its PLT, as it calls malloc), recognises that one buffer and
 * writes an OpenAI-shaped 400 with an x-request-id and `Connection: close`
 * instead; every other write goes to libh2o's own function (dlsym
 * RTLD_NEXT, server/interpose.h) untouched. The reason of a head refused by
 * server/h1_framing.c (ambiguous framing) is given in the message. It needs
 * libh2o as a shared library, which is how Debian ships it; hostile.test.mjs
 * checks the answer.
 */
#ifndef LLG_BAD_REQUEST_H
#define LLG_BAD_REQUEST_H

#include "server/app.h"

/* The worker's app, for its request-id salt and sequence. */
void llg_bad_request_init(llg_app_t *app);

#endif
