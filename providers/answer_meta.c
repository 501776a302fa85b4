/*
 * providers/answer_meta.c: the id, model and finish reasons of an upstream's
 * answer (see answer_meta.h).
 */
#include "providers/answer_meta.h"

#include <string.h>

#include "providers/json_edit.h"

static const char *json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The member `key` of the object text [o, o + n) when it is a string
 * without escapes (its bytes between the quotes in *out). */
static bool member_str(const char *o, size_t n, const char *key, llg_meta_str_t *out)
{
    const char *v;
    size_t len;
    if (!llg_json_member(o, n, key, &v, &len) || len < 2 || v[0] != '"' || v[len - 1] != '"' ||
        memchr(v + 1, '\\', len - 2) != NULL)
        return false;
    out->p = v + 1;
    out->len = len - 2;
    return true;
}

static void add_finish(llg_answer_meta_t *m, const char *o, size_t n, const char *key)
{
    if (m->nfinish < LLG_ANSWER_META_MAX_REASONS && member_str(o, n, key, &m->finish[m->nfinish]))
        m->nfinish++;
}

static bool found(const llg_answer_meta_t *m)
{
    return m->id.p != NULL || m->model.p != NULL || m->nfinish > 0;
}

/* id and model of the object [o, o + n) */
static void read_id(const char *o, size_t n, llg_answer_meta_t *m)
{
    member_str(o, n, "id", &m->id);
    member_str(o, n, "model", &m->model);
}

bool llg_answer_meta_openai(const char *json, size_t len, unsigned want, llg_answer_meta_t *m)
{
    memset(m, 0, sizeof(*m));
    if (want & LLG_META_ID)
        read_id(json, len, m);
    const char *cv, *el;
    size_t clen, elen, pos = 0;
    if ((want & LLG_META_FINISH) && llg_json_member(json, len, "choices", &cv, &clen))
        while (m->nfinish < LLG_ANSWER_META_MAX_REASONS && llg_json_element(cv, clen, &pos, &el, &elen) == 1)
            add_finish(m, el, elen, "finish_reason");
    return found(m);
}

bool llg_answer_meta_anthropic(const char *json, size_t len, unsigned want, llg_answer_meta_t *m)
{
    memset(m, 0, sizeof(*m));
    const char *v;
    size_t vlen;
    if (llg_json_member(json, len, "message", &v, &vlen)) {
        /* message_start: its stop_reason is null */
        if (want & LLG_META_ID)
            read_id(v, vlen, m);
        if (want & LLG_META_FINISH)
            add_finish(m, v, vlen, "stop_reason");
    } else if (llg_json_member(json, len, "delta", &v, &vlen)) {
        /* message_delta (a content_block_delta has no stop_reason) */
        if (want & LLG_META_FINISH)
            add_finish(m, v, vlen, "stop_reason");
    } else {
        /* a whole message */
        if (want & LLG_META_ID)
            read_id(json, len, m);
        if (want & LLG_META_FINISH)
            add_finish(m, json, len, "stop_reason");
    }
    return found(m);
}

bool llg_answer_meta_responses(const char *json, size_t len, unsigned want, llg_answer_meta_t *m)
{
    memset(m, 0, sizeof(*m));
    const char *o = json, *v;
    size_t n = len, vlen;
    if (llg_json_member(json, len, "response", &v, &vlen)) {
        o = v;
        n = vlen;
    }
    if (want & LLG_META_ID)
        read_id(o, n, m);
    if (want & LLG_META_FINISH) {
        if (llg_json_member(o, n, "incomplete_details", &v, &vlen))
            add_finish(m, v, vlen, "reason");
        if (m->nfinish == 0)
            add_finish(m, o, n, "status");
    }
    return found(m);
}

bool llg_answer_meta_may_finish(const char *p, size_t n)
{
    static const char key[] = "\"finish_reason\"";
    const size_t klen = sizeof(key) - 1;
    const char *e = p + n;
    /* by its underscore: a chunk has few (memmem's setup costs more on a
     * chunk of a few hundred bytes: docs/benchmarks.md, "Profiles") */
    for (const char *q = p; q < e && (q = memchr(q, '_', (size_t)(e - q))) != NULL; q++) {
        if (q - p < 7 || (size_t)(e - q) < klen - 7 || memcmp(q - 7, key, klen) != 0)
            continue;
        const char *r = json_ws(q + klen - 7, e);
        if (r < e && *r == ':') {
            r = json_ws(r + 1, e);
            if (r < e && *r == '"')
                return true;
        }
    }
    return false;
}
