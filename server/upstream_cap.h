/*
 * server/upstream_cap.h: a provider's connection cap on one worker
 * (`max_connections`, docs/upstream-client.md): a count of the slots taken
 * and a FIFO of the transfers waiting for one. Both upstream clients use it:
 * the HTTP/1.1 client counts its open connections (busy, connecting and
 * idle), the libcurl loop its transfers in progress. It only counts: the
 * client starts a waiter that got a slot, so nothing here calls back.
 */
#ifndef LLG_UPSTREAM_CAP_H
#define LLG_UPSTREAM_CAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A place in the queue, embedded in the waiting transfer. */
typedef struct llg_cap_waiter {
    struct llg_cap_waiter *prev, *next;
    bool queued;
} llg_cap_waiter_t;

typedef struct llg_cap {
    unsigned max;  /* slots on this worker; 0: no cap */
    unsigned used; /* slots taken */
    llg_cap_waiter_t *head, *tail;
    size_t nwaiting;
    _Atomic int64_t *gauge; /* the provider's waiters of every worker (/metrics), or NULL */
} llg_cap_t;

/* This worker's share of a gateway-wide cap: ceil(total / workers), at
 * least 1; 0 (no cap) stays 0. */
unsigned llg_cap_share(unsigned long long total, unsigned workers);

/* Takes a slot: true, or false when all are taken (then wait for one). */
bool llg_cap_take(llg_cap_t *cap);

/* Appends w to the queue. */
void llg_cap_wait(llg_cap_t *cap, llg_cap_waiter_t *w);

/* Leaves the queue (a cancelled waiter); nothing when w is not queued. */
void llg_cap_leave(llg_cap_t *cap, llg_cap_waiter_t *w);

/* The first waiter, out of the queue, or NULL: it takes over a slot that
 * stays taken (an idle connection handed to it). */
llg_cap_waiter_t *llg_cap_pop(llg_cap_t *cap);

/* Gives a slot back. When a transfer waits, the slot goes to the first
 * one, which is returned (out of the queue) for the caller to start. */
llg_cap_waiter_t *llg_cap_release(llg_cap_t *cap);

#endif
