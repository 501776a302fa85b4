/*
 * server/curl_loop.h: libcurl's multi interface on the worker's libuv loop.
 * One CURLM per worker; each curl socket is a uv_poll_t and curl's single timer
 * is a uv_timer_t, so upstream transfers never block the loop. Connections to
 * upstreams are kept alive and reused by the multi handle.
 *
 * Contract for users: an easy handle is added with a completion callback; the
 * callback runs after curl_multi_socket_action() returned, never inside a curl
 * callback, so it may free the handle. llg_curl_cancel() may be called from
 * anywhere (an h2o stop callback, a curl write callback): removal is deferred
 * to a safe point when needed.
 */
#ifndef LLG_CURL_LOOP_H
#define LLG_CURL_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <uv.h>

#include "conf/conf.h"
#include "server/upstream_cap.h"

typedef struct llg_curl llg_curl_t;

/* Called once per added transfer that was not cancelled, with curl's result.
 * The easy handle has been removed from the multi handle. */
typedef void (*llg_curl_done_cb)(CURL *easy, CURLcode result, void *data);

llg_curl_t *llg_curl_create(uv_loop_t *loop);

/* Starts a transfer. Returns 0 or -1. With `cap` (its provider's
 * connection cap on this worker, or NULL), a transfer past the cap waits in
 * its FIFO, outside libcurl, until one of the provider's transfers ends. */
int llg_curl_add(llg_curl_t *c, CURL *easy, llg_cap_t *cap, llg_curl_done_cb done, void *data);

/* Whether a transfer waits for a slot of its provider's cap. */
bool llg_curl_queued(CURL *easy);

/* Stops a transfer at once: its connection is closed (not reused), and the
 * done callback will not run. A transfer of the same cap that waited takes
 * its place; should libcurl refuse that one (out of memory), its done
 * callback runs before this returns. Safe inside curl callbacks. The easy handle may
 * be cleaned up by the caller only after llg_curl_cancel returns AND outside
 * curl callbacks; llg_curl_cancel_and_free does both at the right time. */
void llg_curl_cancel_and_free(llg_curl_t *c, CURL *easy);

/* Resumes a transfer paused by CURL_WRITEFUNC_PAUSE. May call the write,
 * header, socket and timer callbacks before it returns. */
void llg_curl_resume(llg_curl_t *c, CURL *easy);

/* Frees `p` with `fn` at the next point where no curl callback is running
 * (at once when called outside curl). */
void llg_curl_defer_free(llg_curl_t *c, void *p, void (*fn)(void *));

/* An easy handle with no options set: a reused one when there is one (its
 * buffers and DNS cache stay allocated), else a new one. */
CURL *llg_curl_easy_get(llg_curl_t *c);

/* Gives back a handle whose transfer ended (the done callback ran). */
void llg_curl_easy_put(llg_curl_t *c, CURL *easy);

/* Number of transfers in progress. */
unsigned llg_curl_running(const llg_curl_t *c);

/* curl's own words on why the transfer whose done callback is running
 * failed (CURLOPT_ERRORBUFFER), or "" (then curl_easy_strerror says it). */
const char *llg_curl_error(const llg_curl_t *c);

/* ---- a provider's tls: on libcurl (server/curl_tls.c) ------------------ */

/* Reads every provider's tls: once (the CA certificates of ca: add, the
 * server_name rewrite), for transfers on this loop. Call once per worker. */
void llg_curl_use_tls(llg_curl_t *c, const llg_conf_t *conf);

/* Sets provider `provider`'s TLS options on `easy` and returns the URL to
 * give it: `url`, or, with tls.server_name, `url` with its host replaced
 * (written into buf; curl connects to the real host with CURLOPT_CONNECT_TO). */
const char *llg_curl_tls_setup(llg_curl_t *c, CURL *easy, int provider, const char *url, char *buf, size_t bufsize);

/* A TLS failure, from curl's result and error text (llg_curl_error): none;
 * a handshake that did not complete; or refused: the upstream's certificate
 * (a verification failure), ours (its alert), or settings curl cannot use,
 * the same for every key of the provider. Neither is the key's doing: no key
 * is cooled down or disabled for it. */
typedef enum { LLG_TLS_NONE, LLG_TLS_HANDSHAKE, LLG_TLS_REFUSED } llg_curl_tls_failure_t;
llg_curl_tls_failure_t llg_curl_tls_failure(CURLcode result, const char *err);

/* A body delimited by the close over TLS: libcurl 7.88 reads a TCP close
 * without the upstream's close_notify as its end (curl issue 4624), so a cut
 * there looked whole. llg_curl_tls_hold(), while easy's connection is open
 * (at the end of the head), keeps its TLS context (NULL: not OpenSSL, or no
 * TLS); llg_curl_tls_release() frees it and says whether the upstream sent
 * its close_notify on that connection. */
void *llg_curl_tls_hold(CURL *easy);
bool llg_curl_tls_release(void *held);

/* internal (curl_tls.c for curl_loop.c) */
struct llg_curl_tls;
struct llg_curl_tls *llg_curl_tls_create(const llg_conf_t *conf);
void llg_curl_tls_destroy(struct llg_curl_tls *all, size_t count);
const char *llg_curl_tls_apply(const struct llg_curl_tls *all, int provider, CURL *easy, const char *url, char *buf,
                               size_t bufsize);

#endif
