/*
 * pool/region.c: the shared region itself: its layout (header, providers,
 * health words, keys, tokens, each array cache-line aligned at an offset
 * recorded in the header), mapping and unmapping, zeroing a slot for reuse,
 * and the process-local handle that points into this process's mapping.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Draws the HMAC key of slot ids; getrandom() blocks only before the kernel's
 * pool is initialised, once at boot. */
static int random_key(unsigned char *key, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(key + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

llg_pool_t *pool_map(uint32_t key_capacity, uint32_t token_capacity, uint32_t provider_capacity)
{
    size_t off = align_up(sizeof(pool_header_t), POOL_CACHE);
    size_t off_providers = off;
    off = align_up(off + (size_t)provider_capacity * sizeof(pool_prov_t), POOL_CACHE);
    size_t off_health = off;
    off = align_up(off + (size_t)key_capacity * sizeof(_Atomic uint64_t), POOL_CACHE);
    size_t off_keys = off;
    off = align_up(off + (size_t)key_capacity * sizeof(pool_key_t), POOL_CACHE);
    size_t off_tokens = off;
    off = off + (size_t)token_capacity * sizeof(pool_token_t);
    size_t size = align_up(off, 4096);

    llg_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    /* anonymous memory is zero-filled: every counter starts at 0 and every
     * health word at "usable" */
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        free(pool);
        return NULL;
    }
    pool_header_t *h = base;
    h->magic = POOL_MAGIC;
    h->size = size;
    h->key_capacity = key_capacity;
    h->token_capacity = token_capacity;
    h->provider_capacity = provider_capacity;
    h->off_providers = off_providers;
    h->off_health = off_health;
    h->off_keys = off_keys;
    h->off_tokens = off_tokens;

    pool->hdr = h;
    pool->size = size;
    pool->provs = (pool_prov_t *)((char *)base + off_providers);
    pool->health = (_Atomic uint64_t *)((char *)base + off_health);
    pool->keys = (pool_key_t *)((char *)base + off_keys);
    pool->tokens = (pool_token_t *)((char *)base + off_tokens);
    return pool;
}

llg_pool_t *llg_pool_create(uint32_t key_capacity, uint32_t token_capacity, uint32_t provider_capacity)
{
    if (key_capacity < LLG_POOL_MIN_KEYS)
        key_capacity = LLG_POOL_MIN_KEYS;
    if (token_capacity < LLG_POOL_MIN_TOKENS)
        token_capacity = LLG_POOL_MIN_TOKENS;
    if (provider_capacity < LLG_POOL_MIN_PROVIDERS)
        provider_capacity = LLG_POOL_MIN_PROVIDERS;
    llg_pool_t *pool = pool_map(key_capacity, token_capacity, provider_capacity);
    if (pool == NULL)
        return NULL;
    /* model groups' state: fixed size, never resized (pool/balance.h) */
    void *bal = mmap(NULL, sizeof(bal_region_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (bal == MAP_FAILED) {
        llg_pool_destroy(pool);
        return NULL;
    }
    pool->bal = bal;
    /* per-model series: fixed size too; untouched slots cost no memory */
    void *models = mmap(NULL, sizeof(model_region_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (models == MAP_FAILED) {
        llg_pool_destroy(pool);
        return NULL;
    }
    pool->models = models;
    if (random_key(pool->hash_key, sizeof(pool->hash_key)) != 0) {
        llg_pool_destroy(pool);
        return NULL;
    }
    return pool;
}

void llg_pool_destroy(llg_pool_t *pool)
{
    if (pool == NULL)
        return;
    munmap(pool->hdr, pool->size);
    if (pool->bal != NULL)
        munmap(pool->bal, sizeof(*pool->bal));
    if (pool->models != NULL)
        munmap(pool->models, sizeof(*pool->models));
    memset(pool->hash_key, 0, sizeof(pool->hash_key));
    free(pool);
}

size_t llg_pool_region_size(const llg_pool_t *pool)
{
    return pool->size;
}

uint32_t llg_pool_key_capacity(const llg_pool_t *pool)
{
    return pool->hdr->key_capacity;
}

uint32_t llg_pool_token_capacity(const llg_pool_t *pool)
{
    return pool->hdr->token_capacity;
}

uint64_t llg_pool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Zeroing goes through atomic stores: a process with an older view may still
 * touch the slot (docs/key-health.md, "slot reuse"). */
static void zero_atomics(_Atomic uint64_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&p[i], 0, memory_order_relaxed);
}

void pool_zero_key(llg_pool_t *pool, uint32_t slot)
{
    pool_key_t *k = &pool->keys[slot];
    atomic_store_explicit(&pool->health[slot], 0, memory_order_relaxed);
    atomic_store_explicit(&k->requests, 0, memory_order_relaxed);
    zero_atomics(k->outcomes, LLG_OUTCOME_COUNT);
    atomic_store_explicit(&k->prompt_tokens, 0, memory_order_relaxed);
    atomic_store_explicit(&k->completion_tokens, 0, memory_order_relaxed);
    atomic_store_explicit(&k->consecutive, 0, memory_order_relaxed);
    atomic_store_explicit(&k->in_flight, 0, memory_order_relaxed);
    atomic_store_explicit(&k->last_status, 0, memory_order_relaxed);
    atomic_store_explicit(&k->provider, 0, memory_order_relaxed);
    atomic_store_explicit(&k->changes, 0, memory_order_relaxed);
}

void pool_zero_token(llg_pool_t *pool, uint32_t slot)
{
    pool_token_t *t = &pool->tokens[slot];
    atomic_store_explicit(&t->tat, 0, memory_order_relaxed);
    atomic_store_explicit(&t->requests, 0, memory_order_relaxed);
    atomic_store_explicit(&t->rejected_rate, 0, memory_order_relaxed);
    atomic_store_explicit(&t->rejected_forbidden, 0, memory_order_relaxed);
    atomic_store_explicit(&t->prompt_tokens, 0, memory_order_relaxed);
    atomic_store_explicit(&t->completion_tokens, 0, memory_order_relaxed);
}

static void zero_hist(pool_hist_t *h)
{
    zero_atomics(h->bucket, POOL_BUCKETS);
    atomic_store_explicit(&h->sum_us, 0, memory_order_relaxed);
}

void pool_zero_provider(llg_pool_t *pool, uint32_t slot)
{
    pool_prov_t *p = &pool->provs[slot];
    atomic_store_explicit(&p->cursor, 0, memory_order_relaxed);
    pool_unblock(p);
    zero_atomics(p->codes, POOL_CODES);
    zero_hist(&p->duration);
    zero_hist(&p->ttfb);
    zero_atomics(p->attempts, LLG_OUTCOME_COUNT);
    atomic_store_explicit(&p->prompt_tokens, 0, memory_order_relaxed);
    atomic_store_explicit(&p->completion_tokens, 0, memory_order_relaxed);
}
