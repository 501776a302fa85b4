/*
 * tests/unit/test_translate.c: the translation layer for non-OpenAI upstreams:
 * the NDJSON reader, message modes, Poe (query body, bot names, answer
 * translation, HTTP errors) and Puter (call body, drivers, answer translation,
 * HTTP errors, models). Every wire fixture is fed split at every byte, with LF
 * and CRLF line ends, and every emitted SSE event is parsed and checked: role
 * chunk first, one id and created, content, finish chunk, usage chunk only when
 * asked, [DONE] last.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/messages.h"
#include "providers/models.h"
#include "providers/ndjson.h"
#include "providers/openai_form.h"
#include "providers/poe.h"
#include "providers/puter.h"
#include "tests/test.h"

static const char *fixtures_dir;

static char *read_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", fixtures_dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* LF -> CRLF */
static char *crlf(const char *in, size_t len, size_t *outlen)
{
    llg_strbuf_t b = {0};
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\n')
            llg_strbuf_append(&b, "\r\n", 2);
        else
            llg_strbuf_append(&b, in + i, 1);
    }
    *outlen = b.len;
    return b.data;
}

/* ---- the OpenAI output, parsed ----------------------------------------- */

typedef struct summary {
    int events, chunks;
    bool well_formed; /* every event `data: <json>` or `data: [DONE]` */
    bool role_first;  /* the first chunk is the role chunk */
    bool one_id;      /* every chunk has the same id and created */
    int role_chunks;
    llg_strbuf_t content, reasoning;
    char finish[32];
    int finish_chunks;
    bool usage; /* a usage chunk */
    bool usage_after_finish;
    uint64_t prompt, completion;
    bool usage_null_everywhere; /* every other chunk carries "usage":null */
    bool any_usage_member;
    int tool_calls;
    char tool_id[64], tool_name[64];
    llg_strbuf_t tool_args;
    bool error;
    char error_code[64], error_message[512];
    int done;
    bool done_last;
} summary_t;

static void summary_free(summary_t *s)
{
    llg_strbuf_free(&s->content);
    llg_strbuf_free(&s->reasoning);
    llg_strbuf_free(&s->tool_args);
}

static void summarize(const char *out, size_t len, summary_t *s)
{
    memset(s, 0, sizeof(*s));
    s->well_formed = true;
    s->one_id = true;
    s->usage_null_everywhere = true;
    char id[64] = "";
    double created = -1;
    size_t pos = 0;
    while (pos < len) {
        const char *end = strstr(out + pos, "\n\n");
        if (end == NULL || strncmp(out + pos, "data: ", 6) != 0) {
            s->well_formed = false;
            return;
        }
        size_t dlen = (size_t)(end - out) - pos - 6;
        const char *data = out + pos + 6;
        pos = (size_t)(end - out) + 2;
        s->events++;
        s->done_last = false;
        if (dlen == 6 && memcmp(data, "[DONE]", 6) == 0) {
            s->done++;
            s->done_last = true;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(data, dlen);
        if (j == NULL) {
            s->well_formed = false;
            continue;
        }
        const cJSON *err = cJSON_GetObjectItem(j, "error");
        if (err != NULL) {
            s->error = true;
            const cJSON *c = cJSON_GetObjectItem(err, "code"), *m = cJSON_GetObjectItem(err, "message");
            snprintf(s->error_code, sizeof(s->error_code), "%s", cJSON_IsString(c) ? c->valuestring : "");
            snprintf(s->error_message, sizeof(s->error_message), "%s", cJSON_IsString(m) ? m->valuestring : "");
            if (!cJSON_IsString(cJSON_GetObjectItem(err, "type")) || !cJSON_IsString(m) ||
                !cJSON_IsNull(cJSON_GetObjectItem(err, "param")))
                s->well_formed = false;
            cJSON_Delete(j);
            continue;
        }
        s->chunks++;
        const cJSON *jid = cJSON_GetObjectItem(j, "id"), *jc = cJSON_GetObjectItem(j, "created");
        const cJSON *obj = cJSON_GetObjectItem(j, "object");
        if (!cJSON_IsString(jid) || !cJSON_IsNumber(jc) || !cJSON_IsString(obj) ||
            strcmp(obj->valuestring, "chat.completion.chunk") != 0 || strncmp(jid->valuestring, "chatcmpl-", 9) != 0)
            s->well_formed = false;
        else if (id[0] == '\0') {
            snprintf(id, sizeof(id), "%s", jid->valuestring);
            created = jc->valuedouble;
        } else if (strcmp(id, jid->valuestring) != 0 || created != jc->valuedouble)
            s->one_id = false;
        const cJSON *usage = cJSON_GetObjectItem(j, "usage");
        if (usage != NULL)
            s->any_usage_member = true;
        const cJSON *choices = cJSON_GetObjectItem(j, "choices");
        if (cJSON_IsObject(usage)) {
            s->usage = true;
            s->usage_after_finish = s->finish_chunks == 1;
            s->prompt = (uint64_t)cJSON_GetObjectItem(usage, "prompt_tokens")->valuedouble;
            s->completion = (uint64_t)cJSON_GetObjectItem(usage, "completion_tokens")->valuedouble;
            if (cJSON_GetArraySize(choices) != 0)
                s->well_formed = false;
            cJSON_Delete(j);
            continue;
        }
        if (!cJSON_IsNull(usage))
            s->usage_null_everywhere = false;
        const cJSON *choice = cJSON_GetArrayItem(choices, 0);
        const cJSON *delta = cJSON_GetObjectItem(choice, "delta");
        const cJSON *fr = cJSON_GetObjectItem(choice, "finish_reason");
        if (!cJSON_IsObject(delta) || fr == NULL) {
            s->well_formed = false;
            cJSON_Delete(j);
            continue;
        }
        const cJSON *role = cJSON_GetObjectItem(delta, "role");
        if (cJSON_IsString(role)) {
            s->role_chunks++;
            if (s->chunks == 1 && strcmp(role->valuestring, "assistant") == 0)
                s->role_first = true;
        }
        const cJSON *c = cJSON_GetObjectItem(delta, "content");
        if (cJSON_IsString(c))
            llg_strbuf_appends(&s->content, c->valuestring);
        const cJSON *r = cJSON_GetObjectItem(delta, "reasoning_content");
        if (cJSON_IsString(r))
            llg_strbuf_appends(&s->reasoning, r->valuestring);
        const cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(delta, "tool_calls"), 0);
        if (tc != NULL) {
            const cJSON *fn = cJSON_GetObjectItem(tc, "function");
            if (cJSON_GetObjectItem(tc, "index")->valueint != s->tool_calls)
                s->well_formed = false;
            s->tool_calls++;
            snprintf(s->tool_id, sizeof(s->tool_id), "%s", cJSON_GetObjectItem(tc, "id")->valuestring);
            snprintf(s->tool_name, sizeof(s->tool_name), "%s", cJSON_GetObjectItem(fn, "name")->valuestring);
            llg_strbuf_appends(&s->tool_args, cJSON_GetObjectItem(fn, "arguments")->valuestring);
        }
        if (cJSON_IsString(fr)) {
            s->finish_chunks++;
            snprintf(s->finish, sizeof(s->finish), "%s", fr->valuestring);
        }
        cJSON_Delete(j);
    }
}

/* a whole successful stream: role first, one id, content, one finish chunk,
 * usage only when asked (after the finish chunk), [DONE] last */
static void check_stream_ok(const summary_t *s, const char *content, const char *finish, bool include_usage)
{
    CHECK(s->well_formed);
    CHECK(s->role_first);
    CHECK_EQ_INT(s->role_chunks, 1);
    CHECK(s->one_id);
    CHECK_EQ_STR(s->content.data != NULL ? s->content.data : "", content);
    CHECK_EQ_INT(s->finish_chunks, 1);
    CHECK_EQ_STR(s->finish, finish);
    CHECK(s->usage == include_usage);
    if (include_usage) {
        CHECK(s->usage_after_finish);
        CHECK(s->usage_null_everywhere);
    } else {
        CHECK(!s->any_usage_member);
    }
    CHECK(!s->error);
    CHECK_EQ_INT(s->done, 1);
    CHECK(s->done_last);
}

/* "created":<digits> -> "created":0, so outputs of runs a second apart compare */
static void normalize_created(llg_strbuf_t *b)
{
    llg_strbuf_t o = {0};
    const char *p = b->data != NULL ? b->data : "";
    const char *key = "\"created\":";
    const char *q;
    while ((q = strstr(p, key)) != NULL) {
        q += strlen(key);
        llg_strbuf_append(&o, p, (size_t)(q - p));
        llg_strbuf_appends(&o, "0");
        while (*q >= '0' && *q <= '9')
            q++;
        p = q;
    }
    llg_strbuf_appends(&o, p);
    llg_strbuf_free(b);
    *b = o;
}

static llg_xlate_params_t params_of(bool stream, bool include_usage)
{
    llg_xlate_params_t p = {.model = "test-model",
                            .stream = stream,
                            .include_usage = include_usage,
                            .prompt_tokens_estimate = 7,
                            .random = {12345, 67890}};
    return p;
}

/* ---- translator drivers ------------------------------------------------ */

typedef enum { POE, PUTER } kind_t;

typedef struct run {
    llg_strbuf_t out;
    int rc;              /* -1 when a feed or the end failed */
    bool failed_at_feed; /* the failure came from a feed */
    size_t out_at_failure;
    llg_xlate_error_t err;
    uint64_t prompt, completion;
    bool estimated;
} run_t;

/* feeds `in` cut at the given points (sorted, each in [0, len]) */
static void translate(kind_t kind, const llg_xlate_params_t *params, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                      run_t *r)
{
    memset(r, 0, sizeof(*r));
    llg_poe_stream_t *ps = kind == POE ? llg_poe_stream_new(params) : NULL;
    llg_puter_stream_t *us = kind == PUTER ? llg_puter_stream_new(params) : NULL;
    size_t at = 0;
    for (size_t i = 0; i <= ncuts && r->rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        int rc = kind == POE ? llg_poe_feed(ps, in + at, to - at, &r->out, &r->err)
                             : llg_puter_feed(us, in + at, to - at, &r->out, &r->err);
        if (rc != 0) {
            r->rc = -1;
            r->failed_at_feed = true;
            r->out_at_failure = r->out.len;
        }
        at = to;
    }
    if (r->rc == 0) {
        r->rc = kind == POE ? llg_poe_end(ps, &r->out, &r->err) : llg_puter_end(us, &r->out, &r->err);
        r->out_at_failure = r->out.len;
    } else {
        /* calls after a failure fail again and append nothing */
        llg_xlate_error_t again;
        size_t before = r->out.len;
        int rc = kind == POE ? llg_poe_end(ps, &r->out, &again) : llg_puter_end(us, &r->out, &again);
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_INT(r->out.len, before);
        CHECK_EQ_INT(again.http_status, r->err.http_status);
        CHECK_EQ_STR(again.code, r->err.code);
    }
    if (kind == POE)
        llg_poe_usage(ps, &r->prompt, &r->completion, &r->estimated);
    else
        llg_puter_usage(us, &r->prompt, &r->completion, &r->estimated);
    llg_poe_stream_free(ps);
    llg_puter_stream_free(us);
}

static void run_free(run_t *r)
{
    llg_strbuf_free(&r->out);
}

/* The same translation split at every byte (one cut), at pairs of cuts, and
 * one byte at a time: the output must not depend on the splits. `reference`
 * gets the unsplit run. */
static void translate_all_splits(kind_t kind, const llg_xlate_params_t *params, const char *in, size_t len, run_t *reference)
{
    translate(kind, params, in, len, NULL, 0, reference);
    llg_strbuf_t ref = {0};
    llg_strbuf_append(&ref, reference->out.data != NULL ? reference->out.data : "", reference->out.len);
    normalize_created(&ref);
    int mismatches = 0;
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b += (len / 5) + 1) {
            size_t cuts[2] = {a, b};
            run_t r;
            translate(kind, params, in, len, cuts, 2, &r);
            normalize_created(&r.out);
            if (r.rc != reference->rc || r.out.len != ref.len || memcmp(r.out.data, ref.data, ref.len) != 0 ||
                r.err.http_status != reference->err.http_status || r.completion != reference->completion)
                mismatches++;
            run_free(&r);
        }
    }
    /* one byte at a time */
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    for (size_t i = 0; i <= len; i++)
        cuts[i] = i;
    run_t r;
    translate(kind, params, in, len, cuts, len + 1, &r);
    normalize_created(&r.out);
    if (r.rc != reference->rc || r.out.len != ref.len || memcmp(r.out.data, ref.data, ref.len) != 0)
        mismatches++;
    run_free(&r);
    free(cuts);
    CHECK_EQ_INT(mismatches, 0);
    llg_strbuf_free(&ref);
}

/* the parsed completion body */
typedef struct completion {
    cJSON *root;
    const char *content; /* NULL: null or absent */
    const char *finish;
    const char *reasoning;
    const cJSON *tool_calls;
    uint64_t prompt, completion;
    bool ok;
} completion_t;

static void parse_completion(const llg_strbuf_t *out, completion_t *c)
{
    memset(c, 0, sizeof(*c));
    c->root = cJSON_ParseWithLength(out->data != NULL ? out->data : "", out->len);
    const cJSON *obj = cJSON_GetObjectItem(c->root, "object");
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(c->root, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItem(choice, "message");
    const cJSON *usage = cJSON_GetObjectItem(c->root, "usage");
    if (!cJSON_IsString(obj) || strcmp(obj->valuestring, "chat.completion") != 0 || msg == NULL || usage == NULL)
        return;
    const cJSON *id = cJSON_GetObjectItem(c->root, "id");
    if (!cJSON_IsString(id) || strncmp(id->valuestring, "chatcmpl-", 9) != 0 ||
        !cJSON_IsString(cJSON_GetObjectItem(c->root, "model")))
        return;
    const cJSON *content = cJSON_GetObjectItem(msg, "content");
    c->content = cJSON_IsString(content) ? content->valuestring : NULL;
    const cJSON *r = cJSON_GetObjectItem(msg, "reasoning_content");
    c->reasoning = cJSON_IsString(r) ? r->valuestring : NULL;
    c->tool_calls = cJSON_GetObjectItem(msg, "tool_calls");
    c->finish = cJSON_GetObjectItem(choice, "finish_reason")->valuestring;
    c->prompt = (uint64_t)cJSON_GetObjectItem(usage, "prompt_tokens")->valuedouble;
    c->completion = (uint64_t)cJSON_GetObjectItem(usage, "completion_tokens")->valuedouble;
    c->ok = strcmp(cJSON_GetObjectItem(msg, "role")->valuestring, "assistant") == 0;
}

/* ---- NDJSON ------------------------------------------------------------ */

static int collect_line(void *ctx, const char *line, size_t len)
{
    llg_strbuf_t *b = ctx;
    llg_strbuf_append(b, line, len);
    llg_strbuf_append(b, "|", 1);
    return 0;
}

static const char expected_lines[] = "{\"type\":\"text\",\"text\":\"Hel\"}|{\"type\":\"text\",\"text\":\"lo!\"}|"
                                     "{\"type\":\"reasoning\",\"reasoning\":\"short\"}|{\"type\":\"text\",\"text\":\" Bye\"}|";

static void ndjson_splits(const char *in, size_t len)
{
    int bad = 0;
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            llg_strbuf_t got = {0};
            llg_ndjson_reader_t r;
            llg_ndjson_init(&r);
            int rc = llg_ndjson_feed(&r, in, a, collect_line, &got);
            rc |= llg_ndjson_feed(&r, in + a, b - a, collect_line, &got);
            rc |= llg_ndjson_feed(&r, in + b, len - b, collect_line, &got);
            rc |= llg_ndjson_finish(&r, collect_line, &got);
            if (rc != 0 || got.data == NULL || strcmp(got.data, expected_lines) != 0)
                bad++;
            llg_ndjson_dispose(&r);
            llg_strbuf_free(&got);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(ndjson_fixture)
{
    size_t len, clen;
    char *in = read_fixture("puter/stream.ndjson", &len);
    CHECK(in[len - 1] != '\n'); /* the fixture's last line has no newline */
    ndjson_splits(in, len);
    char *c = crlf(in, len, &clen);
    ndjson_splits(c, clen);
    /* with a final newline too */
    llg_strbuf_t nl = {0};
    llg_strbuf_append(&nl, in, len);
    llg_strbuf_append(&nl, "\r\n", 2);
    ndjson_splits(nl.data, nl.len);
    llg_strbuf_free(&nl);
    free(c);
    free(in);
}

TEST(ndjson_rules)
{
    CHECK(llg_ndjson_skippable("", 0));
    CHECK(llg_ndjson_skippable("  \t", 3));
    CHECK(llg_ndjson_skippable("1f", 2));
    CHECK(llg_ndjson_skippable("1F2a", 4));
    CHECK(llg_ndjson_skippable("0", 1));
    CHECK(!llg_ndjson_skippable("{}", 2));
    CHECK(!llg_ndjson_skippable("1g", 2));
    CHECK(!llg_ndjson_skippable("true", 4));

    llg_strbuf_t got = {0};
    llg_ndjson_reader_t r;
    llg_ndjson_init(&r);
    const char *in = "\n\r\n  \n1F\r\n{\"a\":1}\r\n0\n{\"b\":2}";
    CHECK_EQ_INT(llg_ndjson_feed(&r, in, strlen(in), collect_line, &got), 0);
    CHECK_EQ_STR(got.data, "{\"a\":1}|");
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), 0);
    CHECK_EQ_STR(got.data, "{\"a\":1}|{\"b\":2}|");
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), 0); /* nothing left */
    CHECK_EQ_STR(got.data, "{\"a\":1}|{\"b\":2}|");
    /* a last "line" that is only a CR or a hex size carries nothing */
    CHECK_EQ_INT(llg_ndjson_feed(&r, "\r", 1, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "0", 1, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), 0);
    CHECK_EQ_STR(got.data, "{\"a\":1}|{\"b\":2}|");
    llg_ndjson_dispose(&r);

    /* a line over max_line fails, whole or split, and stays failed */
    llg_ndjson_init(&r);
    r.max_line = 8;
    CHECK_EQ_INT(llg_ndjson_feed(&r, "12345678\n", 9, collect_line, &got), 0); /* exactly max: fine */
    CHECK_EQ_INT(llg_ndjson_feed(&r, "1234\r\n", 6, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "{\"x\":", 5, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "1234", 4, collect_line, &got), 0); /* 9 bytes: the 9th may be a CR */
    CHECK_EQ_INT(llg_ndjson_feed(&r, "\n", 1, collect_line, &got), -1);  /* it was not */
    CHECK_EQ_INT(llg_ndjson_feed(&r, "\n", 1, collect_line, &got), -1);
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), -1);
    llg_ndjson_dispose(&r);
    llg_ndjson_init(&r);
    r.max_line = 8;
    CHECK_EQ_INT(llg_ndjson_feed(&r, "{\"x\":12345}\n", 12, collect_line, &got), -1);
    llg_ndjson_dispose(&r);
    llg_ndjson_init(&r);
    r.max_line = 8;
    CHECK_EQ_INT(llg_ndjson_feed(&r, "{\"x\":123", 8, collect_line, &got), 0);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "4", 1, collect_line, &got), 0); /* may still be a CR... */
    CHECK_EQ_INT(llg_ndjson_finish(&r, collect_line, &got), -1);      /* ...it was not */
    llg_ndjson_dispose(&r);
    llg_strbuf_free(&got);
}

static int stop_at_second(void *ctx, const char *line, size_t len)
{
    int *n = ctx;
    (void)line;
    (void)len;
    return ++*n == 2 ? -1 : 0;
}

TEST(ndjson_stop)
{
    int n = 0;
    llg_ndjson_reader_t r;
    llg_ndjson_init(&r);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "{}\n{}\n{}\n", 9, stop_at_second, &n), -1);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(llg_ndjson_feed(&r, "{}\n", 3, stop_at_second, &n), -1);
    CHECK_EQ_INT(n, 2);
    llg_ndjson_dispose(&r);
}

/* ---- message modes ----------------------------------------------------- */

static char *apply(llg_message_mode_t mode, const char *json)
{
    cJSON *in = cJSON_Parse(json);
    cJSON *out = llg_messages_apply(mode, in);
    char *s = out != NULL ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(in);
    cJSON_Delete(out);
    return s;
}

#define CHECK_MODE(mode, in, expected)                                                                                             \
    do {                                                                                                                           \
        char *got_ = apply(mode, in);                                                                                              \
        CHECK_EQ_STR(got_, expected);                                                                                              \
        free(got_);                                                                                                                \
    } while (0)

TEST(messages_raw)
{
    const char *in = "[{\"role\":\"system\",\"content\":\"a\"},{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                     "\"image_url\":{\"url\":\"x\"}}]},{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"tool\",\"content\":"
                     "\"t\",\"tool_call_id\":\"c1\"},{\"role\":\"x\",\"content\":5}]";
    CHECK_MODE(LLG_MESSAGES_RAW, in, in);
    CHECK_MODE(LLG_MESSAGES_RAW, "[]", "[]");
    CHECK(apply(LLG_MESSAGES_RAW, "{}") == NULL);
}

TEST(messages_standard)
{
    /* system messages in the middle are merged, in order, into one leading system message */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"user\",\"content\":\"u1\"},{\"role\":\"system\",\"content\":\"s1\"},"
               "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"system\",\"content\":\"s2\"},"
               "{\"role\":\"user\",\"content\":\"u2\"}]",
               "[{\"role\":\"system\",\"content\":\"s1\\n\\ns2\"},{\"role\":\"user\",\"content\":\"u1\"},"
               "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"user\",\"content\":\"u2\"}]");
    /* repeated roles: the first of a run is kept */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"user\",\"content\":\"u1\"},{\"role\":\"user\",\"content\":\"u2\"},"
               "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"assistant\",\"content\":\"a2\"},"
               "{\"role\":\"user\",\"content\":\"u3\"}]",
               "[{\"role\":\"user\",\"content\":\"u1\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
               "{\"role\":\"user\",\"content\":\"u3\"}]");
    /* empty conversation */
    CHECK_MODE(LLG_MESSAGES_STANDARD, "[]", "[]");
    /* ending with assistant: dropped; starting with assistant: dropped */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"assistant\",\"content\":\"a0\"},{\"role\":\"user\",\"content\":\"u1\"},"
               "{\"role\":\"assistant\",\"content\":\"a1\"}]",
               "[{\"role\":\"user\",\"content\":\"u1\"}]");
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"user\",\"content\":\"u1\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
               "{\"role\":\"assistant\",\"content\":\"a2\"}]",
               "[{\"role\":\"user\",\"content\":\"u1\"}]");
    /* array content: system parts flattened (text joined by \n, images dropped); user arrays kept as written */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"p1\"},{\"type\":\"image_url\","
               "\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":\"p2\"}]},"
               "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\","
               "\"image_url\":{\"url\":\"x\"}}]}]",
               "[{\"role\":\"system\",\"content\":\"p1\\np2\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":\"look\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]");
    /* only system messages: the merged system message alone */
    CHECK_MODE(LLG_MESSAGES_STANDARD, "[{\"role\":\"system\",\"content\":\"s1\"},{\"role\":\"system\",\"content\":\"s2\"}]",
               "[{\"role\":\"system\",\"content\":\"s1\\n\\ns2\"}]");
    /* empty system contents are skipped; all empty: no system message */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"system\",\"content\":\"\"},{\"role\":\"system\",\"content\":null},"
               "{\"role\":\"user\",\"content\":\"u\"}]",
               "[{\"role\":\"user\",\"content\":\"u\"}]");
    /* developer counts as system; unknown roles as user; extra members kept */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"developer\",\"content\":\"d\"},{\"role\":\"system\",\"content\":\"s\"},"
               "{\"role\":\"critic\",\"content\":\"c\",\"name\":\"bob\"}]",
               "[{\"role\":\"system\",\"content\":\"d\\n\\ns\"},{\"role\":\"user\",\"content\":\"c\",\"name\":\"bob\"}]");
    /* tool flow: the call becomes text, consecutive results one user message */
    CHECK_MODE(LLG_MESSAGES_STANDARD,
               "[{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
               "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"city\\\":"
               "\\\"Paris\\\"}\"}},{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":"
               "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"},{\"role\":\"tool\","
               "\"tool_call_id\":\"c2\",\"content\":[{\"type\":\"text\",\"text\":\"rain\"}]},"
               "{\"role\":\"assistant\",\"content\":\"Sunny.\"},{\"role\":\"user\",\"content\":\"thanks\"}]",
               "[{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":\"assistant\",\"content\":\"[tool call] "
               "get({\\\"city\\\":\\\"Paris\\\"})\\n[tool call] get({})\"},{\"role\":\"user\",\"content\":"
               "\"[tool result] sunny\\n\\n[tool result] rain\"},{\"role\":\"assistant\",\"content\":\"Sunny.\"},"
               "{\"role\":\"user\",\"content\":\"thanks\"}]");
    /* malformed */
    CHECK(apply(LLG_MESSAGES_STANDARD, "{}") == NULL);
    CHECK(apply(LLG_MESSAGES_STANDARD, "[1]") == NULL);
    CHECK(apply(LLG_MESSAGES_STANDARD, "[{\"content\":\"x\"}]") == NULL);
    CHECK(apply(LLG_MESSAGES_STANDARD, "[{\"role\":\"user\",\"content\":5}]") == NULL);
    CHECK(apply(LLG_MESSAGES_STANDARD, "[{\"role\":\"user\",\"content\":{}}]") == NULL);
}

TEST(messages_full)
{
    CHECK_MODE(LLG_MESSAGES_FULL,
               "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},"
               "{\"role\":\"assistant\",\"content\":\"Hello!\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":\"2+2?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
               "[{\"role\":\"user\",\"content\":\"[system] Be brief.\\n\\n[user] Hi\\n\\n[assistant] Hello!\\n\\n"
               "[user] 2+2?\"}]");
    CHECK_MODE(LLG_MESSAGES_FULL, "[]", "[]");
    /* empty texts are left out; tool calls and results keep their roles */
    CHECK_MODE(LLG_MESSAGES_FULL,
               "[{\"role\":\"system\",\"content\":\"\"},{\"role\":\"user\",\"content\":\"q\"},"
               "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
               "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"}]",
               "[{\"role\":\"user\",\"content\":\"[user] q\\n\\n[assistant] [tool call] f({})\\n\\n[tool] r\"}]");
    CHECK_MODE(LLG_MESSAGES_FULL, "[{\"role\":\"system\",\"content\":\"s\"}]", "[{\"role\":\"user\",\"content\":\"[system] s\"}]");
    CHECK(apply(LLG_MESSAGES_FULL, "[{\"role\":\"user\",\"content\":true}]") == NULL);
    CHECK(apply(LLG_MESSAGES_FULL, "\"x\"") == NULL);
}

/* ---- Poe --------------------------------------------------------------- */

static const char *const poe_fixtures[] = {"poe/bot-stream.sse", "poe/bot-stream-replace.sse", "poe/bot-error.sse"};

TEST(poe_stream_fixtures)
{
    static const char *const expected[] = {"2 + 2 = 4.", "Thinking...\n\nThe answer is 4.", NULL};
    for (int f = 0; f < 3; f++) {
        size_t len0;
        char *in0 = read_fixture(poe_fixtures[f], &len0);
        for (int eol = 0; eol < 2; eol++) {
            size_t len = len0;
            char *in = eol ? crlf(in0, len0, &len) : in0;
            for (int usage = 0; usage < 2; usage++) {
                llg_xlate_params_t p = params_of(true, usage == 1);
                run_t r;
                translate_all_splits(POE, &p, in, len, &r);
                summary_t s;
                summarize(r.out.data, r.out.len, &s);
                if (expected[f] != NULL) {
                    CHECK_EQ_INT(r.rc, 0);
                    check_stream_ok(&s, expected[f], "stop", usage == 1);
                    CHECK(r.estimated);
                    CHECK_EQ_INT(r.prompt, 7);
                    CHECK_EQ_INT(r.completion, llg_estimate_tokens(expected[f], strlen(expected[f])));
                    if (usage == 1) {
                        CHECK_EQ_INT(s.prompt, 7);
                        CHECK_EQ_INT(s.completion, r.completion);
                    }
                } else {
                    /* error before any text: nothing sent, an HTTP error */
                    CHECK_EQ_INT(r.rc, -1);
                    CHECK_EQ_INT(r.out.len, 0);
                    CHECK_EQ_INT(r.err.http_status, 402);
                    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_PAYMENT);
                    CHECK_EQ_STR(r.err.code, "insufficient_quota");
                    CHECK_EQ_STR(r.err.message, "This bot needs more points to answer your request.");
                }
                summary_free(&s);
                run_free(&r);
            }
            if (eol)
                free(in);
        }
        free(in0);
    }
}

TEST(poe_nonstream_fixtures)
{
    static const char *const expected[] = {"2 + 2 = 4.", "The answer is 4.", NULL};
    for (int f = 0; f < 3; f++) {
        size_t len;
        char *in = read_fixture(poe_fixtures[f], &len);
        llg_xlate_params_t p = params_of(false, true);
        run_t r;
        translate_all_splits(POE, &p, in, len, &r);
        if (expected[f] != NULL) {
            CHECK_EQ_INT(r.rc, 0);
            completion_t c;
            parse_completion(&r.out, &c);
            CHECK(c.ok);
            CHECK_EQ_STR(c.content, expected[f]);
            CHECK_EQ_STR(c.finish, "stop");
            CHECK(c.tool_calls == NULL);
            CHECK_EQ_INT(c.prompt, 7);
            CHECK_EQ_INT(c.completion, llg_estimate_tokens(expected[f], strlen(expected[f])));
            cJSON_Delete(c.root);
        } else {
            CHECK_EQ_INT(r.rc, -1);
            CHECK_EQ_INT(r.out.len, 0);
            CHECK_EQ_INT(r.err.http_status, 402);
            CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_PAYMENT);
        }
        run_free(&r);
        free(in);
    }
}

static void poe_text(const char *in, bool stream, run_t *r)
{
    llg_xlate_params_t p = params_of(stream, false);
    translate_all_splits(POE, &p, in, strlen(in), r);
}

TEST(poe_replace)
{
    run_t r;
    summary_t s;
    /* a replacement that extends the text: only its new end is sent */
    const char *ext = "event: text\ndata: {\"text\": \"Hel\"}\n\nevent: replace_response\ndata: {\"text\": \"Hello\"}\n\n"
                      "event: text\ndata: {\"text\": \"!\"}\n\nevent: done\ndata: {}\n\n";
    poe_text(ext, true, &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "Hello!", "stop", false);
    CHECK_EQ_INT(s.chunks, 5); /* role, "Hel", "lo", "!", finish */
    summary_free(&s);
    run_free(&r);
    /* a replacement first, before any text */
    const char *first = "event: replace_response\ndata: {\"text\": \"A\"}\n\nevent: text\ndata: {\"text\": \"B\"}\n\n"
                        "event: done\ndata: {}\n\n";
    poe_text(first, true, &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "AB", "stop", false);
    summary_free(&s);
    run_free(&r);
    /* progress lines replaced one after the other, then the answer */
    const char *progress = "event: text\ndata: {\"text\": \"10%\"}\n\nevent: replace_response\ndata: {\"text\": \"50%\"}\n\n"
                           "event: replace_response\ndata: {\"text\": \"50% done\"}\n\n"
                           "event: replace_response\ndata: {\"text\": \"\"}\n\n"
                           "event: text\ndata: {\"text\": \"Result\"}\n\nevent: done\ndata: {}\n\n";
    poe_text(progress, true, &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "10%\n\n50% done\n\nResult", "stop", false);
    summary_free(&s);
    run_free(&r);
    poe_text(progress, false, &r);
    completion_t c;
    parse_completion(&r.out, &c);
    CHECK_EQ_STR(c.content, "Result");
    cJSON_Delete(c.root);
    run_free(&r);
    /* a replacement by nothing before anything was sent: nothing to break */
    const char *empty = "event: replace_response\ndata: {\"text\": \"\"}\n\nevent: text\ndata: {\"text\": \"x\"}\n\n"
                        "event: done\ndata: {}\n\n";
    poe_text(empty, true, &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "x", "stop", false);
    summary_free(&s);
    run_free(&r);
}

TEST(poe_errors)
{
    run_t r;
    summary_t s;
    /* error after text, streaming: error event then [DONE]; -1 with status 0 */
    const char *after = "event: text\ndata: {\"text\": \"partial\"}\n\nevent: error\ndata: {\"allow_retry\": true, "
                        "\"text\": \"The bot encountered an unexpected issue.\"}\n\nevent: done\ndata: {}\n\n";
    poe_text(after, true, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 0);
    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
    summarize(r.out.data, r.out.len, &s);
    CHECK(s.well_formed);
    CHECK(s.role_first);
    CHECK_EQ_STR(s.content.data, "partial");
    CHECK(s.error);
    CHECK_EQ_STR(s.error_code, "upstream_error");
    CHECK_EQ_STR(s.error_message, "The bot encountered an unexpected issue.");
    CHECK_EQ_INT(s.finish_chunks, 0);
    CHECK_EQ_INT(s.done, 1);
    CHECK(s.done_last);
    summary_free(&s);
    run_free(&r);
    /* the same, not streaming: nothing was sent, so an HTTP error */
    poe_text(after, false, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.out.len, 0);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
    run_free(&r);

    static const struct {
        const char *data;
        int status;
        llg_outcome_t outcome;
        const char *code;
    } cases[] = {
        {"{\"allow_retry\": true, \"text\": \"busy\"}", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {"{\"text\": \"busy\"}", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {"{\"allow_retry\": false, \"text\": \"no\"}", 502, LLG_OUTCOME_CLIENT, "upstream_error"},
        {"{\"allow_retry\": false, \"text\": \"x\", \"error_type\": \"privacy_authorization_error\"}", 502, LLG_OUTCOME_AUTH,
         "upstream_auth_failed"},
        {"{\"allow_retry\": false, \"text\": \"x\", \"error_type\": \"rate_limit_exceeded\"}", 429, LLG_OUTCOME_RATE_LIMITED,
         "rate_limit_exceeded"},
        {"{\"allow_retry\": false, \"text\": \"x\", \"error_type\": \"user_message_too_long\"}", 400, LLG_OUTCOME_CLIENT,
         "context_length_exceeded"},
        {"{\"allow_retry\": false, \"text\": \"x\", \"error_type\": \"user_caused_error\"}", 400, LLG_OUTCOME_CLIENT,
         "invalid_request"},
        {"not json", 502, LLG_OUTCOME_SERVER, "upstream_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[512];
        snprintf(in, sizeof(in), "event: meta\ndata: {}\n\nevent: error\ndata: %s\n\n", cases[i].data);
        for (int stream = 0; stream < 2; stream++) {
            poe_text(in, stream == 1, &r);
            CHECK_EQ_INT(r.rc, -1);
            CHECK_EQ_INT(r.out.len, 0);
            CHECK_EQ_INT(r.err.http_status, cases[i].status);
            CHECK_EQ_INT(r.err.outcome, cases[i].outcome);
            CHECK_EQ_STR(r.err.code, cases[i].code);
            run_free(&r);
        }
    }

    /* no done: before text an HTTP error, after text an error event */
    poe_text("event: meta\ndata: {}\n\n", true, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.out.len, 0);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK_EQ_STR(r.err.code, "upstream_truncated");
    run_free(&r);
    poe_text("", true, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 502);
    run_free(&r);
    poe_text("event: text\ndata: {\"text\": \"cut\"}\n\nevent: text\ndata: {\"te", true, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK(!r.failed_at_feed);
    CHECK_EQ_INT(r.err.http_status, 0);
    summarize(r.out.data, r.out.len, &s);
    CHECK(s.well_formed);
    CHECK_EQ_STR(s.content.data, "cut");
    CHECK(s.error);
    CHECK(s.done_last);
    summary_free(&s);
    run_free(&r);
    poe_text("event: text\ndata: {\"text\": \"cut\"}\n\n", false, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.out.len, 0);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK_EQ_STR(r.err.code, "upstream_truncated");
    run_free(&r);
    /* a last event without its blank line still counts */
    poe_text("event: text\ndata: {\"text\": \"ok\"}\n\nevent: done\ndata: {}", true, &r);
    CHECK_EQ_INT(r.rc, 0);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "ok", "stop", false);
    summary_free(&s);
    run_free(&r);
    poe_text("event: text\r\ndata: {\"text\": \"ok\"}\r\n\r\nevent: done\r\ndata: {}\r", false, &r);
    CHECK_EQ_INT(r.rc, 0);
    run_free(&r);
    /* malformed text events are protocol errors */
    poe_text("event: text\ndata: {\"text\": 5}\n\nevent: done\ndata: {}\n\n", true, &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 502);
    CHECK_EQ_STR(r.err.code, "upstream_protocol_error");
    run_free(&r);
    /* events after done, comments, unknown events and pings are ignored */
    poe_text(": hi\n\nevent: ping\ndata: {}\n\nevent: json\ndata: {\"a\": 1}\n\nevent: whatever\ndata: x\n\n"
             "event: text\ndata: {\"text\": \"a\\u00e9\\n\"}\n\nevent: done\ndata: {}\n\n"
             "event: text\ndata: {\"text\": \"late\"}\n\nevent: error\ndata: {}\n\n",
             true, &r);
    CHECK_EQ_INT(r.rc, 0);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "a\xc3\xa9\n", "stop", false);
    summary_free(&s);
    run_free(&r);
    /* done without any text: an empty answer */
    poe_text("event: done\ndata: {}\n\n", true, &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "", "stop", false);
    summary_free(&s);
    run_free(&r);
}

TEST(poe_big_event)
{
    /* an event over 1 MiB: protocol error, reported once */
    llg_xlate_params_t p = params_of(true, false);
    llg_poe_stream_t *ps = llg_poe_stream_new(&p);
    llg_strbuf_t out = {0};
    llg_xlate_error_t err;
    const char *head = "event: text\ndata: {\"text\": \"";
    CHECK_EQ_INT(llg_poe_feed(ps, head, strlen(head), &out, &err), 0);
    char *big = malloc(1 << 20);
    memset(big, 'a', 1 << 20);
    CHECK_EQ_INT(llg_poe_feed(ps, big, 1 << 20, &out, &err), -1);
    CHECK_EQ_INT(err.http_status, 502);
    CHECK_EQ_STR(err.code, "upstream_protocol_error");
    CHECK_EQ_INT(out.len, 0);
    free(big);
    llg_strbuf_free(&out);
    llg_poe_stream_free(ps);
}

TEST(poe_query)
{
    size_t len;
    char *expected = read_fixture("poe/query-request.json", &len);
    while (len > 0 && expected[len - 1] == '\n')
        expected[--len] = '\0';
    cJSON *req = cJSON_Parse("{\"model\":\"GPT-4o\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":"
                             "\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":"
                             "\"Hello!\"},{\"role\":\"user\",\"content\":\"2+2?\"}]}");
    llg_strbuf_t out = {0};
    CHECK_EQ_INT(llg_poe_build_query(req, &out), 0);
    CHECK_EQ_STR(out.data, expected);
    cJSON_Delete(req);
    free(expected);

    /* roles, array content, tool flow, temperature and stop from the request */
    req = cJSON_Parse("{\"temperature\":0.2,\"stop\":[\"END\",3,\"STOP\"],\"max_tokens\":9,\"messages\":["
                      "{\"role\":\"developer\",\"content\":\"dev\"},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\","
                      "\"image_url\":{\"url\":\"u\"}},{\"type\":\"text\",\"text\":\"b\"}]},"
                      "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
                      "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                      "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"42\"}]}");
    llg_strbuf_reset(&out);
    CHECK_EQ_INT(llg_poe_build_query(req, &out), 0);
    cJSON *q = cJSON_Parse(out.data);
    const cJSON *query = cJSON_GetObjectItem(q, "query");
    CHECK_EQ_INT(cJSON_GetArraySize(query), 4);
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 0), "role")->valuestring, "user");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 0), "content")->valuestring, "dev");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 1), "content")->valuestring, "a\nb");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 2), "role")->valuestring, "bot");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 2), "content")->valuestring, "[tool call] f({})");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 3), "role")->valuestring, "user");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(query, 3), "content")->valuestring, "[tool result] 42");
    CHECK(cJSON_GetObjectItem(q, "temperature")->valuedouble == 0.2);
    char *stops = cJSON_PrintUnformatted(cJSON_GetObjectItem(q, "stop_sequences"));
    CHECK_EQ_STR(stops, "[\"END\",\"STOP\"]");
    free(stops);
    CHECK(cJSON_GetObjectItem(q, "max_tokens") == NULL);
    cJSON_Delete(q);
    cJSON_Delete(req);
    req = cJSON_Parse("{\"stop\":\"X\",\"messages\":[]}");
    llg_strbuf_reset(&out);
    CHECK_EQ_INT(llg_poe_build_query(req, &out), 0);
    CHECK(strstr(out.data, "\"query\":[],") != NULL);
    CHECK(strstr(out.data, "\"stop_sequences\":[\"X\"]") != NULL);
    cJSON_Delete(req);
    /* malformed */
    static const char *const bad[] = {"{}",
                                      "{\"messages\":{}}",
                                      "{\"messages\":[1]}",
                                      "{\"messages\":[{}]}",
                                      "{\"messages\":[{\"role\":\"user\",\"content\":7}]}",
                                      "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req = cJSON_Parse(bad[i]);
        llg_strbuf_reset(&out);
        CHECK_EQ_INT(llg_poe_build_query(req, &out), -1);
        CHECK_EQ_INT(out.len, 0);
        cJSON_Delete(req);
    }
    llg_strbuf_free(&out);
}

TEST(poe_bot_names)
{
    char *list[] = {"Claude-3.5-Sonnet", "GPT-4o", "Llama-3.1-405B"};
    llg_conf_kv_t map[] = {{"gpt-4o", "GPT-4o"}, {"fast", "Claude-3-Haiku"}, {"bad", "a/b"}};
    llg_conf_provider_t p;
    memset(&p, 0, sizeof(p));
    p.name = "poe";
    p.type = LLG_PROVIDER_POE;
    p.list_models.items = list;
    p.list_models.count = 3;
    p.model_map.items = map;
    p.model_map.count = 3;
    /* model_map first, exact then case-insensitive */
    CHECK(llg_poe_bot_name(&p, "gpt-4o") == map[0].value);
    CHECK_EQ_STR(llg_poe_bot_name(&p, "FAST"), "Claude-3-Haiku");
    /* list_models, case-insensitive, canonical spelling */
    CHECK(llg_poe_bot_name(&p, "claude-3.5-sonnet") == list[0]);
    CHECK(llg_poe_bot_name(&p, "LLAMA-3.1-405b") == list[2]);
    /* else as given */
    CHECK_EQ_STR(llg_poe_bot_name(&p, "Some_Bot"), "Some_Bot");
    /* "<provider>/" removed */
    CHECK(llg_poe_bot_name(&p, "poe/claude-3.5-sonnet") == list[0]);
    CHECK_EQ_STR(llg_poe_bot_name(&p, "poe/Other"), "Other");
    /* not a bot name */
    CHECK(llg_poe_bot_name(&p, "bad") == NULL);
    CHECK(llg_poe_bot_name(&p, "a/b") == NULL);
    CHECK(llg_poe_bot_name(&p, "has space") == NULL);
    CHECK(llg_poe_bot_name(&p, "..") == NULL);
    CHECK(llg_poe_bot_name(&p, "") == NULL);
    CHECK(llg_poe_bot_name(&p, "poe/") == NULL);
    CHECK(llg_poe_bot_name(&p, "x?y") == NULL);
    CHECK(llg_poe_bot_name(&p, "%2e%2e") == NULL);
    CHECK(llg_poe_bot_name(&p, NULL) == NULL);
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK(llg_poe_bot_name(&p, longname) == NULL);
}

TEST(poe_http_errors)
{
    static const struct {
        int status;
        const char *body;
        int http;
        llg_outcome_t outcome;
        const char *code;
        const char *message; /* NULL: not checked */
    } cases[] = {
        {401, "{\"error\":{\"code\":401,\"type\":\"authentication_error\",\"message\":\"Invalid API key\"}}", 502, LLG_OUTCOME_AUTH,
         "upstream_auth_failed", "Poe rejected the gateway's API key (HTTP 401)."},
        {403, "Forbidden", 502, LLG_OUTCOME_AUTH, "upstream_auth_failed", NULL},
        {402, "{\"error\":{\"message\":\"Out of points\"}}", 402, LLG_OUTCOME_PAYMENT, "insufficient_quota", "Out of points"},
        {400, "{\"text\":\"no points\",\"error_type\":\"insufficient_fund\"}", 402, LLG_OUTCOME_PAYMENT, "insufficient_quota",
         "no points"},
        {429, "{\"detail\":\"Too many requests\"}", 429, LLG_OUTCOME_RATE_LIMITED, "rate_limit_exceeded", "Too many requests"},
        {404, "{\"detail\":\"Bot does not exist\"}", 404, LLG_OUTCOME_CLIENT, "model_not_found", "Bot does not exist"},
        {400, "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field required\"}]}", 400, LLG_OUTCOME_CLIENT, "invalid_request",
         "field required"},
        {500, "<html>\n oops \n</html>", 502, LLG_OUTCOME_SERVER, "upstream_error", "Poe failed (HTTP 500): <html>  oops  </html>"},
        {503, "", 502, LLG_OUTCOME_SERVER, "upstream_error", "Poe failed (HTTP 503)."},
        {408, "", 504, LLG_OUTCOME_NETWORK, "upstream_timeout", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llg_xlate_error_t err;
        llg_poe_http_error(cases[i].status, cases[i].body, strlen(cases[i].body), &err);
        CHECK_EQ_INT(err.http_status, cases[i].http);
        CHECK_EQ_INT(err.outcome, cases[i].outcome);
        CHECK_EQ_STR(err.code, cases[i].code);
        if (cases[i].message != NULL)
            CHECK_EQ_STR(err.message, cases[i].message);
        /* the rendered body is an OpenAI error */
        llg_strbuf_t b = {0};
        llg_xlate_error_body(&err, &b);
        cJSON *j = cJSON_Parse(b.data);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")));
        cJSON_Delete(j);
        llg_strbuf_free(&b);
    }
    /* invalid UTF-8 and long messages become valid, bounded text */
    char body[2000];
    memset(body, 'x', sizeof(body));
    memcpy(body, "{\"message\":\"\xff\xfe", 14);
    memcpy(body + sizeof(body) - 3, "\"}", 2);
    body[sizeof(body) - 1] = '\0';
    llg_xlate_error_t err;
    llg_poe_http_error(429, body, strlen(body), &err);
    CHECK(llg_utf8_valid(err.message, strlen(err.message)));
    CHECK(strlen(err.message) < sizeof(err.message));
    CHECK(strncmp(err.message, "\xef\xbf\xbd\xef\xbf\xbd", 6) == 0);
}

/* ---- Puter ------------------------------------------------------------- */

TEST(puter_stream_fixture)
{
    size_t len0;
    char *in0 = read_fixture("puter/stream.ndjson", &len0);
    for (int eol = 0; eol < 2; eol++) {
        size_t len = len0;
        char *in = eol ? crlf(in0, len0, &len) : in0;
        for (int usage = 0; usage < 2; usage++) {
            llg_xlate_params_t p = params_of(true, usage == 1);
            run_t r;
            translate_all_splits(PUTER, &p, in, len, &r);
            CHECK_EQ_INT(r.rc, 0);
            summary_t s;
            summarize(r.out.data, r.out.len, &s);
            check_stream_ok(&s, "Hello! Bye", "stop", usage == 1);
            CHECK_EQ_STR(s.reasoning.data, "short");
            CHECK(r.estimated);
            CHECK_EQ_INT(r.completion, llg_estimate_tokens("Hello!short Bye", 15));
            summary_free(&s);
            run_free(&r);
        }
        /* not streaming, the same lines make one completion */
        llg_xlate_params_t p = params_of(false, false);
        run_t r;
        translate_all_splits(PUTER, &p, in, len, &r);
        CHECK_EQ_INT(r.rc, 0);
        completion_t c;
        parse_completion(&r.out, &c);
        CHECK(c.ok);
        CHECK_EQ_STR(c.content, "Hello! Bye");
        CHECK_EQ_STR(c.reasoning, "short");
        cJSON_Delete(c.root);
        run_free(&r);
        if (eol)
            free(in);
    }
    free(in0);
}

TEST(puter_nonstream_fixtures)
{
    static const struct {
        const char *file, *content;
        uint64_t prompt, completion;
    } cases[] = {{"puter/nonstream.json", "Hello!", 9, 3}, {"puter/nonstream-array.json", "Hello there", 9, 2}};
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *in = read_fixture(cases[i].file, &len);
        llg_xlate_params_t p = params_of(false, false);
        run_t r;
        translate_all_splits(PUTER, &p, in, len, &r);
        CHECK_EQ_INT(r.rc, 0);
        CHECK(!r.estimated);
        CHECK_EQ_INT(r.prompt, cases[i].prompt);
        CHECK_EQ_INT(r.completion, cases[i].completion);
        completion_t c;
        parse_completion(&r.out, &c);
        CHECK(c.ok);
        CHECK_EQ_STR(c.content, cases[i].content);
        CHECK_EQ_STR(c.finish, "stop");
        CHECK_EQ_INT(c.prompt, cases[i].prompt);
        CHECK_EQ_INT(c.completion, cases[i].completion);
        cJSON_Delete(c.root);
        run_free(&r);
        /* the whole answer arriving on a stream (one line): the same content, streamed */
        p = params_of(true, true);
        translate_all_splits(PUTER, &p, in, len, &r);
        CHECK_EQ_INT(r.rc, 0);
        summary_t s;
        summarize(r.out.data, r.out.len, &s);
        check_stream_ok(&s, cases[i].content, "stop", true);
        CHECK_EQ_INT(s.prompt, cases[i].prompt);
        CHECK_EQ_INT(s.completion, cases[i].completion);
        summary_free(&s);
        run_free(&r);
        free(in);
    }
}

TEST(puter_errors)
{
    size_t len;
    char *in = read_fixture("puter/error-200.json", &len);
    for (int stream = 0; stream < 2; stream++) {
        llg_xlate_params_t p = params_of(stream == 1, false);
        run_t r;
        translate_all_splits(PUTER, &p, in, len, &r);
        CHECK_EQ_INT(r.rc, -1);
        CHECK_EQ_INT(r.out.len, 0);
        CHECK_EQ_INT(r.err.http_status, 400);
        CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_CLIENT);
        CHECK_EQ_STR(r.err.code, "error_400_from_delegate");
        CHECK_EQ_STR(r.err.message, "Error 400 from delegate \"openrouter\": model not found");
        run_free(&r);
    }
    free(in);

    /* mid-stream error line after text: error event, [DONE] */
    const char *mid = "{\"type\":\"text\",\"text\":\"Hi\"}\n{\"success\":false,\"error\":{\"code\":\"stream_error\","
                      "\"message\":\"Error from delegate: stream interrupted\",\"status\":500}}\n"
                      "{\"type\":\"text\",\"text\":\"never\"}\n";
    llg_xlate_params_t p = params_of(true, true);
    run_t r;
    translate_all_splits(PUTER, &p, mid, strlen(mid), &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK(r.failed_at_feed);
    CHECK_EQ_INT(r.err.http_status, 0);
    CHECK_EQ_INT(r.err.outcome, LLG_OUTCOME_SERVER);
    summary_t s;
    summarize(r.out.data, r.out.len, &s);
    CHECK(s.well_formed);
    CHECK(s.role_first);
    CHECK_EQ_STR(s.content.data, "Hi");
    CHECK(s.error);
    CHECK_EQ_STR(s.error_message, "Error from delegate: stream interrupted");
    CHECK_EQ_INT(s.finish_chunks, 0);
    CHECK(!s.usage);
    CHECK(s.done_last);
    summary_free(&s);
    run_free(&r);
    /* the same without streaming: an HTTP error */
    p = params_of(false, false);
    translate_all_splits(PUTER, &p, mid, strlen(mid), &r);
    CHECK_EQ_INT(r.rc, -1);
    CHECK_EQ_INT(r.err.http_status, 502);
    run_free(&r);

    static const struct {
        const char *line;
        int status;
        llg_outcome_t outcome;
        const char *code;
    } cases[] = {
        {"{\"success\":false,\"error\":{\"code\":\"token_auth_failed\",\"message\":\"Authentication failed.\"}}", 401,
         LLG_OUTCOME_AUTH, "invalid_api_key"},
        {"{\"success\":false,\"error\":{\"code\":\"insufficient_funds\",\"message\":\"Low balance\"}}", 402, LLG_OUTCOME_PAYMENT,
         "insufficient_quota"},
        {"{\"success\":false,\"error\":{\"code\":\"rate_limit_exceeded\"}}", 429, LLG_OUTCOME_RATE_LIMITED, "rate_limit_exceeded"},
        {"{\"success\":false,\"error\":{\"message\":\"x\",\"status\":404,\"code\":\"model_not_found\"}}", 404, LLG_OUTCOME_CLIENT,
         "model_not_found"},
        {"{\"success\":false,\"error\":{\"code\":\"moderation_failed\"}}", 400, LLG_OUTCOME_CLIENT, "content_policy_violation"},
        {"{\"success\":false,\"error\":\"plain message\"}", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {"{\"type\":\"error\",\"message\":\"boom\"}", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {"this is not json", 502, LLG_OUTCOME_SERVER, "upstream_protocol_error"},
        {"[1,2]", 502, LLG_OUTCOME_SERVER, "upstream_protocol_error"},
        {"", 502, LLG_OUTCOME_SERVER, "upstream_protocol_error"},
        {"\n\n1f\n", 502, LLG_OUTCOME_SERVER, "upstream_protocol_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int stream = 0; stream < 2; stream++) {
            p = params_of(stream == 1, false);
            translate(PUTER, &p, cases[i].line, strlen(cases[i].line), NULL, 0, &r);
            CHECK_EQ_INT(r.rc, -1);
            CHECK_EQ_INT(r.out.len, 0);
            CHECK_EQ_INT(r.err.http_status, cases[i].status);
            CHECK_EQ_INT(r.err.outcome, cases[i].outcome);
            CHECK_EQ_STR(r.err.code, cases[i].code);
            run_free(&r);
        }
    }
}

TEST(puter_tools)
{
    const char *in = "{\"type\":\"text\",\"text\":\"Let me check.\"}\n"
                     "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"},"
                     "\"text\":\"\"}\n"
                     "{\"type\":\"usage\",\"usage\":{\"input_tokens\":20,\"output_tokens\":11}}\n";
    llg_xlate_params_t p = params_of(true, true);
    run_t r;
    translate_all_splits(PUTER, &p, in, strlen(in), &r);
    CHECK_EQ_INT(r.rc, 0);
    summary_t s;
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "Let me check.", "tool_calls", true);
    CHECK_EQ_INT(s.tool_calls, 1);
    CHECK_EQ_STR(s.tool_id, "toolu_1");
    CHECK_EQ_STR(s.tool_name, "get_weather");
    CHECK_EQ_STR(s.tool_args.data, "{\"city\":\"Paris\"}");
    CHECK_EQ_INT(s.prompt, 20);
    CHECK_EQ_INT(s.completion, 11);
    CHECK(!r.estimated);
    summary_free(&s);
    run_free(&r);

    /* not streaming, Claude-style parts: message.tool_calls, content null */
    const char *whole = "{\"success\":true,\"result\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":"
                        "\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}},{\"type\":\"tool_use\",\"id\":\"t2\","
                        "\"name\":\"g\",\"input\":\"{\\\"a\\\":1}\"}]},\"finish_reason\":\"tool_use\","
                        "\"usage\":[{\"type\":\"prompt\",\"amount\":5},{\"type\":\"completion\",\"amount\":4}]}}";
    p = params_of(false, false);
    translate_all_splits(PUTER, &p, whole, strlen(whole), &r);
    CHECK_EQ_INT(r.rc, 0);
    completion_t c;
    parse_completion(&r.out, &c);
    CHECK(c.ok);
    CHECK(c.content == NULL);
    CHECK_EQ_STR(c.finish, "tool_calls");
    CHECK_EQ_INT(cJSON_GetArraySize(c.tool_calls), 2);
    const cJSON *t2 = cJSON_GetArrayItem(c.tool_calls, 1);
    CHECK_EQ_STR(cJSON_GetObjectItem(t2, "id")->valuestring, "t2");
    CHECK_EQ_STR(cJSON_GetObjectItem(t2, "type")->valuestring, "function");
    CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(t2, "function"), "arguments")->valuestring, "{\"a\":1}");
    CHECK_EQ_INT(c.prompt, 5);
    CHECK_EQ_INT(c.completion, 4);
    cJSON_Delete(c.root);
    run_free(&r);

    /* a whole result after typed lines only adds its usage and finish reason */
    const char *both = "{\"type\":\"text\",\"text\":\"Hi\"}\n{\"success\":true,\"result\":{\"message\":{\"content\":"
                       "\"Hi\"},\"finish_reason\":\"length\",\"usage\":[{\"type\":\"prompt\",\"amount\":4},"
                       "{\"type\":\"completion\",\"amount\":1}]}}\n";
    p = params_of(true, true);
    translate_all_splits(PUTER, &p, both, strlen(both), &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "Hi", "length", true);
    CHECK_EQ_INT(s.prompt, 4);
    summary_free(&s);
    run_free(&r);

    /* OpenAI-shaped tool_calls with text, streamed */
    const char *oai = "{\"success\":true,\"result\":{\"message\":{\"content\":\"ok\",\"tool_calls\":[{\"id\":\"c1\","
                      "\"type\":\"function\",\"function\":{\"name\":\"h\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
                      "\"stop\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}}\n";
    p = params_of(true, false);
    translate_all_splits(PUTER, &p, oai, strlen(oai), &r);
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s, "ok", "tool_calls", false);
    CHECK_EQ_STR(s.tool_name, "h");
    CHECK_EQ_INT(r.prompt, 3);
    summary_free(&s);
    run_free(&r);
}

TEST(puter_http_errors)
{
    size_t len;
    char *body = read_fixture("puter/error-401.json", &len);
    llg_xlate_error_t err;
    llg_puter_http_error(401, body, len, &err);
    CHECK_EQ_INT(err.http_status, 401);
    CHECK_EQ_STR(err.code, "invalid_api_key");
    CHECK_EQ_STR(err.type, "authentication_error");
    CHECK_EQ_STR(err.message, "Authentication failed.");
    CHECK_EQ_INT(err.outcome, LLG_OUTCOME_AUTH);
    free(body);
    static const struct {
        int status;
        const char *body;
        int http;
        llg_outcome_t outcome;
        const char *code;
    } cases[] = {
        {402, "{\"error\":{\"message\":\"Insufficient funds\",\"type\":\"insufficient_quota\"}}", 402, LLG_OUTCOME_PAYMENT,
         "insufficient_quota"},
        {429, "Too Many Requests", 429, LLG_OUTCOME_RATE_LIMITED, "rate_limit_exceeded"},
        {400, "{\"success\":false,\"error\":{\"code\":\"field_invalid\",\"message\":\"bad model\"}}", 400, LLG_OUTCOME_CLIENT,
         "field_invalid"},
        {422, "{}", 422, LLG_OUTCOME_CLIENT, "invalid_request"},
        {403, "{\"message\":\"no\"}", 403, LLG_OUTCOME_AUTH, "permission_denied"},
        {500, "{\"message\":\"Internal\"}", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {502, "<html>bad gateway</html>", 502, LLG_OUTCOME_SERVER, "upstream_error"},
        {500, "{\"code\":\"token_auth_failed\"}", 401, LLG_OUTCOME_AUTH, "invalid_api_key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llg_puter_http_error(cases[i].status, cases[i].body, strlen(cases[i].body), &err);
        CHECK_EQ_INT(err.http_status, cases[i].http);
        CHECK_EQ_INT(err.outcome, cases[i].outcome);
        CHECK_EQ_STR(err.code, cases[i].code);
    }
}

TEST(puter_call)
{
    size_t len;
    char *expected = read_fixture("puter/request.json", &len);
    while (len > 0 && expected[len - 1] == '\n')
        expected[--len] = '\0';
    cJSON *req = cJSON_Parse("{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}");
    llg_strbuf_t out = {0};
    CHECK_EQ_INT(llg_puter_build_call(req, "openrouter:anthropic/claude-3.5-sonnet", NULL, true, &out), 0);
    CHECK_EQ_STR(out.data, expected);
    free(expected);
    cJSON_Delete(req);

    req = cJSON_Parse("{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"s\"}]}],"
                      "\"max_completion_tokens\":50,\"temperature\":0.5,\"tools\":[{\"type\":\"function\",\"function\":"
                      "{\"name\":\"f\"}}],\"top_p\":1}");
    llg_strbuf_reset(&out);
    CHECK_EQ_INT(llg_puter_build_call(req, "gpt-4o-mini", "my-driver", false, &out), 0);
    CHECK_EQ_STR(out.data, "{\"interface\":\"puter-chat-completion\",\"driver\":\"my-driver\",\"test_mode\":false,"
                           "\"method\":\"complete\",\"args\":{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":"
                           "\"text\",\"text\":\"s\"}]}],\"model\":\"gpt-4o-mini\",\"stream\":false,\"max_tokens\":50,"
                           "\"temperature\":0.5,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}}");
    cJSON_Delete(req);
    req = cJSON_Parse("{\"messages\":\"x\"}");
    CHECK_EQ_INT(llg_puter_build_call(req, "m", NULL, true, &out), -1);
    cJSON_Delete(req);
    llg_strbuf_free(&out);

    static const char *const drivers[][2] = {
        {"openrouter:anthropic/claude-3.5-sonnet", "openrouter"},
        {"togetherai:meta-llama/Llama-3-8b", "together-ai"},
        {"ollama:llama3", "ollama"},
        {"gpt-4o-mini", "openai-completion"},
        {"o3-mini", "openai-completion"},
        {"", "openai-completion"},
        {"claude-sonnet-4", "claude"},
        {"gemini-2.5-pro", "gemini"},
        {"grok-3", "xai"},
        {"mistral-large-latest", "mistral"},
        {"codestral-latest", "mistral"},
        {"deepseek-chat", "deepseek"},
        {"meta-llama/llama-3-70b", "openrouter"},
    };
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        CHECK_EQ_STR(llg_puter_driver(drivers[i][0]), drivers[i][1]);
}

TEST(puter_models)
{
    size_t len;
    char *in = read_fixture("puter/models.json", &len);
    llg_strbuf_t out = {0};
    CHECK_EQ_INT(llg_puter_models(in, len, &out), 4);
    CHECK(strstr(out.data, "{\"id\":\"openrouter:anthropic/claude-3.5-sonnet\",\"object\":\"model\",\"created\":0,"
                           "\"owned_by\":\"puter\"}\n") == out.data);
    CHECK(strstr(out.data, "\"id\":\"claude-sonnet-4\"") != NULL);
    CHECK_EQ_INT(llg_puter_models("nope", 4, &out), -1);
    llg_strbuf_free(&out);
    free(in);
}

/* ---- the shared writers ------------------------------------------------ */

TEST(answer_invalid_utf8)
{
    /* upstream text that is not valid UTF-8 still gives valid JSON text */
    const char *in = "{\"type\":\"text\",\"text\":\"a\xff"
                     "b\xc3\"}\n";
    llg_xlate_params_t p = params_of(true, false);
    run_t r;
    translate(PUTER, &p, in, strlen(in), NULL, 0, &r);
    CHECK_EQ_INT(r.rc, 0);
    CHECK(llg_utf8_valid(r.out.data, r.out.len));
    summary_t s;
    summarize(r.out.data, r.out.len, &s);
    check_stream_ok(&s,
                    "a\xef\xbf\xbd"
                    "b\xef\xbf\xbd",
                    "stop", false);
    summary_free(&s);
    run_free(&r);
}

TEST(error_event_helper)
{
    llg_xlate_error_t err;
    llg_xlate_set_error(&err, 502, "server_error", "upstream_error", LLG_OUTCOME_SERVER, "failed %d", 3);
    llg_strbuf_t out = {0};
    llg_xlate_error_event(&err, &out);
    CHECK_EQ_STR(out.data, "data: {\"error\":{\"message\":\"failed 3\",\"type\":\"server_error\",\"param\":null,"
                           "\"code\":\"upstream_error\"}}\n\ndata: [DONE]\n\n");
    llg_strbuf_free(&out);
    /* a message cut on a character boundary */
    char msg[600];
    memset(msg, 'a', sizeof(msg));
    for (int i = 500; i + 1 < 600; i += 2) {
        msg[i] = '\xc3';
        msg[i + 1] = '\xa9';
    }
    msg[599] = '\0';
    llg_xlate_set_error(&err, 1, "t", "c", LLG_OUTCOME_SERVER, "%s", msg);
    CHECK(llg_utf8_valid(err.message, strlen(err.message)));
    CHECK(strlen(err.message) >= 509);
}

/* providers/poe.h LLG_POE_ANSWER_MAX: a bot cannot grow a worker's memory
 * without bound (docs/security.md); a replacement starts the count again */
TEST(poe_answer_cap)
{
    const size_t piece = 900u << 10; /* under the SSE reader's 1 MiB event limit */
    llg_strbuf_t in = {0};
    char *text = malloc(piece);
    memset(text, 'a', piece);
    for (int i = 0; i < 19; i++) { /* 17.1 MB of text */
        llg_strbuf_appends(&in, "event: text\ndata: {\"text\": \"");
        llg_strbuf_append(&in, text, piece);
        llg_strbuf_appends(&in, "\"}\n\n");
    }
    llg_strbuf_appends(&in, "event: done\ndata: {}\n\n");
    for (int stream = 0; stream < 2; stream++) {
        llg_xlate_params_t p = params_of(stream != 0, false);
        run_t r;
        translate(POE, &p, in.data, in.len, NULL, 0, &r);
        CHECK_EQ_INT(r.rc, -1);
        CHECK_EQ_STR(r.err.code, "upstream_protocol_error");
        CHECK_EQ_INT(r.err.http_status, stream ? 0 : 502);
        run_free(&r);
    }
    /* the same volume as replacements of one another is fine */
    in.len = 0;
    for (int i = 0; i < 19; i++) {
        llg_strbuf_appends(&in, "event: replace_response\ndata: {\"text\": \"");
        llg_strbuf_append(&in, text, piece);
        llg_strbuf_appends(&in, "\"}\n\n");
    }
    llg_strbuf_appends(&in, "event: done\ndata: {}\n\n");
    llg_xlate_params_t p = params_of(false, false);
    run_t r;
    translate(POE, &p, in.data, in.len, NULL, 0, &r);
    CHECK_EQ_INT(r.rc, 0);
    run_free(&r);
    free(text);
    llg_strbuf_free(&in);
}

/* docs/security.md: an upstream's model list reaches clients as valid JSON
 * and UTF-8, whatever it holds */
TEST(models_normalize_hostile)
{
    const char in[] = "{\"data\":[{\"id\":\"good\",\"owned_by\":\"o\\u0001x\"},{\"id\":\"bad\\u0007\"},"
                      "{\"id\":\"\xff\xfe\"},{\"id\":\"\xed\xa0\x80\"},{\"id\":\"ok2\",\"owned_by\":\"\xc0\x80\"},"
                      "{\"id\":\"big\",\"created\":1e300},\"plain\",\"\"]}";
    llg_strbuf_t out = {0};
    int n = llg_models_normalize(in, sizeof(in) - 1, "prov", &out);
    CHECK_EQ_INT(n, 4);
    CHECK(llg_utf8_valid(out.data, out.len));
    CHECK(strstr(out.data, "\"id\":\"good\",\"object\":\"model\",\"created\":0,\"owned_by\":\"prov\"") != NULL);
    CHECK(strstr(out.data, "\"id\":\"ok2\",\"object\":\"model\",\"created\":0,\"owned_by\":\"prov\"") != NULL);
    CHECK(strstr(out.data, "\"id\":\"big\",\"object\":\"model\",\"created\":0,") != NULL);
    CHECK(strstr(out.data, "\"id\":\"plain\"") != NULL);
    CHECK(strstr(out.data, "bad") == NULL);
    llg_strbuf_free(&out);
}

int main(int argc, char **argv)
{
    /* argv[1] is tests/conf; the wire fixtures are beside it */
    static char dir[1024];
    snprintf(dir, sizeof(dir), "%s/../fixtures", argc > 1 ? argv[1] : "tests/conf");
    fixtures_dir = dir;
    RUN(ndjson_fixture);
    RUN(ndjson_rules);
    RUN(ndjson_stop);
    RUN(messages_raw);
    RUN(messages_standard);
    RUN(messages_full);
    RUN(poe_stream_fixtures);
    RUN(poe_nonstream_fixtures);
    RUN(poe_replace);
    RUN(poe_errors);
    RUN(models_normalize_hostile);
    RUN(poe_answer_cap);
    RUN(poe_big_event);
    RUN(poe_query);
    RUN(poe_bot_names);
    RUN(poe_http_errors);
    RUN(puter_stream_fixture);
    RUN(puter_nonstream_fixtures);
    RUN(puter_errors);
    RUN(puter_tools);
    RUN(puter_http_errors);
    RUN(puter_call);
    RUN(puter_models);
    RUN(answer_invalid_utf8);
    RUN(error_event_helper);
    TEST_MAIN_END();
}
