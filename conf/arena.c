/*
 * conf/arena.c: a chunked bump allocator. A config is built once, read many
 * times and freed whole, so there is no per-object free.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 16384

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

struct llg_arena {
    chunk_t *head;
    jmp_buf *on_oom;
};

llg_arena_t *llg_arena_new(void)
{
    return calloc(1, sizeof(llg_arena_t));
}

void llg_arena_set_oom(llg_arena_t *a, jmp_buf *on_oom)
{
    a->on_oom = on_oom;
}

static void out_of_memory(llg_arena_t *a)
{
    if (a->on_oom != NULL)
        longjmp(*a->on_oom, 1);
    fputs("llmgate: out of memory\n", stderr);
    abort();
}

void *llg_arena_alloc(llg_arena_t *a, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align - sizeof(chunk_t))
        out_of_memory(a);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;

    chunk_t *c = a->head;
    if (c == NULL || c->size - c->used < size) {
        /* A large request gets a chunk of its own, inserted behind the current
         * one so that the free space of the current chunk is not lost. */
        size_t csize = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
        chunk_t *n = malloc(sizeof(chunk_t) + csize);
        if (n == NULL)
            out_of_memory(a);
        n->size = csize;
        n->used = 0;
        if (c != NULL && csize != ARENA_CHUNK) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

void *llg_arena_calloc(llg_arena_t *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        out_of_memory(a);
    return llg_arena_alloc(a, count * size);
}

char *llg_arena_strndup(llg_arena_t *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        out_of_memory(a);
    char *p = llg_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *llg_arena_strdup(llg_arena_t *a, const char *s)
{
    return llg_arena_strndup(a, s, strlen(s));
}

void llg_arena_free(llg_arena_t *a)
{
    if (a == NULL)
        return;
    chunk_t *c = a->head;
    while (c != NULL) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}
