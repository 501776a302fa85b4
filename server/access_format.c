/*
 * server/access_format.c: an access log line (docs/observability.md). The
 * fields are gathered once into a table, then written as `name=value` text
 * or as one JSON object, so both formats always carry the same fields.
 * Values that come from the client or an upstream (path, models) are
 * escaped: text turns blanks, quotes, backslashes and control bytes into
 * \xHH, JSON escapes control characters and replaces invalid UTF-8; neither
 * lets a value forge a line. Keys appear by their id, never in clear.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include "pool/pool.h"
#include "server/access_log.h"
#include "server/http.h"

#define MAX_FIELDS 32
#define MAX_TEXT   1024 /* a client's or upstream's text is cut here: a line stays under PIPE_BUF */
#define MAX_PATH   512

/* F_STR: text known to be UTF-8 (the config's names, ids, the gateway's
 * own words); F_BYTES: text from a client or an upstream (a decoded path,
 * a model name, an upstream's error code), checked when written as JSON */
typedef enum { F_NULL, F_STR, F_BYTES, F_UINT, F_MS, F_BOOL, F_LIST } field_kind_t;

typedef struct field {
    const char *name;
    field_kind_t kind;
    const char *s; /* F_STR, F_BYTES; F_LIST: NUL-separated items, `n` bytes */
    size_t n;
    uint64_t u; /* F_UINT, F_MS (microseconds), F_BOOL */
} field_t;

typedef struct fields {
    field_t f[MAX_FIELDS];
    size_t count;
} fields_t;

static void add(fields_t *t, const char *name, field_kind_t kind, const char *s, size_t n, uint64_t u)
{
    if (t->count < MAX_FIELDS)
        t->f[t->count++] = (field_t){name, kind, s, n, u};
}

static void add_str(fields_t *t, const char *name, const char *s, size_t n)
{
    if (s == NULL)
        add(t, name, F_NULL, NULL, 0, 0);
    else
        add(t, name, n > MAX_TEXT ? F_BYTES : F_STR, s, n > MAX_TEXT ? MAX_TEXT : n, 0); /* a cut may split a character */
}

static void add_cstr(fields_t *t, const char *name, const char *s)
{
    add_str(t, name, s, s != NULL ? strlen(s) : 0);
}

static void add_bytes(fields_t *t, const char *name, const char *s, size_t n)
{
    add_str(t, name, s, n);
    if (s != NULL)
        t->f[t->count - 1].kind = F_BYTES;
}

static void add_opt_uint(fields_t *t, const char *name, bool known, uint64_t u)
{
    add(t, name, known ? F_UINT : F_NULL, NULL, 0, u);
}

/* The client's address, without the port. */
static size_t client_address(h2o_req_t *req, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    if (req->conn == NULL || req->conn->callbacks->get_peername == NULL ||
        req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) == 0)
        return 0;
    const void *addr = NULL;
    if (ss.ss_family == AF_INET)
        addr = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (addr == NULL || inet_ntop(ss.ss_family, addr, buf, (socklen_t)size) == NULL)
        return 0;
    return strlen(buf);
}

/* 2026-12-07T01:02:03.456Z. The part up to the seconds is made once per
 * second: strftime() may look at the time zone (tzset, a stat of
 * /etc/localtime) on every call, and a worker logs thousands of lines a
 * second. A worker has one thread: the cache is its own. */
static size_t iso_time(int64_t unix_ns, char *buf, size_t size)
{
    static time_t cached_sec = (time_t)-1;
    static char cached[24];
    static size_t cached_len;
    time_t sec = (time_t)(unix_ns / 1000000000);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    if (size < cached_len + 6)
        return 0;
    memcpy(buf, cached, cached_len);
    unsigned ms = (unsigned)(unix_ns / 1000000 % 1000);
    char *p = buf + cached_len;
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p = '\0';
    return cached_len + 5;
}

/* The providers of the attempts, each once, in order, NUL-separated. */
static size_t tried_list(const llg_conf_t *conf, const llg_reqlog_t *r, char *buf, size_t size)
{
    size_t n = 0, shown = r->attempts < LLG_REQLOG_MAX_ATTEMPTS ? r->attempts : LLG_REQLOG_MAX_ATTEMPTS;
    for (size_t i = 0; i < shown; i++) {
        int p = r->att[i].provider;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || r->att[j].provider == p;
        if (seen || p < 0 || (size_t)p >= conf->provider_count)
            continue;
        size_t len = strlen(conf->providers[p].name);
        if (n + len + 1 > size)
            break;
        memcpy(buf + n, conf->providers[p].name, len + 1);
        n += len + 1;
    }
    return n;
}

static void gather(fields_t *t, llg_app_t *app, h2o_req_t *req, const llg_access_t *a, char *scratch, size_t size)
{
    const llg_conf_t *conf = app->conf;
    const llg_reqlog_t *r = a->rec;
    size_t used = 0;

    int64_t start_ns = r != NULL ? r->start_unix_ns
                                 : (int64_t)req->timestamps.request_begin_at.tv_sec * 1000000000 +
                                       (int64_t)req->timestamps.request_begin_at.tv_usec * 1000;
    size_t n = iso_time(start_ns, scratch + used, size - used);
    add_str(t, "time", scratch + used, n);
    used += n + 1;

    ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
    if (i != -1)
        add_str(t, "request_id", req->res.headers.entries[i].value.base, req->res.headers.entries[i].value.len);
    else
        add_str(t, "request_id", NULL, 0);

    n = client_address(req, scratch + used, 64);
    add_str(t, "client", n > 0 ? scratch + used : NULL, n);
    used += 64;

    add_cstr(t, "protocol", req->version >= 0x200 ? "HTTP/2" : req->version == 0x100 ? "HTTP/1.0" : "HTTP/1.1");
    add_cstr(t, "api", llg_http_ingress(req)->name);
    add_str(t, "method", req->method.base, req->method.len > 16 ? 16 : req->method.len);
    h2o_iovec_t path = req->path_normalized.base != NULL ? req->path_normalized : req->input.path;
    add_bytes(t, "path", path.base, path.len > MAX_PATH ? MAX_PATH : path.len);
    add(t, "status", F_UINT, NULL, 0, (uint64_t)(a->status > 0 ? a->status : 0));

    const llg_reqlog_attempt_t *last = NULL;
    if (r != NULL && r->attempts > 0)
        last = &r->att[(r->attempts < LLG_REQLOG_MAX_ATTEMPTS ? r->attempts : LLG_REQLOG_MAX_ATTEMPTS) - 1];
    const char *model = r != NULL ? r->model : NULL, *upstream_model = last != NULL ? last->model : NULL;
    add_bytes(t, "model", model, model != NULL ? strlen(model) : 0);
    add_bytes(t, "upstream_model", upstream_model, upstream_model != NULL ? strlen(upstream_model) : 0);
    int provider = r != NULL ? r->provider : -1;
    add_cstr(t, "provider", provider >= 0 && (size_t)provider < conf->provider_count ? conf->providers[provider].name : NULL);
    const llg_conf_group_t *g = r != NULL && r->group >= 0 && (size_t)r->group < conf->group_count ? &conf->groups[r->group] : NULL;
    add_cstr(t, "group", g != NULL ? g->name : NULL);
    add_cstr(t, "key", last != NULL && last->key_slot >= 0 ? llg_pool_key_id(app->view, last->key_slot) : NULL);
    add_cstr(t, "token", r != NULL && r->token >= 0 ? llg_pool_token_label(app->view, r->token) : NULL);
    add_opt_uint(t, "attempts", r != NULL && r->proxied, r != NULL ? r->attempts : 0);
    n = r != NULL ? tried_list(conf, r, scratch + used, 512) : 0;
    add(t, "providers_tried", r != NULL && r->proxied ? F_LIST : F_NULL, scratch + used, n, 0);
    used += 512;
    add_opt_uint(t, "upstream_status", r != NULL && r->upstream_status > 0, r != NULL ? (uint64_t)r->upstream_status : 0);
    bool usage = r != NULL && r->have_usage;
    add_opt_uint(t, "prompt_tokens", usage, usage ? r->prompt_tokens : 0);
    add_opt_uint(t, "completion_tokens", usage, usage ? r->completion_tokens : 0);
    add_opt_uint(t, "cached_tokens", r != NULL && r->have_cached, r != NULL ? r->cached_tokens : 0);
    add_opt_uint(t, "reasoning_tokens", r != NULL && r->have_reasoning, r != NULL ? r->reasoning_tokens : 0);
    add(t, "ttfb_ms", a->ttfb_us > 0 ? F_MS : F_NULL, NULL, 0, a->ttfb_us);
    add(t, "duration_ms", F_MS, NULL, 0, a->duration_us);
    add(t, "bytes_in", F_UINT, NULL, 0, req->entity.base != NULL ? req->entity.len : 0);
    add(t, "bytes_out", F_UINT, NULL, 0, req->bytes_sent);
    add(t, "stream", r != NULL && r->proxied ? F_BOOL : F_NULL, NULL, 0, r != NULL && r->stream);
    const char *error = r != NULL ? r->error_code : NULL;
    add_bytes(t, "error", error, error != NULL ? strlen(error) : 0);
}

/* ---- the two formats: one writer, a table each ------------------------- */

/* How a format writes the line's parts. */
typedef struct format {
    const char *open, *close; /* the line's first and last bytes */
    const char *sep;          /* between two fields */
    const char *name_pre, *name_post;
    const char *null; /* an unknown value */
    const char *list_open, *list_close, *list_empty;
    void (*str)(llg_strbuf_t *b, const char *s, size_t n);   /* F_STR */
    void (*bytes)(llg_strbuf_t *b, const char *s, size_t n); /* F_BYTES */
} format_t;

/* text: blanks, quotes, backslashes, control bytes and DEL become \xHH */
static void text_value(llg_strbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0) {
        llg_strbuf_append(b, "\"\"", 2);
        return;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c != 0x7f && c != '"' && c != '\\')
            continue;
        llg_strbuf_append(b, s + run, i - run);
        char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        llg_strbuf_append(b, esc, 4);
        run = i + 1;
    }
    llg_strbuf_append(b, s + run, n - run);
}

static const format_t text_format = {"", "\n", " ", "", "=", "-", "", "", "-", text_value, text_value};
static const format_t json_format = {
    "{", "}\n", ",", "\"", "\":", "null", "[", "]", "[]", llg_strbuf_append_json_string, llg_strbuf_append_json_bytes};

static void append_ms(llg_strbuf_t *b, uint64_t us)
{
    llg_strbuf_append_uint(b, us / 1000);
    char frac[5] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10), 0};
    llg_strbuf_append(b, frac, 4);
}

/* What comes before a field's value: the line's start or the separator,
 * and the name (`,"status":` or ` status=`). Made once per field and
 * format (a worker has one thread; gather() always adds the same names in
 * the same order, checked by pointer): a line is ~27 such prefixes, one
 * append each instead of four. */
typedef struct prefix {
    const char *name; /* the field it was made for */
    uint8_t len;
    char s[47];
} prefix_t;

static const prefix_t *field_prefix(const format_t *fm, size_t i, const char *name)
{
    static prefix_t cache[2][MAX_FIELDS];
    prefix_t *p = &cache[fm == &json_format][i];
    if (p->name != name) {
        int n = snprintf(p->s, sizeof(p->s), "%s%s%s%s", i == 0 ? fm->open : fm->sep, fm->name_pre, name, fm->name_post);
        p->len = (uint8_t)(n > 0 && (size_t)n < sizeof(p->s) ? n : 0);
        p->name = name;
    }
    return p;
}

static void write_line(llg_strbuf_t *b, const format_t *fm, const fields_t *t)
{
    llg_strbuf_reserve(b, 1024);
    for (size_t i = 0; i < t->count; i++) {
        const field_t *f = &t->f[i];
        const prefix_t *p = field_prefix(fm, i, f->name);
        llg_strbuf_append(b, p->s, p->len);
        switch (f->kind) {
        case F_NULL:
            llg_strbuf_appends(b, fm->null);
            break;
        case F_STR:
            fm->str(b, f->s, f->n);
            break;
        case F_BYTES:
            fm->bytes(b, f->s, f->n);
            break;
        case F_UINT:
            llg_strbuf_append_uint(b, f->u);
            break;
        case F_MS:
            append_ms(b, f->u);
            break;
        case F_BOOL:
            llg_strbuf_appends(b, f->u ? "true" : "false");
            break;
        case F_LIST:
            if (f->n == 0) {
                llg_strbuf_appends(b, fm->list_empty);
                break;
            }
            llg_strbuf_appends(b, fm->list_open);
            for (size_t o = 0; o < f->n;) {
                size_t len = strlen(f->s + o);
                if (o > 0)
                    llg_strbuf_append(b, ",", 1);
                fm->str(b, f->s + o, len);
                o += len + 1;
            }
            llg_strbuf_appends(b, fm->list_close);
            break;
        }
    }
    llg_strbuf_appends(b, fm->close);
}

void llg_access_format(llg_strbuf_t *b, llg_access_log_format_t format, llg_app_t *app, h2o_req_t *req, const llg_access_t *a)
{
    fields_t t;
    t.count = 0;
    char scratch[1024];
    gather(&t, app, req, a, scratch, sizeof(scratch));
    write_line(b, format == LLG_ACCESS_LOG_JSON ? &json_format : &text_format, &t);
}
