/*
 * server/linger.h: a lingering close for HTTP/1.x connections answered
 * before their request body was read (server/early.h).
 *
 * Closing a socket whose receive queue still holds data makes the kernel
 * send a reset, and a client that is still sending its body then often sees
 * "connection reset" instead of the answer already sent to it. h2o 2.2.5
 * closes at once ("TODO use lingering close", lib/http1.c). A marked socket's
 * close is therefore delayed: it is read and everything read discarded until
 * the client closes, or for at most LLG_LINGER_MS. Nothing is buffered.
 *
 * How: by ELF symbol interposition (server/interpose.h), h2o_socket_close()
 * of a marked socket starts the linger instead; libh2o's own close follows.
 */
#ifndef LLG_LINGER_H
#define LLG_LINGER_H

#include "h2o.h"

#define LLG_LINGER_MS 5000

/* The next h2o_socket_close() of `sock` lingers. */
void llg_linger_mark(h2o_socket_t *sock);

/* Sockets marked or lingering now (tests, logs). */
size_t llg_linger_count(void);

#endif
