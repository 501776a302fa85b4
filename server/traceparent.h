/*
 * server/traceparent.h: the W3C Trace Context headers (traceparent,
 * tracestate): reading the client's and writing the upstream's. Pure: no h2o,
 * no libuv, so the fuzzer links it alone (tests/fuzz/fuzz_traceparent.c).
 */
#ifndef LLG_TRACEPARENT_H
#define LLG_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLG_TRACEPARENT_LEN    55  /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define LLG_TRACESTATE_MAX     512 /* longer ones are dropped, as the spec allows */
#define LLG_TRACE_FLAG_SAMPLED 0x01

typedef struct llg_traceparent {
    uint8_t trace_id[16];
    uint8_t parent_id[8];
    uint8_t flags;
} llg_traceparent_t;

/* Reads a traceparent value. Version 00 must be exactly 55 bytes; a higher
 * version is read by its first 55 bytes when the next byte is '-' (the spec's
 * forward compatibility). Invalid: version ff, an all-zero trace or parent
 * id, a byte that is not lowercase hex. Returns true and fills `out` when valid. */
bool llg_traceparent_parse(const char *s, size_t len, llg_traceparent_t *out);

/* Whether a tracestate value may be passed on: at most 512 bytes, printable
 * ASCII (0x20..0x7e) only, not empty. */
bool llg_tracestate_valid(const char *s, size_t len);

/* Writes "00-<trace>-<span>-<flags>" (55 bytes and a NUL) into out. */
void llg_traceparent_format(char out[LLG_TRACEPARENT_LEN + 1], const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags);

/* Lowercase hex of n bytes into out (2n bytes and a NUL). */
void llg_trace_hex(char *out, const uint8_t *bytes, size_t n);

#endif
