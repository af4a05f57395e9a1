#!/bin/bash
# project-level hooks: <repo>/.codex/hooks.json, project trusted in config.toml, hook hashes trusted via app-server
set -u
cd /tmp/e2e-probe
TAG=proj${1:-}
rm -f port.c$TAG req-codex-$TAG.jsonl hooks-codex-$TAG.log*
python3 mock.py --port 0 --ttl 120 --log req-codex-$TAG.jsonl --port-file port.c$TAG > mock-c$TAG.out 2>&1 &
MPID=$!
for i in $(seq 50); do [ -s port.c$TAG ] && break; sleep 0.1; done
PORT=$(cat port.c$TAG)
export HOME=/tmp/e2e-probe/home-codex-$TAG CODEX_HOME=/tmp/e2e-probe/home-codex-$TAG/.codex
rm -rf $HOME; mkdir -p $CODEX_HOME
sed "s/@PORT@/$PORT/; s/@TAG@/$TAG/; s/@MODEL@/gpt-5.5/" codex-config.toml.tmpl > $CODEX_HOME/config.toml
export PATH=/tmp/e2e-probe/inst-codex/node_modules/.bin:$PATH MOCK_API_KEY=mock-key
R=/tmp/e2e-probe/repo-codex-$TAG; rm -rf $R; mkdir -p $R/.codex
sed "s/@TAG@/$TAG/" codex-hooks.json.tmpl > $R/.codex/hooks.json
(cd $R && git init -q && git -c user.email=a@b -c user.name=t commit -q --allow-empty -m init)
[ -n "${PROJ_TRUST:-}" ] && printf '\n[projects."%s"]\ntrust_level = "trusted"\n' "$R" >> $CODEX_HOME/config.toml
cd $R
[ -n "${TRUST:-}" ] && python3 /tmp/e2e-probe/codex-trust-hooks.py . > ../trust-codex-$TAG.txt
timeout 60 codex exec --json "Create a file mock_hello.txt" > ../out-codex-$TAG.jsonl 2> ../err-codex-$TAG.txt < /dev/null
echo rc=$?
kill $MPID
grep -o '"label": "[A-Za-z]*"' /tmp/e2e-probe/hooks-codex-$TAG.log 2>/dev/null | sort | uniq -c | tr '\n' ' '; echo
head -3 /tmp/e2e-probe/trust-codex-$TAG.txt 2>/dev/null
