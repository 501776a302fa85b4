/*
 * tests/mock/record.c: the request log of llmgate-mock. Each request (but
 * /static/, /health and /_mock/) gives a "request" line when it is complete,
 * then "done" when the response ended (or was cut by a fault) or
 * "client_closed" the moment the peer went away first. Lines are JSON objects,
 * appended to --record FILE with one write(2) each and kept in memory (the
 * last --record-max lines) for GET /_mock/record; POST /_mock/reset clears.
 */
#include "mock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool mock_record_on = true;
static int rec_fd = -1;
static size_t max_lines = 10000, max_bytes = 64u << 20;
static struct mbuf *ring;
static size_t ring_head, ring_count, ring_bytes;

int mock_record_open(const char *file)
{
    rec_fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (rec_fd < 0) {
        perror(file);
        return -1;
    }
    return 0;
}

void mock_record_config(size_t lines, size_t bytes)
{
    max_lines = lines ? lines : 1;
    max_bytes = bytes;
}

static void lower_json_str(struct mbuf *o, const char *s, size_t n)
{
    char tmp[256];
    if (n > sizeof(tmp))
        n = sizeof(tmp);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
    mbuf_add_json_str(o, tmp, n);
}

void mock_record_prepare(struct mock_conn *c, const char *body, size_t body_len, const char *key, size_t key_len)
{
    const char *base = c->rbuf.p + c->rpos;
    const struct mock_req *r = &c->req;
    struct mbuf *o = &c->rec;
    char tmp[16];
    o->len = 0;
    mbuf_adds(o, ",\"method\":");
    mbuf_add_json_str(o, base + r->method, r->method_len);
    mbuf_adds(o, ",\"path\":");
    mbuf_add_json_str(o, base + r->target, r->target_len);
    mbuf_addf(o, ",\"status\":%d,\"fault\":", c->st.status);
    const char *fn = mock_fault_name(&c->sc, tmp, sizeof(tmp));
    mbuf_add_json_str(o, fn, strlen(fn));
    mbuf_adds(o, ",\"model\":");
    mbuf_add_json_str(o, c->st.model, strlen(c->st.model));
    mbuf_adds(o, ",\"scenario\":{\"format\":");
    const char *f = mock_format_name(c->sc.format);
    mbuf_add_json_str(o, f, strlen(f));
    for (unsigned i = 0; i < c->sc.nset; i++) {
        if (strcmp(c->sc.set_name[i], "format") == 0)
            continue;
        mbuf_addc(o, ',');
        mbuf_add_json_str(o, c->sc.set_name[i], strlen(c->sc.set_name[i]));
        mbuf_addc(o, ':');
        mbuf_add_json_str(o, c->sc.set_val[i], strlen(c->sc.set_val[i]));
    }
    mbuf_adds(o, "},\"headers\":{");
    bool first = true;
    for (unsigned i = 0; i < r->nhdrs; i++) {
        const struct mock_hdr *h = &r->hdrs[i];
        bool seen = false;
        for (unsigned j = 0; j < i && !seen; j++)
            seen = r->hdrs[j].name_len == h->name_len && strncasecmp(base + r->hdrs[j].name, base + h->name, h->name_len) == 0;
        if (seen)
            continue;
        if (!first)
            mbuf_addc(o, ',');
        first = false;
        lower_json_str(o, base + h->name, h->name_len);
        mbuf_addc(o, ':');
        /* duplicates are joined with ", " */
        struct mbuf v = {0};
        mbuf_add(&v, base + h->val, h->val_len);
        for (unsigned j = i + 1; j < r->nhdrs; j++) {
            const struct mock_hdr *g = &r->hdrs[j];
            if (g->name_len == h->name_len && strncasecmp(base + g->name, base + h->name, h->name_len) == 0) {
                mbuf_add(&v, ", ", 2);
                mbuf_add(&v, base + g->val, g->val_len);
            }
        }
        mbuf_add_json_str(o, v.p ? v.p : "", v.len);
        mbuf_free(&v);
    }
    mbuf_adds(o, "},\"body\":");
    mbuf_add_json_str(o, body, body_len);
    mbuf_adds(o, ",\"key\":");
    if (key != NULL)
        mbuf_add_json_str(o, key, key_len);
    else
        mbuf_adds(o, "null");
}

void mock_record_event(struct mock_conn *c, const char *event)
{
    static struct mbuf line;
    line.len = 0;
    mbuf_addf(&line, "{\"seq\":%llu,\"t_ms\":%.3f,\"event\":\"%s\",\"chunks_sent\":%u,\"writes\":%u", (unsigned long long)c->seq,
              mock_wall_ms(), event, c->st.chunks_sent, c->st.writes);
    mbuf_add(&line, c->rec.p, c->rec.len);
    mbuf_adds(&line, "}\n");
    if (rec_fd >= 0) {
        ssize_t w = write(rec_fd, line.p, line.len);
        (void)w;
    }
    if (ring == NULL) {
        ring = calloc(max_lines, sizeof(*ring));
        if (ring == NULL)
            abort();
    }
    /* drop the oldest lines while over a limit */
    while (ring_count > 0 && (ring_count == max_lines || ring_bytes + line.len > max_bytes)) {
        struct mbuf *old = &ring[(ring_head + max_lines - ring_count) % max_lines];
        ring_bytes -= old->len;
        mbuf_free(old);
        ring_count--;
    }
    struct mbuf *slot = &ring[ring_head];
    slot->len = 0;
    mbuf_add(slot, line.p, line.len - 1); /* without the newline */
    ring_bytes += slot->len;
    ring_head = (ring_head + 1) % max_lines;
    ring_count++;
}

void mock_record_dump(struct mbuf *o)
{
    mbuf_adds(o, ring_count ? "[\n" : "[");
    for (size_t i = 0; i < ring_count; i++) {
        struct mbuf *l = &ring[(ring_head + max_lines - ring_count + i) % max_lines];
        if (i > 0)
            mbuf_adds(o, ",\n");
        mbuf_add(o, l->p, l->len);
    }
    mbuf_adds(o, ring_count ? "\n]\n" : "]\n");
}

void mock_record_reset(void)
{
    for (size_t i = 0; i < ring_count; i++)
        mbuf_free(&ring[(ring_head + max_lines - ring_count + i) % max_lines]);
    ring_count = 0;
    ring_bytes = 0;
}
