/*
 * providers/ingress.c: the table of client adapters (see ingress.h).
 */
#include "providers/ingress.h"

#include "providers/anthropic.h"
#include "providers/ollama.h"
#include "providers/openai_request.h"
#include "providers/responses.h"

#define SSE "text/event-stream"

const llg_ingress_t llg_ingress_openai = {"openai", LLG_PROTOCOL_OPENAI, llg_chat_parse, &llg_render_openai, SSE, true};
const llg_ingress_t llg_ingress_anthropic = {"anthropic", LLG_PROTOCOL_ANTHROPIC, llg_anthropic_parse, &llg_render_anthropic, SSE,
                                             true};
const llg_ingress_t llg_ingress_ollama_chat = {
    "ollama", LLG_PROTOCOL_OLLAMA, llg_ollama_parse_chat, &llg_render_ollama_chat, "application/x-ndjson", false};
const llg_ingress_t llg_ingress_ollama_generate = {"ollama-generate",           LLG_PROTOCOL_OLLAMA,    llg_ollama_parse_generate,
                                                   &llg_render_ollama_generate, "application/x-ndjson", false};
const llg_ingress_t llg_ingress_responses = {"responses", LLG_PROTOCOL_RESPONSES, llg_responses_parse, &llg_render_responses, SSE,
                                             true};
