/*
 * pool/digest.c: the keyed hash of secrets: HMAC-SHA256 under the pool's
 * random key (drawn once per master lifetime, kept in process memory only).
 * Keys and tokens are matched across reloads by it, tokens are looked up by
 * it, and slot ids show 8 hex digits of it: stable across reloads, and never
 * a hash of the bare secret that could be checked against a guess.
 *
 * One EVP_MAC context is keyed once and re-initialised per digest (OpenSSL
 * then reuses the prepared key: about 200 ns for a short secret, against
 * 1.2 us for the one-shot HMAC()).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>

EVP_MAC_CTX *pool_mac_new(const unsigned char key[POOL_HASH_KEY])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if (ctx == NULL)
        return NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (!EVP_MAC_init(ctx, key, POOL_HASH_KEY, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void pool_mac_free(EVP_MAC_CTX *mac)
{
    EVP_MAC_CTX_free(mac);
}

int pool_digest(EVP_MAC_CTX *mac, char domain, const char *secret, size_t len, unsigned char out[POOL_DIGEST])
{
    unsigned char d = (unsigned char)domain;
    size_t outlen = 0;
    if (!EVP_MAC_init(mac, NULL, 0, NULL) || !EVP_MAC_update(mac, &d, 1) ||
        !EVP_MAC_update(mac, (const unsigned char *)secret, len) || !EVP_MAC_final(mac, out, &outlen, POOL_DIGEST) ||
        outlen != POOL_DIGEST)
        return -1;
    return 0;
}

/* The cluster's key is derived from the Redis password and prefix: every
 * instance of a cluster computes the same ids, and a reader of Redis or of
 * /metrics without the password cannot check a guessed secret against them. */
int llg_pool_cluster_digest(const llg_conf_redis_t *r, const char *domain, const char *secret, unsigned char out[32])
{
    unsigned char mk[SHA256_DIGEST_LENGTH];
    char seed[512];
    int sl = snprintf(seed, sizeof(seed), "llmgate-cluster-v1%c%s%c%s", 0, r->password ? r->password : "", 0, r->prefix);
    SHA256((const unsigned char *)seed, sl > 0 && (size_t)sl < sizeof(seed) ? (size_t)sl : sizeof(seed), mk);
    OPENSSL_cleanse(seed, sizeof(seed));
    size_t dl = strlen(domain), n = strlen(secret);
    unsigned char *text = malloc(dl + 1 + n);
    unsigned int len = 0;
    if (text == NULL)
        return -1;
    memcpy(text, domain, dl + 1);
    memcpy(text + dl + 1, secret, n);
    unsigned char *d = HMAC(EVP_sha256(), mk, sizeof(mk), text, dl + 1 + n, out, &len);
    OPENSSL_cleanse(text, dl + 1 + n);
    OPENSSL_cleanse(mk, sizeof(mk));
    free(text);
    return d != NULL && len == 32 ? 0 : -1;
}
