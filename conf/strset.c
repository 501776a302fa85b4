/*
 * conf/strset.c: a set of strings for the duplicate checks of tokens and keys,
 * which the pool sizes for 10,000 and more: a pairwise comparison would make
 * loading such a config quadratic. Open addressing, fixed capacity chosen at
 * creation, memory from the load's arena.
 */
#include "internal.h"

#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

void conf_strset_init(conf_ctx_t *c, conf_strset_t *set, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2)
        cap *= 2;
    set->keys = llg_arena_calloc(c->arena, cap, sizeof(*set->keys));
    set->vals = llg_arena_calloc(c->arena, cap, sizeof(*set->vals));
    set->cap = cap;
}

size_t conf_strset_add(conf_strset_t *set, const char *s, size_t val)
{
    size_t mask = set->cap - 1;
    for (size_t i = (size_t)hash(s) & mask;; i = (i + 1) & mask) {
        if (set->keys[i] == NULL) {
            set->keys[i] = s;
            set->vals[i] = val;
            return SIZE_MAX;
        }
        if (strcmp(set->keys[i], s) == 0)
            return set->vals[i];
    }
}
