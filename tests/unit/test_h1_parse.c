/*
 * tests/unit/test_h1_parse.c: the upstream HTTP/1.1 response reader: heads
 * (status, fields, framing, keep-alive), refusals of malformed heads, and the
 * chunked decoder fed whole and cut at every byte; and the upstream URLs the
 * client serves (server/h1_url.h).
 */
#include <stdlib.h>
#include <string.h>

#include "server/h1_parse.h"
#include "server/h1_url.h"
#include "tests/test.h"

typedef struct fields {
    char text[1024];
    int count;
} fields_t;

static void on_field(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    fields_t *f = ud;
    size_t used = strlen(f->text);
    snprintf(f->text + used, sizeof(f->text) - used, "%.*s=%.*s|", (int)nlen, name, (int)vlen, value);
    f->count++;
}

static ssize_t parse(const char *s, llg_h1_head_t *h, fields_t *f)
{
    memset(f, 0, sizeof(*f));
    memset(h, 0, sizeof(*h));
    return llg_h1_parse_head(s, strlen(s), h, on_field, f);
}

TEST(head_with_length)
{
    llg_h1_head_t h;
    fields_t f;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length:  12 \r\nX-A:\r\n\r\n{\"a\":1}";
    CHECK_EQ_INT(parse(s, &h, &f), strstr(s, "{") - s);
    CHECK_EQ_INT(h.status, 200);
    CHECK_EQ_INT(h.minor_version, 1);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_LENGTH);
    CHECK_EQ_INT(h.content_length, 12);
    CHECK(h.keep_alive);
    CHECK_EQ_STR(f.text, "Content-Type=application/json|Content-Length=12|X-A=|");
}

TEST(head_chunked_and_close)
{
    llg_h1_head_t h;
    fields_t f;
    CHECK(parse("HTTP/1.1 429 Too Many\r\nTransfer-Encoding: gzip, chunked\r\nRetry-After: 3\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.status, 429);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_CHUNKED);
    CHECK(h.keep_alive);
    /* chunked must be the last coding; then only the close ends the body */
    CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_CLOSE);
    CHECK(!h.keep_alive);
    /* Transfer-Encoding wins over Content-Length, and the connection is not reused */
    CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_CHUNKED);
    CHECK(!h.keep_alive);
    /* no length: until the close */
    CHECK(parse("HTTP/1.1 200 OK\nContent-Type: text/plain\n\n", &h, &f) > 0);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_CLOSE);
    CHECK(!h.keep_alive);
    CHECK(parse("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 0\r\n\r\n", &h, &f) > 0);
    CHECK(!h.keep_alive);
    CHECK(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &h, &f) > 0);
    CHECK(!h.keep_alive);
    CHECK(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", &h, &f) > 0);
    CHECK(h.keep_alive);
}

TEST(head_without_body)
{
    llg_h1_head_t h;
    fields_t f;
    CHECK(parse("HTTP/1.1 204 No Content\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_NONE);
    CHECK(parse("HTTP/1.1 100 Continue\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.status, 100);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_NONE);
    CHECK(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", &h, &f) > 0);
    CHECK_EQ_INT(h.framing, LLG_H1_BODY_NONE);
    CHECK(parse("HTTP/1.1 200\r\nContent-Length: 1, 1\r\n\r\n", &h, &f) > 0); /* no reason phrase; a repeated length */
    CHECK_EQ_INT(h.content_length, 1);
}

TEST(head_incomplete)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
    for (size_t n = 0; n < strlen(s); n++) {
        llg_h1_head_t h;
        fields_t f = {0};
        CHECK_EQ_INT(llg_h1_parse_head(s, n, &h, on_field, &f), 0);
        CHECK_EQ_INT(f.count, 0); /* fields only for a whole head */
    }
}

TEST(head_refused)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        llg_h1_head_t h;
        fields_t f;
        if (parse(bad[i], &h, &f) != -1) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    /* too long: refused once past the limit, not waited for */
    size_t n = LLG_H1_HEAD_MAX + 10;
    char *big = malloc(n);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    llg_h1_head_t h;
    CHECK_EQ_INT(llg_h1_parse_head(big, n, &h, NULL, NULL), -1);
    CHECK_EQ_INT(llg_h1_parse_head(big, LLG_H1_HEAD_MAX - 1, &h, NULL, NULL), 0);
    free(big);
}

/* Decodes `in` fed in pieces of `step` bytes (0: whole); returns the rc of the
 * last call and the data in out. */
static int dechunk(const char *in, size_t len, size_t step, char *out, size_t *out_len, size_t *rest)
{
    llg_h1_chunked_t d;
    memset(&d, 0, sizeof(d));
    char *buf = malloc(len + 1);
    size_t pos = 0, o = 0;
    int rc = 0;
    *rest = 0;
    while (pos < len) {
        size_t n = step == 0 || len - pos < step ? len - pos : step;
        memcpy(buf, in + pos, n);
        size_t got, used;
        rc = llg_h1_chunked_decode(&d, buf, n, &got, &used);
        memcpy(out + o, buf, got);
        o += got;
        pos += used;
        if (rc != 0) {
            *rest = len - pos;
            break;
        }
        if (used != n) {
            rc = -2; /* must use all input unless it ended */
            break;
        }
    }
    free(buf);
    *out_len = o;
    return rc;
}

TEST(chunked_every_cut)
{
    const char *in = "5\r\nhello\r\n1;ext=1\r\n \r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    size_t len = strlen(in);
    for (size_t step = 0; step <= len; step++) {
        char out[64];
        size_t n, rest;
        int rc = dechunk(in, len, step, out, &n, &rest);
        CHECK_EQ_INT(rc, 1);
        CHECK_EQ_INT(n, 16);
        CHECK(n == 16 && memcmp(out, "hello 0123456789", 16) == 0);
        CHECK_EQ_INT(rest, 4); /* "NEXT" belongs to no body */
    }
    /* bare LF line ends */
    char out[64];
    size_t n, rest;
    CHECK_EQ_INT(dechunk("3\nabc\n0\n\n", 10, 0, out, &n, &rest), 1);
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0);
}

TEST(chunked_refused)
{
    static const char *const bad[] = {
        "x\r\n",
        "\r\n",
        "5x\r\nhello\r\n",
        "3\r\nabcX\r\n",
        "3\r\nabc\rX",
        "1234567890123456\r\n",
        "0\r\n\rX",
        ("3\r\na\x01"
         "c\r\n0\x01\r\n"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[64];
        size_t n, rest;
        int rc = dechunk(bad[i], strlen(bad[i]), 0, out, &n, &rest);
        if (rc != -1) {
            fprintf(stderr, "accepted chunked input %zu (rc %d)\n", i, rc);
            CHECK(0);
        }
    }
    /* a huge trailer is refused */
    size_t len = 70 * 1024;
    char *big = malloc(len);
    memcpy(big, "0\r\nX: ", 6);
    memset(big + 6, 'a', len - 6);
    char out[8];
    size_t n, rest;
    CHECK_EQ_INT(dechunk(big, len, 0, out, &n, &rest), -1);
    free(big);
}

TEST(split_urls)
{
    char host[LLG_H1_HOST_MAX + 1];
    uint16_t port;
    const char *path;
    bool https;
    CHECK_EQ_INT(llg_h1_split_url("http://h.example/v1", &https, host, &port, &path), 0);
    CHECK(!https);
    CHECK_EQ_STR(host, "h.example");
    CHECK_EQ_INT(port, 80);
    CHECK_EQ_STR(path, "/v1");
    CHECK_EQ_INT(llg_h1_split_url("https://api.example.com/v1/chat", &https, host, &port, &path), 0);
    CHECK(https);
    CHECK_EQ_INT(port, 443);
    CHECK_EQ_STR(path, "/v1/chat");
    CHECK_EQ_INT(llg_h1_split_url("https://[::1]:8443", &https, host, &port, &path), 0);
    CHECK(https);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 8443);
    CHECK_EQ_STR(path, "");
    CHECK_EQ_INT(llg_h1_split_url("https://127.0.0.1:1/x", &https, host, &port, &path), 0);
    CHECK_EQ_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 1);
    static const char *const bad[] = {
        "ftp://h/",     "https://",      "https://u:p@h/", "https://h:0/", "https://h:65536/",
        "https://h:x/", "https://[::1/", "httpS://h/",     "https://h:/",  "https://a b/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(llg_h1_split_url(bad[i], &https, host, &port, &path), -1);
}

int main(void)
{
    RUN(head_with_length);
    RUN(head_chunked_and_close);
    RUN(head_without_body);
    RUN(head_incomplete);
    RUN(head_refused);
    RUN(chunked_every_cut);
    RUN(chunked_refused);
    RUN(split_urls);
    TEST_MAIN_END();
}
