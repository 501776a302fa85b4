/*
 * providers/upstream_error.c: reading an openai-type upstream's error body
 * (see upstream_error.h).
 */
#include "providers/upstream_error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "providers/strbuf.h"
#include "providers/translate.h"

void llg_upstream_error_classify(const char *body, size_t len, llg_upstream_error_class_t *out)
{
    out->code[0] = '\0';
    out->flagged_input = false;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "code") : NULL;
    const cJSON *t = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "type") : NULL;
    if (cJSON_IsString(c))
        snprintf(out->code, sizeof(out->code), "%s", c->valuestring);
    else if (cJSON_IsString(t))
        snprintf(out->code, sizeof(out->code), "%s", t->valuestring);
    const cJSON *meta = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "metadata") : NULL;
    out->flagged_input = cJSON_IsObject(meta) && (cJSON_GetObjectItemCaseSensitive(meta, "flagged_input") != NULL ||
                                                  cJSON_GetObjectItemCaseSensitive(meta, "reasons") != NULL);
    cJSON_Delete(j);
}

/* An upstream's error `type`, `code` or `param` reaches the client only when
 * it is a short, printable, valid UTF-8 string; otherwise ours is used. */
static const char *clean_error_field(const cJSON *item)
{
    if (!cJSON_IsString(item))
        return NULL;
    const char *s = item->valuestring;
    size_t n = strlen(s);
    return n > 0 && n <= 256 && llg_utf8_printable(s, n) ? s : NULL;
}

static void copy_field(char *dst, size_t dstsize, const char *s)
{
    snprintf(dst, dstsize, "%s", s != NULL ? s : "");
}

void llg_upstream_error_fields(const char *body, size_t len, llg_upstream_error_fields_t *out)
{
    char code_buf[64] = "";
    const char *type = NULL, *code = NULL, *param = NULL;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(err)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(err, "type");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
        const cJSON *pa = cJSON_GetObjectItemCaseSensitive(err, "param");
        type = clean_error_field(t);
        if (cJSON_IsString(c)) {
            code = clean_error_field(c);
        } else if (cJSON_IsNumber(c)) {
            /* OpenRouter's numeric code becomes a string */
            snprintf(code_buf, sizeof(code_buf), "%d", c->valueint);
            code = code_buf;
        }
        param = clean_error_field(pa);
    }
    /* the message, whatever the shape (OpenAI, FastAPI's detail, plain text) */
    llg_upstream_error_t parsed;
    llg_xlate_parse_error_body(body, len, &parsed);
    snprintf(out->message, sizeof(out->message), "%s",
             parsed.message[0] != '\0' ? parsed.message : "The upstream provider rejected the request.");
    if (code == NULL && parsed.code[0] != '\0')
        code = parsed.code;
    copy_field(out->type, sizeof(out->type), type);
    copy_field(out->code, sizeof(out->code), code);
    copy_field(out->param, sizeof(out->param), param);
    cJSON_Delete(j);
}
