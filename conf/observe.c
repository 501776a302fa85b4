/*
 * conf/observe.c: the `access_log:` and `otel:` sections
 * (docs/observability.md). The OTLP endpoint is checked and its traces URL
 * (the endpoint with /v1/traces, as OTEL_EXPORTER_OTLP_ENDPOINT has it) made
 * once here; the exporter's headers are secrets (an API key of a hosted
 * collector): no message quotes a value.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTEL_MAX_QUEUE 65536
#define OTEL_MAX_BATCH 8192

void conf_parse_access_log(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"enabled", "path", "format"};
    static const char *const formats[] = {"text", "json"};
    static const char *const bools[] = {"false", "true"};
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, "access_log", known, CONF_COUNTOF(known), v, NULL))
        return;
    llg_conf_access_log_t *a = &c->conf->access_log;
    int on;
    if (conf_get_enum(c, v[0], "access_log.enabled", bools, 2, &on))
        a->enabled = on == 1;
    char *path = NULL;
    if (conf_get_string(c, v[1], "access_log.path", CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &path))
        a->path = strcmp(path, "stderr") == 0 ? NULL : path;
    int format;
    if (conf_get_enum(c, v[2], "access_log.format", formats, 2, &format))
        a->format = format == 1 ? LLG_ACCESS_LOG_JSON : LLG_ACCESS_LOG_TEXT;
}

/* `sample`: a number from 0 to 1. */
static void parse_sample(conf_ctx_t *c, yaml_node_t *n, double *out)
{
    const char *s = conf_scalar(c, n, "otel.sample", "a number from 0.0 to 1.0");
    if (s == NULL)
        return;
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(d) || d < 0.0 || d > 1.0) {
        char db[64];
        conf_error_node(c, n, "otel.sample: expected a number from 0.0 to 1.0, got %s", conf_describe(n, db, sizeof(db)));
        return;
    }
    *out = d;
}

/* `endpoint`: http(s)://host[:port][/path]; the traces URL is the endpoint
 * with /v1/traces added, unless it already ends so. */
static void parse_endpoint(conf_ctx_t *c, yaml_node_t *n, llg_conf_otel_t *o)
{
    char *url;
    if (!conf_get_string(c, n, "otel.endpoint", CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &url))
        return;
    size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0 || url[scheme] == '\0' || url[scheme] == '/' || strchr(url, ' ') != NULL) {
        conf_error_node(c, n, "otel.endpoint: expected an http:// or https:// URL such as http://localhost:4318");
        return;
    }
    size_t len = strlen(url);
    while (len > scheme && url[len - 1] == '/')
        len--;
    static const char suffix[] = "/v1/traces";
    size_t sl = sizeof(suffix) - 1;
    bool has = len >= sl && memcmp(url + len - sl, suffix, sl) == 0;
    char *traces = llg_arena_calloc(c->arena, len + sl + 1, 1);
    memcpy(traces, url, len);
    if (!has)
        memcpy(traces + len, suffix, sl);
    o->endpoint = url;
    o->traces_url = traces;
}

void conf_parse_otel(conf_ctx_t *c, yaml_node_t *n)
{
    static const char *const known[] = {"endpoint", "headers",    "sample",   "service_name", "protocol",
                                        "queue",    "batch_size", "interval", "timeout"};
    static const char *const protocols[] = {"protobuf", "json"};
    yaml_node_t *v[CONF_COUNTOF(known)];
    if (!conf_map(c, n, "otel", known, CONF_COUNTOF(known), v, NULL))
        return;
    llg_conf_otel_t *o = &c->conf->otel;
    o->enabled = true;
    if (v[0] == NULL)
        conf_missing(c, n, "otel", "endpoint");
    else
        parse_endpoint(c, v[0], o);
    if (v[1] != NULL)
        conf_get_kvv(c, v[1], "otel.headers", true, &o->headers);
    if (v[2] != NULL)
        parse_sample(c, v[2], &o->sample);
    conf_get_string(c, v[3], "otel.service_name", CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &o->service_name);
    int protocol;
    if (conf_get_enum(c, v[4], "otel.protocol", protocols, 2, &protocol))
        o->protocol = protocol == 1 ? LLG_OTEL_JSON : LLG_OTEL_PROTOBUF;
    uint64_t u;
    if (conf_get_uint(c, v[5], "otel.queue", 1, OTEL_MAX_QUEUE, &u))
        o->queue = (unsigned)u;
    if (conf_get_uint(c, v[6], "otel.batch_size", 1, OTEL_MAX_BATCH, &u))
        o->batch_size = (unsigned)u;
    conf_get_duration(c, v[7], "otel.interval", &o->interval_ms);
    conf_get_duration(c, v[8], "otel.timeout", &o->timeout_ms);
    if (v[7] != NULL && o->interval_ms == 0)
        conf_error_node(c, v[7], "otel.interval: must be longer than 0");
    if (v[8] != NULL && o->timeout_ms == 0)
        conf_error_node(c, v[8], "otel.timeout: must be longer than 0");
}
