/*
 * server/memtrim.h: hands a worker's freed heap back to the kernel once a
 * burst of requests is over.
 *
 * glibc keeps freed memory in its heap for reuse, and a heap grown by
 * thousands of streams (tens of KB each) stays that size after they end,
 * since live chunks pin its top. A once-a-second check compares the heap's
 * free bytes with its used bytes; when free is over LLG_MEMTRIM_MIN_FREE and
 * larger than used (the load fell), malloc_trim(0) returns the free pages.
 * Under steady load free stays small next to used and nothing is done, so the
 * cost (a walk of the free chunks, milliseconds for hundreds of MB) is paid
 * once per burst, when the worker is quiet.
 */
#ifndef LLG_MEMTRIM_H
#define LLG_MEMTRIM_H

#include <stddef.h>
#include <uv.h>

#define LLG_MEMTRIM_MIN_FREE  ((size_t)8 << 20)
#define LLG_MEMTRIM_PERIOD_MS 1000

typedef struct llg_memtrim {
    uv_timer_t _timer;
    unsigned long long trims; /* how many times memory was given back */
} llg_memtrim_t;

/* Starts the check on `loop`; the timer does not keep the loop alive. */
void llg_memtrim_start(llg_memtrim_t *t, uv_loop_t *loop);

/* 1 when a heap with `free_bytes` free and `used_bytes` in use should be
 * trimmed (the rule above; exposed for the unit test). */
int llg_memtrim_due(size_t free_bytes, size_t used_bytes);

#endif
