/*
 * conf/arena.h: the arena allocator that owns every allocation of a loaded
 * config, so that llg_conf_free() is one call and a half-built config is freed
 * as easily as a finished one.
 */
#ifndef LLG_CONF_ARENA_H
#define LLG_CONF_ARENA_H

#include <setjmp.h>
#include <stddef.h>

typedef struct llg_arena llg_arena_t;

/* NULL when out of memory. */
llg_arena_t *llg_arena_new(void);

/* While `on_oom` is set, an allocation that fails longjmp()s there with value 1
 * instead of returning: the loader then needs no NULL check after each call.
 * With no handler, a failed allocation aborts. */
void llg_arena_set_oom(llg_arena_t *a, jmp_buf *on_oom);

/* Zero-filled memory aligned for any type, valid until llg_arena_free(). */
void *llg_arena_alloc(llg_arena_t *a, size_t size);
void *llg_arena_calloc(llg_arena_t *a, size_t count, size_t size);
char *llg_arena_strndup(llg_arena_t *a, const char *s, size_t len);
char *llg_arena_strdup(llg_arena_t *a, const char *s);

void llg_arena_free(llg_arena_t *a);

#endif
