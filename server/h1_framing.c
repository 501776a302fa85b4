/*
 * server/h1_framing.c: refuses HTTP/1.x request heads whose framing is
 * ambiguous (repeated Content-Length, repeated Transfer-Encoding, or both),
 * in front of h2o 2.2.5's own parser (see h1_framing.h).
 */
#include "server/h1_framing.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/types.h>

#include "h2o.h"
#include "server/early.h"
#include "server/http.h"
#include "server/interpose.h"
#include "server/phr.h"

typedef int (*parse_request_fn)(const char *, size_t, const char **, size_t *, const char **, size_t *, int *, struct phr_header *,
                                size_t *, size_t);

static llg_refusal_t pending;
static int has_pending;

int llg_h1_refusal_take(llg_refusal_t *out)
{
    int had = has_pending;
    if (had)
        *out = pending;
    has_pending = 0;
    return had;
}

static int is_name(const struct phr_header *h, const char *name, size_t len)
{
    return h->name != NULL && h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

/* The reason to refuse a complete head, or NULL when its framing is clear. */
static const char *ambiguous_framing(const struct phr_header *headers, size_t n)
{
    size_t cl = 0, te = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_name(&headers[i], "content-length", 14))
            cl++;
        else if (is_name(&headers[i], "transfer-encoding", 17))
            te++;
    }
    if (cl > 1)
        return "Bad Request: the request has more than one Content-Length field; repeated or conflicting lengths are refused "
               "(RFC 9112 section 6.3).";
    if (te > 1)
        return "Bad Request: the request has more than one Transfer-Encoding field; only one `Transfer-Encoding: chunked` is "
               "accepted.";
    if (cl == 1 && te == 1)
        return "Bad Request: the request has both Content-Length and Transfer-Encoding; send one of them (RFC 9112 section "
               "6.3).";
    return NULL;
}

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len)
{
    static parse_request_fn real;
    if (real == NULL)
        *(void **)&real = llg_interpose_next("phr_parse_request");
    size_t capacity = *num_headers;
    int r = real(buf, len, method, method_len, path, path_len, minor_version, headers, num_headers, last_len);
    has_pending = 0;
    if (r <= 0 || *num_headers > capacity)
        return r;
    /* the refusal takes the shape of the path's protocol (the query aside) */
    const char *q = memchr(*path, '?', *path_len);
    bool anthropic = llg_path_is_anthropic(*path, q != NULL ? (size_t)(q - *path) : *path_len);
    const char *reason = ambiguous_framing(headers, *num_headers);
    if (reason != NULL) {
        pending = (llg_refusal_t){.status = 400, .code = "invalid_request", .anthropic = anthropic};
        snprintf(pending.message, sizeof(pending.message), "%s", reason);
        has_pending = 1;
        return -1;
    }
    /* h2o's HTTP/1 connection parses into its request: `method` points into it */
    h2o_req_t *req = H2O_STRUCT_FROM_MEMBER(h2o_req_t, input.method.base, method);
    if (llg_early_h1(req, headers, *num_headers, (size_t)r, len - (size_t)r, &pending)) {
        pending.anthropic = anthropic;
        has_pending = 1;
        return -1;
    }
    return r;
}
