/*
 * providers/json_edit.c: top-level member splicing (see json_edit.h). The
 * scanner only finds where values begin and end; the body was validated by
 * the JSON parser before, so it needs no full grammar.
 */
#include "providers/json_edit.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Returns the index just past the string starting at s[i] == '"', or 0. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Returns the index just past the value starting at s[i], or 0. Iterative:
 * nesting depth costs nothing. */
static size_t skip_value(const char *s, size_t i, size_t len)
{
    size_t depth = 0;
    do {
        if (i >= len)
            return 0;
        char c = s[i];
        if (c == '"') {
            if ((i = skip_string(s, i, len)) == 0)
                return 0;
        } else if (c == '{' || c == '[') {
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            depth--;
            i++;
        } else if (depth > 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            i++;
        } else {
            /* a literal or number: up to a delimiter */
            while (i < len && strchr(",}] \t\r\n", s[i]) == NULL)
                i++;
        }
    } while (depth > 0);
    return i;
}

static const llg_json_patch_t *find_patch(const llg_json_patch_t *p, size_t n, const char *key, size_t klen, unsigned char *used)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(p[i].key) == klen && memcmp(p[i].key, key, klen) == 0) {
            used[i] = 1;
            return &p[i];
        }
    }
    return NULL;
}

typedef struct member {
    size_t start;  /* just after the '{' or ',' before it */
    size_t vstart; /* its value */
    size_t vend;
    size_t next; /* just after the ',' that follows it, or at the '}' */
    const llg_json_patch_t *patch;
} member_t;

#define MAX_MEMBERS 1024

int llg_json_patch_object(const char *s, size_t len, const llg_json_patch_t *patches, size_t npatches, llg_strbuf_t *out)
{
    unsigned char used[32] = {0};
    member_t members[MAX_MEMBERS];
    size_t n = 0;
    if (npatches > sizeof(used))
        return -1;

    /* pass 1: where every top-level member is */
    size_t i = skip_ws(s, 0, len);
    if (i >= len || s[i] != '{')
        return -1;
    size_t open = i + 1;
    i = open;
    size_t close;
    for (;;) {
        size_t start = i;
        i = skip_ws(s, i, len);
        if (i < len && s[i] == '}' && n == 0) {
            close = i;
            break;
        }
        if (i >= len || s[i] != '"' || n == MAX_MEMBERS)
            return -1;
        size_t kstart = i + 1;
        size_t kend = skip_string(s, i, len);
        if (kend == 0)
            return -1;
        i = skip_ws(s, kend, len);
        if (i >= len || s[i] != ':')
            return -1;
        size_t vstart = skip_ws(s, i + 1, len);
        size_t vend = skip_value(s, vstart, len);
        if (vend == 0)
            return -1;
        member_t *m = &members[n++];
        m->start = start;
        m->vstart = vstart;
        m->vend = vend;
        m->patch = find_patch(patches, npatches, s + kstart, kend - 1 - kstart, used);
        i = skip_ws(s, vend, len);
        if (i < len && s[i] == ',') {
            m->next = ++i;
            continue;
        }
        if (i < len && s[i] == '}') {
            m->next = i;
            close = i;
            break;
        }
        return -1;
    }

    /* pass 2: the original bytes, with replaced values and removed members cut out */
    size_t pos = 0, kept = 0;
    for (size_t k = 0; k < n; k++) {
        const member_t *m = &members[k];
        if (m->patch == NULL) {
            kept++;
        } else if (m->patch->value != NULL) {
            llg_strbuf_append(out, s + pos, m->vstart - pos);
            llg_strbuf_appends(out, m->patch->value);
            pos = m->vend;
            kept++;
        } else if (k + 1 < n) {
            /* the member, its comma and the space before the next one */
            llg_strbuf_append(out, s + pos, m->start - pos);
            pos = m->next;
        } else if (kept > 0) {
            /* the last member goes with the comma before it */
            const member_t *prev = &members[k - 1];
            if (prev->vend > pos)
                llg_strbuf_append(out, s + pos, prev->vend - pos);
            pos = m->vend;
        } else {
            llg_strbuf_append(out, s + pos, m->start - pos);
            pos = m->vend;
        }
    }
    /* new members go after the last value, before the space and the '}' */
    size_t tail = n > 0 ? members[n - 1].vend : open;
    if (tail < pos)
        tail = pos;
    llg_strbuf_append(out, s + pos, tail - pos);
    for (size_t k = 0; k < npatches; k++) {
        if (used[k] || patches[k].value == NULL)
            continue;
        if (kept++ > 0)
            llg_strbuf_append(out, ",", 1);
        llg_strbuf_append_json_string(out, patches[k].key, strlen(patches[k].key));
        llg_strbuf_append(out, ":", 1);
        llg_strbuf_appends(out, patches[k].value);
    }
    (void)close;
    llg_strbuf_append(out, s + tail, len - tail);
    return 0;
}
