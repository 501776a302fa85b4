/*
 * providers/ollama_embed.c: Ollama's embeddings endpoints over an OpenAI
 * /embeddings upstream (see ollama.h; docs/protocols.md): /api/embed and the
 * older /api/embeddings requests read into OpenAI's request, and OpenAI's
 * answer written in their shapes.
 *
 * The answer is read one member at a time with the byte scanner of
 * providers/json_edit.h, not parsed whole: a batch of vectors is megabytes of
 * numbers, and a tree of them costs many times the text. Each number goes
 * out as the text the upstream wrote, checked against JSON's grammar, so no
 * float is read and printed again: nothing of its precision is lost.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/json_edit.h"
#include "providers/ollama.h"
#include "providers/usage.h"

/* ---- the request ------------------------------------------------------- */

/* The texts to embed as OpenAI's `input`: a string, or (not on the older
 * endpoint) an array of strings, none of them empty. `name` is the member
 * the client sent them in ("input", or "prompt"). No text at all (missing,
 * null, "" or []) is Ollama's way to load a model: `input` is then [] and
 * the answer has no vectors (llg_ollama_embed_preload). */
static int add_input(const cJSON *root, const char *name, bool list_ok, cJSON *out, llg_req_error_t *e)
{
    const cJSON *in = llg_json_get(root, name);
    if (in == NULL || cJSON_IsNull(in) || (cJSON_IsString(in) && in->valuestring[0] == '\0') ||
        (list_ok && cJSON_IsArray(in) && in->child == NULL)) {
        cJSON_AddArrayToObject(out, "input");
        return 0;
    }
    if (list_ok && cJSON_IsArray(in)) {
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, in)
        {
            char at[64];
            snprintf(at, sizeof(at), "%s[%d]", name, i++);
            if (!cJSON_IsString(item))
                return llg_req_fail(e, at, "invalid input type: expected a string or an array of strings");
            if (item->valuestring[0] == '\0')
                return llg_req_fail(e, at, "%s is empty: there is nothing to embed", at);
        }
    } else if (!cJSON_IsString(in)) {
        return llg_req_fail(e, name, "invalid %s type: expected a string%s", name, list_ok ? " or an array of strings" : "");
    }
    cJSON_AddItemToObject(out, "input", cJSON_Duplicate(in, 1));
    return 0;
}

/* `dimensions`: a positive integer; 0 means "not set", as in Ollama. */
static int add_dimensions(const cJSON *root, cJSON *out, llg_req_error_t *e)
{
    const cJSON *d = llg_json_get(root, "dimensions");
    if (d == NULL || cJSON_IsNull(d))
        return 0;
    int64_t n = llg_json_count(root, "dimensions", 1e9);
    if (n < 0 || (double)n != d->valuedouble)
        return llg_req_fail(e, "dimensions", "invalid dimensions: expected a positive integer");
    if (n > 0)
        cJSON_AddNumberToObject(out, "dimensions", (double)n);
    return 0;
}

static cJSON *parse(const char *body, size_t len, bool legacy, llg_req_error_t *e)
{
    cJSON *out = NULL, *root = llg_ollama_request_begin(body, len, e, &out);
    if (root == NULL)
        return NULL;
    /* the older endpoint has no dimensions */
    int rc = legacy ? add_input(root, "prompt", false, out, e) : add_input(root, "input", true, out, e);
    if (rc == 0 && !legacy)
        rc = add_dimensions(root, out, e);
    cJSON_Delete(root);
    if (rc != 0) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

cJSON *llg_ollama_parse_embed(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    return parse(body, len, false, &e);
}

cJSON *llg_ollama_parse_embeddings(const char *body, size_t len, char *err, size_t errsize, char *param, size_t paramsize)
{
    llg_req_error_t e = {err, param, errsize, paramsize};
    return parse(body, len, true, &e);
}

/* ---- the answer -------------------------------------------------------- */

/* One vector of the answer: the text of its array of numbers. */
typedef struct vector {
    const char *text;
    size_t len;
} vector_t;

/* The index just past the digits at p[i]. */
static size_t digits(const char *p, size_t i, size_t n)
{
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    return i;
}

/* Whether [p, p + n) is exactly one number of JSON's grammar: no NaN,
 * Infinity, hex, leading '+' or zeros, which an Ollama client may not read. */
static bool json_number(const char *p, size_t n)
{
    size_t i = n > 0 && p[0] == '-' ? 1 : 0, d;
    if (i < n && p[i] == '0')
        i++;
    else if ((d = digits(p, i, n)) > i)
        i = d;
    else
        return false;
    if (i < n && p[i] == '.') {
        if ((d = digits(p, i + 1, n)) == i + 1)
            return false;
        i = d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if ((d = digits(p, i, n)) == i)
            return false;
        i = d;
    }
    return i == n;
}

/* Checks that the text is an array of JSON numbers and, with `out`, appends
 * it without its blanks, every number as written. Returns 0 or -1. */
static int numbers(const char *s, size_t len, llg_strbuf_t *out)
{
    size_t pos = 0, vlen;
    const char *v;
    int r;
    if (out != NULL)
        llg_strbuf_append(out, "[", 1);
    for (bool first = true; (r = llg_json_element(s, len, &pos, &v, &vlen)) == 1; first = false) {
        if (!json_number(v, vlen))
            return -1;
        if (out != NULL) {
            if (!first)
                llg_strbuf_append(out, ",", 1);
            llg_strbuf_append(out, v, vlen);
        }
    }
    if (out != NULL)
        llg_strbuf_append(out, "]", 1);
    return r;
}

/* An element's `index`: absent (its place in `data` stands), or a count
 * written in digits. Returns it, the place, or -1. */
static long element_index(const char *el, size_t elen, long place)
{
    const char *v;
    size_t vlen;
    if (!llg_json_member(el, elen, "index", &v, &vlen))
        return place;
    if (vlen == 0 || vlen > 9 || (vlen > 1 && v[0] == '0'))
        return -1;
    long k = 0;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        k = k * 10 + (v[i] - '0');
    }
    return k;
}

/* The vectors of `data`, each at the place its `index` names (0 to n - 1,
 * each once): the upstream's order is not relied on. Returns their number
 * and *out (the caller frees it), or -1 with a message in `why`. */
static long read_vectors(const char *body, size_t len, vector_t **out, char *why, size_t whysize)
{
    const char *data, *el;
    size_t dlen, elen, pos = 0;
    vector_t *seen = NULL, *placed = NULL;
    long n = 0, cap = 0, rc = -1;
    int r;
    *out = NULL;
    if (!llg_json_member(body, len, "data", &data, &dlen)) {
        snprintf(why, whysize, "it is no JSON object with a \"data\" member");
        return -1;
    }
    while ((r = llg_json_element(data, dlen, &pos, &el, &elen)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            vector_t *grown = realloc(seen, (size_t)cap * sizeof(*seen));
            if (grown == NULL)
                goto Exit;
            seen = grown;
        }
        if (!llg_json_member(el, elen, "embedding", &seen[n].text, &seen[n].len) || numbers(seen[n].text, seen[n].len, NULL) != 0) {
            snprintf(why, whysize, "data[%ld].embedding is no array of numbers", n);
            goto Exit;
        }
        n++;
    }
    if (r < 0) {
        snprintf(why, whysize, "\"data\" is no array");
        goto Exit;
    }
    /* a second pass over the elements for their indexes: no room is kept
     * for them in the first */
    if ((placed = calloc((size_t)n + 1, sizeof(*placed))) == NULL)
        goto Exit;
    pos = 0;
    for (long i = 0; i < n; i++) {
        llg_json_element(data, dlen, &pos, &el, &elen);
        long k = element_index(el, elen, i);
        if (k < 0 || k >= n || placed[k].text != NULL) {
            snprintf(why, whysize, "the indexes of \"data\" are not 0 to %ld, each once", n - 1);
            goto Exit;
        }
        placed[k] = seen[i];
    }
    *out = placed;
    placed = NULL;
    rc = n;
Exit:
    if (rc < 0 && why[0] == '\0')
        snprintf(why, whysize, "out of memory");
    free(seen);
    free(placed);
    return rc;
}

/* Both answers: the vectors read, then written by `write` only when all of
 * them are good, so that a refused answer leaves `out` as it was. */
static int answer(const char *body, size_t len, const char *model, uint64_t total_ns, bool legacy, llg_strbuf_t *out, char *err,
                  size_t errsize)
{
    vector_t *v;
    char why[160] = "";
    long n = read_vectors(body, len, &v, why, sizeof(why));
    if (n >= 0 && legacy && n != 1) {
        snprintf(why, sizeof(why), "it holds %ld vectors, not one", n);
        n = -1;
    }
    if (n < 0) {
        free(v);
        snprintf(err, errsize, "The upstream provider's embeddings answer could not be read: %s.", why);
        return -1;
    }
    if (legacy) {
        llg_strbuf_appends(out, "{\"embedding\":");
        numbers(v[0].text, v[0].len, out);
        llg_strbuf_appends(out, "}");
        free(v);
        return 0;
    }
    uint64_t prompt = 0, completion = 0;
    llg_usage_read(body, len, &prompt, &completion);
    llg_strbuf_appends(out, "{\"model\":");
    llg_strbuf_append_json_text(out, model);
    llg_strbuf_appends(out, ",\"embeddings\":[");
    for (long i = 0; i < n; i++) {
        if (i > 0)
            llg_strbuf_append(out, ",", 1);
        numbers(v[i].text, v[i].len, out);
    }
    /* load_duration is 0: llmgate loads no model */
    llg_strbuf_appendf(out, "],\"total_duration\":%llu,\"load_duration\":0,\"prompt_eval_count\":%llu}",
                       (unsigned long long)total_ns, (unsigned long long)prompt);
    free(v);
    return 0;
}

bool llg_ollama_embed_is_preload(const cJSON *request)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(request, "input");
    return cJSON_IsArray(in) && in->child == NULL;
}

void llg_ollama_embed_preload(const char *model, bool legacy, llg_strbuf_t *out)
{
    if (legacy) {
        llg_strbuf_appends(out, "{\"embedding\":[]}");
        return;
    }
    llg_strbuf_appends(out, "{\"model\":");
    llg_strbuf_append_json_text(out, model);
    llg_strbuf_appends(out, ",\"embeddings\":[],\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":0}");
}

int llg_ollama_embed_answer(const char *body, size_t len, const char *model, uint64_t total_ns, llg_strbuf_t *out, char *err,
                            size_t errsize)
{
    return answer(body, len, model, total_ns, false, out, err, errsize);
}

int llg_ollama_embeddings_answer(const char *body, size_t len, const char *model, uint64_t total_ns, llg_strbuf_t *out, char *err,
                                 size_t errsize)
{
    return answer(body, len, model, total_ns, true, out, err, errsize);
}
