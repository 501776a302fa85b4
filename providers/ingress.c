/*
 * providers/ingress.c: the table of client adapters (see ingress.h).
 */
#include "providers/ingress.h"

#include "providers/anthropic.h"
#include "providers/openai_request.h"

const llg_ingress_t llg_ingress_openai = {"openai", LLG_PROTOCOL_OPENAI, llg_chat_parse, &llg_render_openai};
const llg_ingress_t llg_ingress_anthropic = {"anthropic", LLG_PROTOCOL_ANTHROPIC, llg_anthropic_parse, &llg_render_anthropic};
