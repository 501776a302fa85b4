/*
 * server/listener.c: socket and TLS context creation for the master (see
 * listener.h).
 */
#include "server/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h2o.h"
#include "server/log.h"

static int open_socket(const char *address, uint16_t port, int *fd_out, char *err, size_t errsize)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sslen = sizeof(*sin);
    } else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sslen = sizeof(*sin6);
    } else {
        snprintf(err, errsize, "invalid address \"%s\"", address);
        return -1;
    }

    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsize, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
        snprintf(err, errsize, "cannot listen on %s port %u: %s", address, (unsigned)port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 4096) != 0) {
        snprintf(err, errsize, "listen on %s port %u: %s", address, (unsigned)port, strerror(errno));
        close(fd);
        return -1;
    }
    /* libuv expects non-blocking listeners */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    *fd_out = fd;
    return 0;
}

static SSL_CTX *create_ssl_ctx(const llg_conf_t *conf, const llg_conf_listen_t *l)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto Error;
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites are OpenSSL's
     * defaults. A library that refuses either setting gets no listener rather
     * than a weaker one. */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        llg_error("%s:%u:%u: the TLS library refused TLS 1.2+ with ECDHE AEAD suites: %s", conf->source, l->mark.line,
                  l->mark.column, ERR_reason_error_string(ERR_get_error()));
        goto Error;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_certificate) != 1) {
        llg_error("%s:%u:%u: cannot load TLS certificate \"%s\": %s", conf->source, l->mark.line, l->mark.column,
                  l->tls_certificate, ERR_reason_error_string(ERR_get_error()));
        goto Error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, l->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        llg_error("%s:%u:%u: cannot load TLS key \"%s\": %s", conf->source, l->mark.line, l->mark.column, l->tls_key,
                  ERR_reason_error_string(ERR_get_error()));
        goto Error;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    return ctx;
Error:
    ERR_clear_error();
    if (ctx != NULL)
        SSL_CTX_free(ctx);
    return NULL;
}

int llg_listeners_open(llg_listeners_t *out, const llg_conf_t *conf, llg_listeners_t *prev)
{
    int ok = 1;
    out->count = conf->listen_count;
    out->items = calloc(conf->listen_count ? conf->listen_count : 1, sizeof(*out->items));
    /* which fds of prev are reused; committed to prev only on success */
    size_t *taken = calloc(conf->listen_count ? conf->listen_count : 1, sizeof(size_t));
    if (out->items == NULL || taken == NULL)
        abort();

    for (size_t i = 0; i < conf->listen_count; i++) {
        const llg_conf_listen_t *l = &conf->listen[i];
        llg_listener_t *dst = &out->items[i];
        snprintf(dst->address, sizeof(dst->address), "%s", l->address);
        dst->port = l->port;
        dst->fd = -1;
        taken[i] = SIZE_MAX;
        for (size_t j = 0; prev != NULL && j < prev->count; j++) {
            if (prev->items[j].fd >= 0 && prev->items[j].port == l->port && strcmp(prev->items[j].address, l->address) == 0) {
                dst->fd = prev->items[j].fd;
                taken[i] = j;
                break;
            }
        }
        if (dst->fd < 0) {
            char err[256];
            if (open_socket(l->address, l->port, &dst->fd, err, sizeof(err)) != 0) {
                llg_error("%s:%u:%u: %s", conf->source, l->mark.line, l->mark.column, err);
                ok = 0;
                continue;
            }
        }
        if (l->tls_certificate != NULL && (dst->ssl_ctx = create_ssl_ctx(conf, l)) == NULL)
            ok = 0;
    }

    if (!ok) {
        /* undo: close only what this call opened */
        for (size_t i = 0; i < out->count; i++) {
            if (taken[i] == SIZE_MAX && out->items[i].fd >= 0)
                close(out->items[i].fd);
            if (out->items[i].ssl_ctx != NULL)
                SSL_CTX_free(out->items[i].ssl_ctx);
        }
        free(out->items);
        out->items = NULL;
        out->count = 0;
        free(taken);
        return -1;
    }
    for (size_t i = 0; i < out->count; i++)
        if (taken[i] != SIZE_MAX)
            prev->items[taken[i]].fd = -1;
    free(taken);
    return 0;
}

void llg_listeners_close(llg_listeners_t *ls)
{
    for (size_t i = 0; i < ls->count; i++) {
        if (ls->items[i].fd >= 0)
            close(ls->items[i].fd);
        if (ls->items[i].ssl_ctx != NULL)
            SSL_CTX_free(ls->items[i].ssl_ctx);
    }
    free(ls->items);
    ls->items = NULL;
    ls->count = 0;
}

void llg_listeners_describe(const llg_listeners_t *ls, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ls->count && off < size; i++) {
        const llg_listener_t *l = &ls->items[i];
        int v6 = strchr(l->address, ':') != NULL;
        int n = snprintf(buf + off, size - off, "%s%s%s%s:%u%s", i ? ", " : "", v6 ? "[" : "", l->address, v6 ? "]" : "",
                         (unsigned)l->port, l->ssl_ctx ? " (tls)" : "");
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
