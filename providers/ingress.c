/*
 * providers/ingress.c: the table of client adapters (see ingress.h).
 */
#include "providers/ingress.h"

#include "providers/anthropic.h"
#include "providers/ollama.h"
#include "providers/openai_request.h"
#include "providers/responses.h"

#define SSE    "text/event-stream"
#define NDJSON "application/x-ndjson"

const llg_ingress_t llg_ingress_openai = {"openai", LLG_PROTOCOL_OPENAI, llg_chat_parse, &llg_render_openai, SSE, true, NULL};
const llg_ingress_t llg_ingress_anthropic = {
    "anthropic", LLG_PROTOCOL_ANTHROPIC, llg_anthropic_parse, &llg_render_anthropic, SSE, true, NULL};
const llg_ingress_t llg_ingress_ollama_chat = {
    "ollama", LLG_PROTOCOL_OLLAMA, llg_ollama_parse_chat, &llg_render_ollama_chat, NDJSON, false, NULL};
const llg_ingress_t llg_ingress_ollama_generate = {
    "ollama-generate", LLG_PROTOCOL_OLLAMA, llg_ollama_parse_generate, &llg_render_ollama_generate, NDJSON, false, NULL};
/* the chat renderer writes their errors ({"error": "..."}); they never stream */
const llg_ingress_t llg_ingress_ollama_embed = {
    "ollama-embed", LLG_PROTOCOL_OLLAMA, llg_ollama_parse_embed, &llg_render_ollama_chat, NDJSON, false, llg_ollama_embed_answer};
const llg_ingress_t llg_ingress_ollama_embeddings = {
    "ollama-embeddings",         LLG_PROTOCOL_OLLAMA, llg_ollama_parse_embeddings, &llg_render_ollama_chat, NDJSON, false,
    llg_ollama_embeddings_answer};
const llg_ingress_t llg_ingress_responses = {
    "responses", LLG_PROTOCOL_RESPONSES, llg_responses_parse, &llg_render_responses, SSE, true, NULL};
