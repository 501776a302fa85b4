/*
 * server/ca_store.h: the system's CA certificates, parsed once per process
 * and shared by the upstream TLS contexts of both clients (h1_tls.c,
 * curl_tls.c). OpenSSL parses the whole default bundle (about 150
 * certificates, 200 KB) every time a store loads it: once per https://
 * provider and client made a worker's start take seconds with dozens of
 * providers. Workers are single-threaded; each builds its own copy on first
 * use (nothing is built in the master).
 */
#ifndef LLG_CA_STORE_H
#define LLG_CA_STORE_H

#include <openssl/x509.h>

/* The system's store (OpenSSL's default file and directory: SSL_CERT_FILE
 * and SSL_CERT_DIR honoured), built on the first call; NULL when it cannot
 * be built. Shared: take a reference (X509_STORE_up_ref, or
 * SSL_CTX_set1_cert_store) to keep it. */
X509_STORE *llg_ca_system_store(void);

/* A new store trusting the system's certificates (those of the shared store,
 * referenced, not parsed again, and the default directory) plus extra's
 * (may be NULL); the caller frees it. NULL when out of memory or when the
 * system's store cannot be built. */
X509_STORE *llg_ca_store_with(STACK_OF(X509) * extra);

#endif
