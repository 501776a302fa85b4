/*
 * server/upstream_cap.c: the slot count and FIFO of a provider's connection
 * cap on one worker (see upstream_cap.h).
 */
#include "server/upstream_cap.h"

unsigned llg_cap_share(unsigned long long total, unsigned workers)
{
    if (total == 0)
        return 0;
    if (workers == 0)
        workers = 1;
    unsigned long long share = (total + workers - 1) / workers;
    return share == 0 ? 1 : (unsigned)share;
}

bool llg_cap_take(llg_cap_t *cap)
{
    if (cap->max > 0 && cap->used >= cap->max)
        return false;
    cap->used++;
    return true;
}

void llg_cap_wait(llg_cap_t *cap, llg_cap_waiter_t *w)
{
    w->next = NULL;
    w->prev = cap->tail;
    if (cap->tail != NULL)
        cap->tail->next = w;
    else
        cap->head = w;
    cap->tail = w;
    w->queued = true;
    cap->nwaiting++;
    if (cap->gauge != NULL)
        atomic_fetch_add_explicit(cap->gauge, 1, memory_order_relaxed);
}

void llg_cap_leave(llg_cap_t *cap, llg_cap_waiter_t *w)
{
    if (!w->queued)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        cap->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        cap->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
    cap->nwaiting--;
    if (cap->gauge != NULL)
        atomic_fetch_sub_explicit(cap->gauge, 1, memory_order_relaxed);
}

llg_cap_waiter_t *llg_cap_pop(llg_cap_t *cap)
{
    llg_cap_waiter_t *w = cap->head;
    if (w != NULL)
        llg_cap_leave(cap, w);
    return w;
}

llg_cap_waiter_t *llg_cap_release(llg_cap_t *cap)
{
    llg_cap_waiter_t *w = llg_cap_pop(cap);
    if (w == NULL && cap->used > 0)
        cap->used--; /* else the slot passes on to w: used stays */
    return w;
}
