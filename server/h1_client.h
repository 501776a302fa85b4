/*
 * server/h1_client.h: llmgate's own HTTP/1.1 client for http:// and https://
 * upstreams, on the worker's loop through h2o sockets (TLS: h1_tls.h). It
 * does only what the relay needs (one POST, the response relayed as it
 * arrives, keep-alive connections reused), in a fraction of libcurl's
 * instructions per request (docs/benchmarks.md, "Profiles"). HTTP/2 and
 * proxies stay with libcurl (curl_loop.h); llg_h1_takes() says which URLs
 * come here.
 *
 * Contract, the same as curl_loop's so the relay treats both alike:
 * - callbacks never run inside llg_h1_post();
 * - on_data takes all of a delivery or none: it returns n, or LLG_H1_PAUSE to
 *   get the same bytes again after llg_h1_resume(); any other value aborts
 *   the transfer with CURLE_WRITE_ERROR;
 * - on_done runs once per transfer that was not cancelled, with a libcurl
 *   result code; the transfer is freed before it runs;
 * - llg_h1_cancel() may be called from anywhere, callbacks included; no
 *   callback runs after it;
 * - a request written on a reused connection that the upstream closed before
 *   answering is sent once more on a new connection, as libcurl does.
 */
#ifndef LLG_H1_CLIENT_H
#define LLG_H1_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "h2o.h"
#include "server/h1_parse.h"
#include "server/h1_tls.h"
#include "server/upstream_cap.h"

typedef struct llg_h1_client llg_h1_client_t;
typedef struct llg_h1_transfer llg_h1_transfer_t;

#define LLG_H1_PAUSE ((size_t)-1)

typedef struct llg_h1_callbacks {
    void (*on_status)(void *ud, int status); /* the final (non-1xx) status, before its headers */
    llg_h1_header_cb on_header;
    size_t (*on_data)(void *ud, char *p, size_t n);
    void (*on_done)(void *ud, CURLcode result);
} llg_h1_callbacks_t;

/* One client per worker loop. `connect_timeout_ms` bounds name resolution
 * plus connect (0: none). */
llg_h1_client_t *llg_h1_create(h2o_loop_t *loop, uint64_t connect_timeout_ms);

/* Whether `url` is one this client serves: http[s]://host[:port][/path], no
 * user info. False for everything else, and for every URL when the
 * environment names a proxy (http_proxy, https_proxy, all_proxy), which
 * libcurl honours. */
bool llg_h1_takes(const llg_h1_client_t *c, const char *url);

/* Builds, once at the worker's start, the TLS context of a provider whose
 * base URL is https:// (h1_tls.h); the client owns it. NULL, with the reason
 * in err, when its files cannot be used. */
llg_h1_tls_t *llg_h1_add_tls(llg_h1_client_t *c, const char *base_url, const llg_conf_tls_t *conf, const char *label, char *err,
                             size_t errsize);

/* Starts POSTing `body` to `url` (llg_h1_takes() must be true); an https://
 * URL needs the context `tls` of its provider (llg_h1_add_tls), an http://
 * one ignores it. Connections are kept per scheme, host, port and context.
 * `lines` are header lines, each ending in CRLF, sent after Host and
 * Content-Length; the client copies them and wipes its copy when done (they
 * may hold a key). `cap`: the provider's connection cap on this worker, or
 * NULL: the transfer waits (queued, no connection) while its connections
 * are all busy and at the cap; a capped provider's connections are its own.
 * `body` must stay valid until on_done or llg_h1_cancel(). NULL when out of
 * memory. */
llg_h1_transfer_t *llg_h1_post(llg_h1_client_t *c, const char *url, llg_h1_tls_t *tls, llg_cap_t *cap, h2o_iovec_t lines,
                               h2o_iovec_t body, const llg_h1_callbacks_t *cb, void *ud);

/* Whether the transfer waits for a connection of its capped provider. */
bool llg_h1_queued(const llg_h1_transfer_t *t);

/* Stops a transfer; its connection is closed, not reused. */
void llg_h1_cancel(llg_h1_transfer_t *t);

/* Delivers again what on_data refused with LLG_H1_PAUSE, and reads on. May
 * run any callback, on_done included, before it returns. */
void llg_h1_resume(llg_h1_transfer_t *t);

#endif
