/*
 * server/admission.c: per-worker counts of connections and reserved body
 * bytes, in total and per client address (see admission.h).
 *
 * Two chained hash tables: clients by address (an entry lives while it has a
 * connection or a reservation) and reservations by request key. Both grow
 * with what is open, never with what was.
 */
#include "server/admission.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct client {
    struct client *next;
    llg_client_addr_t addr;
    uint64_t connections;
    uint64_t body_bytes;
} client_t;

typedef struct reservation {
    struct reservation *next;
    const void *key;
    client_t *client;
    uint64_t bytes;
} reservation_t;

#define BUCKETS 4096

struct llg_admission {
    llg_admission_limits_t limits;
    uint64_t connections;
    uint64_t body_bytes;
    client_t *clients[BUCKETS];
    reservation_t *reservations[BUCKETS];
};

static size_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return (size_t)(h % BUCKETS);
}

static size_t addr_bucket(const llg_client_addr_t *a)
{
    uint64_t x, y;
    memcpy(&x, a->bytes, 8);
    memcpy(&y, a->bytes + 8, 8);
    return mix(x * 31 + y);
}

llg_admission_t *llg_admission_create(const llg_admission_limits_t *limits)
{
    llg_admission_t *adm = calloc(1, sizeof(*adm));
    if (adm != NULL)
        adm->limits = *limits;
    return adm;
}

void llg_admission_destroy(llg_admission_t *adm)
{
    if (adm == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (client_t *c = adm->clients[i], *n; c != NULL; c = n) {
            n = c->next;
            free(c);
        }
        for (reservation_t *r = adm->reservations[i], *n; r != NULL; r = n) {
            n = r->next;
            free(r);
        }
    }
    free(adm);
}

llg_client_addr_t llg_client_addr_from(const void *sockaddr)
{
    llg_client_addr_t a;
    memset(&a, 0, sizeof(a));
    const struct sockaddr *sa = sockaddr;
    if (sa == NULL)
        return a;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = sockaddr;
        a.bytes[10] = a.bytes[11] = 0xff;
        memcpy(a.bytes + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = sockaddr;
        memcpy(a.bytes, &in6->sin6_addr, 16);
        /* one client is one /64: a host picks any address in its own /64
         * (privacy addresses, or at will), so counting whole addresses would
         * give it 2^64 budgets. IPv4-mapped addresses stay whole. */
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a.bytes, v4mapped, 12) != 0)
            memset(a.bytes + 8, 0, 8);
    }
    return a;
}

/* The client's entry; created when `create`, NULL if absent (or no memory). */
static client_t *client_of(llg_admission_t *adm, const llg_client_addr_t *addr, int create)
{
    client_t **p = &adm->clients[addr_bucket(addr)];
    for (; *p != NULL; p = &(*p)->next)
        if (memcmp((*p)->addr.bytes, addr->bytes, 16) == 0)
            return *p;
    if (!create || (*p = calloc(1, sizeof(client_t))) == NULL)
        return NULL;
    (*p)->addr = *addr;
    return *p;
}

/* Frees the client's entry once it holds nothing. */
static void client_forget_if_idle(llg_admission_t *adm, client_t *c)
{
    if (c->connections != 0 || c->body_bytes != 0)
        return;
    client_t **p = &adm->clients[addr_bucket(&c->addr)];
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    free(c);
}

llg_admit_t llg_admission_conn_open(llg_admission_t *adm, const llg_client_addr_t *addr)
{
    if (adm->connections >= adm->limits.max_connections)
        return LLG_ADMIT_WORKER_FULL;
    client_t *c = client_of(adm, addr, 1);
    if (c == NULL)
        return LLG_ADMIT_WORKER_FULL;
    if (adm->limits.max_connections_per_client != 0 && c->connections >= adm->limits.max_connections_per_client) {
        client_forget_if_idle(adm, c);
        return LLG_ADMIT_CLIENT_FULL;
    }
    c->connections++;
    adm->connections++;
    return LLG_ADMIT_OK;
}

void llg_admission_conn_close(llg_admission_t *adm, const llg_client_addr_t *addr)
{
    client_t *c = client_of(adm, addr, 0);
    if (c == NULL || c->connections == 0)
        return;
    c->connections--;
    adm->connections--;
    client_forget_if_idle(adm, c);
}

static reservation_t **reservation_slot(llg_admission_t *adm, const void *key)
{
    reservation_t **p = &adm->reservations[mix((uint64_t)(uintptr_t)key)];
    while (*p != NULL && (*p)->key != key)
        p = &(*p)->next;
    return p;
}

void llg_admission_release(llg_admission_t *adm, const void *key)
{
    reservation_t **p = reservation_slot(adm, key), *r = *p;
    if (r == NULL)
        return;
    *p = r->next;
    r->client->body_bytes -= r->bytes;
    adm->body_bytes -= r->bytes;
    client_forget_if_idle(adm, r->client);
    free(r);
}

llg_admit_t llg_admission_reserve(llg_admission_t *adm, const void *key, const llg_client_addr_t *addr, uint64_t bytes)
{
    llg_admission_release(adm, key);
    if (bytes == UINT64_MAX)
        bytes = adm->limits.max_body_bytes;
    if (adm->body_bytes + bytes > adm->limits.max_buffered_body_bytes)
        return LLG_ADMIT_WORKER_FULL;
    client_t *c = client_of(adm, addr, 1);
    if (c == NULL)
        return LLG_ADMIT_WORKER_FULL;
    if (c->body_bytes + bytes > adm->limits.max_buffered_body_bytes_per_client) {
        client_forget_if_idle(adm, c);
        return LLG_ADMIT_CLIENT_FULL;
    }
    reservation_t *r = malloc(sizeof(*r));
    if (r == NULL) {
        client_forget_if_idle(adm, c);
        return LLG_ADMIT_WORKER_FULL;
    }
    r->key = key;
    r->client = c;
    r->bytes = bytes;
    reservation_t **p = reservation_slot(adm, key);
    r->next = *p;
    *p = r;
    c->body_bytes += bytes;
    adm->body_bytes += bytes;
    return LLG_ADMIT_OK;
}

llg_admit_t llg_admission_grow(llg_admission_t *adm, const void *key, uint64_t bytes)
{
    reservation_t *r = *reservation_slot(adm, key);
    if (r == NULL || bytes <= r->bytes)
        return LLG_ADMIT_OK;
    uint64_t more = bytes - r->bytes;
    if (adm->body_bytes + more > adm->limits.max_buffered_body_bytes)
        return LLG_ADMIT_WORKER_FULL;
    if (r->client->body_bytes + more > adm->limits.max_buffered_body_bytes_per_client)
        return LLG_ADMIT_CLIENT_FULL;
    r->bytes = bytes;
    r->client->body_bytes += more;
    adm->body_bytes += more;
    return LLG_ADMIT_OK;
}

uint64_t llg_admission_body_bytes(const llg_admission_t *adm)
{
    return adm->body_bytes;
}

uint64_t llg_admission_connections(const llg_admission_t *adm)
{
    return adm->connections;
}

uint64_t llg_admission_client_body_bytes(const llg_admission_t *adm, const llg_client_addr_t *addr)
{
    client_t *c = client_of((llg_admission_t *)adm, addr, 0);
    return c != NULL ? c->body_bytes : 0;
}
