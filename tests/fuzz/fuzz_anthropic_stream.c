/*
 * tests/fuzz/fuzz_anthropic_stream.c: an anthropic upstream's answer
 * (providers/anthropic_stream.c: Messages SSE events, or one message) read
 * into canonical events and rendered for OpenAI or Anthropic clients, on
 * arbitrary bytes; see fuzz_adapter.h for the input layout and the checks.
 * Also llg_anthropic_http_error on the same bytes.
 */
#include "tests/fuzz/fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_adapter(llg_egress_for(LLG_PROVIDER_ANTHROPIC), data, size);
    return 0;
}
