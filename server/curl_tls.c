/*
 * server/curl_tls.c: a provider's `tls:` settings (conf/tls.c) on libcurl's
 * transfers (see curl_loop.h), and the CA store every https:// provider's
 * connections verify against. Everything that can be is worked out once per
 * worker when the loop is created: the extra CA certificates are parsed, the
 * URL prefix to rewrite for server_name and its CURLOPT_CONNECT_TO entry are
 * built; the system's CA store is read once, at its first use; a transfer
 * only sets options.
 *
 * Why the stores are ours (issue 17): libcurl 7.88 builds a new SSL_CTX for
 * every connection and fills its store from CURLOPT_CAINFO/CURLOPT_CAPATH.
 * Its CA cache (CURLOPT_CA_CACHE_TIMEOUT) is not used when a CA path is set,
 * and Debian's libcurl sets one (--with-ca-path=/etc/ssl/certs): every new
 * TLS connection parsed the 220 KB system bundle, about 20 ms of the worker's
 * loop, even when an SSL_CTX_FUNCTION replaced the store right after. A burst
 * of 32 new connections stalled every request of the worker for ~1 s (the
 * cold-start p99), and 128 or 512 connections opened at once collapsed the
 * throughput. So every verifying https:// provider gets a store built once
 * (SSL_CTX_FUNCTION) and curl is told to load nothing large itself.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ca_store.h"
#include "server/curl_loop.h"
#include "server/log.h"

struct llg_curl_tls {
    bool https;                 /* base_url is https://: something to apply */
    const llg_conf_tls_t *conf; /* the provider's tls:, or NULL (none given: the defaults) */
    X509_STORE *store;          /* ca: add: the system's CAs and ca_file's, built once per worker */
    bool system;                /* verifying against the system's CAs only (ca_store.h: the
                                 * worker's store, read at the first connection that needs it) */
    char *from, *to;            /* server_name: "https://host:port" becomes "https://server_name:port" */
    struct curl_slist *connect_to;
};

/* The base_url's "https://authority" part: the host (brackets kept) and the
 * port. Returns the length of the prefix, or 0. */
static size_t split_base(const char *url, char *host, size_t hostsize, unsigned *port)
{
    static const char scheme[] = "https://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        return 0;
    const char *a = url + sizeof(scheme) - 1;
    size_t alen = strcspn(a, "/?#");
    const char *at = memchr(a, '@', alen);
    const char *h = at != NULL ? at + 1 : a, *end = a + alen;
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            return 0;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
    }
    size_t hlen = (size_t)((colon != NULL ? colon : end) - h);
    if (hlen == 0 || hlen >= hostsize)
        return 0;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = colon != NULL ? (unsigned)strtoul(colon + 1, NULL, 10) : 443;
    return (size_t)(end - url);
}

static STACK_OF(X509) * read_cas(const char *path, const char *provider)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        llg_error("provider %s: tls.ca_file: cannot open \"%s\"", provider, path);
        return NULL;
    }
    STACK_OF(X509) *s = sk_X509_new_null();
    X509 *x;
    while (s != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(s, x))
            X509_free(x);
    ERR_clear_error(); /* the end of the file reads as an error */
    fclose(f);
    if (s != NULL && sk_X509_num(s) == 0) {
        llg_error("provider %s: tls.ca_file: no PEM certificate in \"%s\"", provider, path);
        sk_X509_free(s);
        s = NULL;
    }
    return s;
}

/* The system's CAs (OpenSSL's default file and directory, parsed once per
 * worker: ca_store.h) plus ca_file's: built once, shared by every connection
 * of the provider on this worker (loading a 200 KB bundle per TLS
 * connection would stall the loop). */
static X509_STORE *build_store(const char *path, const char *provider)
{
    STACK_OF(X509) *extra = read_cas(path, provider);
    X509_STORE *store = extra != NULL ? llg_ca_store_with(extra) : NULL;
    if (extra != NULL && store == NULL)
        llg_error("provider %s: tls.ca_file: cannot load the system's CA certificates", provider);
    ERR_clear_error();
    if (extra != NULL)
        sk_X509_pop_free(extra, X509_free);
    return store;
}

static void setup_server_name(struct llg_curl_tls *t, const llg_conf_provider_t *p)
{
    char host[512], line[1200];
    unsigned port = 0;
    size_t n = split_base(p->base_url, host, sizeof(host), &port);
    if (n == 0) {
        llg_error("provider %s: tls.server_name: cannot read the host of base_url", p->name);
        return;
    }
    size_t need = strlen(p->tls.server_name) + 32;
    t->from = strndup(p->base_url, n);
    t->to = malloc(need);
    if (t->from == NULL || t->to == NULL)
        abort();
    snprintf(t->to, need, "https://%s:%u", p->tls.server_name, port);
    /* curl connects to the real host but presents and checks server_name */
    snprintf(line, sizeof(line), "%s:%u:%s:%u", p->tls.server_name, port, host, port);
    t->connect_to = curl_slist_append(NULL, line);
    if (t->connect_to == NULL)
        abort();
}

/* The SSL_CTX ex_data slot that says a close_notify was read on the
 * connection (libcurl 7.88 makes one SSL_CTX per connection); -1: none. */
static int notify_idx = -1;

struct llg_curl_tls *llg_curl_tls_create(const llg_conf_t *conf)
{
    struct llg_curl_tls *all = calloc(conf->provider_count ? conf->provider_count : 1, sizeof(*all));
    if (all == NULL)
        abort();
    if (notify_idx < 0)
        notify_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        struct llg_curl_tls *t = &all[i];
        if (p->base_url == NULL || strncmp(p->base_url, "https://", 8) != 0)
            continue;
        t->https = true;
        t->conf = p->tls.set ? &p->tls : NULL;
        const llg_conf_tls_t *c = t->conf;
        if (c != NULL && !c->verify)
            ; /* nothing to load */
        else if (c != NULL && c->ca_file != NULL && !c->ca_replace)
            t->store = build_store(c->ca_file, p->name);
        else if (c == NULL || c->ca_file == NULL)
            t->system = true;
        if (c != NULL && c->server_name != NULL)
            setup_server_name(t, p);
    }
    return all;
}

void llg_curl_tls_destroy(struct llg_curl_tls *all, size_t count)
{
    if (all == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        X509_STORE_free(all[i].store);
        free(all[i].from);
        free(all[i].to);
        curl_slist_free_all(all[i].connect_to);
    }
    free(all);
}

static void on_tls_info(const SSL *ssl, int where, int ret)
{
    /* SSL_CB_READ_ALERT is two bits (ALERT | READ): ours, written at our
     * close, has the other */
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT && (ret & 0xff) == SSL_AD_CLOSE_NOTIFY)
        SSL_CTX_set_ex_data(SSL_get_SSL_CTX(ssl), notify_idx, (void *)1);
}

/* Every new TLS connection: the close_notify is watched for, and the
 * connection verifies against a store built once: the provider's own (ca:
 * add: the system's CAs and ca_file's) or the worker's system store (the
 * SSL_CTX takes a reference; whatever curl put in its own store is dropped). */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userp)
{
    (void)easy;
    const struct llg_curl_tls *t = userp;
    if (notify_idx >= 0)
        SSL_CTX_set_info_callback(ssl_ctx, on_tls_info);
    X509_STORE *store = t->store != NULL ? t->store : t->system ? llg_ca_system_store() : NULL;
    if (store != NULL)
        SSL_CTX_set1_cert_store(ssl_ctx, store);
    return CURLE_OK;
}

void *llg_curl_tls_hold(CURL *easy)
{
    struct curl_tlssessioninfo *info = NULL;
    if (notify_idx < 0 || curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == NULL ||
        info->backend != CURLSSLBACKEND_OPENSSL || info->internals == NULL)
        return NULL;
    SSL_CTX *ctx = SSL_get_SSL_CTX(info->internals);
    return ctx != NULL && SSL_CTX_up_ref(ctx) == 1 ? ctx : NULL;
}

bool llg_curl_tls_release(void *held)
{
    bool notified = SSL_CTX_get_ex_data(held, notify_idx) != NULL;
    SSL_CTX_free(held);
    return notified;
}

/* Verification against a store of on_ssl_ctx() instead of curl's
 * per-connection loading (see the top of this file). CURLOPT_CAPATH off:
 * curl's CA path would be looked up besides. CURLOPT_CAINFO: `key_file`, a
 * small file curl may still read per connection (it costs microseconds), or
 * none. It is also part of the key under which curl reuses a kept-alive
 * connection, so providers with different ca_files on the same host:port do
 * not share connections verified against each other's CAs. */
static void use_store(CURL *easy, const char *key_file)
{
    curl_easy_setopt(easy, CURLOPT_CAINFO, key_file);
    curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
}

static const char *tls_url(const struct llg_curl_tls *t, const char *url, char *buf, size_t bufsize)
{
    if (t->from == NULL)
        return url;
    size_t n = strlen(t->from);
    if (strncmp(url, t->from, n) != 0 || (url[n] != '\0' && url[n] != '/' && url[n] != '?'))
        return url;
    int w = snprintf(buf, bufsize, "%s%s", t->to, url + n);
    return w > 0 && (size_t)w < bufsize ? buf : url;
}

const char *llg_curl_tls_apply(const struct llg_curl_tls *all, int provider, CURL *easy, const char *url, char *buf, size_t bufsize)
{
    const struct llg_curl_tls *t = &all[provider];
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, (void *)t);
    if (!t->https)
        return url;
    if (t->system && llg_ca_system_store() != NULL)
        use_store(easy, NULL);
    const llg_conf_tls_t *c = t->conf;
    if (c == NULL)
        return url;
    if (!c->verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->ca_file != NULL && c->ca_replace) {
        /* only ca_file: a small file, curl's per-connection read is cheap */
        curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(easy, CURLOPT_CAPATH, NULL);
    } else if (t->store != NULL) {
        use_store(easy, c->ca_file);
    }
    if (c->client_certificate != NULL) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, c->client_certificate);
        curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(easy, CURLOPT_SSLKEY, c->client_key);
        curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (t->connect_to != NULL)
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, t->connect_to);
    if (c->min_version == 12)
        curl_easy_setopt(easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    else if (c->min_version == 13)
        curl_easy_setopt(easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    return tls_url(t, url, buf, bufsize);
}

/* The upstream's alert when it refuses our certificate (or its absence):
 * with TLS 1.3 it comes after curl's side of the handshake, as a read error.
 * And no TLS version in common (tls.min_version): configuration too. */
static bool refused_alert(const char *err)
{
    static const char *const alerts[] = {"alert certificate required",    "alert bad certificate",     "alert unknown ca",
                                         "alert certificate unknown",     "alert certificate expired", "alert certificate revoked",
                                         "alert unsupported certificate", "alert protocol version",    "unsupported protocol"};
    if (err == NULL)
        return false;
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
        if (strstr(err, alerts[i]) != NULL)
            return true;
    return false;
}

llg_curl_tls_failure_t llg_curl_tls_failure(CURLcode result, const char *err)
{
    switch (result) {
    case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT */
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
        return LLG_TLS_REFUSED;
    case CURLE_SSL_CONNECT_ERROR:
        return refused_alert(err) ? LLG_TLS_REFUSED : LLG_TLS_HANDSHAKE;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return refused_alert(err) ? LLG_TLS_REFUSED : LLG_TLS_NONE;
    default:
        return LLG_TLS_NONE;
    }
}
