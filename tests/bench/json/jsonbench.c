/*
 * jsonbench: compare jansson, cJSON and json-c (Debian 12 packages) on
 * gateway-shaped workloads and on a few safety properties.
 *
 * Build (run.sh does this):
 *   cc -O2 -std=c11 -D_GNU_SOURCE jsonbench.c $(pkg-config --cflags --libs jansson libcjson json-c) -o /tmp/jsonbench
 *
 * Output is markdown on stdout.
 *
 * Timing: each workload is run for an auto-calibrated number of iterations
 * (>= ~100 ms per run), 5 runs, the median ns/op is reported.
 *
 * Allocation counts: two independent counters.
 *   - "lib hook": the library's own allocator API (json_set_alloc_funcs for
 *     jansson, cJSON_InitHooks for cJSON). json-c has no allocator API.
 *   - "malloc": this binary interposes malloc/calloc/realloc/free (forwarding
 *     to glibc's __libc_* functions), so every heap allocation made by any of
 *     the three shared libraries is counted, json-c included.
 * Counting runs are separate from timing runs (installing cJSON hooks changes
 * cJSON's code path: it stops using realloc when printing).
 *
 * Safety probes (nesting depth, big integers, invalid UTF-8, ...) each run in
 * a forked child, so a crash is recorded rather than fatal.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* jansson and json-c headers declare clashing names (json_object,
 * json_type, json_object_get, json_object_iter, json_object_iter_next), so
 * json-c's are renamed while its headers are read. Only type names and two
 * functions this file never calls are renamed, so linkage is unaffected; at
 * run time both libraries' exports are symbol-versioned (JSONC_0.14 vs
 * libjansson.so.4), so the two json_object_get definitions do not collide. */
#define json_object           jc_object
#define json_type             jc_type
#define json_object_iter      jc_object_iter
#define json_object_get       jc_object_get_unused
#define json_object_iter_next jc_object_iter_next_unused
#include <json-c/json.h>
#undef json_object
#undef json_type
#undef json_object_iter
#undef json_object_get
#undef json_object_iter_next
typedef struct jc_object jc_obj;

#include <jansson.h>
#include <cjson/cJSON.h>

/* ---------------------------------------------------------------------- */
/* malloc interposition (counts every allocation in the process)          */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static unsigned long g_mallocs; /* malloc + calloc + realloc calls */

void *malloc(size_t n)
{
    g_mallocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    g_mallocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    g_mallocs++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}

/* library-hook counters */
static unsigned long g_hook_allocs;
static void *hook_malloc(size_t n)
{
    g_hook_allocs++;
    return malloc(n);
}
static void hook_free(void *p)
{
    free(p);
}

/* ---------------------------------------------------------------------- */
/* inputs                                                                 */

/* (a) a typical ~1 KB chat completion request: unicode (raw and \u-escaped,
 * including a surrogate pair), escaped quotes/backslashes/newlines/tabs. */
static const char REQ_SMALL[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful assistant. Answer in the user's language, keep \\\"quoted\\\" "
    "text and back\\\\slashes intact.\\nBe concise, use bullet points when listing more than two items, and never invent "
    "citations.\"},"
    "{\"role\":\"user\",\"content\":\"Bonjour ! Peux-tu r\xc3\xa9sumer ce texte en fran\xc3\xa7"
    "ais ? "
    "\xc2\xab Les \xc3\xa9l\xc3\xa8ves ont \xc3\xa9tudi\xc3\xa9 l'\xc5\x93uvre de Victor Hugo pendant tout le "
    "trimestre \xc2\xbb \xe2\x80\x94 merci \xf0\x9f\x99\x82\"},"
    "{\"role\":\"assistant\",\"content\":\"Bien s\\u00fbr : les \\u00e9l\\u00e8ves ont \\u00e9tudi\\u00e9 "
    "l\\u2019\\u0153uvre de Victor Hugo.\\n\\t- point 1 : le contexte\\n\\t- point 2 : les th\\u00e8mes\\n"
    "Voulez-vous plus de d\\u00e9tails ? \\ud83d\\ude00\"},"
    "{\"role\":\"user\",\"content\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x82\x82\xe8\xaa\xac"
    "\xe6\x98\x8e\xe3\x81\x97\xe3\x81\xa6\xe3\x81\x8f\xe3\x81\xa0\xe3\x81\x95\xe3\x81\x84\xe3\x80\x82 "
    "Then list three follow-up questions as JSON: [{\\\"q\\\": \\\"...\\\"}], path C:\\\\tmp\\\\out.json, "
    "tab\\there, slash \\/ and a control \\u001f char.\"}"
    "],\"temperature\":0.7,\"top_p\":1,\"max_tokens\":512,\"presence_penalty\":0,\"frequency_penalty\":0,"
    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"user-1234\"}";

/* (b) ~64 KB request with 200 messages, generated at start-up */
static char *req_big;
static size_t req_big_len;

static void make_big_request(void)
{
    const size_t target = 65536, nmsg = 200;
    const char *head = "{\"model\":\"gpt-4o\",\"messages\":[";
    const char *tail = "],\"temperature\":0.2,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    const char *filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
    req_big = malloc(target + 4096);
    size_t len = 0;
    len += (size_t)sprintf(req_big + len, "%s", head);
    /* per-message budget so the whole document lands on ~64 KB */
    size_t per = (target - strlen(head) - strlen(tail)) / nmsg;
    for (size_t i = 0; i < nmsg; i++) {
        size_t start = len;
        len += (size_t)sprintf(req_big + len,
                               "%s{\"role\":\"%s\",\"content\":\"msg %03zu: h\xc3\xa9llo \\\"quoted\\\" "
                               "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \\u00e9\\n",
                               i ? "," : "", i % 2 ? "assistant" : "user", i);
        size_t fl = strlen(filler), k = 0;
        while (len - start + 2 < per) /* 2 = closing "} */
            req_big[len++] = filler[k++ % fl];
        len += (size_t)sprintf(req_big + len, "\"}");
    }
    len += (size_t)sprintf(req_big + len, "%s", tail);
    req_big_len = len;
}

static const char CHUNK_EXPECTED[] =
    "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"echo\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},\"logprobs\":null,\"finish_reason\":null}]}";

/* ---------------------------------------------------------------------- */
/* workloads; each returns 0 on success, sink defeats dead-code removal    */

static volatile size_t sink;

/* --- parse + lookup --- */
static int jansson_parse(const char *buf, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(buf, len, 0, &err);
    if (!root)
        return -1;
    json_t *model = json_object_get(root, "model");
    json_t *msgs = json_object_get(root, "messages");
    json_t *stream = json_object_get(root, "stream");
    int ok = json_is_string(model) && json_is_array(msgs) && json_is_true(stream);
    if (ok)
        sink += json_string_length(model) + json_array_size(msgs);
    json_decref(root);
    return ok ? 0 : -1;
}

static int cjson_parse(const char *buf, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root)
        return -1;
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    int ok = cJSON_IsString(model) && cJSON_IsArray(msgs) && cJSON_IsTrue(stream);
    if (ok)
        sink += strlen(model->valuestring) + (size_t)cJSON_GetArraySize(msgs);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

static int jsonc_parse(const char *buf, size_t len)
{
    /* what json_tokener_parse() does internally: one tokener per document */
    struct json_tokener *tok = json_tokener_new();
    jc_obj *root = json_tokener_parse_ex(tok, buf, (int)len);
    int ok = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return -1;
    }
    jc_obj *model, *msgs, *stream;
    ok = json_object_object_get_ex(root, "model", &model) && json_object_is_type(model, json_type_string) &&
         json_object_object_get_ex(root, "messages", &msgs) && json_object_is_type(msgs, json_type_array) &&
         json_object_object_get_ex(root, "stream", &stream) && json_object_is_type(stream, json_type_boolean) &&
         json_object_get_boolean(stream);
    if (ok)
        sink += (size_t)json_object_get_string_len(model) + json_object_array_length(msgs);
    json_object_put(root);
    return ok ? 0 : -1;
}

static int jansson_small(void)
{
    return jansson_parse(REQ_SMALL, sizeof REQ_SMALL - 1);
}
static int cjson_small(void)
{
    return cjson_parse(REQ_SMALL, sizeof REQ_SMALL - 1);
}
static int jsonc_small(void)
{
    return jsonc_parse(REQ_SMALL, sizeof REQ_SMALL - 1);
}
static int jansson_big(void)
{
    return jansson_parse(req_big, req_big_len);
}
static int cjson_big(void)
{
    return cjson_parse(req_big, req_big_len);
}
static int jsonc_big(void)
{
    return jsonc_parse(req_big, req_big_len);
}

/* --- build + compact serialise a streaming chunk --- */
static char chunk_out[3][512];

static int jansson_chunk(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string("chatcmpl-x"));
    json_object_set_new(o, "object", json_string("chat.completion.chunk"));
    json_object_set_new(o, "created", json_integer(1700000000));
    json_object_set_new(o, "model", json_string("echo"));
    json_t *choices = json_array();
    json_t *c = json_object();
    json_object_set_new(c, "index", json_integer(0));
    json_t *delta = json_object();
    json_object_set_new(delta, "content", json_string("hello"));
    json_object_set_new(c, "delta", delta);
    json_object_set_new(c, "logprobs", json_null());
    json_object_set_new(c, "finish_reason", json_null());
    json_array_append_new(choices, c);
    json_object_set_new(o, "choices", choices);
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s) {
        json_decref(o);
        return -1;
    }
    size_t n = strlen(s);
    sink += n;
    if (!chunk_out[0][0] && n < sizeof chunk_out[0])
        memcpy(chunk_out[0], s, n + 1);
    free(s);
    json_decref(o);
    return 0;
}

static int cjson_chunk(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", "chatcmpl-x");
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", 1700000000);
    cJSON_AddStringToObject(o, "model", "echo");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddStringToObject(delta, "content", "hello");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    char *s = cJSON_PrintUnformatted(o);
    if (!s) {
        cJSON_Delete(o);
        return -1;
    }
    size_t n = strlen(s);
    sink += n;
    if (!chunk_out[1][0] && n < sizeof chunk_out[1])
        memcpy(chunk_out[1], s, n + 1);
    cJSON_free(s);
    cJSON_Delete(o);
    return 0;
}

static int jsonc_chunk(void)
{
    jc_obj *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string("chatcmpl-x"));
    json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
    json_object_object_add(o, "created", json_object_new_int64(1700000000));
    json_object_object_add(o, "model", json_object_new_string("echo"));
    jc_obj *choices = json_object_new_array();
    jc_obj *c = json_object_new_object();
    json_object_object_add(c, "index", json_object_new_int(0));
    jc_obj *delta = json_object_new_object();
    json_object_object_add(delta, "content", json_object_new_string("hello"));
    json_object_object_add(c, "delta", delta);
    json_object_object_add(c, "logprobs", NULL);
    json_object_object_add(c, "finish_reason", NULL);
    json_object_array_add(choices, c);
    json_object_object_add(o, "choices", choices);
    size_t n;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
    if (!s) {
        json_object_put(o);
        return -1;
    }
    sink += n;
    if (!chunk_out[2][0] && n < sizeof chunk_out[2])
        memcpy(chunk_out[2], s, n + 1);
    json_object_put(o); /* the string is owned by o */
    return 0;
}

/* ---------------------------------------------------------------------- */
/* timing                                                                 */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define RUNS 5

/* returns median ns/op, or -1 if the operation failed */
static double time_op(int (*op)(void))
{
    /* warm-up and calibration: grow until one batch takes >= 100 ms */
    unsigned long iters = 16;
    for (;;) {
        double t0 = now_ns();
        for (unsigned long i = 0; i < iters; i++)
            if (op() != 0)
                return -1;
        double dt = now_ns() - t0;
        if (dt >= 100e6)
            break;
        iters = dt < 1e6 ? iters * 10 : (unsigned long)((double)iters * 110e6 / dt);
    }
    double r[RUNS];
    for (int k = 0; k < RUNS; k++) {
        double t0 = now_ns();
        for (unsigned long i = 0; i < iters; i++)
            op();
        r[k] = (now_ns() - t0) / (double)iters;
    }
    qsort(r, RUNS, sizeof r[0], cmp_double);
    return r[RUNS / 2];
}

enum { LIB_JANSSON, LIB_CJSON, LIB_JSONC, NLIB };
static const char *LIBNAME[NLIB] = {"jansson 2.14", "cJSON 1.7.15", "json-c 0.16"};

static void hooks_on(int lib)
{
    if (lib == LIB_JANSSON) {
        json_set_alloc_funcs(hook_malloc, hook_free);
    } else if (lib == LIB_CJSON) {
        cJSON_Hooks h = {hook_malloc, hook_free};
        cJSON_InitHooks(&h);
    }
}
static void hooks_off(int lib)
{
    if (lib == LIB_JANSSON)
        json_set_alloc_funcs(malloc, free);
    else if (lib == LIB_CJSON)
        cJSON_InitHooks(NULL);
}

/* allocations per op: returns malloc-interposition count, sets *hook */
static double count_allocs(int lib, int (*op)(void), double *hook)
{
    const int N = 1000;
    op(); /* one untimed op first: lazy one-time allocations are not counted */
    hooks_on(lib);
    g_hook_allocs = 0;
    unsigned long m0 = g_mallocs;
    for (int i = 0; i < N; i++)
        op();
    unsigned long m = g_mallocs - m0;
    hooks_off(lib);
    *hook = lib == LIB_JSONC ? -1 : (double)g_hook_allocs / N;
    return (double)m / N;
}

/* ---------------------------------------------------------------------- */
/* safety probes, each in a forked child                                  */

enum { R_ACCEPT = 0, R_REJECT = 1 };

/* parse with the library's default entry point; on success the tree is
 * freed too (deep trees can also crash on free). json-c variants:
 * 3 = json-c with depth raised to 1000000, 4 = json-c with
 * JSON_TOKENER_VALIDATE_UTF8. */
#define V_JSONC_DEEP 3
#define V_JSONC_UTF8 4

static int parse_default(int v, const char *buf, size_t len, char *msg, size_t msglen)
{
    msg[0] = 0;
    if (v == LIB_JANSSON) {
        json_error_t err;
        json_t *r = json_loadb(buf, len, 0, &err);
        if (!r) {
            snprintf(msg, msglen, "%s", err.text);
            return R_REJECT;
        }
        json_decref(r);
        return R_ACCEPT;
    }
    if (v == LIB_CJSON) {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        if (!r)
            return R_REJECT;
        cJSON_Delete(r);
        return R_ACCEPT;
    }
    struct json_tokener *tok = v == V_JSONC_DEEP ? json_tokener_new_ex(1000000) : json_tokener_new();
    if (v == V_JSONC_UTF8)
        json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    jc_obj *r = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!r || e != json_tokener_success) {
        snprintf(msg, msglen, "%s", json_tokener_error_desc(e));
        json_object_put(r);
        return R_REJECT;
    }
    json_object_put(r);
    return R_ACCEPT;
}

/* run fn in a child; result text goes to out */
static void in_child(void (*fn)(int, const char *, size_t, char *, size_t), int v, const char *buf, size_t len, char *out,
                     size_t outlen)
{
    int p[2];
    if (pipe(p) != 0) {
        snprintf(out, outlen, "pipe failed");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char res[512];
        fn(v, buf, len, res, sizeof res);
        ssize_t w = write(p[1], res, strlen(res));
        (void)w;
        _exit(0);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < outlen && (n = read(p[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = 0;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        snprintf(out, outlen, "**CRASH (%s)**", strsignal(WTERMSIG(st)));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        snprintf(out, outlen, "**child exit %d**", WEXITSTATUS(st));
}

static void probe_parse(int v, const char *buf, size_t len, char *res, size_t reslen)
{
    char msg[256];
    int r = parse_default(v, buf, len, msg, sizeof msg);
    if (r == R_ACCEPT)
        snprintf(res, reslen, "accepted");
    else if (msg[0])
        snprintf(res, reslen, "rejected (%s)", msg);
    else
        snprintf(res, reslen, "rejected");
}

static char *make_nested(size_t depth, size_t *len)
{
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = 0;
    *len = 2 * depth;
    return s;
}

static int nested_accepted(int v, size_t depth)
{
    size_t len;
    char *s = make_nested(depth, &len);
    char res[512];
    in_child(probe_parse, v, s, len, res, sizeof res);
    free(s);
    return strcmp(res, "accepted") == 0;
}

/* round trip: parse then compact serialise */
static void probe_roundtrip(int v, const char *buf, size_t len, char *res, size_t reslen)
{
    if (v == LIB_JANSSON) {
        json_error_t err;
        json_t *r = json_loadb(buf, len, 0, &err);
        if (!r) {
            snprintf(res, reslen, "parse error: %s", err.text);
            return;
        }
        char *s = json_dumps(r, JSON_COMPACT);
        snprintf(res, reslen, "%s", s);
        free(s);
        json_decref(r);
    } else if (v == LIB_CJSON) {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        if (!r) {
            snprintf(res, reslen, "parse error");
            return;
        }
        char *s = cJSON_PrintUnformatted(r);
        snprintf(res, reslen, "%s", s);
        cJSON_free(s);
        cJSON_Delete(r);
    } else {
        struct json_tokener *tok = json_tokener_new();
        jc_obj *r = json_tokener_parse_ex(tok, buf, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        json_tokener_free(tok);
        if (!r || e != json_tokener_success) {
            snprintf(res, reslen, "parse error: %s", json_tokener_error_desc(e));
            json_object_put(r);
            return;
        }
        snprintf(res, reslen, "%s", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
        json_object_put(r);
    }
}

/* which value does a lookup of a duplicated key return? */
static void probe_dupkey(int v, const char *buf, size_t len, char *res, size_t reslen)
{
    if (v == LIB_JANSSON) {
        json_error_t err;
        json_t *r = json_loadb(buf, len, 0, &err);
        if (!r) {
            snprintf(res, reslen, "rejected (%s)", err.text);
            return;
        }
        snprintf(res, reslen, "accepted, model=%s", json_string_value(json_object_get(r, "model")));
        json_decref(r);
    } else if (v == LIB_CJSON) {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        if (!r) {
            snprintf(res, reslen, "rejected");
            return;
        }
        snprintf(res, reslen, "accepted, model=%s", cJSON_GetObjectItemCaseSensitive(r, "model")->valuestring);
        cJSON_Delete(r);
    } else {
        jc_obj *r = json_tokener_parse(buf), *m;
        if (!r) {
            snprintf(res, reslen, "rejected");
            return;
        }
        json_object_object_get_ex(r, "model", &m);
        snprintf(res, reslen, "accepted, model=%s", json_object_get_string(m));
        json_object_put(r);
    }
}

/* string containing \u0000: is the length kept? */
static void probe_nul(int v, const char *buf, size_t len, char *res, size_t reslen)
{
    if (v == LIB_JANSSON) {
        json_error_t err;
        json_t *r = json_loadb(buf, len, 0, &err);
        if (!r) {
            snprintf(res, reslen, "rejected (%s)", err.text);
            return;
        }
        snprintf(res, reslen, "accepted, len=%zu", json_string_length(json_object_get(r, "s")));
        json_decref(r);
    } else if (v == LIB_CJSON) {
        cJSON *r = cJSON_ParseWithLength(buf, len);
        if (!r) {
            snprintf(res, reslen, "rejected");
            return;
        }
        snprintf(res, reslen, "accepted, len=%zu (C string)", strlen(cJSON_GetObjectItemCaseSensitive(r, "s")->valuestring));
        cJSON_Delete(r);
    } else {
        jc_obj *r = json_tokener_parse(buf), *s;
        if (!r) {
            snprintf(res, reslen, "rejected");
            return;
        }
        json_object_object_get_ex(r, "s", &s);
        snprintf(res, reslen, "accepted, len=%d", json_object_get_string_len(s));
        json_object_put(r);
    }
}

/* ---------------------------------------------------------------------- */

int main(void)
{
    make_big_request();

    /* sanity: all three parse both requests */
    int (*ops[3][NLIB])(void) = {
        {jansson_small, cjson_small, jsonc_small},
        {jansson_big, cjson_big, jsonc_big},
        {jansson_chunk, cjson_chunk, jsonc_chunk},
    };
    const char *wname[3] = {"(a) parse 1 KB request + lookup", "(b) parse 64 KB / 200-msg request + lookup",
                            "(c) build + serialise chunk"};
    for (int w = 0; w < 3; w++)
        for (int l = 0; l < NLIB; l++)
            if (ops[w][l]() != 0) {
                fprintf(stderr, "workload %s failed for %s\n", wname[w], LIBNAME[l]);
                return 1;
            }

    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    printf("Inputs: (a) %zu bytes, (b) %zu bytes / 200 messages, (c) %zu-byte output. Stack limit: ", sizeof REQ_SMALL - 1,
           req_big_len, sizeof CHUNK_EXPECTED - 1);
    if (rl.rlim_cur == RLIM_INFINITY)
        printf("unlimited.\n\n");
    else
        printf("%lu KiB.\n\n", (unsigned long)rl.rlim_cur / 1024);

    printf("## Speed (median of %d runs, ns/op; allocations per op)\n\n", RUNS);
    printf("| workload | library | ns/op | allocs/op (lib hook) | allocs/op (all malloc) |\n");
    printf("|---|---|---:|---:|---:|\n");
    for (int w = 0; w < 3; w++) {
        for (int l = 0; l < NLIB; l++) {
            double ns = time_op(ops[w][l]);
            double hook, all = count_allocs(l, ops[w][l], &hook);
            char hs[32];
            if (hook < 0)
                snprintf(hs, sizeof hs, "n/a (no API)");
            else
                snprintf(hs, sizeof hs, "%.1f", hook);
            printf("| %s | %s | %.0f | %s | %.1f |\n", wname[w], LIBNAME[l], ns, hs, all);
            fflush(stdout);
        }
    }

    printf("\nChunk output equals the expected compact string: ");
    for (int l = 0; l < NLIB; l++)
        printf("%s %s%s", LIBNAME[l], strcmp(chunk_out[l], CHUNK_EXPECTED) == 0 ? "yes" : "NO", l + 1 < NLIB ? ", " : ".\n");
    for (int l = 0; l < NLIB; l++)
        if (strcmp(chunk_out[l], CHUNK_EXPECTED) != 0)
            printf("  %s produced: `%s`\n", LIBNAME[l], chunk_out[l]);

    /* (d) nesting */
    printf("\n## (d) Nested arrays `[[[...]]]`, default parse API, each in a child process\n\n");
    const size_t depths[] = {200, 1000, 10000, 200000};
    const int nv = 4;
    const int vs[] = {LIB_JANSSON, LIB_CJSON, LIB_JSONC, V_JSONC_DEEP};
    const char *vname[] = {"jansson 2.14", "cJSON 1.7.15", "json-c 0.16", "json-c, json_tokener_new_ex(1000000)"};
    printf("| library | 200 | 1000 | 10000 | 200000 | max depth accepted |\n|---|---|---|---|---|---:|\n");
    for (int i = 0; i < nv; i++) {
        printf("| %s ", vname[i]);
        for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
            size_t len;
            char *s = make_nested(depths[d], &len);
            char res[512];
            in_child(probe_parse, vs[i], s, len, res, sizeof res);
            free(s);
            printf("| %s ", res);
            fflush(stdout);
        }
        /* binary search for the largest accepted depth in [0, 200000] */
        size_t lo = 0, hi = 200001; /* lo accepted (trivially), hi not */
        if (nested_accepted(vs[i], 200000)) {
            printf("| >= 200000 |\n");
            continue;
        }
        hi = 200000;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (nested_accepted(vs[i], mid))
                lo = mid;
            else
                hi = mid;
        }
        printf("| %zu |\n", lo);
    }

    /* (e) big integers */
    printf("\n## (e) 64-bit integers, parse -> compact serialise\n\n");
    const char *ints[] = {"{\"n\":12345678901234567890}", "{\"n\":9007199254740993}", "{\"n\":-9223372036854775808}"};
    printf("| library | `%s` | `%s` | `%s` |\n|---|---|---|---|\n", ints[0], ints[1], ints[2]);
    for (int l = 0; l < NLIB; l++) {
        printf("| %s ", LIBNAME[l]);
        for (int k = 0; k < 3; k++) {
            char res[512];
            in_child(probe_roundtrip, l, ints[k], strlen(ints[k]), res, sizeof res);
            int same = strcmp(res, ints[k]) == 0;
            printf("| %s%s%s ", same ? "preserved" : "`", same ? "" : res, same ? "" : "`");
        }
        printf("|\n");
    }

    /* (f) invalid UTF-8 and other validation */
    printf("\n## (f) Invalid UTF-8 and other validation (default API)\n\n");
    struct {
        const char *label, *doc;
        void (*fn)(int, const char *, size_t, char *, size_t);
    } cases[] = {
        {"bytes FF FE in a string", "{\"s\":\"\xff\xfe\"}", probe_parse},
        {"truncated sequence E6 97", "{\"s\":\"a\xe6\x97\"}", probe_parse},
        {"overlong C0 AF", "{\"s\":\"\xc0\xaf\"}", probe_parse},
        {"UTF-8-encoded surrogate ED A0 80", "{\"s\":\"\xed\xa0\x80\"}", probe_parse},
        {"lone escaped surrogate `\\ud800`", "{\"s\":\"\\ud800\"}", probe_parse},
        {"trailing garbage `{} x`", "{\"a\":1} x", probe_parse},
        {"`\\u0000` inside a string", "{\"s\":\"a\\u0000b\"}", probe_nul},
        {"duplicate key `model` (\"a\" then \"b\")", "{\"model\":\"a\",\"model\":\"b\"}", probe_dupkey},
    };
    const int fv[] = {LIB_JANSSON, LIB_CJSON, LIB_JSONC, V_JSONC_UTF8};
    printf("| input | jansson 2.14 | cJSON 1.7.15 | json-c 0.16 | json-c + JSON_TOKENER_VALIDATE_UTF8 |\n"
           "|---|---|---|---|---|\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        printf("| %s ", cases[c].label);
        for (int i = 0; i < 4; i++) {
            char res[512];
            if (fv[i] == V_JSONC_UTF8 && cases[c].fn != probe_parse)
                snprintf(res, sizeof res, "(same as json-c)");
            else
                in_child(cases[c].fn, fv[i], cases[c].doc, strlen(cases[c].doc), res, sizeof res);
            printf("| %s ", res);
        }
        printf("|\n");
        fflush(stdout);
    }
    return 0;
}
