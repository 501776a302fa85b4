/*
 * server/h1_framing.c: refuses HTTP/1.x request heads whose framing is
 * ambiguous (repeated Content-Length, repeated Transfer-Encoding, or both),
 * in front of h2o 2.2.5's own parser (see h1_framing.h).
 */
#include "server/h1_framing.h"

#include <stddef.h>
#include <strings.h>
#include <sys/types.h>

#include "server/interpose.h"

/* picohttpparser's header entry, as libh2o 2.2.5 embeds it (its header is
 * not installed): name NULL for an obs-fold continuation line */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

typedef int (*parse_request_fn)(const char *, size_t, const char **, size_t *, const char **, size_t *, int *, struct phr_header *,
                                size_t *, size_t);

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

static const char *pending_reason;

const char *llg_h1_framing_take_reason(void)
{
    const char *r = pending_reason;
    pending_reason = NULL;
    return r;
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
    pending_reason = NULL;
    if (r > 0 && *num_headers <= capacity && (pending_reason = ambiguous_framing(headers, *num_headers)) != NULL)
        return -1;
    return r;
}
