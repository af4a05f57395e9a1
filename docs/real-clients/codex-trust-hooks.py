#!/usr/bin/env python3
"""Trust all hooks Codex discovers for CWD: ask `codex app-server` (stdio JSON-RPC) for hooks/list,
then append [hooks.state."<key>"] trusted_hash = "<currentHash>" to $CODEX_HOME/config.toml.
usage: CODEX_HOME=... codex-trust-hooks.py <cwd>"""
import json, os, subprocess, sys, time
cwd = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
p = subprocess.Popen(["codex", "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, cwd=cwd, text=True)
def send(o): p.stdin.write(json.dumps(o) + "\n"); p.stdin.flush()
send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"clientInfo": {"name": "trust", "version": "0"}}})
send({"jsonrpc": "2.0", "method": "initialized"})
send({"jsonrpc": "2.0", "id": 2, "method": "hooks/list", "params": {"cwds": [cwd]}})
deadline = time.time() + 20; hooks = None
while time.time() < deadline:
    line = p.stdout.readline()
    if not line: break
    m = json.loads(line)
    if m.get("id") == 2:
        hooks = [h for d in m["result"]["data"] for h in d["hooks"]]; break
p.kill(); p.wait()
if hooks is None: sys.exit("hooks/list failed")
cfg = os.path.join(os.environ["CODEX_HOME"], "config.toml")
with open(cfg, "a") as f:
    for h in hooks:
        if h["trustStatus"] != "trusted":
            f.write('\n[hooks.state.%s]\ntrusted_hash = %s\n' % (json.dumps(h["key"]), json.dumps(h["currentHash"])))
print("\n".join("%s %s %s" % (h["eventName"], h["trustStatus"], h["key"]) for h in hooks))
