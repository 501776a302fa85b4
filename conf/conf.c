/*
 * conf/conf.c: the loader's entry points. One load is: read the text, parse it
 * with libyaml's document API, start from the defaults of SPEC section 3, walk
 * the document (schema.c), apply the environment (env.c), run the checks that
 * need both, and return the config only if no error was found at all.
 *
 * Every allocation of a load comes from the config's arena or the context;
 * running out of memory longjmp()s to one place that frees both, so the code
 * in between has no allocation-failure paths.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct load_state {
    conf_ctx_t ctx;
    yaml_parser_t parser;
    yaml_document_t doc, next;
    bool parser_ready, doc_loaded, next_loaded;
} load_state_t;

static void set_defaults(conf_ctx_t *c)
{
    llg_conf_t *conf = c->conf;
    conf->listen = llg_arena_calloc(c->arena, 1, sizeof(llg_conf_listen_t));
    conf->listen[0].address = "0.0.0.0";
    conf->listen[0].port = 8080;
    conf->listen_count = 1;
    conf->workers = conf_online_cpus();
    conf->max_body_bytes = 4194304;
    conf->timeouts.connect_ms = 10 * 1000;
    conf->timeouts.request_ms = 120 * 1000;
    conf->timeouts.idle_ms = 60 * 1000;
    conf->timeouts.ping_ms = 15 * 1000;
    conf->timeouts.drain_ms = 30 * 1000;
    /* h2o 2.2.5's own defaults (http1.req_timeout, http2.idle_timeout and
     * handshake_timeout are all 10 s): what llmgate did before they were set */
    conf->timeouts.client_header_ms = 10 * 1000;
    conf->timeouts.client_idle_ms = 10 * 1000;
    conf->max_header_bytes = 65536;
    conf->limits.max_connections = 10000;
    conf->limits.max_connections_per_client = 1024;
    /* 0: derived from max_body_bytes once the file is read (conf/schema.c) */
    conf->limits.max_buffered_body_bytes = 0;
    conf->limits.max_buffered_body_bytes_per_client = 0;
    conf->cors_allow_origins.items = llg_arena_calloc(c->arena, 2, sizeof(char *));
    conf->cors_allow_origins.items[0] = "*";
    conf->cors_allow_origins.count = 1;
    conf->retry_attempts = 3;
    conf->access_log.enabled = true;
    conf->otel.sample = 1.0;
    conf->otel.service_name = "llmgate";
    conf->otel.queue = 2048;
    conf->otel.batch_size = 512;
    conf->otel.interval_ms = 1000;
    conf->otel.timeout_ms = 10000;
    conf->keys.cooldown_ms = 30 * 1000;
    conf->keys.max_cooldown_ms = 600 * 1000;
    conf->keys.probe_after_ms = 600 * 1000;
}

/* libyaml stops at the first syntax error, so there is at most one. */
static void report_yaml_error(conf_ctx_t *c, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        longjmp(c->oom, 1);
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding, control characters) carry a byte
         * offset, not a mark: count lines and characters up to it. */
        yaml_mark_t m = {0, 0, 0};
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
                m.column++;
            }
        }
        if (p->problem_value != -1)
            conf_error_mark(c, m, "invalid YAML: %s (byte 0x%02x)", problem, (unsigned)p->problem_value & 0xffu);
        else
            conf_error_mark(c, m, "invalid YAML: %s", problem);
        return;
    }
    if (p->context != NULL)
        conf_error_mark(c, p->problem_mark, "invalid YAML: %s (%s at line %lu, column %lu)", problem, p->context,
                        (unsigned long)p->context_mark.line + 1, (unsigned long)p->context_mark.column + 1);
    else
        conf_error_mark(c, p->problem_mark, "invalid YAML: %s", problem);
}

static void release(load_state_t *s)
{
    conf_ctx_t *c = &s->ctx;
    if (s->next_loaded)
        yaml_document_delete(&s->next);
    if (s->doc_loaded)
        yaml_document_delete(&s->doc);
    if (s->parser_ready)
        yaml_parser_delete(&s->parser);
    s->next_loaded = s->doc_loaded = s->parser_ready = false;
    free(c->jbuf);
    c->jbuf = NULL;
}

static void add_plain_error(llg_conf_errors_t *errs, const char *source, const char *what, const char *detail)
{
    char *msg = NULL;
    if (errs == NULL || asprintf(&msg, "%s: %s%s%s", source, what, detail ? ": " : "", detail ? detail : "") < 0)
        return;
    char **items = realloc(errs->items, (errs->count + 1) * sizeof(char *));
    if (items == NULL) {
        free(msg);
        return;
    }
    items[errs->count++] = msg;
    errs->items = items;
}

static llg_conf_t *load(const char *name, const char *dir, const char *text, size_t len, llg_env_t env, llg_conf_errors_t *errs)
{
    load_state_t *s = calloc(1, sizeof(*s));
    llg_arena_t *arena = llg_arena_new();
    if (s == NULL || arena == NULL) {
        free(s);
        llg_arena_free(arena);
        add_plain_error(errs, name, "out of memory", NULL);
        return NULL;
    }
    conf_ctx_t *c = &s->ctx;
    c->arena = arena;
    c->env = env;
    c->source = name;
    if (setjmp(c->oom) != 0) {
        release(s);
        conf_errors_finish(c, errs);
        llg_arena_free(arena);
        free(s);
        add_plain_error(errs, name, "out of memory", NULL);
        return NULL;
    }
    llg_arena_set_oom(arena, &c->oom);

    c->conf = llg_arena_calloc(arena, 1, sizeof(llg_conf_t));
    c->conf->_arena = arena;
    c->conf->source = llg_arena_strdup(arena, name);
    c->source = c->conf->source;
    c->dir = dir ? llg_arena_strdup(arena, dir) : NULL;
    set_defaults(c);

    if (!yaml_parser_initialize(&s->parser))
        longjmp(c->oom, 1);
    s->parser_ready = true;
    yaml_parser_set_input_string(&s->parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&s->parser, &s->doc)) {
        report_yaml_error(c, &s->parser, text, len); /* the failed load freed the document */
    } else {
        s->doc_loaded = true;
        c->doc = &s->doc;
        yaml_node_t *root = yaml_document_get_root_node(&s->doc);
        if (root != NULL && !conf_is_null(root))
            conf_walk(c, root);

        /* A second document would be ignored silently: refuse it. */
        if (!yaml_parser_load(&s->parser, &s->next)) {
            report_yaml_error(c, &s->parser, text, len);
        } else {
            s->next_loaded = true;
            if (yaml_document_get_root_node(&s->next) != NULL)
                conf_error_mark(c, s->next.start_mark,
                                "the file holds more than one YAML document (---); a config is one document");
        }
    }

    conf_derive_limits(c->conf); /* an empty document has none of its keys walked */
    conf_apply_env(c);
    conf_check_listeners(c);

    release(s);
    llg_arena_set_oom(arena, NULL);
    llg_conf_t *conf = c->conf;
    if (c->error_count > 0) {
        conf_errors_finish(c, errs);
        llg_arena_free(arena);
        conf = NULL;
    }
    free(s);
    return conf;
}

llg_conf_t *llg_conf_load_string(const char *name, const char *text, size_t len, llg_env_t env, llg_conf_errors_t *errs)
{
    return load(name, NULL, text, len, env, errs);
}

llg_conf_t *llg_conf_load_file(const char *path, llg_env_t env, llg_conf_errors_t *errs)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        add_plain_error(errs, path, "cannot read", strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)CONF_MAX_FILE_BYTES) {
        add_plain_error(errs, path, S_ISREG(st.st_mode) ? "larger than 16 MiB" : "not a regular file", NULL);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *text = malloc(cap);
    if (text == NULL) {
        close(fd);
        add_plain_error(errs, path, "out of memory", NULL);
        return NULL;
    }
    /* Read to EOF, not st_size bytes: the file may change while read. */
    for (;;) {
        if (len == cap) {
            char *t = cap < CONF_MAX_FILE_BYTES + 1 ? realloc(text, cap * 2) : NULL;
            if (t == NULL) {
                free(text);
                close(fd);
                add_plain_error(errs, path, cap < CONF_MAX_FILE_BYTES + 1 ? "out of memory" : "larger than 16 MiB", NULL);
                return NULL;
            }
            text = t;
            cap *= 2;
        }
        ssize_t r = read(fd, text + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(text);
            close(fd);
            add_plain_error(errs, path, "cannot read", strerror(e));
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);

    /* Relative TLS paths are relative to the directory of the file. */
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    if (slash != NULL) {
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (dir == NULL) {
            free(text);
            add_plain_error(errs, path, "out of memory", NULL);
            return NULL;
        }
    }
    llg_conf_t *conf = load(path, dir, text, len, env, errs);
    free(dir);
    free(text);
    return conf;
}

llg_conf_t *llg_conf_load_default(llg_env_t env, llg_conf_errors_t *errs)
{
    char *text = llg_conf_default_yaml(env);
    if (text == NULL) {
        add_plain_error(errs, "<default>", "out of memory", NULL);
        return NULL;
    }
    llg_conf_t *conf = load("<default>", NULL, text, strlen(text), env, errs);
    free(text);
    return conf;
}

void llg_conf_free(llg_conf_t *conf)
{
    if (conf != NULL)
        llg_arena_free(conf->_arena);
}

const char *llg_provider_type_name(llg_provider_type_t type)
{
    switch (type) {
    case LLG_PROVIDER_OPENAI:
        return "openai";
    case LLG_PROVIDER_POE:
        return "poe";
    case LLG_PROVIDER_PUTER:
        return "puter";
    case LLG_PROVIDER_ECHO:
        return "echo";
    case LLG_PROVIDER_ANTHROPIC:
        return "anthropic";
    }
    return "unknown";
}
