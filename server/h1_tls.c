/*
 * server/h1_tls.c: TLS for llmgate's own HTTP/1.1 client (see h1_tls.h):
 * one client SSL_CTX per https:// provider and worker (TLS 1.2 or later, the
 * system's CAs plus or instead of tls.ca_file, the host name or IP checked by
 * OpenSSL during the handshake, SNI, ALPN http/1.1, a client certificate),
 * sessions kept for resumption, and the reading of h2o's handshake errors.
 *
 * h2o 2.2.5's client handshake (h2o_socket_ssl_handshake) sends its
 * server_name as SNI, resumes from the context's session cache keyed
 * "name:port", and after a successful handshake compares the name with the
 * certificate's DNS names only. OpenSSL's own check (X509_VERIFY_PARAM, with
 * IP addresses and verify: false honoured) is the one that counts here, so
 * that later comparison's verdict is not used.
 */
#include "server/h1_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ca_store.h"
#include "server/log.h"

#define SESSIONS_MAX 8                    /* sessions kept per context (one origin) */
#define SESSION_MS   (2 * 3600 * 1000ull) /* and for how long */

struct llg_h1_tls {
    SSL_CTX *ctx;
    h2o_loop_t *loop;
    h2o_cache_t *sessions; /* owned by ctx (freed with it) */
    char *name;            /* handshake name: tls.server_name, else the URL's host */
    char *host;            /* the URL's host, for the log */
    char *label;           /* the provider's name, for the log */
    char *cache_key;       /* "name:port", as h2o keys its session cache */
    h2o_cache_hashcode_t cache_hash;
};

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* h2o always sends its server name as SNI: none for an IP address (RFC 6066
 * section 3), taken back before the ClientHello is written. */
static void drop_ip_sni(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_START) == 0)
        return;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (sni != NULL && is_ip(sni))
        SSL_set_tlsext_host_name((SSL *)ssl, NULL);
}

/* A session the upstream made resumable (TLS 1.3 sends its tickets after the
 * handshake, once h2o has stored the session without one). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    llg_h1_tls_t *tls = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (tls == NULL || !SSL_SESSION_is_resumable(sess))
        return 0;
    h2o_cache_set(tls->sessions, h2o_now(tls->loop), h2o_iovec_init(tls->cache_key, strlen(tls->cache_key)), tls->cache_hash,
                  h2o_iovec_init(sess, 1));
    return 1; /* the cache holds the reference */
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "unknown error";
}

/* Trust and names: what the peer's certificate is checked against. */
static int set_verify(SSL_CTX *ctx, const llg_h1_tls_t *tls, const llg_conf_tls_t *conf, char *err, size_t errsize)
{
    if (!conf->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return 0;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!conf->ca_replace) {
        /* the system's CAs, parsed once per worker (ca_store.h): shared as
         * they are, or copied into the context's own store that ca_file adds to */
        X509_STORE *store = conf->ca_file == NULL ? llg_ca_system_store() : llg_ca_store_with(NULL);
        if (store == NULL) {
            snprintf(err, errsize, "the system's CA store cannot be loaded");
            return -1;
        }
        if (conf->ca_file == NULL)
            SSL_CTX_set1_cert_store(ctx, store);
        else
            SSL_CTX_set_cert_store(ctx, store);
    }
    if (conf->ca_file != NULL && SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1) {
        snprintf(err, errsize, "ca_file %s: %s", conf->ca_file, ssl_reason());
        return -1;
    }
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    int ok = is_ip(tls->name) ? X509_VERIFY_PARAM_set1_ip_asc(param, tls->name) : X509_VERIFY_PARAM_set1_host(param, tls->name, 0);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ok != 1) {
        snprintf(err, errsize, "cannot check the name %s", tls->name);
        return -1;
    }
    return 0;
}

/* The context's settings; 0, or -1 with err set. */
static int setup_ctx(SSL_CTX *ctx, llg_h1_tls_t *tls, const llg_conf_tls_t *conf, char *err, size_t errsize)
{
    SSL_CTX_set_min_proto_version(ctx, conf->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (set_verify(ctx, tls, conf, err, errsize) != 0)
        return -1;
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
        snprintf(err, errsize, "ALPN: %s", ssl_reason());
        return -1;
    }
    if (conf->client_certificate != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, conf->client_certificate) != 1) {
            snprintf(err, errsize, "client_certificate %s: %s", conf->client_certificate, ssl_reason());
            return -1;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, conf->client_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errsize, "client_key %s: %s", conf->client_key, ssl_reason());
            return -1;
        }
    }
    if (is_ip(tls->name))
        SSL_CTX_set_info_callback(ctx, drop_ip_sni);
    /* sessions: h2o's cache (keyed name:port) fed by OpenSSL's callback */
    if ((tls->sessions = h2o_cache_create(0, SESSIONS_MAX, SESSION_MS, h2o_socket_ssl_destroy_session_cache_entry)) == NULL) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    h2o_socket_ssl_set_session_cache(ctx, tls->sessions);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_set_app_data(ctx, tls);
    return 0;
}

llg_h1_tls_t *llg_h1_tls_create(h2o_loop_t *loop, const char *host, uint16_t port, const llg_conf_tls_t *conf, const char *label,
                                char *err, size_t errsize)
{
    llg_h1_tls_t *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    const char *name = conf->server_name != NULL ? conf->server_name : host;
    char key[300];
    snprintf(key, sizeof(key), "%s:%u", name, (unsigned)port);
    tls->loop = loop;
    tls->name = strdup(name);
    tls->host = strdup(host);
    tls->label = strdup(label != NULL ? label : "");
    tls->cache_key = strdup(key);
    tls->ctx = SSL_CTX_new(TLS_client_method());
    if (tls->name == NULL || tls->host == NULL || tls->label == NULL || tls->cache_key == NULL || tls->ctx == NULL) {
        snprintf(err, errsize, "out of memory");
        llg_h1_tls_free(tls);
        return NULL;
    }
    tls->cache_hash = h2o_cache_calchash(key, strlen(key));
    if (setup_ctx(tls->ctx, tls, conf, err, errsize) != 0) {
        ERR_clear_error();
        llg_h1_tls_free(tls);
        return NULL;
    }
    return tls;
}

void llg_h1_tls_free(llg_h1_tls_t *tls)
{
    if (tls == NULL)
        return;
    if (tls->ctx != NULL) {
        SSL_CTX_set_app_data(tls->ctx, NULL);
        SSL_CTX_free(tls->ctx); /* its session cache with it, once no connection uses it */
    }
    free(tls->name);
    free(tls->host);
    free(tls->label);
    free(tls->cache_key);
    free(tls);
}

void llg_h1_tls_handshake(llg_h1_tls_t *tls, h2o_socket_t *sock, h2o_socket_cb cb)
{
    ERR_clear_error();
    h2o_socket_ssl_handshake(sock, tls->ctx, tls->name, cb);
}

CURLcode llg_h1_tls_result(const llg_h1_tls_t *tls, const char *err)
{
    /* h2o's own name comparison after a handshake OpenSSL accepted */
    if (err == NULL || err == h2o_socket_error_ssl_cert_name_mismatch || err == h2o_socket_error_ssl_cert_invalid ||
        err == h2o_socket_error_ssl_no_cert)
        return CURLE_OK;
    CURLcode code;
    if (err == h2o_socket_error_closed || err == h2o_socket_error_io || err == h2o_socket_error_conn_fail) {
        llg_warn("upstream TLS: handshake failed: %s (provider %s, host %s)", err, tls->label, tls->host);
        code = CURLE_SSL_CONNECT_ERROR;
    } else if (strcmp(err, "ssl handshake failure") == 0) {
        llg_warn("upstream TLS: handshake failed: %s (provider %s, host %s)", ssl_reason(), tls->label, tls->host);
        code = CURLE_SSL_CONNECT_ERROR;
    } else {
        /* X509_verify_cert_error_string() of the refused certificate */
        llg_warn("upstream TLS: certificate verify failed: %s (provider %s, host %s)", err, tls->label, tls->host);
        code = CURLE_PEER_FAILED_VERIFICATION;
    }
    ERR_clear_error();
    return code;
}

bool llg_h1_tls_refused(const llg_h1_tls_t *tls, const char *err)
{
    /* OpenSSL's SSL_read() returns 0 for a fatal alert, which h2o reads as
     * no data; the alert is still on the error queue that h2o cleared just
     * before that read */
    unsigned long e = ERR_peek_last_error();
    bool alert = e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET;
    /* only right after a decode (err NULL or a decode error): an end of
     * stream (h2o's I/O error) decoded nothing, and the queue may be stale */
    if (!(err == NULL && alert) && err != h2o_socket_error_ssl_decode)
        return false;
    llg_warn("upstream TLS: the upstream refused the connection: %s (provider %s, host %s)", ssl_reason(), tls->label, tls->host);
    ERR_clear_error();
    return true;
}

/* h2o 2.2.5 exports no accessor for a socket's SSL: its struct
 * st_h2o_socket_ssl_t (lib/common/socket.c, private) begins with the SSL_CTX
 * and the SSL, as h2o_socket_get_ssl_session_reused() reads it (the version
 * is pinned in meson.build). */
struct h2o_socket_ssl_head {
    SSL_CTX *ctx;
    SSL *ssl;
};

bool llg_h1_tls_close_notified(const h2o_socket_t *sock)
{
    const struct h2o_socket_ssl_head *s = (const struct h2o_socket_ssl_head *)sock->ssl;
    return s != NULL && s->ssl != NULL && (SSL_get_shutdown(s->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}
