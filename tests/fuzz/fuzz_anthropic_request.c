/*
 * tests/fuzz/fuzz_anthropic_request.c: Anthropic's Messages request on
 * arbitrary bytes, both ways (providers/anthropic_request.c and
 * anthropic_call.c): llg_anthropic_parse() and llg_anthropic_parse_count().
 *
 * Refused: NULL, a message of valid UTF-8, and a `param` of valid UTF-8.
 * Accepted: the canonical request the rest of the gateway relies on: an
 * object with a string `model` and an array `messages` of objects with a
 * role of system, user, assistant or tool (system only first or from a
 * system turn), every string valid UTF-8; printed, it reads back with
 * llg_chat_parse() (an OpenAI chat request: what every egress adapter
 * takes); parse_count accepts whatever parse accepts. Built back into an
 * Anthropic request (llg_anthropic_build(), stream and not): one JSON object
 * with the model, a max_tokens of at least 1, turns alternating user and
 * assistant with non-empty content, every tool_use input an object; and
 * that body reads again with llg_anthropic_parse() (what the gateway sends
 * an anthropic upstream is a request the gateway itself accepts).
 */
#include "providers/anthropic.h"
#include "providers/openai_request.h"
#include "tests/fuzz/fuzz.h"

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

static int role_is(const cJSON *m, const char *role)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    return cJSON_IsString(r) && strcmp(r->valuestring, role) == 0;
}

static void check_canonical(const cJSON *root)
{
    FUZZ_ASSERT(cJSON_IsObject(root));
    check_strings(root);
    FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "model")));
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
    FUZZ_ASSERT(cJSON_IsArray(msgs));
    cJSON_ArrayForEach(m, msgs)
    {
        FUZZ_ASSERT(cJSON_IsObject(m));
        FUZZ_ASSERT(role_is(m, "system") || role_is(m, "user") || role_is(m, "assistant") || role_is(m, "tool"));
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        FUZZ_ASSERT(cJSON_IsString(content) || cJSON_IsArray(content) || cJSON_IsNull(content));
        if (role_is(m, "tool"))
            FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "tool_call_id")));
        const cJSON *call;
        cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
            FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(call, "id")));
            FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(fn, "name")));
            FUZZ_ASSERT(cJSON_IsString(args));
            cJSON *a = cJSON_Parse(args->valuestring);
            FUZZ_ASSERT(a != NULL);
            cJSON_Delete(a);
        }
    }
    /* the canonical request is an OpenAI chat request */
    char *text = cJSON_PrintUnformatted(root);
    FUZZ_ASSERT(text != NULL);
    char err[256], param[128];
    cJSON *again = llg_chat_parse(text, strlen(text), err, sizeof(err), param, sizeof(param));
    if (again == NULL)
        fprintf(stderr, "llg_chat_parse refused the canonical request: %s (%s)\n%s\n", err, param, text);
    FUZZ_ASSERT(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
}

static void check_built(const cJSON *root)
{
    for (int stream = 0; stream < 2; stream++) {
        llg_strbuf_t out = {0};
        FUZZ_ASSERT(llg_anthropic_build(root, "claude-fuzz", stream == 1, &out) == 0);
        FUZZ_ASSERT(llg_utf8_valid(out.data, out.len));
        cJSON *b = cJSON_ParseWithLength(out.data, out.len);
        FUZZ_ASSERT(cJSON_IsObject(b));
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(b, "model");
        FUZZ_ASSERT(cJSON_IsString(model) && strcmp(model->valuestring, "claude-fuzz") == 0);
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "max_tokens");
        FUZZ_ASSERT(cJSON_IsNumber(mt) && mt->valuedouble >= 1);
        FUZZ_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "stream")) == (stream == 1));
        const cJSON *m, *prev = NULL;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(b, "messages"))
        {
            FUZZ_ASSERT(role_is(m, "user") || role_is(m, "assistant"));
            if (prev != NULL)
                FUZZ_ASSERT(role_is(m, "user") != role_is(prev, "user"));
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *block;
            FUZZ_ASSERT(cJSON_IsArray(content) && cJSON_GetArraySize(content) > 0);
            cJSON_ArrayForEach(block, content)
            {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
                FUZZ_ASSERT(cJSON_IsString(type));
                if (strcmp(type->valuestring, "tool_use") == 0)
                    FUZZ_ASSERT(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(block, "input")));
                if (strcmp(type->valuestring, "text") == 0) {
                    const cJSON *t = cJSON_GetObjectItemCaseSensitive(block, "text");
                    FUZZ_ASSERT(cJSON_IsString(t) && t->valuestring[0] != '\0');
                }
            }
            prev = m;
        }
        cJSON_Delete(b);
        /* what goes to an anthropic upstream is a request the gateway accepts */
        char err[256], param[128];
        cJSON *again = llg_anthropic_parse(out.data, out.len, err, sizeof(err), param, sizeof(param));
        if (again == NULL)
            fprintf(stderr, "llg_anthropic_parse refused the built request: %s (%s)\n%.*s\n", err, param, (int)out.len, out.data);
        FUZZ_ASSERT(again != NULL);
        cJSON_Delete(again);
        llg_strbuf_free(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], param[128];
    memset(err, 'x', sizeof(err));
    memset(param, 'x', sizeof(param));
    cJSON *root = llg_anthropic_parse((const char *)data, size, err, sizeof(err), param, sizeof(param));
    char err2[256], param2[128];
    cJSON *count = llg_anthropic_parse_count((const char *)data, size, err2, sizeof(err2), param2, sizeof(param2));
    if (root == NULL) {
        FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        FUZZ_ASSERT(llg_utf8_valid(err, strlen(err)));
        FUZZ_ASSERT(memchr(param, '\0', sizeof(param)) != NULL);
        FUZZ_ASSERT(llg_utf8_valid(param, strlen(param)));
    } else {
        FUZZ_ASSERT(count != NULL);
        check_canonical(root);
        check_built(root);
        FUZZ_ASSERT(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_tokens")));
    }
    if (count != NULL) {
        check_canonical(count);
        check_built(count);
        (void)llg_anthropic_estimate_input(count);
    }
    cJSON_Delete(root);
    cJSON_Delete(count);
    return 0;
}
