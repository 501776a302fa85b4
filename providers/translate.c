/*
 * providers/translate.c: the error helpers shared by the translators (see
 * translate.h): filling and rendering llg_xlate_error_t, reading upstream
 * error bodies of any shape, UTF-8 sanitising of upstream text.
 */
#include "providers/translate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "providers/openai_form.h"

/* Copies `s` into dst[cap] as valid UTF-8, cut on a character boundary. */
static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
    llg_strbuf_t b = {0};
    llg_utf8_append_sanitized(&b, s, n);
    size_t len = b.len < cap - 1 ? b.len : cap - 1;
    /* back up over continuation bytes so no character is cut */
    if (len < b.len)
        while (len > 0 && ((unsigned char)b.data[len] & 0xc0) == 0x80)
            len--;
    if (len > 0)
        memcpy(dst, b.data, len);
    dst[len] = '\0';
    llg_strbuf_free(&b);
}

void llg_xlate_set_error(llg_xlate_error_t *err, int http_status, const char *type, const char *code, llg_outcome_t outcome,
                         const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    err->http_status = http_status;
    err->outcome = outcome;
    copy_text(err->type, sizeof(err->type), type, strlen(type));
    copy_text(err->code, sizeof(err->code), code, strlen(code));
    copy_text(err->message, sizeof(err->message), tmp, (size_t)n);
}

void llg_xlate_error_body(const llg_xlate_error_t *err, llg_strbuf_t *out)
{
    llg_oai_error_body(out, err->type[0] ? err->type : "server_error", err->code[0] ? err->code : NULL, err->message);
}

void llg_xlate_error_event(const llg_xlate_error_t *err, llg_strbuf_t *out)
{
    llg_oai_error_event(out, err->type[0] ? err->type : "server_error", err->code[0] ? err->code : NULL, err->message);
    llg_oai_done(out);
}

static const cJSON *member(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static void take_string(char *dst, size_t cap, const cJSON *v)
{
    if (dst[0] == '\0' && cJSON_IsString(v) && v->valuestring[0] != '\0')
        copy_text(dst, cap, v->valuestring, strlen(v->valuestring));
}

/* a numeric code (OpenRouter's {"code":402}) only when no string says more */
static void take_number_code(char *dst, size_t cap, const cJSON *v)
{
    if (dst[0] == '\0' && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
        snprintf(dst, cap, "%d", (int)v->valuedouble);
}

static void take_status(int *dst, const cJSON *v)
{
    if (*dst == 0 && cJSON_IsNumber(v) && v->valuedouble >= 100 && v->valuedouble < 600)
        *dst = (int)v->valuedouble;
}

void llg_xlate_parse_error_body(const char *body, size_t len, llg_upstream_error_t *out)
{
    memset(out, 0, sizeof(*out));
    if (body == NULL || len == 0)
        return;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (cJSON_IsObject(root)) {
        const cJSON *e = member(root, "error");
        if (cJSON_IsObject(e)) {
            take_string(out->message, sizeof(out->message), member(e, "message"));
            take_string(out->code, sizeof(out->code), member(e, "code"));
            take_string(out->code, sizeof(out->code), member(e, "type"));
            take_number_code(out->code, sizeof(out->code), member(e, "code"));
            take_status(&out->status, member(e, "status"));
        } else {
            take_string(out->message, sizeof(out->message), e);
        }
        take_string(out->message, sizeof(out->message), member(root, "message"));
        take_string(out->message, sizeof(out->message), member(root, "text"));
        const cJSON *d = member(root, "detail");
        take_string(out->message, sizeof(out->message), d);
        if (cJSON_IsArray(d))
            take_string(out->message, sizeof(out->message), member(cJSON_GetArrayItem(d, 0), "msg"));
        take_string(out->code, sizeof(out->code), member(root, "code"));
        take_string(out->code, sizeof(out->code), member(root, "error_type"));
        take_string(out->code, sizeof(out->code), member(root, "type"));
        take_number_code(out->code, sizeof(out->code), member(root, "code"));
        take_status(&out->status, member(root, "status"));
        cJSON_Delete(root);
        return;
    }
    cJSON_Delete(root);
    /* plain text (or JSON that is no object): its first bytes, trimmed, one line */
    size_t a = 0, b = len;
    while (a < b && isspace((unsigned char)body[a]))
        a++;
    while (b > a && isspace((unsigned char)body[b - 1]))
        b--;
    if (b - a > 200)
        b = a + 200;
    char line[256];
    size_t k = 0;
    for (size_t i = a; i < b && k < sizeof(line) - 1; i++)
        line[k++] = (unsigned char)body[i] < 0x20 ? ' ' : body[i];
    copy_text(out->message, sizeof(out->message), line, k);
}
