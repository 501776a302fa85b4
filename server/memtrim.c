/*
 * server/memtrim.c: returns a worker's freed heap to the kernel after a burst
 * (see memtrim.h).
 */
#include "server/memtrim.h"

#include <malloc.h>

int llg_memtrim_due(size_t free_bytes, size_t used_bytes)
{
    return free_bytes >= LLG_MEMTRIM_MIN_FREE && free_bytes > used_bytes;
}

static void on_tick(uv_timer_t *timer)
{
    llg_memtrim_t *t = timer->data;
    struct mallinfo2 mi = mallinfo2();
    /* fordblks: free bytes in the heap's chunks; uordblks: bytes in use
     * (mmapped blocks are returned to the kernel by free() already) */
    if (llg_memtrim_due(mi.fordblks, mi.uordblks)) {
        malloc_trim(0);
        t->trims++;
    }
}

void llg_memtrim_start(llg_memtrim_t *t, uv_loop_t *loop)
{
    t->trims = 0;
    uv_timer_init(loop, &t->_timer);
    t->_timer.data = t;
    uv_timer_start(&t->_timer, on_tick, LLG_MEMTRIM_PERIOD_MS, LLG_MEMTRIM_PERIOD_MS);
    uv_unref((uv_handle_t *)&t->_timer);
}
