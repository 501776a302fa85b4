/*
 * server/h1_url.h: the form of the upstream URLs llmgate's own HTTP/1.1
 * client serves (h1_client.h): http[s]://host[:port][/path], no user info;
 * and the head of the POST it sends to one.
 */
#ifndef LLG_H1_URL_H
#define LLG_H1_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLG_H1_HOST_MAX 255

/* Splits `url`: whether https, the host (IPv6 brackets removed; `host` holds
 * LLG_H1_HOST_MAX + 1 bytes), the port (80 or 443 when absent) and where the
 * path starts. -1 when the URL is not of that form. */
int llg_h1_split_url(const char *url, bool *https, char *host, uint16_t *port, const char **path);

/* The request line and head of a POST of `body_len` bytes to `path` (""
 * is /): Host `authority`, Content-Length, then `lines` (header lines, each
 * ending in CRLF) and the empty line. Malloc'd, its length in *len; NULL when
 * out of memory. */
char *llg_h1_request_head(const char *path, const char *authority, const char *lines, size_t lines_len, size_t body_len,
                          size_t *len);

#endif
