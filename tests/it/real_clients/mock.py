#!/usr/bin/env python3
"""Stdlib-only mock LLM server for offline e2e tests of Claude Code, Gemini CLI and Codex.

Usage: python3 mock.py [--port N] [--ttl SECONDS] [--log FILE] [--port-file FILE]
  --port 0 picks a free port; it is written to --port-file (if given) and printed.
  The server listens on 127.0.0.1 only and exits by itself after --ttl seconds (default 300).

APIs:
  * Anthropic  POST /v1/messages        (stream or not)
  * Gemini     POST /v1beta/models/<m>:streamGenerateContent?alt=sse, :generateContent, :countTokens
  * OpenAI     POST /v1/responses        (SSE), GET /v1/models

Scripted turns (stateless: decided from each request body). The prompt carries the
script as directives, run one per model request:
  [[write PATH]]    the model's file tool writes PATH (relative to the client's cwd) with
                    "mock wrote PATH\n" (Write / write_file / apply_patch Add File)
  [[bash COMMAND]]  the model's shell tool runs COMMAND (Bash / run_shell_command / exec_command)
  [[fail STATUS]]   this model request answers HTTP STATUS (529 overloaded, 500, ...)
  [[reply]]         plain text (also what comes once every directive has run)
The prompt is the latest user text with a directive; the step is the number of tool results
after it, so a retried or resumed conversation always gets the same answer. Requests
that offer no tools (titles, classifiers) get short plain text and never fail.

Without directives (the recipe in docs/real-clients.md):
  Main agent turn without a tool result in the conversation  -> one tool call that
  writes MOCK_FILE (default "mock_hello.txt", relative to the client's cwd) with MOCK_TEXT.
  Turn that already contains a tool result                   -> final text "MOCK DONE".
  Auxiliary requests (no tools offered)                       -> short plain text.

Fault injection without directives:
  env MOCK_FAIL=529|500|...   every model request answers that status (Anthropic error JSON),
  env MOCK_FAIL_AFTER=N         the first N model requests succeed, the rest fail (e.g. N=1: tool call
                                then outage before the final answer),
  or at run time: POST /_mock/fail {"status":529}  /  {"status":0} to clear.
  GET /_mock/requests returns the request log (list of {path, body}).
"""
import argparse, json, shlex, os, re, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"fail": int(os.environ.get("MOCK_FAIL", "0") or 0), "log": [], "lock": threading.Lock(),
         # MOCK_FAIL_AFTER=N: the first N model requests succeed, later ones get MOCK_FAIL's status
         "fail_after": int(os.environ.get("MOCK_FAIL_AFTER", "0") or 0), "model_reqs": 0}
FILE = os.environ.get("MOCK_FILE", "mock_hello.txt")
TEXT = os.environ.get("MOCK_TEXT", "hello from mock\n")
FINAL = os.environ.get("MOCK_FINAL", "MOCK DONE")
LOGFILE = None


def log_req(path, body, headers):
    entry = {"t": time.time(), "path": path, "headers": {k: v for k, v in headers.items()
             if k.lower() not in ("authorization", "x-api-key", "x-goog-api-key")}, "body": body}
    with STATE["lock"]:
        STATE["log"].append(entry)
        if LOGFILE:
            with open(LOGFILE, "a") as f:
                f.write(json.dumps(entry) + "\n")


def cwd_from_text(s):
    """Find the working directory the client announces in its system prompt."""
    for pat in (r"Workspace Directories:\*\*\s*-\s*(/[^\s`'\"\\]+)",
                r"Primary working directory: *(/[^\s`'\"\\]+)",
                r"<cwd>(/[^<]+)</cwd>",
                r"[Ww]orking directory[^/\n]*?(/[^\s`'\"<\\]+)",
                r"I'm currently working in the directory: *(/[^\s`'\"\\]+)"):
        m = re.search(pat, s)
        if m:
            return m.group(1).rstrip(".:,")
    return None


DIRECTIVE = re.compile(r"\[\[(write|bash|fail|reply)(?:[ \t]+(.*?))?\]\]", re.S)


def script_step(entries):
    """entries: the conversation's user side in order, ("text", str) or ("result", None).
    Returns None (no script: the legacy behaviour) or (directive, argument)."""
    idx = None
    for i, (kind, text) in enumerate(entries):
        if kind == "text" and DIRECTIVE.search(text or ""):
            idx = i
    if idx is None:
        return None
    steps = [(d, (a or "").strip()) for d, a in DIRECTIVE.findall(entries[idx][1])]
    done = sum(1 for kind, _ in entries[idx + 1:] if kind == "result")
    return steps[done] if done < len(steps) else ("reply", "")


def written(path):
    return "mock wrote %s\n" % path


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("[mock] %s %s\n" % (self.command, self.path))

    # ---------- helpers ----------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Content-Encoding", "") in ("gzip",):
            import gzip
            raw = gzip.decompress(raw)
        elif self.headers.get("Content-Encoding", "") == "zstd":
            return {"_raw_zstd": len(raw)}
        try:
            return json.loads(raw or b"{}")
        except Exception:
            return {"_raw": raw[:2000].decode("utf-8", "replace")}

    def send_json(self, obj, status=200):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sse(self, events):
        """events: list of (event_name or None, dict)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, obj in events:
            chunk = ""
            if name:
                chunk += "event: %s\n" % name
            chunk += "data: %s\n\n" % json.dumps(obj)
            self.wfile.write(chunk.encode())
            self.wfile.flush()
        self.close_connection = True

    def fail_status(self):
        """Called once per model request."""
        with STATE["lock"]:
            STATE["model_reqs"] += 1
            n = STATE["model_reqs"]
        if STATE["fail"] and n <= STATE["fail_after"]:
            return 0
        return STATE["fail"]

    def scripted(self, entries, offered, default_status):
        """The script step for this request (None without a script, or when the main
        tools are not offered) and the status to answer (0: success)."""
        step = script_step(entries) if offered else None
        if step and step[0] == "fail":
            return step, int(step[1] or default_status)
        if step:
            return step, 0
        return None, self.fail_status()

    # ---------- routing ----------
    def do_GET(self):
        log_req(self.path, None, self.headers)
        p = self.path.split("?")[0]
        if p == "/_mock/requests":
            return self.send_json(STATE["log"])
        if p.endswith("/models"):
            # OpenAI-style and Codex-style model list
            return self.send_json({"object": "list", "data": [], "models": []})
        return self.send_json({}, 200) if p in ("/", "/health") else self.send_json({"error": "not found"}, 404)

    def do_HEAD(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()

    def do_POST(self):
        b = self.body()
        log_req(self.path, b, self.headers)
        p = self.path.split("?")[0]
        if p == "/_mock/fail":
            STATE["fail"] = int(b.get("status", 0))
            return self.send_json({"fail": STATE["fail"]})
        if p.endswith("/v1/messages/count_tokens"):
            return self.send_json({"input_tokens": 42})
        if p.endswith("/v1/messages"):
            return self.anthropic(b)
        if p.endswith("/responses"):
            return self.openai_responses(b)
        m = re.search(r"/models/([^/:]+):(\w+)$", p)
        if m:
            return self.gemini(m.group(1), m.group(2), b)
        return self.send_json({"error": "not found"}, 404)

    # ---------- Anthropic ----------
    def anthropic(self, b):
        model = b.get("model", "claude-mock")
        tools = [t.get("name") for t in b.get("tools") or []]
        msgs = b.get("messages") or []
        entries = []
        for m in msgs:
            c = m.get("content")
            if m.get("role") != "user":
                continue
            if isinstance(c, str):
                entries.append(("text", c))
            for x in c if isinstance(c, list) else []:
                if isinstance(x, dict) and x.get("type") == "text":
                    entries.append(("text", x.get("text", "")))
                elif isinstance(x, dict) and x.get("type") == "tool_result":
                    entries.append(("result", None))
        step, st = self.scripted(entries, "Write" in tools, 529)
        if st:
            etype = {529: "overloaded_error", 500: "api_error", 429: "rate_limit_error"}.get(st, "api_error")
            return self.send_json({"type": "error", "error": {"type": etype, "message": "mock %d" % st}}, st)
        last = msgs[-1] if msgs else {}
        has_result = isinstance(last.get("content"), list) and any(
            isinstance(c, dict) and c.get("type") == "tool_result" for c in last["content"])
        sysprompt = b.get("system")
        if isinstance(sysprompt, list):
            sysprompt = "\n".join(x.get("text", "") for x in sysprompt if isinstance(x, dict))
        allmsg = json.dumps(msgs)
        cwd = cwd_from_text(sysprompt or "") or cwd_from_text(allmsg) or os.getcwd()
        tool_id = "toolu_" + uuid.uuid4().hex[:20]
        if step and step[0] == "write":
            block = {"type": "tool_use", "id": tool_id, "name": "Write",
                     "input": {"file_path": os.path.join(cwd, step[1]), "content": written(step[1])}}
            stop = "tool_use"
        elif step and step[0] == "bash":
            block = {"type": "tool_use", "id": tool_id, "name": "Bash",
                     "input": {"command": step[1], "description": "mock shell step"}}
            stop = "tool_use"
        elif step:
            block = {"type": "text", "text": FINAL}
            stop = "end_turn"
        elif "Write" in tools and not has_result:
            block = {"type": "tool_use", "id": tool_id, "name": "Write",
                     "input": {"file_path": os.path.join(cwd, FILE), "content": TEXT}}
            stop = "tool_use"
        else:
            text = FINAL if "Write" in tools else "Mock title"
            block = {"type": "text", "text": text}
            stop = "end_turn"
        msg_id = "msg_" + uuid.uuid4().hex[:20]
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not b.get("stream"):
            return self.send_json({"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                   "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage})
        ev = [("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": dict(usage, output_tokens=1)}})]
        if block["type"] == "tool_use":
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        else:
            ev.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": block["text"]}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": 5}}))
        ev.append(("message_stop", {"type": "message_stop"}))
        self.sse(ev)

    # ---------- Gemini ----------
    def gemini(self, model, method, b):
        decls = []
        for t in b.get("tools") or []:
            for d in t.get("functionDeclarations") or []:
                decls.append(d.get("name"))
        contents = b.get("contents") or []
        entries = []
        for c in contents:
            if c.get("role", "user") != "user":
                continue
            for part in c.get("parts") or []:
                if "text" in part:
                    entries.append(("text", part["text"]))
                elif "functionResponse" in part:
                    entries.append(("result", None))
        step, st = self.scripted(entries, "write_file" in decls, 500)
        if st:
            status = {529: 503, 500: 500}.get(st, st)
            return self.send_json({"error": {"code": status, "message": "mock %d" % st,
                                             "status": "UNAVAILABLE" if status == 503 else "INTERNAL"}}, status)
        if method == "countTokens":
            return self.send_json({"totalTokens": 42})
        if method in ("embedContent", "batchEmbedContents"):
            return self.send_json({"embedding": {"values": [0.0] * 8}})
        last = contents[-1] if contents else {}
        has_result = any("functionResponse" in part for part in last.get("parts", []))
        gc = b.get("generationConfig") or b.get("config") or {}
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
        si = json.dumps(b.get("systemInstruction") or "") + json.dumps(contents)
        cwd = cwd_from_text(si.replace("\\n", "\n")) or os.getcwd()
        if step and step[0] == "write":
            part = {"functionCall": {"name": "write_file", "args": {
                "file_path": os.path.join(cwd, step[1]), "content": written(step[1])}}}
        elif step and step[0] == "bash":
            part = {"functionCall": {"name": "run_shell_command", "args": {
                "command": step[1], "description": "mock shell step"}}}
        elif step:
            part = {"text": FINAL}
        elif "write_file" in decls and not has_result:
            part = {"functionCall": {"name": "write_file",
                                     "args": {"file_path": os.path.join(cwd, FILE), "content": TEXT}}}
        elif decls:
            part = {"text": FINAL}
        elif gc.get("responseMimeType") == "application/json" or gc.get("responseJsonSchema") or gc.get("responseSchema"):
            # classifier / next-speaker / loop-detection style JSON calls
            part = {"text": json.dumps({"reasoning": "mock", "model_choice": "flash",
                                        "next_speaker": "user", "confidence": 0.0,
                                        "unproductive_state_confidence": 0.0,
                                        "unproductive_state_analysis": "mock",
                                        "complexity_reasoning": "mock", "complexity_score": 1})}
        else:
            part = {"text": "Mock summary"}
        resp = {"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage, "modelVersion": model}
        if method == "streamGenerateContent":
            return self.sse([(None, resp)])
        return self.send_json(resp)

    # ---------- OpenAI Responses (Codex) ----------
    def openai_responses(self, b):
        tools = []
        for t in b.get("tools") or []:
            tools.append(t.get("name") or (t.get("function") or {}).get("name") or t.get("type"))
        inp = b.get("input") or []
        results = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
        entries = []
        for i in inp:
            if not isinstance(i, dict):
                continue
            if i.get("type") in results:
                entries.append(("result", None))
            elif i.get("type", "message") == "message" and i.get("role") == "user":
                c = i.get("content")
                for x in c if isinstance(c, list) else [{"text": c}]:
                    if isinstance(x, dict) and isinstance(x.get("text"), str):
                        entries.append(("text", x["text"]))
        step, st = self.scripted(entries, bool(tools), 500)
        if st:
            return self.send_json({"error": {"message": "mock %d" % st, "type": "server_error"}}, st)
        has_result = any(isinstance(i, dict) and i.get("type") in results for i in inp)
        rid = "resp_" + uuid.uuid4().hex[:20]
        ev = [(None, {"type": "response.created", "response": {"id": rid}})]
        call_id = "call_" + uuid.uuid4().hex[:16]
        tdefs = {(t.get("name") or t.get("type")): t for t in b.get("tools") or []}
        if step and step[0] in ("write", "bash"):
            if step[0] == "write":
                patch = "*** Begin Patch\n*** Add File: %s\n%s*** End Patch\n" % (
                    step[1], "".join("+" + l + "\n" for l in written(step[1]).rstrip("\n").split("\n")))
                if tdefs.get("apply_patch", {}).get("type") == "custom":
                    item = {"type": "custom_tool_call", "id": "ctc_1", "status": "completed",
                            "call_id": call_id, "name": "apply_patch", "input": patch}
                else:
                    item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "apply_patch",
                            "arguments": json.dumps({"input": patch})}
            else:
                item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "exec_command",
                        "arguments": json.dumps({"cmd": step[1]})}
        elif step:
            item = {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                    "content": [{"type": "output_text", "text": FINAL, "annotations": []}]}
        elif not has_result and tools:
            patch = "*** Begin Patch\n*** Add File: %s\n%s*** End Patch\n" % (
                FILE, "".join("+" + l + "\n" for l in TEXT.rstrip("\n").split("\n")))
            if "apply_patch" in tdefs and tdefs["apply_patch"].get("type") == "custom":
                item = {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": call_id,
                        "name": "apply_patch", "input": patch}
            elif "apply_patch" in tdefs:
                item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "apply_patch",
                        "arguments": json.dumps({"input": patch})}
            elif "shell_command" in tdefs:
                item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "shell_command",
                        "arguments": json.dumps({"command": "printf '%%s' %s > %s" % (shlex.quote(TEXT), FILE)})}
            elif "exec_command" in tdefs:
                item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "exec_command",
                        "arguments": json.dumps({"cmd": "printf '%%s' %s > %s" % (shlex.quote(TEXT), FILE)})}
            else:
                item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "shell",
                        "arguments": json.dumps({"command": ["bash", "-lc", "printf '%%s' %s > %s" % (shlex.quote(TEXT), FILE)]})}
        else:
            item = {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                    "content": [{"type": "output_text", "text": FINAL, "annotations": []}]}
        ev.append((None, {"type": "response.output_item.added", "output_index": 0, "item": item}))
        ev.append((None, {"type": "response.output_item.done", "output_index": 0, "item": item}))
        ev.append((None, {"type": "response.completed", "response": {
            "id": rid, "output": [item],
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}}}))
        # Responses API SSE uses "event: <type>" lines too
        self.sse([(e["type"], e) for _, e in ev])


def main():
    global LOGFILE
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttl", type=float, default=300)
    ap.add_argument("--log")
    ap.add_argument("--port-file")
    a = ap.parse_args()
    LOGFILE = a.log
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(a.port_file + ".tmp", a.port_file)
    print("mock listening on 127.0.0.1:%d (ttl %ss)" % (port, a.ttl), flush=True)
    threading.Timer(a.ttl, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
