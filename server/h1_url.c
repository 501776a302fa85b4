/*
 * server/h1_url.c: the upstream URLs llmgate's own HTTP/1.1 client serves
 * (see h1_url.h), split into scheme, host, port and path, and the head of
 * the request it sends.
 */
#include "server/h1_url.h"

#include <stdlib.h>
#include <string.h>

int llg_h1_split_url(const char *url, bool *https, char *host, uint16_t *port, const char **path)
{
    *https = strncmp(url, "https://", 8) == 0;
    if (!*https && strncmp(url, "http://", 7) != 0)
        return -1;
    const char *a = url + (*https ? 8 : 7), *e = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(e - a)) != NULL || e == a)
        return -1;
    const char *h = a, *he;
    if (*a == '[') {
        h = a + 1;
        he = memchr(h, ']', (size_t)(e - h));
        if (he == NULL)
            return -1;
        a = he + 1;
    } else {
        he = memchr(a, ':', (size_t)(e - a));
        if (he == NULL)
            he = e;
        a = he;
    }
    unsigned long p = *https ? 443 : 80;
    if (a < e) {
        if (*a != ':' || a + 1 == e || e - a > 6)
            return -1;
        p = 0;
        for (const char *d = a + 1; d < e; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            p = p * 10 + (unsigned long)(*d - '0');
        }
        if (p == 0 || p > 65535)
            return -1;
    }
    if (he == h || (size_t)(he - h) > LLG_H1_HOST_MAX)
        return -1;
    for (const char *c = h; c < he; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return -1;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    *port = (uint16_t)p;
    *path = e;
    return 0;
}

char *llg_h1_request_head(const char *path, const char *authority, const char *lines, size_t lines_len, size_t body_len,
                          size_t *len)
{
    size_t plen = strlen(path), alen = strlen(authority);
    char digits[24], *clen = digits + sizeof(digits);
    size_t v = body_len;
    do
        *--clen = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t cl = (size_t)(digits + sizeof(digits) - clen);
    /* POST path HTTP/1.1, Host, Content-Length, the lines, the empty line */
    size_t need = 5 + (plen ? plen : 1) + 11 + 6 + alen + 2 + 16 + cl + 2 + lines_len + 2;
    char *head = malloc(need), *w = head;
    if (head == NULL)
        return NULL;
#define PUT(p, n) (memcpy(w, (p), (n)), w += (n))
    PUT("POST ", 5);
    if (plen == 0)
        PUT("/", 1);
    else
        PUT(path, plen);
    PUT(" HTTP/1.1\r\nHost: ", 17);
    PUT(authority, alen);
    PUT("\r\nContent-Length: ", 18);
    PUT(clen, cl);
    PUT("\r\n", 2);
    PUT(lines, lines_len);
    PUT("\r\n", 2);
#undef PUT
    *len = (size_t)(w - head);
    return head;
}
