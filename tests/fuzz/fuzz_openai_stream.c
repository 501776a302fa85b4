/*
 * tests/fuzz/fuzz_openai_stream.c: an openai-type upstream's chat answer
 * (providers/openai_stream.c: chunks, or one chat.completion) read into
 * canonical events and rendered for OpenAI or Anthropic clients, on
 * arbitrary bytes; see fuzz_adapter.h for the input layout and the checks.
 * Also llg_openai_http_error on the same bytes.
 */
#include "tests/fuzz/fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_adapter(llg_egress_for(LLG_PROVIDER_OPENAI), data, size);
    return 0;
}
