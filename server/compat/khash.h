/*
 * server/compat/khash.h: what libh2o 2.2.5's installed h2o/http2_internal.h
 * needs from klib's khash.h, which Debian's libh2o-dev does not ship.
 *
 * llmgate includes http2_internal.h for the layout of h2o_http2_conn_t and
 * h2o_http2_stream_t (server/h2_reset.c, server/early.c). The header names a
 * hash type for its stream table (a pointer field) and has one inline
 * function that looks a stream up in it (h2o_http2_conn_get_stream), which
 * server/early.c calls. So this declares the table's type with the field
 * layout of the khash 0.2.8 that libh2o 2.2.5 embeds (deps/klib), and a
 * look-up that reads that table as libh2o fills it: open addressing over a
 * power-of-two number of buckets, two flag bits per bucket (bit 1: empty,
 * bit 0: deleted), triangular probing from the hash
 * (key >> 33) ^ key ^ (key << 11) truncated to 32 bits. Nothing here inserts
 * or frees. It is on the include path of server/ only (server/meson.build).
 */
#ifndef LLG_COMPAT_KHASH_H
#define LLG_COMPAT_KHASH_H

#include <stdint.h>

typedef uint32_t khint_t;
typedef khint_t khiter_t;

#define KHASH_MAP_INIT_INT64(name, khval_t)                                                                                        \
    typedef struct kh_##name##_s {                                                                                                 \
        khint_t n_buckets, size, n_occupied, upper_bound;                                                                          \
        uint32_t *flags;                                                                                                           \
        uint64_t *keys;                                                                                                            \
        khval_t *vals;                                                                                                             \
    } kh_##name##_t;

#define khash_t(name) kh_##name##_t
#define kh_end(h)     ((h)->n_buckets)
#define kh_val(h, x)  ((h)->vals[x])
/* The bucket of `key`, or kh_end(h) when it is not in the table. */
static inline khint_t llg_compat_kh_get_int64(khint_t n_buckets, const uint32_t *flags, const uint64_t *keys, uint64_t key)
{
    if (n_buckets == 0)
        return 0;
    khint_t mask = n_buckets - 1, step = 0;
    khint_t i = (khint_t)((key >> 33) ^ key ^ (key << 11)) & mask, first = i;
    for (;;) {
        unsigned bits = (flags[i >> 4] >> ((i & 0xfU) << 1)) & 3;
        if (bits & 2) /* empty: not there */
            return n_buckets;
        if (!(bits & 1) && keys[i] == key)
            return i;
        i = (i + (++step)) & mask;
        if (i == first)
            return n_buckets;
    }
}
#define kh_get(name, h, k) llg_compat_kh_get_int64((h)->n_buckets, (h)->flags, (h)->keys, (uint64_t)(k))

#endif
