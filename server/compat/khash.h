/*
 * server/compat/khash.h: what libh2o 2.2.5's installed h2o/http2_internal.h
 * needs from klib's khash.h, which Debian's libh2o-dev does not ship.
 *
 * llmgate includes http2_internal.h only for the layout of
 * h2o_http2_conn_t and h2o_http2_stream_t (server/h2_reset.c). The header
 * names a hash type for its stream table (a pointer field) and has one inline
 * function that looks a stream up in it (h2o_http2_conn_get_stream), which
 * llmgate never calls. So this declares the table's type with khash's field
 * layout and makes the look-up find nothing; no hash code is here. It is on
 * the include path of server/ only (server/meson.build).
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

#define khash_t(name)      kh_##name##_t
#define kh_end(h)          ((h)->n_buckets)
#define kh_val(h, x)       ((h)->vals[x])
#define kh_get(name, h, k) ((void)(k), kh_end(h)) /* never called by llmgate: "not found" */

#endif
