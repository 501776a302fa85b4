/*
 * tests/fuzz/fuzz_responses_request.c: a Responses API request on arbitrary
 * bytes (providers/responses_request.c: llg_responses_parse()).
 *
 * Refused: NULL with a non-empty message and a `param`, both valid UTF-8.
 * Accepted: a canonical request every egress adapter takes: printed, it
 * reads back with llg_chat_parse() (an OpenAI chat request); every tool
 * message has a tool_call_id; the stateful fields (previous_response_id,
 * store: true, background: true, conversation) are never accepted.
 */
#include "providers/openai_request.h"
#include "providers/responses.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], param[64];
    cJSON *root = llg_responses_parse((const char *)data, size, err, sizeof(err), param, sizeof(param));
    if (root == NULL) {
        FUZZ_ASSERT(err[0] != '\0' && llg_utf8_valid(err, strlen(err)) && llg_utf8_valid(param, strlen(param)));
        return 0;
    }
    /* what was accepted had none of the stateful fields */
    cJSON *in = cJSON_ParseWithLength((const char *)data, size);
    FUZZ_ASSERT(in != NULL);
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(in, "previous_response_id");
    FUZZ_ASSERT(prev == NULL || cJSON_IsNull(prev));
    FUZZ_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "store")));
    FUZZ_ASSERT(!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "background")));
    cJSON_Delete(in);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        FUZZ_ASSERT(cJSON_IsString(role));
        if (strcmp(role->valuestring, "tool") == 0)
            FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "tool_call_id")));
    }
    char *text = cJSON_PrintUnformatted(root);
    FUZZ_ASSERT(text != NULL);
    cJSON *again = llg_chat_parse(text, strlen(text), err, sizeof(err), param, sizeof(param));
    if (again == NULL)
        fprintf(stderr, "canonical refused: %s\n%s\n", err, text);
    FUZZ_ASSERT(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
    cJSON_Delete(root);
    return 0;
}
