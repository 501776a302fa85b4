/*
 * tests/fuzz/fuzz_ollama_request.c: Ollama's /api/chat and /api/generate
 * requests on arbitrary bytes (providers/ollama_request.c):
 * llg_ollama_parse_chat() and llg_ollama_parse_generate().
 *
 * Refused: NULL with a non-empty message and a `param`, both valid UTF-8.
 * Accepted: the canonical request every egress adapter takes: an object with
 * a string `model`, a boolean `stream` when present, and `messages` that,
 * printed, read back with llg_chat_parse() (an OpenAI chat request); every
 * tool message has a tool_call_id and every assistant tool call arguments
 * that are JSON text; generate gives one user message, after a system one at
 * most. The error body of a refusal (Ollama's {"error"}) is valid JSON.
 */
#include "providers/answer.h"
#include "providers/ollama.h"
#include "providers/openai_request.h"
#include "tests/fuzz/fuzz.h"

static void check(cJSON *root, bool generate)
{
    FUZZ_ASSERT(cJSON_IsObject(root));
    FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "model")));
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    FUZZ_ASSERT(stream == NULL || cJSON_IsTrue(stream));
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages"), *m;
    FUZZ_ASSERT(cJSON_IsArray(msgs));
    int n = 0;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        FUZZ_ASSERT(cJSON_IsString(role));
        if (strcmp(role->valuestring, "tool") == 0)
            FUZZ_ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "tool_call_id")));
        const cJSON *tc;
        cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
        {
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tc, "function"), "arguments");
            FUZZ_ASSERT(cJSON_IsString(args));
            cJSON *parsed = cJSON_Parse(args->valuestring);
            FUZZ_ASSERT(parsed != NULL);
            cJSON_Delete(parsed);
        }
        n++;
    }
    if (generate)
        FUZZ_ASSERT(n == 1 || n == 2);
    char *text = cJSON_PrintUnformatted(root);
    FUZZ_ASSERT(text != NULL);
    char err[512], param[64];
    cJSON *again = llg_chat_parse(text, strlen(text), err, sizeof(err), param, sizeof(param));
    if (again == NULL)
        fprintf(stderr, "canonical refused: %s\n%s\n", err, text);
    FUZZ_ASSERT(again != NULL);
    cJSON_Delete(again);
    cJSON_free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int generate = 0; generate < 2; generate++) {
        char err[512], param[64];
        cJSON *root = generate ? llg_ollama_parse_generate((const char *)data, size, err, sizeof(err), param, sizeof(param))
                               : llg_ollama_parse_chat((const char *)data, size, err, sizeof(err), param, sizeof(param));
        if (root == NULL) {
            fuzz_check_ollama_refusal(err, param);
            continue;
        }
        check(root, generate);
        cJSON_Delete(root);
    }
    return 0;
}
