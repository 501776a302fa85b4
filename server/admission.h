/*
 * server/admission.h: what one worker lets its clients hold: open connections
 * and buffered request bodies, per worker and per client address
 * (docs/security.md "Memory before authentication").
 *
 * h2o 2.2.5 reads a request's whole body into memory before any handler runs,
 * so a body is admitted or refused at the request's head, when its declared
 * length is known: the length (or the body limit, when it is not declared) is
 * reserved against the worker's budget and its client address's budget, and
 * given back when the request ends. A refused body is never read. The
 * connection limits are checked at accept.
 *
 * Pure bookkeeping (no h2o): the keys of requests are opaque pointers. One
 * instance per worker, used from its one thread.
 */
#ifndef LLG_ADMISSION_H
#define LLG_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

/* A client: an IPv4 address as ::ffff:a.b.c.d, or an IPv6 /64 (the prefix,
 * the rest zero); all zero if unknown. */
typedef struct llg_client_addr {
    uint8_t bytes[16];
} llg_client_addr_t;

typedef struct llg_admission_limits {
    uint64_t max_connections;            /* per worker */
    uint64_t max_connections_per_client; /* 0: no limit */
    uint64_t max_body_bytes;             /* reserved for a body of unknown length */
    uint64_t max_buffered_body_bytes;
    uint64_t max_buffered_body_bytes_per_client;
} llg_admission_limits_t;

typedef enum llg_admit {
    LLG_ADMIT_OK,
    LLG_ADMIT_WORKER_FULL, /* the worker's limit is reached */
    LLG_ADMIT_CLIENT_FULL, /* this client address's limit is reached */
} llg_admit_t;

typedef struct llg_admission llg_admission_t;

/* NULL when out of memory. */
llg_admission_t *llg_admission_create(const llg_admission_limits_t *limits);
void llg_admission_destroy(llg_admission_t *adm);

/* From a struct sockaddr (AF_INET or AF_INET6, an IPv6 address cut to its
 * /64 unless IPv4-mapped); all zero for anything else. */
llg_client_addr_t llg_client_addr_from(const void *sockaddr);

/* A connection from `addr` opens; on LLG_ADMIT_OK it is counted until
 * llg_admission_conn_close(), otherwise nothing is counted. */
llg_admit_t llg_admission_conn_open(llg_admission_t *adm, const llg_client_addr_t *addr);
void llg_admission_conn_close(llg_admission_t *adm, const llg_client_addr_t *addr);

/* Reserves `bytes` (UINT64_MAX: a body of unknown length; max_body_bytes is
 * reserved)
 * for the request `key` from `addr`; on LLG_ADMIT_OK it is held until
 * llg_admission_release(key). A key holds one reservation: a second call
 * for the same key gives back the first one before taking the new one. */
llg_admit_t llg_admission_reserve(llg_admission_t *adm, const void *key, const llg_client_addr_t *addr, uint64_t bytes);

/* Raises the key's reservation to `bytes` (nothing when it already holds as
 * much, or holds none: nothing was admitted for it); on a refusal the
 * reservation it had stays as it was. */
llg_admit_t llg_admission_grow(llg_admission_t *adm, const void *key, uint64_t bytes);

/* Gives back the key's reservation, if it has one. */
void llg_admission_release(llg_admission_t *adm, const void *key);

/* Totals, for logs and tests. */
uint64_t llg_admission_body_bytes(const llg_admission_t *adm);
uint64_t llg_admission_connections(const llg_admission_t *adm);
uint64_t llg_admission_client_body_bytes(const llg_admission_t *adm, const llg_client_addr_t *addr);

#endif
