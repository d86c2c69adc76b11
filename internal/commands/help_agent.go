package commands

// agentHelp is `opsctl help agent`: the fields of an agent task's input,
// one line each, with the submit flag that sets each. A test checks that
// every field of agent.Input is here.
const agentHelp = `An agent task's input is a JSON object: --input, or built by submit from
--prompt and the flags in brackets (a flag sets its field, also over --input).

  prompt        required: the task, given to the model as the first message  [-p, --prompt]
  system        the system prompt                                             [-s, --system]
  provider      openai, anthropic, openrouter, ollama or gemini               [--provider]
  model         the provider's model name                                     [-m, --model]
  base_url      another endpoint for the provider; it is sent no API key      [--base-url]
  tools         tools it may use: built-in and SERVER__TOOL; [] for none      [-T, --tool]
  mcp_servers   MCP servers whose tools it may use                            [--mcp]
  max_steps     at most this many model calls (default 10)                    [--max-steps]
  max_tokens    token budget for the whole run; 0 means none                  [--max-tokens]
  max_cost_usd  budget in US dollars (agent.prices); default agent.max_cost_usd
  approval      tighten the approval policy: {"TOOL or GLOB": "ask" | "deny"}
  temperature   0 to 2; absent means the provider's default
  timeout       time limit for the whole run, e.g. "5m"

A field left out comes from the config's agent: section (agent.model,
agent.tools, ...); the task's value wins. Unknown fields are refused at
submit. 'opsctl tools' lists the tools and their bounds.

  opsctl submit -p "Which services restarted today?" -m gpt-4.1-mini -T run_command
  opsctl submit --input '{"prompt":"What time is it?","tools":["current_time"]}'
`
