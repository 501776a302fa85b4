/*
 * server/listener.h: the listening sockets and TLS contexts, created by the
 * master before it forks so that every worker accepts on the same sockets. A
 * reload reuses the socket of every address and port it keeps, so no
 * connection is refused while workers change over.
 */
#ifndef LLG_LISTENER_H
#define LLG_LISTENER_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

typedef struct llg_listener {
    char address[64];
    uint16_t port;
    int fd;
    SSL_CTX *ssl_ctx; /* NULL: cleartext (HTTP/1.1, h2c) */
} llg_listener_t;

typedef struct llg_listeners {
    llg_listener_t *items;
    size_t count;
} llg_listeners_t;

/* Opens the sockets of `conf`, taking over from `prev` (may be NULL) the fd of
 * every address and port already open there (its fd is then set to -1 in
 * prev). Loads TLS certificates. Returns 0, or -1 after logging each problem as
 * `FILE:LINE:COLUMN: message`; on -1 nothing of prev was taken. */
int llg_listeners_open(llg_listeners_t *out, const llg_conf_t *conf, llg_listeners_t *prev);

/* Closes every fd still held and frees the TLS contexts. */
void llg_listeners_close(llg_listeners_t *ls);

/* "127.0.0.1:8080, [::1]:8443 (tls)" for the ready line. */
void llg_listeners_describe(const llg_listeners_t *ls, char *buf, size_t size);

#endif
