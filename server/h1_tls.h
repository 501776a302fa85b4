/*
 * server/h1_tls.h: the TLS side of llmgate's own HTTP/1.1 client
 * (h1_client.h): one client SSL_CTX per https:// provider and worker, built
 * once at the worker's start from the provider's `tls:` section
 * (conf/conf.h, llg_conf_tls_t), its session cache, the handshake on a
 * connected h2o socket, and the reading of a failed handshake as a libcurl
 * result code with one log line saying why.
 */
#ifndef LLG_H1_TLS_H
#define LLG_H1_TLS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "h2o.h"

typedef struct llg_h1_tls llg_h1_tls_t;

/* The context for host:port (an https:// URL's; no IPv6 brackets) with the
 * settings `conf` (a provider's tls:, possibly unset: the system's CAs,
 * verification on); `label` (the provider's name) is copied for the log
 * lines. NULL, with a reason in err, when a file cannot be used or out of
 * memory. */
llg_h1_tls_t *llg_h1_tls_create(h2o_loop_t *loop, const char *host, uint16_t port, const llg_conf_tls_t *conf, const char *label,
                                char *err, size_t errsize);

void llg_h1_tls_free(llg_h1_tls_t *tls);

/* Starts the handshake on a connected socket; cb runs once with h2o's error
 * (NULL on success); read it with llg_h1_tls_result(). */
void llg_h1_tls_handshake(llg_h1_tls_t *tls, h2o_socket_t *sock, h2o_socket_cb cb);

/* CURLE_OK when the handshake that ended with `err` left a usable
 * connection; else CURLE_PEER_FAILED_VERIFICATION (the certificate or its
 * name was refused) or CURLE_SSL_CONNECT_ERROR, after one warning line
 * "upstream TLS: ... (provider P, host H)". */
CURLcode llg_h1_tls_result(const llg_h1_tls_t *tls, const char *err);

/* Right after a read on a new connection that brought no answer byte (h2o's
 * error `err`, NULL for none): whether the upstream refused the connection
 * with a TLS alert (TLS 1.3 checks a client certificate after the
 * handshake). If so, logs the same line as llg_h1_tls_result(). */
bool llg_h1_tls_refused(const llg_h1_tls_t *tls, const char *err);

/* Whether the upstream ended its side of the TLS connection of sock with a
 * close_notify (before the TCP close h2o reports as an end of stream): a
 * close without one may be a truncation (RFC 8446 section 6.1, RFC 9112
 * section 9.8). */
bool llg_h1_tls_close_notified(const h2o_socket_t *sock);

#endif
