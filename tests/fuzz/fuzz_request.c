/*
 * tests/fuzz/fuzz_request.c: the request body validators on arbitrary bytes:
 * llg_chat_parse() (chat completions, providers/openai_request.c, on
 * providers/request_json.c) and parse_generic() of server/chat.c
 * (completions, embeddings, images). The three files are included, not
 * linked, so their static functions (duplicate_key, parse_generic) are
 * reachable and get the fuzzer's coverage; the rest of
 * the server library is linked but never started (no network, no h2o loop).
 *
 * On acceptance the parsed body must be what the rest of the request path
 * relies on: an object without duplicate top-level keys, a string `model`,
 * `messages` an array of objects each with a string `role` and a string, array
 * or null `content`, every string and key valid UTF-8. On refusal the error
 * must render as an OpenAI error body that is valid UTF-8 JSON with the
 * message, type and param it was given, and param must name the offending
 * parameter (or be empty).
 */
#include "providers/openai_request.c"
#include "providers/request_json.c"
#include "server/chat.c"

#include "tests/fuzz/fuzz.h"

/* every key and string of the tree is well-formed UTF-8 */
static void check_strings(const cJSON *j)
{
    for (const cJSON *c = j->child; c != NULL; c = c->next) {
        if (c->string != NULL)
            FUZZ_ASSERT(llg_utf8_valid(c->string, strlen(c->string)));
        if (cJSON_IsString(c))
            FUZZ_ASSERT(llg_utf8_valid(c->valuestring, strlen(c->valuestring)));
        check_strings(c);
    }
}

/* `param` names what was refused: empty, a top-level member of the body (or
 * a required one that is missing), with a path into it ("messages[2].role")
 * that exists; for a duplicate key, a prefix of that key. */
static void check_param(const char *body, size_t size, const char *err, const char *param)
{
    if (param[0] == '\0')
        return;
    cJSON *j = cJSON_ParseWithLength(body, size);
    FUZZ_ASSERT(cJSON_IsObject(j));
    if (strncmp(err, "Duplicate key '", 15) == 0) {
        int found = 0;
        for (const cJSON *c = j->child; c != NULL && !found; c = c->next)
            found = strncmp(c->string, param, strlen(param)) == 0;
        FUZZ_ASSERT(found);
        cJSON_Delete(j);
        return;
    }
    size_t n = strcspn(param, ".[");
    char name[64];
    FUZZ_ASSERT(n > 0 && n < sizeof(name));
    memcpy(name, param, n);
    name[n] = '\0';
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    FUZZ_ASSERT(v != NULL || strncmp(err, "Missing required parameter: '", 29) == 0);
    if (param[n] == '[') { /* messages[N] or messages[N].role / .content */
        char *e;
        long i = strtol(param + n + 1, &e, 10);
        FUZZ_ASSERT(e != param + n + 1 && *e == ']' && i >= 0 && i < cJSON_GetArraySize(v));
        FUZZ_ASSERT(e[1] == '\0' || strcmp(e + 1, ".role") == 0 || strcmp(e + 1, ".content") == 0);
    } else if (param[n] == '.') {
        FUZZ_ASSERT(cJSON_IsObject(v));
    }
    cJSON_Delete(j);
}

static void check_refusal(const char *body, size_t size, const char *err, const char *param)
{
    FUZZ_ASSERT(err[0] != '\0');
    FUZZ_ASSERT(llg_utf8_valid(err, strlen(err)));
    FUZZ_ASSERT(llg_utf8_valid(param, strlen(param)));
    check_param(body, size, err, param);

    /* what handle() sends */
    llg_strbuf_t b = {0};
    llg_render_error(&b, "invalid_request_error", NULL, param[0] != '\0' ? param : NULL, err);
    FUZZ_ASSERT(llg_utf8_valid(b.data, b.len));
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    FUZZ_ASSERT(cJSON_IsObject(e));
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "param");
    FUZZ_ASSERT(cJSON_IsString(message) && strcmp(message->valuestring, err) == 0);
    FUZZ_ASSERT(cJSON_IsString(type) && strcmp(type->valuestring, "invalid_request_error") == 0);
    FUZZ_ASSERT(param[0] != '\0' ? cJSON_IsString(p) && strcmp(p->valuestring, param) == 0 : cJSON_IsNull(p));
    FUZZ_ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "code")));
    cJSON_Delete(j);
    llg_strbuf_free(&b);
}

static void check_chat(const cJSON *root)
{
    FUZZ_ASSERT(cJSON_IsObject(root));
    FUZZ_ASSERT(duplicate_key(root) == NULL);
    check_strings(root);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    FUZZ_ASSERT(model == NULL || cJSON_IsString(model));
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    FUZZ_ASSERT(cJSON_IsArray(messages));
    const cJSON *m;
    llg_strbuf_t text = {0};
    cJSON_ArrayForEach(m, messages)
    {
        FUZZ_ASSERT(cJSON_IsObject(m));
        FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "role")));
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        FUZZ_ASSERT(content == NULL || cJSON_IsString(content) || cJSON_IsArray(content) || cJSON_IsNull(content));
        content_text(content, &text); /* what the echo provider answers */
    }
    FUZZ_ASSERT(llg_utf8_valid(text.data != NULL ? text.data : "", text.len));
    llg_strbuf_free(&text);
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    FUZZ_ASSERT(stream == NULL || cJSON_IsBool(stream) || cJSON_IsNull(stream));
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    FUZZ_ASSERT(opts == NULL || cJSON_IsNull(opts) || cJSON_IsObject(opts));

    /* the tree prints and reads back as the same thing */
    char *s = cJSON_PrintUnformatted(root);
    FUZZ_ASSERT(s != NULL);
    cJSON *again = cJSON_Parse(s);
    FUZZ_ASSERT(cJSON_IsObject(again) && cJSON_GetArraySize(again) == cJSON_GetArraySize(root));
    cJSON_Delete(again);
    cJSON_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char err[512], param[64];

    memset(err, 0, sizeof(err));
    cJSON *chat = llg_chat_parse(body, size, err, sizeof(err), param, sizeof(param));
    if (chat != NULL)
        check_chat(chat);
    else
        check_refusal(body, size, err, param);

    memset(err, 0, sizeof(err));
    cJSON *generic = parse_generic(body, size, err, sizeof(err), param, sizeof(param));
    if (generic != NULL) {
        FUZZ_ASSERT(cJSON_IsObject(generic));
        check_strings(generic);
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(generic, "model");
        FUZZ_ASSERT(model == NULL || cJSON_IsString(model));
    } else {
        check_refusal(body, size, err, param);
        FUZZ_ASSERT(param[0] == '\0' || strcmp(param, "model") == 0);
        /* the generic check is the weaker one */
        FUZZ_ASSERT(chat == NULL);
    }
    cJSON_Delete(generic);
    cJSON_Delete(chat);
    return 0;
}
