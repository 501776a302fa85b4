/*
 * server/phr.h: picohttpparser's phr_parse_request() as libh2o 2.2.5 embeds
 * and exports it (its header is not installed). server/h1_framing.c stands in
 * front of it (server/interpose.h).
 */
#ifndef LLG_PHR_H
#define LLG_PHR_H

#include <stddef.h>

/* a header field; name NULL for an obs-fold continuation line */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

#endif
