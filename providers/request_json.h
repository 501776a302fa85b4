/*
 * providers/request_json.h: the JSON body of a client request, whatever its
 * protocol. A body is refused when cJSON would read it differently from an
 * upstream's parser (the body may be forwarded as sent): empty, not UTF-8, a
 * byte order mark, a NUL (raw or escaped, or a bad \u escape), a raw control
 * character, trailing data, not an object, or a duplicate top-level key.
 */
#ifndef LLG_REQUEST_JSON_H
#define LLG_REQUEST_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* The parsed object (the caller deletes it), or NULL with a message in `err`
 * (and the offending key in `param`, else ""). */
cJSON *llg_request_json(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize);

/* Only the byte-level checks; 1 when the body passes, else 0 and `err`. */
int llg_json_body_bytes_ok(const char *body, size_t len, char *err, size_t errsize);

/* "null", "a boolean", "a number", "a string", "an array", "an object". */
const char *llg_json_type_name(const cJSON *v);

/* Copies the longest prefix of `s` (valid UTF-8) that fits in size - 1 bytes
 * and ends on a whole character. */
void llg_copy_utf8_prefix(char *dst, size_t size, const char *s);

/* Where a request reader (of any client protocol) says why it refuses a
 * body: the message and the offending field. */
typedef struct llg_req_error {
    char *err, *param;
    size_t errsize, paramsize;
} llg_req_error_t;

/* Sets e->param to `param` and e->err to the message, formatted like printf.
 * Returns -1. */
int llg_req_fail(llg_req_error_t *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A member of `o` when `o` is an object, else NULL; the same for a string
 * member's value. */
const cJSON *llg_json_get(const cJSON *o, const char *name);
const char *llg_json_str(const cJSON *o, const char *name);

/* A member that is a number in [0, limit), truncated to an integer; -1 when
 * it is absent, not a number, negative, NaN or too large (no cast of an
 * out-of-range double: that is undefined behaviour). */
int64_t llg_json_count(const cJSON *o, const char *name, double limit);

/* Token counts from an upstream are bounded before they become integers. */
#define LLG_TOKEN_COUNT_LIMIT 1e12

#endif
